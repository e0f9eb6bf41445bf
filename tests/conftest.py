"""Shared test configuration: nothing here starts a server (see tests/integration/conftest.py)."""
