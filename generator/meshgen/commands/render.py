"""``meshgen render``: regenerate every generated file from mesh.yaml, or check them."""

from __future__ import annotations

from pathlib import Path

from meshgen import mesh_repo, output, spec
from meshgen.adapters import workspace
from meshgen.commands.encrypt_remote_secret import missing_secrets
from meshgen.errors import CheckFailed


def run(repo: Path | None, check: bool, overwrite_edits: bool = False) -> int:
    root = mesh_repo.find_root(repo) if check else mesh_repo.open_for_change(repo)
    document = mesh_repo.load(root)
    changes = mesh_repo.plan_render(root, document)
    if check:
        if not changes:
            output.info(f"{root}: up to date with mesh.yaml ({changes.unchanged} generated files)")
            return 0
        for path in sorted(changes.write):
            state = "differs from" if (root / path).exists() else "is missing, per"
            output.info(f"{path}: {state} mesh.yaml")
            for line in workspace.short_diff(root, path, changes.write[path]):
                output.info(f"    {line}")
        for path in changes.remove:
            output.info(f"{path}: generated but no longer in mesh.yaml")
        raise CheckFailed(
            f"{root}: {len(changes.paths)} generated files do not match mesh.yaml; "
            "run `meshgen render` and commit the result"
        )
    workspace.apply_changes(
        root, changes, overwrite_edits=overwrite_edits, command="meshgen render"
    )
    for warning in missing_secrets(root, document.mesh):
        output.warn(warning)
    if document.migrated_from:
        output.info(
            f"mesh.yaml migrated from apiVersion {document.migrated_from} to {spec.API_VERSION}."
        )
    if not changes:
        output.info(f"Nothing to do: {changes.unchanged} generated files already match mesh.yaml.")
        return 0
    for path in sorted(changes.write):
        output.info(f"  wrote    {path}")
    for path in changes.remove:
        output.info(f"  removed  {path}")
    output.info(
        f"{len(changes.write)} written, {len(changes.remove)} removed, "
        f"{changes.unchanged} unchanged. Review with `git diff`, then commit."
    )
    return 0
