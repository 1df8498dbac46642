"""The ``meshgen`` executable: the CLI, with Ctrl-C and SIGTERM handled from its first moment.

``meshgen.cli.main`` turns an interruption into one line (and a rolled-back transaction);
this covers the moments before it can: while the CLI is being imported, a signal is recorded
and raised, and if Python drops the exception (it cannot raise inside the import system's
callbacks), the record still stops the command before it starts. Python's own start, before
any code of meshgen runs, is beyond reach; nothing is read or written then.
"""

from __future__ import annotations

import gc
import signal
import sys
from typing import Any

# The cyclic garbage collector's thresholds for this short-lived process: a command builds
# large graphs of objects with few cycles (the model, the plans, the rendered files), which
# the default thresholds (700, 10, 10) make the collector walk again and again: about 55 ms
# of a new-cluster at 1,000 clusters, 20 ms at 10. At 20,000 it still walked the young
# objects of a change twice at 1,000 clusters (11 ms; once, 3.5 ms, at 10) and of a first
# render five times (12 ms), where a couple of hundred objects in cycles were left for it;
# at 100,000 neither collects, with the same peak memory. Cycles are still collected, later.
GC_THRESHOLDS = (100_000, 20, 20)

_QUICK_EXIT: list[bool] = []  # set by a command whose process has nothing left to tear down


def exit_quickly() -> None:
    """Let the process end without Python's teardown once the command exits (see
    :func:`_exit_now`): a command that holds large data to the end (validate: the cache's
    tables, every build's objects) asks for it, as freeing them object by object took about
    25 ms of a 100-cluster validate that reused its cache."""
    _QUICK_EXIT.append(True)


def _exit_now(code: Any) -> None:
    """End the process at once with the exit status of ``sys.exit(code)``, after the
    ``atexit`` functions and with the standard streams flushed; returns (and the normal
    teardown follows) while a thread that Python would wait for is still running."""
    import atexit
    import os
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        return None
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # as Python does with sys.exit("message")
        sys.stderr.write(f"{code}\n")
        status = 1
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: Python's teardown would not do better
        return None
    os._exit(status & 0xFF)


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
    _QUICK_EXIT.clear()
    received: list[int] = []

    def early(signum: int, _frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:  # a dropped KeyboardInterrupt is in ``received``
        if info.exc_type is None or not issubclass(info.exc_type, KeyboardInterrupt):
            sys.__unraisablehook__(info)

    for handled in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(handled, early)
    sys.unraisablehook = unraisable
    try:
        from meshgen.cli import main as cli_main

        gc.freeze()  # what importing made stays for the whole run: never walked again
        cli_main(early_signals=received)
    except SystemExit as done:
        if _QUICK_EXIT:
            _exit_now(done.code)
        raise
    except KeyboardInterrupt:
        transaction = sys.modules.get("meshgen.adapters.transaction")
        stopped = transaction.stop_requested() if transaction else None
        signum = int(stopped or (received[-1] if received else signal.SIGINT))
        name = signal.Signals(signum).name
        if transaction is not None and transaction.completed():
            sys.stderr.write(f"error: interrupted ({name}) after the change was complete\n")
        else:
            sys.stderr.write(f"error: interrupted ({name}); the repository is as it was\n")
        sys.exit(128 + signum)
