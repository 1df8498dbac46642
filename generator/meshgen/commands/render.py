"""``meshgen render``: regenerate every generated file from mesh.yaml, or check them."""

from __future__ import annotations

import re
from pathlib import Path

from meshgen import __version__, mesh_repo, output, spec
from meshgen.adapters import tree_cache, workspace
from meshgen.errors import CheckFailed, MeshgenError
from meshgen.render.readme import network_reachability

_STORE_KEY_LINES = re.compile(r"^\s*(?:meshID|keyPrefix|cacertsKeyPrefix):.*$", re.M)


def _committed_if_keys_differ(root: Path, current: str) -> str | None:
    """The committed mesh.yaml when one of the lines that decide the secret-store keys
    differs from ``current``; None when they are the same (or nothing is committed)."""
    from meshgen.adapters import git as gitops

    committed = gitops.committed_text(root, spec.MESH_FILE)
    if committed is None or (
        _STORE_KEY_LINES.findall(committed) == _STORE_KEY_LINES.findall(current)
    ):
        return None
    return committed


def moved_store_keys(root: Path, document: spec.MeshDocument) -> list[str]:
    """Warnings when the secret-store keys differ from those of the committed mesh.yaml
    (renaming meshID moves them). The committed file is parsed only when one of the lines
    that decide the keys differs, so a large mesh pays nothing in the usual case."""
    current = (root / spec.MESH_FILE).read_text(encoding="utf-8")
    committed = _committed_if_keys_differ(root, current)
    if committed is None:
        return []
    try:
        before = spec.parse(committed).mesh
    except MeshgenError:
        return []
    from meshgen import meshdiff

    return meshdiff.moved_store_keys(before, document.mesh)


# The render memo's note that a mesh.yaml text gives nothing to say when there is nothing
# to write: no warning that depends on the text alone (an unknown Istio version, a retired
# chart or image location named in it, one-way reachability), this meshgen's version recorded,
# no SOPS files to ask for, no migration. What else a render says depends on the tree and
# HEAD, which the quiet path checks itself.
_QUIET = "quiet"


def _quiet_no_op(root: Path) -> workspace.ChangeSet | None:
    """The empty change set when the tree holds the remembered render of mesh.yaml and the
    traffic files, and the text is known to give nothing to say (:data:`_QUIET`), found
    without parsing mesh.yaml; None when any of it is not certain (then the usual path)."""
    try:
        text = mesh_repo.read_mesh_text(root)
        traffic_texts = mesh_repo.read_traffic(root)
    except MeshgenError:
        return None  # said by the usual path
    if tree_cache.render_result(root, f"{_QUIET}:{mesh_repo.render_key(text, {})}") is None:
        return None
    record = tree_cache.render_result(root, mesh_repo.render_key(text, traffic_texts))
    if record is None or _committed_if_keys_differ(root, text) is not None:
        return None
    return workspace.plan_recorded(root, record)


def _note_quiet(root: Path, document: spec.MeshDocument, warned: bool) -> None:
    """Note (see :data:`_QUIET`) that the mesh.yaml text this command leaves gives nothing
    to say when nothing changes; ``warned``: this run warned about the text."""
    text = document.text
    if text is None or warned or document.migrated_from:
        return
    if mesh_repo.version_note(document) is not None or document.mesh.secrets_provider == "sops":
        return
    if mesh_repo.location_notices(root, document, []):  # as when nothing is rewritten
        return
    tree_cache.remember_render(root, f"{_QUIET}:{mesh_repo.render_key(text, {})}", "1")


def _up_to_date(root: Path, changes: workspace.ChangeSet) -> None:
    output.info(
        f"{root}: up to date with mesh.yaml ({output.counted(changes.unchanged, 'generated file')})"
    )


def _nothing_to_do(changes: workspace.ChangeSet, dry_run: bool) -> None:
    if dry_run:
        output.info(f"Nothing to do: {changes.unchanged} generated files match mesh.yaml.")
        return
    output.info(
        f"Nothing to do: {output.counted(changes.unchanged, 'generated file')} already "
        f"{'matches' if changes.unchanged == 1 else 'match'} mesh.yaml."
    )


def run(
    repo: Path | None, check: bool, dry_run: bool = False, overwrite_edits: bool = False
) -> int:
    writes = not (check or dry_run)
    root = mesh_repo.open_for_change(repo) if writes else mesh_repo.find_root(repo)
    if not (writes and tree_cache.is_new(root)):
        return _render(root, check, dry_run, overwrite_edits)
    # The first meshgen command here (a fresh clone) reads every file anyway; git's first
    # status in a clone is slow too, and the next new-cluster would wait for it: git does it
    # now, on the other core.
    from meshgen.adapters import git as gitops

    with gitops.status_caches_built(root):
        return _render(root, check, dry_run, overwrite_edits)


def _render(root: Path, check: bool, dry_run: bool, overwrite_edits: bool) -> int:
    writes = not (check or dry_run)
    quiet = _quiet_no_op(root)
    if quiet is not None:
        if check:
            _up_to_date(root, quiet)
        else:
            if writes:
                workspace.apply_changes(root, quiet)  # keeps what the tree cache learnt
            _nothing_to_do(quiet, dry_run)
        return 0
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
    about_text = [
        *([unknown] if unknown else []),
        *(f"{n.message}; fix: {n.fix}" for n in notices),
        *network_reachability(document.mesh),
    ]
    for warning in [*about_text, *moved_store_keys(root, document)]:
        output.warn(warning)
    note = mesh_repo.version_note(document)
    if check:
        if not changes:
            _up_to_date(root, changes)
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
            _nothing_to_do(changes, dry_run=True)
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
        # The text read passed every check; recording meshgenVersion (this meshgen's
        # version, which the schema's pattern accepts) keeps it valid, so the next command
        # need not read or check the new text again.
        mesh_repo.note_valid(root, document)
    _note_quiet(root, document, warned=bool(about_text))
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
        _nothing_to_do(changes, dry_run=False)
        return 0
    output.changed_files(changes.write, changes.remove)
    output.info(
        f"{output.counted(len(changes.write), 'file')} written, {len(changes.remove)} removed, "
        f"{changes.unchanged} unchanged. Review with `git diff`, then commit."
    )
    return 0
