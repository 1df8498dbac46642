"""Everything meshgen prints goes through here: results on stdout, problems on stderr.

Lines are never wrapped (an error stays one line however narrow the terminal) and markup in
user-supplied names is never interpreted.
"""

from __future__ import annotations

import sys


def _console(stream):  # rich is imported only when something is printed
    from rich.console import Console

    return Console(file=stream, highlight=False, markup=False, soft_wrap=True, emoji=False)


def info(message: str = "") -> None:
    _console(sys.stdout).print(message)


def heading(message: str) -> None:
    _console(sys.stdout).print(message, style="bold")


def warn(message: str) -> None:
    _console(sys.stderr).print(f"warning: {message}", style="yellow")


def error(message: str) -> None:
    _console(sys.stderr).print(f"error: {message}", style="red")


def raw(text: str) -> None:
    """Text for machines or files (a graph, JSON, a Markdown comment), written as it is."""
    sys.stdout.write(text)
