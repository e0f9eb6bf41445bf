"""The embedded stack: every part of the platform as real servers on this machine."""
