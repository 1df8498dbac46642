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
