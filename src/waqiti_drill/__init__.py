"""Waqiti DR drill harness: drills against the Waqiti database platform, measured from the client side."""

__version__ = "0.1.0"
