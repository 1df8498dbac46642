"""A meshgen GitOps repository on disk: where it is, its mesh, and what render would write."""

from __future__ import annotations

from pathlib import Path

from meshgen import library, spec
from meshgen.adapters import git as gitops
from meshgen.adapters import workspace
from meshgen.errors import MeshgenError
from meshgen.render import render_repository


def find_root(repo_option: Path | None) -> Path:
    """``--repo DIR`` if given, else the Git repository that contains the current directory."""
    if repo_option is not None:
        if not repo_option.is_dir():
            raise MeshgenError(f"--repo {repo_option}: no such folder; pass the mesh repository")
        return repo_option.resolve()
    return gitops.repository_root(Path.cwd())


def load(root: Path) -> spec.MeshDocument:
    path = root / spec.MESH_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MeshgenError(
            f"{path}: not found; run `meshgen init` to create a mesh repository, or pass --repo DIR"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MeshgenError(f"{path}: cannot be read ({exc}); fix the file") from None
    return spec.parse(text, source=spec.MESH_FILE)


def desired_files(document: spec.MeshDocument) -> dict[str, str]:
    """Every generated file for the document's mesh."""
    return render_repository(document.mesh, library.load())


def find_optional(repo_option: Path | None) -> Path | None:
    """Like :func:`find_root`, but None when there is no ``--repo`` and no mesh around here.

    For commands that use the mesh when there is one (defaults, records) and work without.
    """
    if repo_option is not None:
        return find_root(repo_option)
    try:
        root = gitops.repository_root(Path.cwd())
    except MeshgenError:
        return None
    return root if (root / spec.MESH_FILE).is_file() else None


def write_mesh_file(
    root: Path, document: spec.MeshDocument, extra: dict[str, str] | None = None
) -> list[str]:
    """Write an edited ``mesh.yaml`` (and ``extra`` owned files), re-rendering what changes.

    Returns the paths written or removed.
    """
    changes = plan_mesh_file(root, document, extra)
    workspace.apply_changes(root, changes)
    return changes.paths


def plan_mesh_file(
    root: Path, document: spec.MeshDocument, extra: dict[str, str] | None = None
) -> workspace.ChangeSet:
    """What :func:`write_mesh_file` would write and remove (for ``--dry-run``)."""
    owned = {spec.MESH_FILE: spec.to_text(document), **(extra or {})}
    return workspace.plan_changes(root, desired_files(document), owned=owned)


def plan_render(root: Path, document: spec.MeshDocument) -> workspace.ChangeSet:
    """What ``meshgen render`` would change in ``root`` (``render --check`` and ``validate``).

    A mesh.yaml of an older format counts too: render writes it back migrated (comments kept).
    """
    owned = {spec.MESH_FILE: spec.to_text(document)} if document.migrated_from else None
    return workspace.plan_changes(root, desired_files(document), owned=owned)
