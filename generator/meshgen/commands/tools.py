"""``meshgen tools install`` and ``meshgen tools list``: the helm/kubectl toolchain.

No CLI framework here: the CLI module passes its echo function and turns the returned int into
the exit code. Failures surface as :class:`meshgen.errors.MeshgenError` from the adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshgen.adapters import toolchain


def run_install(
    force: bool,
    only_missing: bool,
    echo: Callable[[str], None],
    dry_run: bool = False,
    output_format: str = "text",
) -> int:
    """Install the pinned helm and kubectl (progress via ``echo``), then list what resolves.

    With ``dry_run``, say what would be downloaded and installed where, and write nothing.
    """
    say = echo if output_format == "text" else _to_stderr
    toolchain.install(force=force, only_missing=only_missing, log=say, dry_run=dry_run)
    if dry_run:
        say("Dry run: nothing was downloaded or written.")
        return 0
    return run_list(echo, output_format)


def _to_stderr(message: str) -> None:
    from meshgen import output

    output.note(message)


def run_list(echo: Callable[[str], None], output_format: str = "text") -> int:
    """One line per tool: name, version, path and where the path came from (or, with
    ``output_format`` json or yaml, the same as a document)."""
    statuses = toolchain.describe()
    if output_format != "text":
        from meshgen import output

        output.document(tools_document(statuses), output_format)
        return 0
    for status in statuses:
        echo(format_status(status))
    return 0


def tools_document(statuses: list[toolchain.ToolStatus]) -> dict[str, Any]:
    """What ``tools list -o json`` prints (and ``validate -o json`` under ``tools``)."""
    return {
        "platform": toolchain.platform_key(),
        "toolsDir": str(toolchain.tools_dir()),
        "tools": [
            {
                "name": s.name,
                "version": s.version,
                "pinnedVersion": _pinned(s.name),
                "path": str(s.path) if s.path is not None else None,
                "source": s.source,
                "problem": s.problem,
            }
            for s in statuses
        ],
    }


def _pinned(name: str) -> str:
    return toolchain.HELM_VERSION if name == "helm" else toolchain.KUBECTL_VERSION


def format_status(status: toolchain.ToolStatus) -> str:
    """``helm     v4.1.4+g05fa379  /path/to/helm  (pinned)``; the problem instead if any.

    A tool found on PATH says that it is not the pinned one."""
    name = f"{status.name:<8}"
    if status.path is None:
        return f"{name} -  {status.problem or 'not found'}"
    version = status.version or "unknown version"
    source = status.source
    if source == "PATH":
        source = f"PATH, not the pinned {_pinned(status.name)}"
    line = f"{name} {version:<28} {status.path}  ({source})"
    if status.problem:
        line += f"  [{status.problem}]"
    return line


def summary(statuses: list[toolchain.ToolStatus]) -> str:
    """One line naming the helm and kubectl in use and where each came from."""
    parts = []
    for status in statuses:
        if status.path is None:
            parts.append(f"{status.name} missing")
            continue
        source = status.source or "?"
        if source == "PATH":
            source = f"from PATH at {status.path}"
        elif source == "env":
            source = f"from {toolchain.ENV_VARS[status.name]}={status.path}"
        parts.append(f"{status.name} {status.version or '(unknown version)'} ({source})")
    return "tools: " + ", ".join(parts)
