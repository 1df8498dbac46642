"""The ``meshgen`` executable: the CLI, with Ctrl-C handled from its first moment.

``meshgen.cli.main`` turns an interruption into one line (and a rolled-back transaction);
this catches the moments it cannot: while the CLI is still being imported, and between its
steps. Python's own start (before any code of meshgen runs) is beyond reach; nothing is read
or written then.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from meshgen.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        transaction = sys.modules.get("meshgen.adapters.transaction")
        if transaction is not None and transaction.completed():
            sys.stderr.write("error: interrupted after the change was complete; see git status\n")
        else:
            sys.stderr.write("error: interrupted; the repository is as it was before\n")
        sys.exit(130)
