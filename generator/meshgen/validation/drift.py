"""Check 2: the repository is exactly what ``meshgen render`` would produce."""

from __future__ import annotations

from pathlib import Path

from meshgen import mesh_repo, spec
from meshgen.adapters import workspace
from meshgen.errors import MeshgenError
from meshgen.validation import Finding, cluster_of

FIX = "run `meshgen render` and commit the result (change mesh.yaml, not generated files)"


def check(
    root: Path, document: spec.MeshDocument, changes: workspace.ChangeSet | None = None
) -> list[Finding]:
    """Hand edits, missing and stale generated files, each with its diff (as ``render --check``).

    ``changes`` is ``mesh_repo.plan_render`` when the caller has it already."""
    try:
        changes = changes if changes is not None else mesh_repo.plan_render(root, document)
    except MeshgenError as exc:
        return [Finding(check="drift", message=str(exc), fix=FIX)]
    findings = []
    fix = FIX
    note = mesh_repo.version_note(document) if changes else None
    if note is not None:
        fix = f"{note} (the differences may come from the version)"
    for path in sorted(changes.write):
        if path == spec.MESH_FILE:
            message = f"mesh.yaml is of an older apiVersion ({document.migrated_from})"
        elif (root / path).exists():
            message = "differs from what mesh.yaml gives (edited by hand?)"
        else:
            message = "is missing: mesh.yaml gives it"
        findings.append(
            Finding(
                check="drift",
                message=message,
                fix=fix,
                cluster=cluster_of(path),
                file=path,
                detail=tuple(workspace.short_diff(root, path, changes.write[path])),
            )
        )
    for path in changes.remove:
        findings.append(
            Finding(
                check="drift",
                message="is generated but mesh.yaml no longer gives it",
                fix=fix,
                cluster=cluster_of(path),
                file=path,
            )
        )
    return findings
