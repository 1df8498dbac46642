"""Options several commands share, with one meaning everywhere (the habits of kubectl and helm).

- ``-o/--output FORMAT``: how a command prints its result on stdout (``text``, ``json``,
  ``yaml``, and a command's own formats such as ``markdown`` or ``svg``). ``--format``, the
  older spelling, still works where it existed.
- ``--output-file FILE``: write the result to FILE instead of stdout. Where ``--output FILE``
  used to mean this, a value that is not a format name is still taken as a file, with a
  deprecation note.
- ``--dry-run``: print the change and write nothing.

And :func:`requested_format`, which tells the error boundary that the user asked for JSON or
YAML, so that even a usage error comes as an object a program can read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

DATA_FORMATS = ("json", "yaml")
FORMAT_FLAGS = ("-o", "--output", "--format")

DRY_RUN_OPTION = click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would change (files, branch, commit) and write nothing.",
)


def output_options(
    formats: Sequence[str],
    default: str,
    file_option: bool = False,
    legacy_format: bool = False,
    legacy_output_file: bool = False,
    file_help: str = "Write the result to FILE instead of stdout.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-o/--output`` (and ``--format`` with ``legacy_format``; ``--output-file`` with
    ``file_option``), passed on as ``output_format`` (and ``output_file``).

    ``legacy_output_file``: ``--output`` used to take a file; a value that is not one of
    ``formats`` is still taken as one (a warning says to use ``--output-file``).
    """
    choices = ", ".join(formats)

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            chosen = kwargs.pop("output", None)
            older = kwargs.pop("format_", None) if legacy_format else None
            target = kwargs.pop("output_file", None) if file_option else None
            if chosen is not None and chosen not in formats:
                # Only reachable with legacy_output_file (the type refuses it otherwise).
                from meshgen import output

                if target is not None:
                    raise click.UsageError(
                        f"--output {chosen}: not a format ({choices}), and --output-file is "
                        "given too; pass the file once, as --output-file FILE"
                    )
                output.warn(
                    f"--output {chosen}: --output FILE is deprecated; use --output-file "
                    f"{chosen} (--output now takes a format: {choices})"
                )
                target, chosen = Path(chosen), None
            if chosen is not None and older is not None and chosen != older:
                raise click.UsageError(
                    f"--format {older} and --output {chosen} disagree; pass one of them"
                )
            kwargs["output_format"] = chosen or older or default
            if file_option:
                kwargs["output_file"] = target
            return function(*args, **kwargs)

        options = [
            click.option(
                "-o",
                "--output",
                type=_FormatOrFile(formats) if legacy_output_file else click.Choice(formats),
                metavar="FORMAT",
                help=f"How to print the result: {choices} (default: {default}).",
            )
        ]
        if legacy_format:
            options.append(
                click.option(
                    "--format",
                    "format_",
                    type=click.Choice(formats),
                    help="The older spelling of -o/--output.",
                )
            )
        if file_option:
            options.append(
                click.option(
                    "--output-file",
                    type=click.Path(path_type=Path, dir_okay=False),
                    help=file_help,
                )
            )
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


class _FormatOrFile(click.ParamType):
    """A format name, or (the deprecated ``--output FILE``) anything else as a file path."""

    name = "format"

    def __init__(self, formats: Sequence[str]) -> None:
        self.formats = tuple(formats)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str) or not value:
            self.fail(f"expected one of {', '.join(self.formats)}", param, ctx)
        return value

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(f) for f in self.formats if f.startswith(incomplete)]


def requested_format(argv: Sequence[str]) -> str | None:
    """``json`` or ``yaml`` when ``argv`` asks for it with -o/--output/--format, else None.

    Read from the raw arguments, because a usage error happens before click has parsed them.
    """
    found = None
    tokens = list(argv)
    for index, token in enumerate(tokens):
        if token == "--":
            break
        value = None
        if token in FORMAT_FLAGS and index + 1 < len(tokens):
            value = tokens[index + 1]
        elif token.startswith(("--output=", "--format=")):
            value = token.split("=", 1)[1]
        elif token.startswith("-o") and not token.startswith("--") and len(token) > 2:
            value = token[2:].removeprefix("=")
        if value in DATA_FORMATS:
            found = value
    return found


def error_document(message: str, exit_code: int, fmt: str) -> str:
    """The error object printed on stdout when ``fmt`` (json or yaml) was asked for."""
    document = {"error": message, "exitCode": exit_code}
    if fmt == "json":
        import json

        return json.dumps(document) + "\n"
    from meshgen.render import yamltext

    return yamltext.dump(document)
