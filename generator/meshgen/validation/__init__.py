"""``meshgen validate``: offline checks that a mesh repository will sync and work.

One module per check family, each a function from what it needs to a list of
:class:`Finding`. The command (``meshgen.commands.validate``) runs them in :data:`CHECKS` order
and prints or serialises the findings; nothing here prints or exits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The check families, in the order they run and are reported.
CHECKS = (
    "mesh",
    "traffic",
    "drift",
    "kustomize",
    "helm-values",
    "schema",
    "gitops",
    "multicluster",
    "ambient",
    "secrets",
    "trust",
)

ERROR = "error"
WARNING = "warning"  # reported, does not fail the run (e.g. a CA that expires soon)
UNCHECKED = "unchecked"  # something could not be checked (no schema, no chart): never a pass


@dataclass(frozen=True)
class Finding:
    """One problem: which check saw it, where it is, what is wrong, and how to fix it.

    ``cluster`` is None for mesh-wide files; ``file`` is relative to the repository root;
    ``line`` (1-based) or ``obj`` (``Kind namespace/name``) narrow it down. ``detail`` holds
    extra lines such as a diff.
    """

    check: str
    message: str
    fix: str
    cluster: str | None = None
    file: str | None = None
    line: int | None = None
    obj: str | None = None
    severity: str = ERROR
    detail: tuple[str, ...] = field(default=())

    def where(self) -> str:
        place = self.file or "(repository)"
        if self.line is not None:
            place += f":{self.line}"
        if self.obj:
            place += f" ({self.obj})"
        return place

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["detail"] = list(self.detail)
        return data


def cluster_of(path: str) -> str | None:
    """The cluster a repository path belongs to (``clusters/<c>/...``), else None."""
    parts = path.split("/")
    if len(parts) >= 2 and parts[0] == "clusters":
        return parts[1]
    return None


def object_label(obj: Any) -> str:
    """``Kind namespace/name`` (or ``Kind name`` for cluster-scoped objects)."""
    if not isinstance(obj, dict):
        return "(not an object)"
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name, namespace, kind = meta.get("name", "?"), meta.get("namespace"), obj.get("kind", "?")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def sort_key(finding: Finding) -> tuple[Any, ...]:
    return (
        finding.cluster or "",
        CHECKS.index(finding.check) if finding.check in CHECKS else len(CHECKS),
        finding.file or "",
        finding.line or 0,
        finding.obj or "",
        finding.message,
    )
