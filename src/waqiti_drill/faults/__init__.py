"""Fault injection: the waqiti_drill chaostoolkit extension (actions, probes, controls) and its safety net.

Every fault goes through the Platform interface, so the same experiments run on the embedded stack
and, later, on Kubernetes. Every fault is written to the active-fault ledger before it is injected
and removed only once it is undone, so `drill heal` can always undo what a killed run left behind.
"""
