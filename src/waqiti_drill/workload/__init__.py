"""The client side of a drill: Locust users that behave like the payments platform, recording every
operation they attempt into the history, and the final read that says what survived.

Modules here must not import gevent at import time: the harness process imports them too (final
read, schema set-up), and only the Locust process is monkey-patched.
"""
