"""The ways a command can fail on purpose.

Everything below the CLI raises these; only ``meshgen.cli`` turns them into a message on
stderr and an exit code. Messages are one line: what is wrong, where, and how to fix it.
"""

from __future__ import annotations


class MeshgenError(Exception):
    """Bad usage or bad input (exit code 2). Nothing the user had was changed."""

    exit_code = 2


class CheckFailed(MeshgenError):
    """A check ran and found a difference (exit code 1), e.g. ``render --check``."""

    exit_code = 1


class OperationFailed(MeshgenError):
    """The input was fine, but something outside meshgen failed, such as a push over the
    network (exit code 1): running the same command again may succeed."""

    exit_code = 1


class SpecError(MeshgenError):
    """A problem with one field of ``mesh.yaml``: where it is and what is wrong with it."""

    def __init__(self, source: str, line: int | None, field: str, detail: str) -> None:
        self.source, self.line, self.field, self.detail = source, line, field, detail
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {field}: {detail}")


EXCERPT_CHARS = 60
MESSAGE_CHARS = 2000


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for echoing input in an error.

    Input can be anything (a megabyte-long value, a huge alias expansion): an error names it
    by a short excerpt and its size, never in full. Only the first ``limit * 4`` characters of
    a string are ever looked at, so a huge value costs nothing here.
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, (list, tuple, set)):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def one_line(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` as one printable line: control characters escaped, cut after ``limit``.

    The last guard of the error boundary: whatever a message echoes, stderr gets one line.
    """
    if len(message) > limit:
        message = f"{message[:limit]}... (cut: {len(message)} characters)"
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def invalid_yaml(source: str, exc: Exception) -> MeshgenError:
    """The one-line error for a YAML parser's exception on ``source``: with the line where
    the parser has one (ruamel's ``MarkedYAMLError``), and the parser's own words."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if mark is None and problem is None:
        return MeshgenError(f"{source}: not valid YAML ({exc}); fix the syntax")
    where = f":{mark.line + 1}" if mark is not None else ""
    return MeshgenError(f"{source}{where}: not valid YAML ({problem}); fix the syntax")
