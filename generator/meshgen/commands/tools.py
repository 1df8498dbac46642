"""``meshgen tools install`` and ``meshgen tools list``: the helm/kubectl toolchain.

No CLI framework here: the CLI module passes its echo function and turns the returned int into
the exit code. Failures surface as :class:`meshgen.errors.MeshgenError` from the adapter.
"""

from __future__ import annotations

from collections.abc import Callable

from meshgen.adapters import toolchain


def run_install(force: bool, only_missing: bool, echo: Callable[[str], None]) -> int:
    """Install the pinned helm and kubectl (progress via ``echo``), then list what resolves."""
    toolchain.install(force=force, only_missing=only_missing, log=echo)
    return run_list(echo)


def run_list(echo: Callable[[str], None]) -> int:
    """One line per tool: name, version, path and where the path came from."""
    for status in toolchain.describe():
        echo(format_status(status))
    return 0


def format_status(status: toolchain.ToolStatus) -> str:
    """``helm     v4.1.4+g05fa379  /path/to/helm  (pinned)``; the problem instead if any."""
    name = f"{status.name:<8}"
    if status.path is None:
        return f"{name} -  {status.problem or 'not found'}"
    version = status.version or "unknown version"
    line = f"{name} {version:<28} {status.path}  ({status.source})"
    if status.problem:
        line += f"  [{status.problem}]"
    return line
