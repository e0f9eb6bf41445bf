"""Detection: the alert rules as data, and (pure) what a drill's alert timeline says against its budgets.

Platform-neutral: the rules file is the same one a PrometheusRule carries on Kubernetes, and the
timeline is computed from plain records the platform hands over (platform/base.py Monitoring).
"""
