"""The top-level conftest: the only place pytest_plugins may be declared (pytest-bdd 9, pytest 8+).

The drill suite's plugin and step modules are loaded here. The plugin is inert outside `drill run`
(no --drill-run-dir), so the unit and integration tests under tests/ are not affected by it.
"""

pytest_plugins = [
    "waqiti_drill.suite.plugin",
    "steps.common",
    "steps.deployment",
    "steps.failover",
    "steps.redis",
    "steps.backup",
    "steps.monitoring",
    "steps.region",
    "steps.security",
]
