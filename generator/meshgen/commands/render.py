"""``meshgen render``: regenerate every generated file from mesh.yaml, or check them."""

from __future__ import annotations

import difflib
from pathlib import Path

from meshgen import mesh_repo, output, spec
from meshgen.adapters import workspace
from meshgen.commands.encrypt_remote_secret import missing_secrets
from meshgen.errors import CheckFailed

DIFF_LINES_SHOWN = 40


def _short_diff(root: Path, path: str, new_text: str) -> list[str]:
    try:
        old = (root / path).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, UnicodeDecodeError):
        old = []
    diff = list(
        difflib.unified_diff(old, new_text.splitlines(), f"a/{path}", f"b/{path}", lineterm="")
    )
    if len(diff) > DIFF_LINES_SHOWN:
        diff = [*diff[:DIFF_LINES_SHOWN], f"... ({len(diff) - DIFF_LINES_SHOWN} more diff lines)"]
    return diff


def run(repo: Path | None, check: bool) -> int:
    root = mesh_repo.find_root(repo)
    document = mesh_repo.load(root)
    # A mesh.yaml of an older format is written back migrated (comments kept).
    owned = {spec.MESH_FILE: spec.to_text(document)} if document.migrated_from else None
    changes = workspace.plan_changes(root, mesh_repo.desired_files(document), owned=owned)
    if check:
        if not changes:
            output.info(f"{root}: up to date with mesh.yaml ({changes.unchanged} generated files)")
            return 0
        for path in sorted(changes.write):
            state = "differs from" if (root / path).exists() else "is missing, per"
            output.info(f"{path}: {state} mesh.yaml")
            for line in _short_diff(root, path, changes.write[path]):
                output.info(f"    {line}")
        for path in changes.remove:
            output.info(f"{path}: generated but no longer in mesh.yaml")
        raise CheckFailed(
            f"{root}: {len(changes.paths)} generated files do not match mesh.yaml; "
            "run `meshgen render` and commit the result"
        )
    workspace.apply_changes(root, changes)
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
