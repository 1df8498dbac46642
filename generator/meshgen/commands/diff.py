"""``meshgen diff``: what the working tree's mesh.yaml changes against a base commit.

Both sides are rendered here from their ``mesh.yaml`` (the base's read with ``git show``), so
the report holds for a branch made by hand-editing ``mesh.yaml`` and does not trust the
generated files of either side. Each cluster's overlays are built with the real
``kubectl kustomize`` on both renders, written to temporary folders. Remote resources (an
ambient cluster's Gateway API release URL) are never fetched: the report names them instead.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshgen import (
    diffreport,
    graph,
    library,
    mesh_repo,
    meshdiff,
    output,
    releases,
    spec,
    traffic,
)
from meshgen.adapters import git as gitops
from meshgen.adapters import kustomize
from meshgen.errors import MeshgenError
from meshgen.render import plan_repository, render_repository

if TYPE_CHECKING:
    from git import Repo


def default_base(repo: Repo, revision: str) -> tuple[str, str]:
    """(name, commit): the merge base of HEAD with ``origin/<revision>``, else ``<revision>``."""
    for ref in (f"origin/{revision}", revision):
        if gitops.resolve(repo, ref) is None:
            continue
        commit = gitops.merge_base(repo, "HEAD", ref)
        if commit is not None:
            return f"merge base with {ref}", commit
    raise MeshgenError(
        f"no base to compare with: neither origin/{revision} nor {revision} shares history "
        "with HEAD; pass --base REF"
    )


@dataclass(frozen=True)
class Base:
    """The side ``diff`` compares with: its label, commit, mesh.yaml text and mesh."""

    label: str
    commit: str
    text: str
    mesh: spec.Mesh


def _base_mesh(repo: Repo, base: str | None, current: tuple[str, spec.Mesh]) -> Base:
    """The mesh at ``base`` (default: the merge base with the tracked branch); ``current``
    (the work tree's mesh.yaml text and mesh) is reused when the base holds the same text
    (parsing a large mesh.yaml takes a second)."""
    revision = current[1].revision
    if base is None:
        name, commit = default_base(repo, revision)
    else:
        found = gitops.resolve(repo, base)
        if found is None:
            raise MeshgenError(
                f"--base {base}: not a commit of this repository; pass a branch, tag or commit"
            )
        name, commit = base, found
    text = gitops.show_file(repo, commit, spec.MESH_FILE)
    label = f"{name} ({commit[:12]})"
    if text is None:
        raise MeshgenError(f"--base {label}: has no {spec.MESH_FILE}; pass a later --base")
    if text == current[0]:
        return Base(label=label, commit=commit, text=text, mesh=current[1])
    mesh = spec.parse(text, source=f"{commit[:12]}:{spec.MESH_FILE}").mesh
    return Base(label=label, commit=commit, text=text, mesh=mesh)


def _without_remote_resources(files: dict[str, str]) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The files with remote resources left out of every kustomization (diff never fetches
    them), and the remote resources of each kustomization folder."""
    import yaml

    from meshgen.render import yamltext

    local, remote = dict(files), {}
    for path, text in files.items():
        if not path.endswith("/kustomization.yaml") or "://" not in text:
            continue
        document = yaml.safe_load(text) or {}
        resources = document.get("resources") or []
        urls = {r for r in resources if isinstance(r, str) and "://" in r}
        if urls:
            remote[path.rpartition("/")[0]] = urls
            document["resources"] = [r for r in resources if r not in urls]
            local[path] = yamltext.dump(document)
    return local, remote


def _remote_changes(
    source: str, before: set[str] | None, after: set[str] | None
) -> list[diffreport.ObjectChange]:
    old, new = before or set(), after or set()
    return [
        diffreport.ObjectChange(source, f"remote resource {url}", change)
        for change, urls in (("added", new - old), ("removed", old - new))
        for url in sorted(urls)
    ]


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _base_traffic(base: Base, texts: dict[str, str]) -> traffic.TrafficPolicies:
    """The traffic policies of ``base`` (``texts``: its traffic files), checked against its
    mesh."""
    try:
        policies = traffic.parse_files(texts)
        traffic.check(base.mesh, policies)
    except MeshgenError as exc:
        raise MeshgenError(f"--base {base.label}: {exc}") from None
    return policies


def _receives(
    mesh: spec.Mesh, policies: traffic.TrafficPolicies
) -> dict[str, tuple[list[str], list[str]]]:
    """Per cluster: (values files, overlay folders) it receives."""
    found = {}
    plans, _traffic_files = plan_repository(mesh, library.load(), policies)
    for plan in plans:
        values = [c.values_path for c in plan.components if c.values_path]
        overlays = [c.overlay_path for c in plan.components if c.overlay_path]
        found[plan.cluster.name] = (values, overlays)
    return found


def _build_all(root: Path, folders: list[str]) -> dict[str, list[Any]]:
    """The objects of every folder under ``root``, built with ``kubectl kustomize`` in batches
    (one process builds many overlays: see :func:`meshgen.adapters.kustomize.build_batches`)."""
    from meshgen.validation.kustomize import plan_batches

    jobs = min(os.cpu_count() or 2, 8)
    built = kustomize.build_batches(root, plan_batches(sorted(set(folders))), jobs)
    objects: dict[str, list[Any]] = {}
    for folder, result in built.items():
        if isinstance(result, MeshgenError):
            raise result
        objects[folder] = result
    return objects


def cluster_changes(
    before: spec.Mesh,
    after: spec.Mesh,
    old_files: dict[str, str],
    new_files: dict[str, str],
    changed: dict[str, str],
    policies: tuple[traffic.TrafficPolicies, traffic.TrafficPolicies] = (
        traffic.NO_POLICIES,
        traffic.NO_POLICIES,
    ),
) -> list[diffreport.ClusterChange]:
    """``policies``: the traffic policies before and after."""
    old_receives, new_receives = _receives(before, policies[0]), _receives(after, policies[1])
    result = []
    with tempfile.TemporaryDirectory(prefix="meshgen-diff-") as tmp:
        old_local, old_remote = _without_remote_resources(old_files)
        new_local, new_remote = _without_remote_resources(new_files)
        sides = {"old": (Path(tmp) / "before", old_local), "new": (Path(tmp) / "after", new_local)}
        for root, files in sides.values():
            _write_tree(root, files)
        plans = []
        to_build: dict[str, list[str]] = {"old": [], "new": []}
        for name in sorted(old_receives.keys() | new_receives.keys()):
            old_values, old_overlays = old_receives.get(name, ([], []))
            new_values, new_overlays = new_receives.get(name, ([], []))
            overlays = []
            for path in sorted(set(old_overlays) | set(new_overlays)):
                old_in = (
                    diffreport.kustomization_inputs(old_files, path)
                    if path in old_overlays
                    else None
                )
                new_in = (
                    diffreport.kustomization_inputs(new_files, path)
                    if path in new_overlays
                    else None
                )
                if old_in == new_in:
                    continue  # the same inputs build the same objects
                if old_in is not None:
                    to_build["old"].append(path)
                if new_in is not None:
                    to_build["new"].append(path)
                overlays.append((path, (old_in is not None, new_in is not None)))
            # A removed cluster loses all of its values; its objects say what is uninstalled.
            values = sorted(set(new_values) | (set(old_values) if new_values else set()))
            plans.append((name, values, overlays))
        built = {side: _build_all(sides[side][0], to_build[side]) for side in sides}
        for name, values, overlays in plans:
            prefix = f"clusters/{name}/"
            status = (
                "added"
                if name not in old_receives
                else "removed"
                if name not in new_receives
                else "changed"
            )
            change = diffreport.ClusterChange(
                name=name, status=status, files=[p for p in changed if p.startswith(prefix)]
            )
            for path in values:
                change.values += diffreport.values_changes(
                    old_files.get(path), new_files.get(path), Path(path).name
                )
            for path, (in_old, in_new) in overlays:
                change.objects += diffreport.object_changes(
                    path.removeprefix(prefix),
                    built["old"][path] if in_old else None,
                    built["new"][path] if in_new else None,
                )
                change.objects += _remote_changes(
                    path.removeprefix(prefix), old_remote.get(path), new_remote.get(path)
                )
            if status != "changed" or change.files or change.values or change.objects:
                result.append(change)
    return result


def build_report(repo: Repo, root: Path, base: str | None) -> diffreport.Report:
    document = mesh_repo.load(root)
    after = document.mesh
    new_texts = mesh_repo.read_traffic(root)
    new_policies = traffic.parse_files(new_texts)
    traffic.check(after, new_policies)
    new_text = (root / spec.MESH_FILE).read_text(encoding="utf-8")
    old = _base_mesh(repo, base, (new_text, after))
    before = old.mesh
    old_texts = gitops.files_under(repo, old.commit, traffic.FOLDER, mesh_repo.TRAFFIC_SUFFIXES)
    old_policies = _base_traffic(old, old_texts)
    lib = library.load()
    old_inputs = {spec.MESH_FILE: old.text, **old_texts}
    new_inputs = {spec.MESH_FILE: new_text, **new_texts}
    if before == after and old_policies == new_policies:
        # Rendering is a pure function of the models: one render stands for both sides, no
        # generated file or overlay can differ, only the hand-written inputs' text (comments,
        # order), and nothing needs building.
        rendered = render_repository(after, lib, new_policies)
        changed = diffreport.file_changes(old_inputs, new_inputs)
        return diffreport.Report(
            base=old.label,
            summary=meshdiff.summarize(before, after)
            + _moves(repo, old.commit, document, rendered),
            clusters=[],
            files=changed,
            diff=diffreport.unified_diff(old_inputs, new_inputs, list(changed)),
            graph=graph.to_mermaid(after),
        )
    old_files = {**old_inputs, **render_repository(before, lib, old_policies)}
    new_files = {**new_inputs, **render_repository(after, lib, new_policies)}
    changed = diffreport.file_changes(old_files, new_files)
    policies = (old_policies, new_policies)
    return diffreport.Report(
        base=old.label,
        summary=[
            *meshdiff.summarize(before, after),
            *_moves(repo, old.commit, document, old_files),
            *traffic.summarize(before, old_policies, after, new_policies),
        ],
        clusters=cluster_changes(before, after, old_files, new_files, changed, policies),
        files=changed,
        diff=diffreport.unified_diff(old_files, new_files, list(changed)),
        graph=graph.to_mermaid(after),
    )


def _moves(
    repo: Repo, commit: str, document: spec.MeshDocument, base_render: dict[str, str]
) -> list[str]:
    """Charts and images this change moves off a retired location, from what the base
    commit's generated files (as committed, not re-rendered) name by an old default."""
    paths = [p for p in base_render if p.endswith(".yaml") and p != spec.MESH_FILE]
    committed = gitops.read_files(repo, commit, paths)
    settings = mesh_repo.location_settings(document, committed)
    notices = releases.location_notices(library.istio_releases(), settings)
    return [n.change for n in notices if n.change]


def run(repo_option: Path | None, base: str | None, output_format: str) -> int:
    root = mesh_repo.find_root(repo_option)
    repo = gitops.open_repository(root)
    report = build_report(repo, root, base)
    if output_format == "json":
        output.raw(diffreport.to_json(report))
    elif output_format == "yaml":
        output.document(dataclasses.asdict(report), "yaml")
    elif output_format == "markdown":
        output.raw(diffreport.to_markdown(report))
    else:
        output.raw(diffreport.to_text(report))
    return 0
