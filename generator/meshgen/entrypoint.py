"""The ``meshgen`` executable: the CLI, with Ctrl-C handled from the first moment.

Importing the CLI takes a moment; a Ctrl-C then would end in a Python traceback. Nothing has
been read or written at that point, so it is a plain, one-line interruption.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from meshgen.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted (SIGINT); nothing was read or written\n")
        sys.exit(130)
    cli_main()
