"""Everything meshgen prints goes through here: results on stdout, problems on stderr.

Lines are never wrapped (an error stays one line however narrow the terminal) and markup in
user-supplied names is never interpreted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from meshgen.errors import one_line


def _console(stream):  # rich is imported only when something is printed
    from rich.console import Console

    return Console(file=stream, highlight=False, markup=False, soft_wrap=True, emoji=False)


def info(message: str = "") -> None:
    _console(sys.stdout).print(message)


def heading(message: str) -> None:
    _console(sys.stdout).print(message, style="bold")


def warn(message: str) -> None:
    _console(sys.stderr).print(f"warning: {one_line(message)}", style="yellow")


def error(message: str) -> None:
    """One line on stderr, whatever ``message`` holds (see :func:`meshgen.errors.one_line`)."""
    _console(sys.stderr).print(f"error: {one_line(message)}", style="red")


def note(message: str) -> None:
    """A remark on stderr, for commands whose stdout carries their result (e.g. a Secret)."""
    _console(sys.stderr).print(message)


def raw(text: str) -> None:
    """Text exactly as given on stdout (a document someone pipes on), no console handling."""
    sys.stdout.write(text)
    sys.stdout.flush()


@contextmanager
def progress(total: int, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr (only on a terminal); yields ``advance(step_name)``."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _name: None
        return
    from rich.progress import Progress

    with Progress(console=_console(sys.stderr), transient=True) as bar:
        task = bar.add_task("validate", total=total)

        def advance(name: str) -> None:
            bar.update(task, advance=1, description=f"validate: {name}")

        yield advance
