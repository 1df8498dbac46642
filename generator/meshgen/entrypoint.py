"""The ``meshgen`` executable: the CLI, with Ctrl-C handled from its first moment.

``meshgen.cli.main`` turns an interruption into one line (and a rolled-back transaction);
this catches the moments it cannot: while the CLI is still being imported, and between its
steps. Python's own start (before any code of meshgen runs) is beyond reach; nothing is read
or written then.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    try:
        from meshgen.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        transaction = sys.modules.get("meshgen.adapters.transaction")
        signum = (transaction.stop_requested() if transaction else None) or signal.SIGINT
        name = signal.Signals(signum).name
        if transaction is not None and transaction.completed():
            sys.stderr.write(f"error: interrupted ({name}) after the change was complete\n")
        else:
            sys.stderr.write(f"error: interrupted ({name}); the repository is as it was\n")
        sys.exit(128 + signum)
