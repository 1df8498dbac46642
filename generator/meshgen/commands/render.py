"""``meshgen render``: regenerate every generated file from mesh.yaml, or check them."""

from __future__ import annotations

import re
from pathlib import Path

from meshgen import __version__, mesh_repo, output, spec
from meshgen.adapters import workspace
from meshgen.errors import CheckFailed, MeshgenError
from meshgen.render.readme import network_reachability

_STORE_KEY_LINES = re.compile(r"^\s*(?:meshID|keyPrefix|cacertsKeyPrefix):.*$", re.M)


def moved_store_keys(root: Path, document: spec.MeshDocument) -> list[str]:
    """Warnings when the secret-store keys differ from those of the committed mesh.yaml
    (renaming meshID moves them). The committed file is parsed only when one of the lines
    that decide the keys differs, so a large mesh pays nothing in the usual case."""
    from meshgen.adapters import git as gitops

    committed = gitops.committed_text(root, spec.MESH_FILE)
    current = (root / spec.MESH_FILE).read_text(encoding="utf-8")
    if committed is None or (
        _STORE_KEY_LINES.findall(committed) == _STORE_KEY_LINES.findall(current)
    ):
        return []
    try:
        before = spec.parse(committed).mesh
    except MeshgenError:
        return []
    from meshgen import meshdiff

    return meshdiff.moved_store_keys(before, document.mesh)


def run(
    repo: Path | None, check: bool, dry_run: bool = False, overwrite_edits: bool = False
) -> int:
    writes = not (check or dry_run)
    root = mesh_repo.open_for_change(repo) if writes else mesh_repo.find_root(repo)
    document = mesh_repo.load(root)
    if check:
        changes = mesh_repo.plan_render(root, document)
    else:
        recorded = document.mesh.meshgen_version
        document, changes = mesh_repo.plan_writing(
            root, document, edited=bool(document.migrated_from)
        )
    # Read before the files are rewritten: what they still take from meshgen's old defaults.
    notices = mesh_repo.location_notices(
        root, document, [path for path in changes.write if path not in changes.absent]
    )
    unknown = mesh_repo.unknown_version_warning(document.mesh)
    for warning in [
        *([unknown] if unknown else []),
        *(f"{n.message}; fix: {n.fix}" for n in notices),
        *network_reachability(document.mesh),
        *moved_store_keys(root, document),
    ]:
        output.warn(warning)
    note = mesh_repo.version_note(document)
    if check:
        if not changes:
            output.info(
                f"{root}: up to date with mesh.yaml "
                f"({output.counted(changes.unchanged, 'generated file')})"
            )
            if note is not None and document.mesh.meshgen_version is not None:
                output.info(
                    f"Rendered by meshgen {document.mesh.meshgen_version}; this meshgen "
                    f"({__version__}) renders it the same."
                )
            return 0
        for path in sorted(changes.write):
            state = "differs from" if (root / path).exists() else "is missing, per"
            output.info(f"{path}: {state} mesh.yaml")
            for line in workspace.short_diff(root, path, changes.write[path]):
                output.info(f"    {line}")
        for path in changes.remove:
            output.info(f"{path}: generated but no longer in mesh.yaml")
        if note is not None:
            raise CheckFailed(
                f"{root}: {output.counted(len(changes.paths), 'generated file')} "
                f"{'differs' if len(changes.paths) == 1 else 'differ'} from what this meshgen "
                f"renders; {note}"
            )
        raise CheckFailed(
            f"{root}: {output.counted(len(changes.paths), 'generated file')} "
            f"{'does' if len(changes.paths) == 1 else 'do'} not match mesh.yaml; "
            "run `meshgen render` and commit the result"
        )
    if dry_run:
        from meshgen.commands._change import DRY_RUN_DONE, preview

        if not changes:
            output.info(f"Nothing to do: {changes.unchanged} generated files match mesh.yaml.")
            return 0
        preview(root, changes)
        output.info(
            f"{changes.unchanged} unchanged; `meshgen render --check` shows the diffs. "
            + DRY_RUN_DONE
        )
        return 0
    written = changes.write.get(spec.MESH_FILE)
    versioned = recorded != document.mesh.meshgen_version and not document.migrated_from
    if written is not None and versioned:
        # The text read passed the schema check; recording meshgenVersion (this meshgen's
        # version, which the schema's pattern accepts) keeps it valid, so the next command
        # need not check the new text again.
        mesh_repo.note_schema_checked(root, written)
    workspace.apply_changes(
        root, changes, overwrite_edits=overwrite_edits, command="meshgen render"
    )
    if document.mesh.secrets_provider == "sops":  # the only provider with files to add
        from meshgen.commands.encrypt_remote_secret import missing_secrets

        for warning in missing_secrets(root, document.mesh):
            output.warn(warning)
    if document.migrated_from:
        output.info(
            f"mesh.yaml migrated from apiVersion {document.migrated_from} to {spec.API_VERSION}."
        )
    if document.mesh.meshgen_version != recorded:
        output.info(f"mesh.yaml: meshgenVersion {recorded or '(none)'} -> {__version__}.")
    if not changes:
        output.info(
            f"Nothing to do: {output.counted(changes.unchanged, 'generated file')} already "
            f"{'matches' if changes.unchanged == 1 else 'match'} mesh.yaml."
        )
        return 0
    output.changed_files(changes.write, changes.remove)
    output.info(
        f"{output.counted(len(changes.write), 'file')} written, {len(changes.remove)} removed, "
        f"{changes.unchanged} unchanged. Review with `git diff`, then commit."
    )
    return 0
