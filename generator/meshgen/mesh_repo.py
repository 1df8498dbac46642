"""A meshgen GitOps repository on disk: where it is, its mesh and traffic files, and what
render would write.

Commands that write open the repository with :func:`open_for_change`: it takes the
repository's lock (one writer at a time, :mod:`meshgen.adapters.lock`) *before* anything is
read, and rolls back what an interrupted command left (:mod:`meshgen.adapters.transaction`).
Commands that only read use :func:`find_root`, which refuses to read a half-done change.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from meshgen import DISTRIBUTION, __version__, library, manifest, output, releases, spec, traffic
from meshgen.adapters import git as gitops
from meshgen.adapters import lock, transaction, tree_cache, workspace
from meshgen.errors import MeshgenError, excerpt
from meshgen.render import render_repository

TRAFFIC_SUFFIXES = (".yaml", ".yml")


def find_root_unchecked(repo_option: Path | None) -> Path:
    """The repository, as :func:`find_root` finds it, even with a change left half-done."""
    if repo_option is not None:
        try:
            is_folder = repo_option.is_dir()
        except OSError as exc:  # a name too long, say
            raise MeshgenError(
                f"--repo {excerpt(str(repo_option))}: cannot be used ({exc.strerror})"
            ) from None
        if not is_folder:
            raise MeshgenError(f"--repo {repo_option}: no such folder; pass the mesh repository")
        return repo_option.resolve()
    return gitops.repository_root(Path.cwd())


def find_root(repo_option: Path | None) -> Path:
    """``--repo DIR`` if given, else the Git repository that contains the current directory."""
    root = find_root_unchecked(repo_option)
    waiting = transaction.pending(root)
    if waiting is not None:
        raise MeshgenError(
            f"{root}: the interrupted {waiting} left a change half-done; run `meshgen recover` "
            "(or any meshgen command that writes) to roll it back first"
        )
    return root


def prepare_for_change(root: Path) -> None:
    """Hold the repository's lock and roll back what an interrupted command left."""
    lock.acquire(root)
    for done in transaction.recover(root):
        output.note(f"meshgen: {done}")


def open_for_change(repo_option: Path | None) -> Path:
    """Like :func:`find_root`, for a command that writes: locked and recovered."""
    root = find_root_unchecked(repo_option)
    prepare_for_change(root)
    return root


def read_mesh_text(root: Path) -> str:
    """``mesh.yaml`` as text: a regular file inside the repository, of bounded size."""
    path = root / spec.MESH_FILE
    try:
        real = Path(os.path.realpath(path))
        if path.is_symlink() and not real.is_relative_to(Path(os.path.realpath(root))):
            raise MeshgenError(
                f"{path}: is a symbolic link out of the repository (to {os.readlink(path)}); "
                "meshgen reads mesh.yaml only from the repository: replace the link with the file"
            )
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise MeshgenError(f"{path}: is not a regular file; mesh.yaml must be a YAML file")
        with path.open("rb") as handle:
            data = handle.read(spec.MAX_BYTES + 1)
    except FileNotFoundError:
        raise MeshgenError(
            f"{path}: not found; run `meshgen init` to create a mesh repository, or pass --repo DIR"
        ) from None
    except OSError as exc:
        raise MeshgenError(f"{path}: cannot be read ({exc.strerror}); fix the file") from None
    if len(data) > spec.MAX_BYTES:
        raise MeshgenError(
            f"{path}: larger than {spec.MAX_BYTES} bytes, more than meshgen reads; a mesh.yaml "
            "is far smaller: check the file"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MeshgenError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def load(root: Path, editing: bool = True) -> spec.MeshDocument:
    """The repository's mesh.yaml, parsed and checked. A text this meshgen read by libyaml
    and found valid before (noted in the Git folder by a command that writes, with the data
    read) is neither read by libyaml nor checked again (schema, invariants): the same text
    and the same meshgen give the same answer. With ``editing`` False (a command that never
    edits mesh.yaml: ``validate``), the layout of its lines noted with it, which only the
    text edits read, is left out (and their module not imported)."""
    text = read_mesh_text(root)
    known = tree_cache.parsed_data(root, _parsed_key(text))
    if not isinstance(known, dict) or set(known) != {"data", "layout"}:
        known = None
    data = None if known is None else known["data"]
    document = spec.parse(text, source=spec.MESH_FILE, known_valid=known is not None, plain=data)
    if known is None:
        note_valid(root, document)
    elif document.text is not None and editing:
        spec.restore_layout(document, known["layout"])
    return document


def _parsed_key(text: str) -> str:
    """The key of the parsed-mesh memo: the text, meshgen itself and Python."""
    return f"valid-with-layout:{render_key(text, {})}"


def note_valid(root: Path, document: spec.MeshDocument) -> None:
    """Note (for :func:`load`, by a command that writes) that ``document``, read or written
    as text by libyaml's reading, passed every check: the next command reads it back from
    the note, with the layout of its lines the text edits need (``new-cluster`` and
    ``remove-cluster`` then cut or insert lines without reading every line again). A
    document edited on the round-trip tree is not noted."""
    text = document.text
    if text is not None:
        noted = {"data": document.data, "layout": spec.layout_record(document)}
        tree_cache.remember_parsed(root, _parsed_key(text), noted, exact=document.json_exact)


def read_traffic(root: Path) -> dict[str, str]:
    """The text of every YAML file under ``traffic/`` (any depth), by POSIX path.

    Files are read only inside the repository: a symlink that leads out of it is refused."""
    folder = root / traffic.FOLDER
    if not folder.is_dir():
        return {}
    inside = root.resolve()
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix not in TRAFFIC_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        if not path.resolve().is_relative_to(inside):
            raise MeshgenError(
                f"{relative}: is a link out of the repository; traffic files must live in it"
            )
        try:
            if path.stat().st_size > traffic.load.MAX_FILE_BYTES:
                raise MeshgenError(
                    f"{relative}: larger than {traffic.load.MAX_FILE_BYTES // 1024} KiB; a "
                    "traffic file holds the policies of one service, split it"
                )
            texts[relative] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MeshgenError(f"{relative}: cannot be read ({exc}); fix the file") from None
    return texts


def load_traffic(root: Path, mesh: spec.Mesh) -> traffic.TrafficPolicies:
    """The repository's traffic policies, checked against ``mesh``; raises MeshgenError (file,
    line and field) at the first problem."""
    return _traffic_texts(root, mesh)[0]


def _traffic_texts(root: Path, mesh: spec.Mesh) -> tuple[traffic.TrafficPolicies, dict[str, str]]:
    """:func:`load_traffic`, and the texts of the traffic files."""
    texts = read_traffic(root)
    policies = traffic.parse_files(texts)
    traffic.check(mesh, policies)
    return policies, texts


def _input_key(document: spec.MeshDocument, traffic_texts: Mapping[str, str]) -> str | None:
    """The key of a render of ``document`` as read from disk (None: edited or migrated)."""
    if document.text is None or document.migrated_from:
        return None
    return render_key(document.text, traffic_texts)


def render_key(text: str, traffic_texts: Mapping[str, str]) -> str:
    """The SHA-256 of everything a render depends on: the mesh.yaml text, the traffic files
    and meshgen itself. Equal keys, equal renders (the core is pure)."""
    digest = hashlib.sha256(library.code_fingerprint().encode("ascii"))
    for part in (text, *(item for pair in sorted(traffic_texts.items()) for item in pair)):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _planned(
    root: Path, desired: dict[str, str], owned: dict[str, str], key: str | None
) -> workspace.ChangeSet:
    """:func:`workspace.plan_changes`, noting (with ``key``, the render's inputs) which file
    record the render gave, for :func:`_unchanged` next time."""
    changes = workspace.plan_changes(root, desired, owned=owned)
    if key is not None and manifest.PATH in desired:
        record = manifest.digest(desired[manifest.PATH].encode("utf-8"))
        tree_cache.remember_render(root, key, record)
    return changes


def _unchanged(root: Path, key: str | None) -> workspace.ChangeSet | None:
    """The empty change set when a render of the same inputs (``key``) gave the files the tree
    holds (without rendering: see :func:`workspace.plan_recorded`); None when not certain."""
    if key is None:
        return None
    return workspace.plan_recorded(root, tree_cache.render_result(root, key))


def desired_files(
    document: spec.MeshDocument, policies: traffic.TrafficPolicies | None = None
) -> dict[str, str]:
    """Every generated file for the document's mesh and the traffic ``policies`` (checked
    against it, see :func:`load_traffic`)."""
    return render_repository(document.mesh, library.load(), policies)


def find_optional(repo_option: Path | None, for_change: bool = False) -> Path | None:
    """Like :func:`find_root` (:func:`open_for_change` with ``for_change``), but None when
    there is no ``--repo`` and no mesh around here.

    For commands that use the mesh when there is one (defaults, records) and work without.
    """
    if repo_option is not None:
        return open_for_change(repo_option) if for_change else find_root(repo_option)
    try:
        root = gitops.repository_root(Path.cwd())
    except MeshgenError:
        return None
    if not (root / spec.MESH_FILE).is_file():
        return None
    if for_change:
        prepare_for_change(root)
    return root


def _version_key(version: str) -> tuple[int, ...]:
    """``0.2.0`` -> (0, 2, 0): the release numbers, for ordering versions."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(part) for part in match.groups()) if match else (0,)


def version_note(document: spec.MeshDocument) -> str | None:
    """What to do when this meshgen is not the one that rendered the repository: the version
    to install, or to re-render with this one. None when they are the same."""
    recorded = document.mesh.meshgen_version
    if recorded == __version__:
        return None
    if recorded is None:
        return (
            f"mesh.yaml records no meshgenVersion (rendered by meshgen before 0.2.0): run "
            f"`meshgen render` with this meshgen ({__version__}) and commit the result"
        )
    return (
        f"rendered by meshgen {recorded}, this is {__version__}: install "
        f"{DISTRIBUTION}=={recorded}, or run `meshgen render` to re-render with {__version__} "
        "and commit the result"
    )


def plan_writing(
    root: Path,
    document: spec.MeshDocument,
    extra: dict[str, str] | None = None,
    edited: bool = True,
    policies: traffic.TrafficPolicies | None = None,
    before: spec.MeshDocument | None = None,
) -> tuple[spec.MeshDocument, workspace.ChangeSet]:
    """What writing ``document`` (mesh.yaml, its generated files and ``extra`` owned files)
    with this meshgen changes, and the document written. ``edited=False``: mesh.yaml is
    written only when the version record changes (``render`` leaves a hand-written file as
    it is). ``policies`` default to the repository's traffic files, checked against the mesh.
    ``before``: the document as read, whose render the tree holds: then only the clusters
    the edit reaches are rendered, when that is certain (see :func:`_plan_incremental`).

    ``meshgenVersion`` records the meshgen whose output the repository holds: when this one
    writes a generated file it is recorded (so CI installs it and ``render --check`` there
    agrees); when the generated files stay as they are, so does the record. An older meshgen
    than the recorded one does not write generated files (it would undo the newer one's).
    """
    owned = {spec.MESH_FILE: spec.to_text(document)} if edited else {}
    owned.update(extra or {})
    if before is not None and edited and not extra:
        incremental = _plan_incremental(root, before, document, owned[spec.MESH_FILE])
        if incremental is not None:
            return document, incremental
    key = texts = None
    if policies is None:
        policies, texts = _traffic_texts(root, document.mesh)
        # Only a render alone is remembered: owned files (mesh.yaml) are compared each time.
        key = _input_key(document, texts) if not owned else None
    unchanged = _unchanged(root, key)
    if unchanged is not None:
        return document, unchanged
    changes = _planned(root, desired_files(document, policies), owned, key)
    recorded = document.mesh.meshgen_version
    generated = [path for path in changes.paths if path not in owned and path != spec.MESH_FILE]
    if recorded == __version__ or not generated:
        return document, changes
    if recorded is not None and _version_key(__version__) < _version_key(recorded):
        raise MeshgenError(
            f"mesh.yaml: meshgenVersion: this repository was rendered by meshgen {recorded}, "
            f"newer than this one ({__version__}), which would change {generated[0]} back; "
            f"install {DISTRIBUTION}=={recorded} (pip install or pipx install), then run the "
            "command again"
        )
    document = spec.record_meshgen_version(document, __version__)
    owned[spec.MESH_FILE] = spec.to_text(document)
    if recorded is None:  # the output pinned this version already: only mesh.yaml changes
        record = tree_cache.render_result(root, key) if key is not None else None
        if record is not None and texts is not None:  # the same render, from the new text
            tree_cache.remember_render(root, render_key(owned[spec.MESH_FILE], texts), record)
        if spec.MESH_FILE not in changes.write and edited:
            changes.unchanged -= 1
        changes.write[spec.MESH_FILE] = owned[spec.MESH_FILE]
        return document, changes
    return document, workspace.plan_changes(root, desired_files(document, policies), owned=owned)


def _plan_incremental(
    root: Path, before: spec.MeshDocument, document: spec.MeshDocument, mesh_text: str
) -> workspace.ChangeSet | None:
    """The change set of an edit from ``before`` to ``document``, rendering only the clusters
    it reaches (:mod:`meshgen.render.incremental`); None when that is not certain: the tree
    must hold this meshgen's render of ``before`` (its file record is the one that render
    gave, as noted in the Git folder), both record this meshgen's version, there are no
    traffic files, and no new file lands where a file or link already is. The full render
    then decides (and words any error). Without a note of ``before``'s render, it is
    rendered whole to compare its record with the tree's."""
    from meshgen.render import incremental

    version = __version__
    if before.text is None or before.migrated_from or read_traffic(root):
        return None
    if before.mesh.meshgen_version != version or document.mesh.meshgen_version != version:
        return None
    before_key = render_key(before.text, {})
    boundary = workspace.Boundary(root)
    try:
        record = boundary.read(manifest.PATH)
    except (OSError, MeshgenError):
        return None
    if record is None:
        return None
    expected = tree_cache.render_result(root, before_key)
    if expected is None:
        # No note of it (a fresh clone, say): render ``before`` whole to know its record,
        # which costs less than rendering the edit whole and reading every file back.
        rendered = desired_files(before)
        if manifest.PATH not in rendered:
            return None
        expected = manifest.digest(rendered[manifest.PATH].encode("utf-8"))
        tree_cache.remember_render(root, before_key, expected)
    if manifest.digest(record) != expected:
        return None
    change = incremental.render_change(before.mesh, document.mesh, library.load())
    if change is None:
        return None
    # The record this meshgen rendered: sorted, edited by its lines (see RenderedRecord).
    recorded = manifest.RenderedRecord(record.decode("utf-8", errors="replace"))
    digests = {path: manifest.digest(text.encode("utf-8")) for path, text in change.after.items()}
    record_text, listed = incremental.record_after(recorded, change, digests)
    desired = {**change.after, manifest.PATH: record_text}
    digests[manifest.PATH] = manifest.digest(record_text.encode("utf-8"))
    changes = workspace.ChangeSet()
    for path, text in desired.items():
        known = expected if path == manifest.PATH else recorded.get(path)
        if known == digests[path]:
            continue
        if known is None and (not boundary.folder_inside(path) or os.path.lexists(root / path)):
            return None
        changes.write[path] = text
    gone = [path for path in change.before if path not in desired and path in recorded]
    if not all(boundary.folder_inside(path) for path in gone):
        return None
    changes.remove = sorted(p for p in gone if workspace.is_generated(root / p))
    changes.unchanged = listed + 1 - len(changes.write)
    try:
        on_disk = boundary.read(spec.MESH_FILE)
    except (OSError, MeshgenError):
        return None
    if on_disk == mesh_text.encode("utf-8"):
        changes.unchanged += 1
    else:
        changes.write[spec.MESH_FILE] = mesh_text
    return changes


def write_mesh_file(
    root: Path,
    document: spec.MeshDocument,
    extra: dict[str, str] | None = None,
    overwrite_edits: bool = False,
) -> list[str]:
    """Write an edited ``mesh.yaml`` (and ``extra`` owned files), re-rendering what changes.

    Returns the paths written or removed.
    """
    changes = plan_mesh_file(root, document, extra)
    workspace.apply_changes(root, changes, overwrite_edits=overwrite_edits)
    return changes.paths


def plan_mesh_file(
    root: Path, document: spec.MeshDocument, extra: dict[str, str] | None = None
) -> workspace.ChangeSet:
    """What :func:`write_mesh_file` would write and remove (for ``--dry-run``)."""
    _, changes = plan_writing(root, document, extra)
    return changes


def plan_render(root: Path, document: spec.MeshDocument) -> workspace.ChangeSet:
    """What ``meshgen render`` would change in ``root`` (``render --check`` and ``validate``).

    A mesh.yaml of an older format counts too: render writes it back migrated (comments kept).
    """
    owned = {spec.MESH_FILE: spec.to_text(document)} if document.migrated_from else {}
    policies, texts = _traffic_texts(root, document.mesh)
    key = _input_key(document, texts)
    unchanged = _unchanged(root, key)
    if unchanged is not None:
        return unchanged
    return _planned(root, desired_files(document, policies), owned, key)


# A chart repository in a generated engine file: Argo CD's repoURL, Flux's url.
_REPOSITORY_LINE = re.compile(
    r"^[ \t]*-?[ \t]*(?:repoURL|url):[ \t]*['\"]?([^'\"\s]+)", re.MULTILINE
)


def _setting(tree: Any, *keys: str) -> str | None:
    for key in keys:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return str(tree) if tree is not None else None


def location_settings(
    document: spec.MeshDocument, texts: Mapping[str, str]
) -> releases.LocationSettings:
    """Where mesh.yaml says charts and images come from, and what the generated files
    (``texts``: their text as committed, before a render rewrites them) take from meshgen's
    earlier defaults."""
    from meshgen.render.plan import cluster_folder, plan_cluster

    mesh = document.mesh
    repositories = [
        url
        for path in sorted(texts)
        if "url:" in texts[path] or "repoURL:" in texts[path]
        for url in _REPOSITORY_LINE.findall(texts[path])
    ]
    # A cluster's values files are in its folder: only clusters with a file in texts count.
    folders = {path.rpartition("/values/")[0] for path in texts if "/values/" in path}
    istiod_values: set[str] = {
        component.values_path
        for cluster in mesh.clusters
        if cluster_folder(cluster.name) in folders
        for component in plan_cluster(mesh, cluster, library.chart_profiles()).components
        if component.chart is not None
        and component.chart.chart == "istiod"
        and component.values_path is not None
    }
    without_hub = any(
        not re.search(r"^hub:", texts[path], re.MULTILINE)
        for path in sorted(istiod_values & texts.keys())
    )
    return releases.LocationSettings(
        version=mesh.istio_version,
        chart_repository=_setting(document.data, "istio", "chartRepository"),
        hub=_setting(document.data, "istio", "hub"),
        rendered_chart_repositories=tuple(repositories),
        rendered_without_hub=without_hub,
    )


def location_notices(
    root: Path, document: spec.MeshDocument, paths: Iterable[str]
) -> list[releases.Notice]:
    """Retired chart and image locations the mesh uses, named in mesh.yaml or by an old
    default still in the generated ``paths`` of ``root`` (read before a render rewrites them;
    see :func:`location_settings`). mesh.yaml among ``paths`` is not read as a generated
    file: its ``url:`` is the repository's, not a chart repository."""
    texts = {
        path: (root / path).read_text(encoding="utf-8", errors="replace")
        for path in paths
        if path.endswith(".yaml") and path != spec.MESH_FILE and (root / path).is_file()
    }
    return releases.location_notices(library.istio_releases(), location_settings(document, texts))


def unknown_version_warning(mesh: spec.Mesh) -> str | None:
    """``render`` and ``new-cluster`` render any version; ``validate`` is the gate."""
    if library.istio_releases().get(mesh.istio_version) is not None:
        return None
    return (
        f"istio.version {mesh.istio_version} is not in meshgen's release catalogue: "
        "`meshgen validate` refuses it unless --allow-unknown-version"
    )
