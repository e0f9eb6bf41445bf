"""Monitoring of the embedded stack: Prometheus, Alertmanager, the exporters, and the harness's receiver.

Every part is a real server from Debian's packages (prometheus, prometheus-alertmanager,
prometheus-postgres-exporter, prometheus-redis-exporter, prometheus-pushgateway,
prometheus-node-exporter), started and supervised like the rest of the stack, listening on 127.0.0.1
only. The alert rules are the repository's monitoring/alerts.rules.yml, loaded as they are.
"""
