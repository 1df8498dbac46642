"""A meshgen GitOps repository on disk: where it is, its mesh, and what render would write."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from meshgen import library, releases, spec
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
    from meshgen.adapters import workspace

    owned = {spec.MESH_FILE: spec.to_text(document), **(extra or {})}
    changes = workspace.plan_changes(root, desired_files(document), owned=owned)
    workspace.apply_changes(root, changes)
    return changes.paths


def plan_render(root: Path, document: spec.MeshDocument) -> workspace.ChangeSet:
    """What ``meshgen render`` would change in ``root`` (``render --check`` and ``validate``).

    A mesh.yaml of an older format counts too: render writes it back migrated (comments kept).
    """
    owned = {spec.MESH_FILE: spec.to_text(document)} if document.migrated_from else None
    return workspace.plan_changes(root, desired_files(document), owned=owned)


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
    from meshgen.render.plan import plan_mesh

    mesh = document.mesh
    repositories = [
        url
        for path in sorted(texts)
        if "url:" in texts[path] or "repoURL:" in texts[path]
        for url in _REPOSITORY_LINE.findall(texts[path])
    ]
    istiod_values: set[str] = {
        component.values_path
        for plan in plan_mesh(mesh, library.chart_profiles())
        for component in plan.components
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
        chart_repository=_setting(document.tree, "istio", "chartRepository"),
        hub=_setting(document.tree, "istio", "hub"),
        rendered_chart_repositories=tuple(repositories),
        rendered_without_hub=without_hub,
    )


def location_notices(
    root: Path, document: spec.MeshDocument, paths: Iterable[str]
) -> list[releases.Notice]:
    """Retired chart and image locations the mesh uses, named in mesh.yaml or by an old
    default still in the generated ``paths`` of ``root`` (read before a render rewrites them;
    see :func:`location_settings`)."""
    texts = {
        path: (root / path).read_text(encoding="utf-8", errors="replace")
        for path in paths
        if path.endswith(".yaml") and (root / path).is_file()
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
