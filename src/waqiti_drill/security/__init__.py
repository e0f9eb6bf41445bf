"""Security conformance: probes of the live stack's transport security and controls (issue 13)."""
