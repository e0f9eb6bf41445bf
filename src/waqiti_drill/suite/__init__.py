"""The drill suite: pytest-bdd features run by `drill run`, one ScenarioResult per scenario.

command.py  the `drill run` command (preflight of the input, pytest in a subprocess, results.json, run.json)
tags.py     known tags and the check of a --tags expression (pure)
records.py  slugs and the ScenarioResult of one scenario from its checker result (pure)
plugin.py   the pytest plugin: markers, scenario directories, the role sampler, per-scenario results
drill.py    ScenarioDrill: the state one scenario's steps share (platform, load, faults, check)
"""
