"""Everything meshgen prints goes through here: results on stdout, problems on stderr.

Lines are never wrapped (an error stays one line however narrow the terminal) and markup in
user-supplied names is never interpreted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO

from meshgen.errors import one_line


def _console(stream):  # rich is imported only when something is printed
    from rich.console import Console

    return Console(file=stream, highlight=False, markup=False, soft_wrap=True, emoji=False)


def _plain(message: str) -> bool:
    """Whether rich would print ``message`` unchanged when no style is asked for: printable
    text and line breaks (rich expands tabs and drops control characters)."""
    return all(line.isprintable() for line in message.split("\n"))


def _print(stream: TextIO, message: str) -> None:
    # Most messages are plain text: printed without importing rich (60 ms at start-up).
    if _plain(message):
        stream.write(f"{message}\n")
        stream.flush()
    else:
        _console(stream).print(message)


def info(message: str = "") -> None:
    _print(sys.stdout, message)


def heading(message: str) -> None:
    _console(sys.stdout).print(message, style="bold")


def warn(message: str) -> None:
    _console(sys.stderr).print(f"warning: {one_line(message)}", style="yellow")


def error(message: str) -> None:
    """One line on stderr, whatever ``message`` holds (see :func:`meshgen.errors.one_line`)."""
    _console(sys.stderr).print(f"error: {one_line(message)}", style="red")


def note(message: str) -> None:
    """A remark on stderr, for commands whose stdout carries their result (e.g. a Secret)."""
    _print(sys.stderr, message)


def raw(text: str) -> None:
    """Text exactly as given on stdout (a document someone pipes on), no console handling."""
    sys.stdout.write(text)
    sys.stdout.flush()


@contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[float, str], None] | None]:
    """A progress bar on stderr (only on a terminal); yields ``show(fraction, step_name)``
    (None when there is no bar)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=_console(sys.stderr), transient=True) as bar:
        task = bar.add_task("validate", total=1000)

        def show(fraction: float, name: str) -> None:
            bar.update(task, completed=round(fraction * 1000), description=f"validate: {name}")

        yield show


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``1 cluster``, ``2 clusters``, ``0 clusters``: a count with its noun in the right number.

    ``plural`` is for nouns that do not just take an ``s`` (``counted(2, "was", "were")``).
    """
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def changed_files(written: Iterable[str], removed: Iterable[str]) -> None:
    """The files a command wrote and removed, one a line, each marked with what happened."""
    lines = [f"  wrote    {path}" for path in sorted(written)]
    lines += [f"  removed  {path}" for path in sorted(removed)]
    if all(line.isascii() and line.isprintable() for line in lines):
        # What the console prints for plain ASCII, without its cost (seconds for 11,000 lines).
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()
    else:
        info("\n".join(lines))


def document(value: object, fmt: str) -> None:
    """A result as JSON (indented, keys sorted) or YAML on stdout, for ``-o json|yaml``."""
    if fmt == "json":
        import json

        raw(json.dumps(value, indent=2, sort_keys=True) + "\n")
    else:
        from meshgen.render import yamltext

        raw(yamltext.dump(value))
