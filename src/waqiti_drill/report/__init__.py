"""Evidence reports: built from a run directory's raw files only, never from a server.

    model     reads a run directory (run.json, results.json, histories, roles.jsonl) into plain data
    plots     throughput/errors and role-timeline PNGs (matplotlib, Agg)
    compliance which controls each scenario evidences (and which it does not)
    html      the one self-contained report.html
    allure    attachments into allure-results, and the Allure 3 HTML where Node has it
    manifest  SHA-256 manifest of the run directory, Ed25519 signature, verification
    redact    the secrets scanner that gates signing
    trend     RTO/RPO across past runs
    build     the pipeline `drill report` runs; commands holds the CLI wiring
"""
