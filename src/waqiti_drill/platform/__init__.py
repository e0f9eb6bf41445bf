"""Targets under test behind one small interface (see base.py); `local` now, `kubernetes` next."""
