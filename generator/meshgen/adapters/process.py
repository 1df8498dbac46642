"""What the adapters share about the programs they run."""

from __future__ import annotations

import os
import signal

MAX_DETAIL_LINES = 6

# helm and kubectl are Go programs: a template or build is short-lived and its heap small, so
# garbage collection costs CPU for nothing; with these it runs only near 768 MiB (measured:
# a quarter to a third less CPU per `helm template` and `kubectl kustomize`).
GO_ENV = {"GOGC": "off", "GOMEMLIMIT": "768MiB"}


def go_environment() -> dict[str, str]:
    """The environment to run helm or kubectl in: this one, with :data:`GO_ENV`."""
    return {**os.environ, **GO_ENV}


# The signals a terminal or a supervisor sends to stop meshgen: they reach its whole process
# group, the tools it runs included.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def require_not_stopped(returncode: int) -> None:
    """Raise KeyboardInterrupt when a tool ended by one of :data:`STOP_SIGNALS`: it was
    stopped with meshgen, so its failure is no answer about its input (a build or render
    that failed so must not be reported, nor kept in validate's cache). The stop is noted
    at once: a worker thread sees the tool end before the main thread's handler runs."""
    if -returncode in STOP_SIGNALS:
        from meshgen.adapters import transaction

        transaction.record_stop(-returncode)
        raise KeyboardInterrupt


def alive(pid: int) -> bool:
    """Whether a process with this id runs (a lock or folder named after it is not stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def error_summary(output: str) -> str:
    """The most telling line of a failed program's output, for a one-line error.

    helm and kubectl print their reason on a line starting with ``Error:``/``error:`` and may
    add hints after it ("Use --debug flag ..."); git prints ``fatal:``/``error:``. Without such
    a line, the last non-empty line is the best guess.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.lower().startswith(("error:", "fatal:")):
            # "...in the following chart(s):" announces the details on the next lines.
            details = []
            if line.endswith(":"):
                for follow in lines[index + 1 : index + 1 + MAX_DETAIL_LINES]:
                    if follow.lower().startswith(("use --debug", "error:")):
                        break
                    details.append(follow)
            return " ".join([line, *details])
    return lines[-1] if lines else "no output"
