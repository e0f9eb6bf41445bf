"""`drill` honours SIGINT (its "stop and heal") even when started with it ignored, as a non-interactive
shell starts background jobs (nohup, CI runners): the drill's Ctrl-C test failed in such a run."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap


def test_an_inherited_ignored_sigint_becomes_python_s_interrupt_again(tmp_path):
    code = textwrap.dedent("""
        import signal, sys
        from waqiti_drill import cli
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        rc = cli.main(["check", sys.argv[1]])
        print(rc, signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """)
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing.jsonl")], capture_output=True,
                            text=True, timeout=60, check=False,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509
    assert result.returncode == 0, result.stderr
    rc, restored = result.stdout.split()
    assert rc != "0" and restored == "True", result.stdout
