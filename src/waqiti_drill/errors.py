"""One root exception, so the CLI can turn any expected failure into a one-line message and exit code.

Invalid* errors are raised before anything is started (bad input, missing binaries, busy ports);
*Failed errors are raised while a stack is being started or operated.
"""


class DrillError(Exception):
    """Root of every error the harness expects and reports as one line."""

    exit_code = 1


class InvalidConfig(DrillError):
    """A configuration file, environment variable or argument is wrong."""

    exit_code = 2


class MissingBinary(DrillError):
    """A program the stack needs is not installed; the message names the package."""

    exit_code = 3


class PortInUse(DrillError):
    """A port the stack needs is held by a process that is not ours."""

    exit_code = 4


class StateDirError(DrillError):
    """The state directory is foreign, stale, unreachable or half-written."""

    exit_code = 5


class StartupFailed(DrillError):
    """A component did not become healthy; the stack was left as it was for inspection."""

    exit_code = 6


class CommandFailed(DrillError):
    """An external tool (pgbackrest, redis-cli, ...) exited non-zero."""

    exit_code = 7


class WaitTimeout(DrillError):
    """A condition was not met before its deadline; says what it waited for and what it last saw."""

    exit_code = 8


class InvalidHistory(DrillError):
    """A history cannot be checked (corrupt, incomplete or inconsistent); the message names file:line.

    The checker refuses rather than guesses: a verdict computed from a history it could not fully read
    would claim an RTO/RPO nobody measured.
    """

    exit_code = 9


class Unsupported(DrillError):
    """The platform cannot do this here (e.g. a network partition without root); nothing was changed."""

    exit_code = 10


class LockHeld(DrillError):
    """Another drill holds the drill lock of this stack."""

    exit_code = 11


class EvidenceTampered(DrillError):
    """A run directory differs from its signed manifest (a file changed, missing or added), or the
    signature does not hold; the message names every such file."""

    exit_code = 12


class SecretLeak(DrillError):
    """A known secret was found in a run directory (file:line named, the value never); nothing was signed."""

    exit_code = 13


# Exit codes that are not an error class: the CLI's own outcomes.
OUTCOME_CODES = {
    0: "success: every scenario passed, every target met, the evidence intact",
    1: "a drill ran and failed: a scenario failed, a target was missed (drill run, check, chaos)",
    70: "internal error: a bug in the harness (one line, details in <state>/logs/drill-<command>-crash.log)",
    130: "interrupted (Ctrl-C); a drill in progress heals first",
}


def exit_codes() -> dict[int, str]:
    """Every exit code of `drill`, with what it means: the outcomes, then each error class's first line."""
    codes = dict(OUTCOME_CODES)
    pending = list(DrillError.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending += cls.__subclasses__()
        paragraph = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())
        codes.setdefault(cls.exit_code, f"{cls.__name__}: {paragraph.split('; ')[0].rstrip('.')}")
    return dict(sorted(codes.items()))
