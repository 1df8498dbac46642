"""A meshgen GitOps repository on disk: where it is, its mesh, and what render would write.

Commands that write open the repository with :func:`open_for_change`: it takes the
repository's lock (one writer at a time, :mod:`meshgen.adapters.lock`) *before* anything is
read, and rolls back what an interrupted command left (:mod:`meshgen.adapters.transaction`).
Commands that only read use :func:`find_root`, which refuses to read a half-done change.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from meshgen import library, output, spec
from meshgen.adapters import git as gitops
from meshgen.adapters import lock, transaction, workspace
from meshgen.errors import MeshgenError, excerpt
from meshgen.render import render_repository


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


def load(root: Path) -> spec.MeshDocument:
    return spec.parse(read_mesh_text(root), source=spec.MESH_FILE)


def desired_files(document: spec.MeshDocument) -> dict[str, str]:
    """Every generated file for the document's mesh."""
    return render_repository(document.mesh, library.load())


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


def write_mesh_file(
    root: Path,
    document: spec.MeshDocument,
    extra: dict[str, str] | None = None,
    overwrite_edits: bool = False,
) -> list[str]:
    """Write an edited ``mesh.yaml`` (and ``extra`` owned files), re-rendering what changes.

    Returns the paths written or removed.
    """
    owned = {spec.MESH_FILE: spec.to_text(document), **(extra or {})}
    changes = workspace.plan_changes(root, desired_files(document), owned=owned)
    workspace.apply_changes(root, changes, overwrite_edits=overwrite_edits)
    return changes.paths


def plan_render(root: Path, document: spec.MeshDocument) -> workspace.ChangeSet:
    """What ``meshgen render`` would change in ``root`` (``render --check`` and ``validate``).

    A mesh.yaml of an older format counts too: render writes it back migrated (comments kept).
    """
    owned = {spec.MESH_FILE: spec.to_text(document)} if document.migrated_from else None
    return workspace.plan_changes(root, desired_files(document), owned=owned)
