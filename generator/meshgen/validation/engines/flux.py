"""Flux wiring, walked the way Flux would: ``flux bootstrap --path=clusters/<c>`` → the
``flux-system`` Kustomization builds ``clusters/<c>/`` → each Flux Kustomization's ``path`` →
the HelmReleases they apply, with their values resolved as helm-controller does.

Before ``flux bootstrap`` has run, ``clusters/<c>/flux-system/`` does not exist, yet the
cluster's ``kustomization.yaml`` lists it (so Flux keeps managing itself afterwards). The
builds then use a stand-in with what bootstrap commits (:func:`bootstrap_files`); once the
folder exists, it is built as it is.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from meshgen.render.engines.flux import BOOTSTRAP_FOLDER, NAMESPACE, bootstrap_url
from meshgen.spec import Mesh
from meshgen.validation import UNCHECKED, Finding, object_label
from meshgen.validation.engines import HelmRelease
from meshgen.validation.engines.argocd import (
    CHART_RANK,
    CRD_RANK,
    RANK_NAMES,
    objects_rank,
    order_fix,
)
from meshgen.validation.kustomize import KUSTOMIZATION_NAMES, ensure_built, kustomizations
from meshgen.validation.repository import RepoView

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"
FLUX_SUFFIX = ".toolkit.fluxcd.io"
SOURCE_KINDS = {"GitRepository", "OCIRepository", "Bucket", "ExternalArtifact"}
CHART_SOURCE_KINDS = {"HelmRepository", "GitRepository", "Bucket"}
CHART_REF_KINDS = {"OCIRepository", "HelmChart", "ExternalArtifact"}
CLUSTER_LABEL = "meshgen.io/cluster"
DEFAULT_VALUES_KEY = "values.yaml"
# Stage order of the Flux Kustomizations of a cluster, by what each applies (the ranks of
# Argo CD's sync order, with every chart in one stage, right after the CRDs).
CHARTS_RANK = CRD_RANK + 1
STAGE_NAMES = {**dict(enumerate(RANK_NAMES)), CHARTS_RANK: "charts"}
RENDER = "run `meshgen render`"

Key = tuple[str, str, str]  # kind, namespace, name
BOOTSTRAP_KUSTOMIZATION: Key = ("Kustomization", NAMESPACE, "flux-system")


def bootstrap_files(mesh: Mesh, cluster: str) -> dict[str, str]:
    """What ``flux bootstrap git --path=clusters/<cluster>`` commits into ``flux-system/``
    (flux2 v2.9 layout), with only the namespace standing in for the controllers."""
    url, branch = json.dumps(bootstrap_url(mesh.repo_url)), json.dumps(mesh.revision)
    sync = f"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: flux-system, namespace: {NAMESPACE}}}
spec:
  interval: 1m0s
  ref: {{branch: {branch}}}
  secretRef: {{name: flux-system}}
  url: {url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: flux-system, namespace: {NAMESPACE}}}
spec:
  interval: 10m0s
  path: ./clusters/{cluster}
  prune: true
  sourceRef: {{kind: GitRepository, name: flux-system}}
"""
    return {
        f"{BOOTSTRAP_FOLDER}/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\nresources: [gotk-components.yaml, gotk-sync.yaml]\n",
        f"{BOOTSTRAP_FOLDER}/gotk-components.yaml": "apiVersion: v1\nkind: Namespace\n"
        f"metadata: {{name: {NAMESPACE}}}\n",
        f"{BOOTSTRAP_FOLDER}/gotk-sync.yaml": sync,
    }


def stand_ins(view: RepoView) -> dict[str, dict[str, str]]:
    """``clusters/<c>`` folders that list ``flux-system`` before bootstrap wrote it."""
    mesh = view.mesh
    assert mesh is not None
    found, _ = kustomizations(view)
    result = {}
    for folder, content in sorted(found.items()):
        parts = folder.split("/")
        resources = content.get("resources") or []
        listed = any(
            isinstance(r, str) and posixpath.normpath(r) == BOOTSTRAP_FOLDER for r in resources
        )
        bootstrapped = (view.root / folder / BOOTSTRAP_FOLDER).exists()
        if len(parts) == 2 and parts[0] == "clusters" and listed and not bootstrapped:
            result[folder] = bootstrap_files(mesh, parts[1])
    return result


# ------------------------------------------------------------------------------------ walk


def _map(obj: Any, *keys: str) -> dict[str, Any]:
    """``obj[k1][k2]...`` when every step is a mapping, else {} (hand-made files vary)."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def _list(obj: Any, *keys: str) -> list[Any]:
    *path, last = keys
    value = _map(obj, *path).get(last)
    return value if isinstance(value, list) else []


def _key(obj: dict[str, Any]) -> Key:
    meta = _map(obj, "metadata")
    return (str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))


def _ref_key(obj: dict[str, Any], ref: Any, kind: str | None = None) -> Key:
    """The object a reference (``sourceRef``, ``dependsOn`` entry) names; its namespace
    defaults to the referring object's."""
    ref = ref if isinstance(ref, dict) else {}
    namespace = ref.get("namespace") or _map(obj, "metadata").get("namespace", "")
    return (str(kind or ref.get("kind")), str(namespace), str(ref.get("name")))


def _group(obj: dict[str, Any]) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[0]


def _is(obj: dict[str, Any], group: str, kind: str) -> bool:
    return obj.get("kind") == kind and _group(obj) == group


@dataclass
class ClusterWalk:
    """What Flux applies in one cluster: each built path with its objects, and the Flux
    Kustomizations found on the way (with the path that applies them)."""

    cluster: str
    folder: str  # clusters/<cluster>, the bootstrap path
    applied: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kustomizations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    targets: dict[Key, str | None] = field(default_factory=dict)  # Kustomization -> its path
    findings: list[Finding] = field(default_factory=list)

    def objects(self) -> dict[Key, tuple[str, dict[str, Any]]]:
        """Every applied object once, with the path that applies it (first one)."""
        found: dict[Key, tuple[str, dict[str, Any]]] = {}
        for path, objects in self.applied.items():
            for obj in objects:
                if isinstance(obj, dict):
                    found.setdefault(_key(obj), (path, obj))
        return found

    def of_kind(self, group: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(p, o) for p, o in self.objects().values() if _is(o, group, kind)]


def _finding(
    view: RepoView,
    walk: ClusterWalk,
    path: str,
    obj: dict[str, Any] | None,
    message: str,
    fix: str = RENDER,
    severity: str = "error",
) -> Finding:
    file, line = view.locate(obj, near=path) if obj is not None else (None, None)
    return Finding(
        check="gitops",
        message=message,
        fix=fix,
        cluster=walk.cluster,
        file=file or f"{path}/kustomization.yaml",
        line=line,
        obj=object_label(obj) if obj is not None else None,
        severity=severity,
    )


def _in_this_repository(mesh: Mesh, source: dict[str, Any] | None) -> bool:
    """Whether a Kustomization's source is this repository: bootstrap's GitRepository (its
    URL may be an SSH form of the same repository) or one with the mesh's URL."""
    if source is None or source.get("kind") != "GitRepository":
        return False
    if _key(source) == ("GitRepository", NAMESPACE, "flux-system"):
        return True
    return _map(source, "spec").get("url") in (mesh.repo_url, bootstrap_url(mesh.repo_url))


def _target(
    view: RepoView, walk: ClusterWalk, path: str, ks: dict[str, Any], sources: dict[Key, Any]
) -> str | None:
    """The repository folder a Flux Kustomization applies, or None (with a finding) when it
    cannot be followed."""
    mesh = view.mesh
    assert mesh is not None
    name = _map(ks, "metadata").get("name")
    ref = _map(ks, "spec", "sourceRef")
    source_key = _ref_key(ks, ref)
    source = sources.get(source_key)
    if source is None or source_key[0] not in SOURCE_KINDS:
        walk.findings.append(
            _finding(
                view,
                walk,
                path,
                ks,
                f"Kustomization {name}: sourceRef {source_key[0]} {source_key[1]}/"
                f"{source_key[2]} names no source applied in the cluster",
                "point sourceRef at the GitRepository flux bootstrap made (run `meshgen render`)",
            )
        )
        return None
    raw = str(_map(ks, "spec").get("path") or ".")
    if not _in_this_repository(mesh, source):
        walk.findings.append(
            _finding(
                view,
                walk,
                path,
                ks,
                f"Kustomization {name}: path {raw} is in another source "
                f"({source_key[0]} {source_key[2]}), not checked",
                "nothing to do if that is intended",
                severity=UNCHECKED,
            )
        )
        return None
    target = posixpath.normpath(raw.lstrip("/"))
    if target == ".." or target.startswith("../"):
        message = f"Kustomization {name}: path {raw} leaves the repository"
    elif not (view.root / target).is_dir():
        message = f"Kustomization {name}: path {raw} does not exist in the repository"
    else:
        return target
    walk.findings.append(
        _finding(
            view, walk, path, ks, message, "create it or correct spec.path (run `meshgen render`)"
        )
    )
    return None


def walk(view: RepoView, jobs: int = 1) -> list[ClusterWalk]:
    """Each cluster of the mesh from its bootstrap path, every Flux Kustomization followed,
    building the paths of one depth for all clusters together."""
    mesh = view.mesh
    assert mesh is not None
    walks = [ClusterWalk(c.name, f"clusters/{c.name}") for c in mesh.clusters]
    frontier: dict[int, list[str]] = {}
    for index, cluster_walk in enumerate(walks):
        if (view.root / cluster_walk.folder).is_dir():
            frontier[index] = [cluster_walk.folder]
        else:
            cluster_walk.findings.append(
                Finding(
                    check="gitops",
                    message=f"{cluster_walk.folder} is missing: `flux bootstrap "
                    f"--path={cluster_walk.folder}` has nothing to sync",
                    fix=RENDER,
                    cluster=cluster_walk.cluster,
                    file=cluster_walk.folder,
                )
            )
    while frontier:
        ensure_built(view, sorted({p for paths in frontier.values() for p in paths}), jobs)
        following: dict[int, list[str]] = {}
        for index, paths in frontier.items():
            cluster_walk = walks[index]
            for path in paths:
                built = view.objects(path)
                cluster_walk.applied[path] = [o for o in built if isinstance(o, dict)]
            sources = {k: o for k, (_p, o) in cluster_walk.objects().items()}
            for path in paths:
                # Bootstrap's own Kustomization first: when it syncs another folder, Flux
                # applies that instead of this one, and this folder is not followed.
                found = sorted(
                    (
                        o
                        for o in cluster_walk.applied[path]
                        if _is(o, KUSTOMIZE_GROUP, "Kustomization")
                    ),
                    key=lambda o: _key(o) != BOOTSTRAP_KUSTOMIZATION,
                )
                for ks in found:
                    if _key(ks) in cluster_walk.targets:
                        continue
                    cluster_walk.kustomizations.append((path, ks))
                    target = _target(view, cluster_walk, path, ks, sources)
                    cluster_walk.targets[_key(ks)] = target
                    if path == cluster_walk.folder and _key(ks) == BOOTSTRAP_KUSTOMIZATION:
                        if target != cluster_walk.folder:
                            break  # reported by _bootstrap_findings
                        continue
                    if target is None or target in cluster_walk.applied:
                        continue
                    if not any((view.root / target / n).is_file() for n in KUSTOMIZATION_NAMES):
                        cluster_walk.findings.append(
                            _finding(
                                view,
                                cluster_walk,
                                path,
                                ks,
                                f"Kustomization {_key(ks)[2]}: {target} has no "
                                "kustomization.yaml (Flux generates one); its objects are not "
                                "checked",
                                "add a kustomization.yaml listing its files",
                                severity=UNCHECKED,
                            )
                        )
                        continue
                    if target not in following.get(index, []):
                        following.setdefault(index, []).append(target)
        frontier = following
    return walks


# ---------------------------------------------------------------------------- Helm releases


def _generated_files(view: RepoView) -> dict[str, list[str]]:
    """configMapGenerator name -> the repository files it reads (``key=file`` or ``file``)."""
    found, _ = kustomizations(view)
    result: dict[str, list[str]] = {}
    for folder, content in found.items():
        for generator in content.get("configMapGenerator") or []:
            if not isinstance(generator, dict):
                continue
            entries = generator.get("files")
            for entry in entries if isinstance(entries, list) else []:
                rel = str(entry).rpartition("=")[2]
                path = posixpath.normpath(posixpath.join(folder, rel))
                result.setdefault(str(generator.get("name")), []).append(path)
    return result


def _nested(dotted: str, value: Any) -> dict[str, Any]:
    """``targetPath`` semantics for plain dotted paths: the value placed at that key."""
    result: Any = value
    for part in reversed(dotted.split(".")):
        result = {part: result}
    return result if isinstance(result, dict) else {}


@dataclass(frozen=True)
class _Layers:
    files: list[str]
    texts: list[str | None]
    problems: list[tuple[str, str, str]]  # (message, fix, severity)


def resolve_layers(
    view: RepoView,
    release: dict[str, Any],
    release_file: str,
    objects: dict[Key, tuple[str, dict[str, Any]]],
    generated: dict[str, list[str]],
) -> _Layers:
    """The values of a HelmRelease in helm-controller's order: each ``valuesFrom`` entry,
    then inline ``values``. A ConfigMap made by a ``configMapGenerator`` from a file is that
    file (so findings name its lines); anything else is passed as text."""
    layers = _Layers([], [], [])
    namespace = str(_map(release, "metadata").get("namespace", ""))
    for ref in _list(release, "spec", "valuesFrom"):
        ref = ref if isinstance(ref, dict) else {}
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        key = str(ref.get("valuesKey") or DEFAULT_VALUES_KEY)
        found = objects.get((kind, namespace, name))
        if found is None:
            if not ref.get("optional"):
                severity = UNCHECKED if kind == "Secret" else "error"
                layers.problems.append(
                    (
                        f"valuesFrom {kind} {namespace}/{name} is not applied in the cluster"
                        + (
                            " (a Secret made outside Git is not checked)"
                            if kind == "Secret"
                            else ""
                        ),
                        "correct valuesFrom (run `meshgen render`)",
                        severity,
                    )
                )
            continue
        if kind != "ConfigMap":
            layers.problems.append(
                (f"values from {kind} {name} are not checked", "nothing to do", UNCHECKED)
            )
            continue
        data = _map(found[1], "data")
        if key not in data:
            if not ref.get("optional"):
                layers.problems.append(
                    (
                        f"valuesFrom ConfigMap {name} has no key {key}",
                        "correct valuesKey (run `meshgen render`)",
                        "error",
                    )
                )
            continue
        text = str(data[key])
        target_path = ref.get("targetPath")
        if target_path:
            layers.files.append(release_file)
            layers.texts.append(json.dumps(_nested(str(target_path), text)))
            continue
        # Clusters' values files can be identical: prefer the one beside the applying folder.
        applying = found[0].split("/")
        near = ["/".join(applying[:depth]) + "/" for depth in range(len(applying), 0, -1)]
        origin = sorted(
            (
                path
                for base, paths in generated.items()
                if name == base or name.startswith(f"{base}-")
                for path in paths
                if view.text(path) == text
            ),
            key=lambda path: next(
                (i for i, prefix in enumerate(near) if path.startswith(prefix)), len(near)
            ),
        )
        if origin:
            layers.files.append(origin[0])
            layers.texts.append(None)
        else:
            file, _line = view.locate(found[1], near=found[0])
            layers.files.append(file or release_file)
            layers.texts.append(text)
    inline = _map(release, "spec").get("values")
    if isinstance(inline, dict) and inline:
        layers.files.append(release_file)
        layers.texts.append(json.dumps(inline, sort_keys=True))
    return layers


@dataclass(frozen=True)
class ReleaseChart:
    """The chart a HelmRelease installs: name, version and the repository it comes from
    (``oci://...`` for an OCI registry)."""

    chart: str
    version: str
    repo_url: str


def release_chart(
    release: dict[str, Any], objects: dict[Key, tuple[str, dict[str, Any]]]
) -> ReleaseChart | None:
    """Where a HelmRelease's chart comes from, as helm-controller resolves it: ``chart.spec``
    in a HelmRepository, or ``chartRef`` to an OCIRepository (the chart is the last segment of
    its URL, the version its tag) or to a HelmChart. None when it cannot be told (no chart, a
    source the cluster does not apply, an OCI digest or semver range, an ExternalArtifact)."""

    def url_of(obj: dict[str, Any], ref: Any) -> str:
        found = objects.get(_ref_key(obj, ref))
        return str(_map(found[1], "spec").get("url", "")) if found else ""

    chart = _map(release, "spec", "chart", "spec")
    if chart.get("chart"):
        url = url_of(release, chart.get("sourceRef"))
        return ReleaseChart(str(chart["chart"]), str(chart.get("version", "")), url)
    ref = _map(release, "spec", "chartRef")
    kind = ref.get("kind")
    found = objects.get(_ref_key(release, ref)) if kind in CHART_REF_KINDS else None
    if found is None:
        return None
    spec = _map(found[1], "spec")
    if kind == "OCIRepository":
        url, tag = str(spec.get("url", "")).rstrip("/"), _map(spec, "ref").get("tag")
        repo, _, name = url.rpartition("/")
        return ReleaseChart(name, str(tag), repo) if repo and name and tag else None
    if kind == "HelmChart" and spec.get("chart"):
        url = url_of(found[1], spec.get("sourceRef"))
        return ReleaseChart(str(spec["chart"]), str(spec.get("version", "")), url)
    return None


def _release_name(release: dict[str, Any]) -> str:
    spec, name = _map(release, "spec"), str(_map(release, "metadata").get("name"))
    if spec.get("releaseName"):
        return str(spec["releaseName"])
    target = spec.get("targetNamespace")
    return f"{target}-{name}" if target else name


def _releases(
    view: RepoView, walks: list[ClusterWalk]
) -> list[tuple[ClusterWalk, str, dict[str, Any], HelmRelease | None, _Layers]]:
    generated = _generated_files(view)
    result = []
    for cluster_walk in walks:
        objects = cluster_walk.objects()
        for path, release in cluster_walk.of_kind(HELM_GROUP, "HelmRelease"):
            file = view.locate(release, near=path)[0] or f"{path}/kustomization.yaml"
            layers = resolve_layers(view, release, file, objects, generated)
            chart = release_chart(release, objects)
            spec = _map(release, "spec")
            helm = None
            if chart is not None and not any(p[2] == "error" for p in layers.problems):
                helm = HelmRelease(
                    cluster=cluster_walk.cluster,
                    file=file,
                    obj=object_label(release),
                    chart=chart.chart,
                    version=chart.version,
                    repo_url=chart.repo_url,
                    release=_release_name(release),
                    namespace=str(
                        spec.get("targetNamespace") or _map(release, "metadata").get("namespace")
                    ),
                    value_files=tuple(layers.files),
                    value_texts=tuple(layers.texts),
                )
            result.append((cluster_walk, path, release, helm, layers))
    return result


def helm_releases(view: RepoView, jobs: int = 1) -> list[HelmRelease]:
    """Every HelmRelease Flux applies in each cluster, its values resolved as helm-controller
    does (a release whose values cannot be resolved is a wiring finding instead)."""
    return [helm for *_rest, helm, _layers in _releases(view, walk(view, jobs)) if helm]


# ----------------------------------------------------------------------------------- wiring


def dependency_cycle(graph: dict[Key, list[Key]]) -> list[Key] | None:
    """One dependency cycle of ``graph`` (depth-first), or None."""
    state: dict[Key, str] = {}
    for start in sorted(graph):
        if start in state:
            continue
        stack: list[tuple[Key, int]] = [(start, 0)]
        trail: list[Key] = [start]
        state[start] = "open"
        while stack:
            node, index = stack[-1]
            deps = graph.get(node, [])
            if index == len(deps):
                stack.pop()
                trail.pop()
                state[node] = "done"
                continue
            stack[-1] = (node, index + 1)
            dep = deps[index]
            if state.get(dep) == "open":
                return [*trail[trail.index(dep) :], dep]
            if dep not in state and dep in graph:
                state[dep] = "open"
                stack.append((dep, 0))
                trail.append(dep)
    return None


def _closure(graph: dict[Key, list[Key]], node: Key) -> set[Key]:
    seen: set[Key] = set()
    todo = list(graph.get(node, []))
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo += graph.get(dep, [])
    return seen


def _stage_rank(view: RepoView, walk: ClusterWalk, target: str | None) -> int | None:
    objects = walk.applied.get(target or "", [])
    if any(_is(o, HELM_GROUP, "HelmRelease") for o in objects):
        return CHARTS_RANK
    return objects_rank(view, target) if target else None


def _stage_order(stages: list[tuple[int, str, Any]]) -> str:
    return ", ".join(STAGE_NAMES[r] for r in sorted({rank for rank, _p, _k in stages}))


def _dependencies(
    view: RepoView, walk: ClusterWalk, group: str, kind: str
) -> tuple[dict[Key, list[Key]], list[Finding]]:
    """``dependsOn`` of every object of the kind: the graph, and entries naming nothing."""
    graph: dict[Key, list[Key]] = {}
    findings = []
    items = walk.of_kind(group, kind)
    present = {_key(o) for _p, o in items}
    for path, obj in items:
        deps = [_ref_key(obj, d, kind) for d in _list(obj, "spec", "dependsOn")]
        graph[_key(obj)] = deps
        for dep in deps:
            if dep not in present:
                findings.append(
                    _finding(
                        view,
                        walk,
                        path,
                        obj,
                        f"{kind} {_key(obj)[2]}: dependsOn names {kind} {dep[1]}/{dep[2]}, "
                        "which the cluster does not apply",
                        "correct dependsOn (run `meshgen render`)",
                    )
                )
    cycle = dependency_cycle(graph)
    if cycle:
        path, obj = next((p, o) for p, o in items if _key(o) == cycle[0])
        findings.append(
            _finding(
                view,
                walk,
                path,
                obj,
                f"{kind} dependsOn cycle: {' -> '.join(k[2] for k in cycle)}; Flux never "
                "applies any of them",
                "break the cycle (run `meshgen render`)",
            )
        )
    return graph, findings


def _order_findings(view: RepoView, walk: ClusterWalk) -> list[Finding]:
    findings = []
    graph, problems = _dependencies(view, walk, KUSTOMIZE_GROUP, "Kustomization")
    findings += problems
    stages = []
    for path, ks in walk.kustomizations:
        target = walk.targets.get(_key(ks))
        rank = _stage_rank(view, walk, target)
        bootstrap = target is not None and len(target.split("/")) == 2 and target[:9] == "clusters/"
        if rank is not None and not bootstrap:  # a bootstrap path is no stage
            stages.append((rank, path, ks))
    findings += _rank_findings(
        view,
        walk,
        (graph, stages, "Kustomization", STAGE_NAMES),
        f"order the stages: {_stage_order(stages)} (run `meshgen render`)",
    )
    waited = {dep for deps in graph.values() for dep in deps}
    for rank, path, ks in stages:
        spec = _map(ks, "spec")
        if (
            rank == CHARTS_RANK
            and _key(ks) in waited
            and not spec.get("wait")
            and not spec.get("healthChecks")
        ):
            findings.append(
                _finding(
                    view,
                    walk,
                    path,
                    ks,
                    f"Kustomization {_key(ks)[2]} applies HelmReleases that later stages wait "
                    "for, but has neither wait: true nor healthChecks, so it is Ready before "
                    "the releases are",
                    "set spec.wait: true (run `meshgen render`)",
                )
            )
    graph, problems = _dependencies(view, walk, HELM_GROUP, "HelmRelease")
    findings += problems
    releases = walk.of_kind(HELM_GROUP, "HelmRelease")
    objects = walk.objects()
    ranked = [
        (CHART_RANK[chart.chart], path, obj)
        for path, obj in releases
        if (chart := release_chart(obj, objects)) is not None and chart.chart in CHART_RANK
    ]
    names = dict(enumerate(RANK_NAMES))
    findings += _rank_findings(
        view,
        walk,
        (graph, ranked, "HelmRelease", names),
        f"chain the releases: {order_fix({r for r, _p, _o in ranked})} (run `meshgen render`)",
    )
    return findings


def _rank_findings(
    view: RepoView,
    walk: ClusterWalk,
    ordering: tuple[dict[Key, list[Key]], list[tuple[int, str, Any]], str, dict[int, str]],
    fix: str,
) -> list[Finding]:
    """Objects that do not (transitively) ``dependsOn`` every object of a lower rank.

    ``ordering`` is (dependency graph, ranked objects as (rank, path, object), kind, rank
    names)."""
    graph, ranked, kind, names = ordering
    findings = []
    for rank, path, obj in ranked:
        before = _closure(graph, _key(obj))
        for other_rank, _other_path, other in ranked:
            if other_rank < rank and _key(other) not in before:
                findings.append(
                    _finding(
                        view,
                        walk,
                        path,
                        obj,
                        f"{kind} {_key(obj)[2]} ({names[rank]}) does not wait for "
                        f"{_key(other)[2]} ({names[other_rank]}): list it in dependsOn",
                        fix,
                    )
                )
    return findings


def _object_findings(view: RepoView, walk: ClusterWalk) -> list[Finding]:
    """Sources the HelmReleases name, cluster labels, objects applied twice."""
    findings = []
    objects = walk.objects()
    for path, release in walk.of_kind(HELM_GROUP, "HelmRelease"):
        chart = _map(release, "spec", "chart", "spec")
        chart_ref = _map(release, "spec", "chartRef")
        ref, kinds = (chart.get("sourceRef"), CHART_SOURCE_KINDS)
        if not chart and chart_ref:
            ref, kinds = chart_ref, CHART_REF_KINDS
        source = _ref_key(release, ref)
        field = "chartRef" if kinds is CHART_REF_KINDS else "chart.spec.sourceRef"
        name = _key(release)[2]
        if source[0] not in kinds or source not in objects:
            problem = (
                f"HelmRelease {name}: chart source {source[0]} {source[1]}/{source[2]} is not "
                "applied in the cluster",
                f"point {field} at the cluster's chart source (run `meshgen render`)",
                "error",
            )
        elif release_chart(release, objects) is None:
            problem = (
                f"HelmRelease {name}: the chart of {source[0]} {source[2]} cannot be told "
                "offline (no chart name, or no version tag), so its values are not checked",
                "pin the chart by name and version (an OCIRepository by ref.tag)",
                UNCHECKED,
            )
        else:
            continue
        findings.append(_finding(view, walk, path, release, *problem))
    for key, (path, obj) in sorted(objects.items()):
        if not _group(obj).endswith(FLUX_SUFFIX) or key[1:] == (NAMESPACE, "flux-system"):
            continue  # bootstrap's own GitRepository and Kustomization carry no meshgen label
        label = _map(obj, "metadata", "labels").get(CLUSTER_LABEL)
        if label != walk.cluster:
            findings.append(
                _finding(
                    view,
                    walk,
                    path,
                    obj,
                    f"{key[0]} {key[2]} is labelled {CLUSTER_LABEL}: {label!r}, not "
                    f"{walk.cluster!r}",
                    f"label it {CLUSTER_LABEL}: {walk.cluster} (run `meshgen render`)",
                )
            )
    appliers: dict[Key, list[str]] = {}
    for path, built in walk.applied.items():
        for obj in built:
            appliers.setdefault(_key(obj), []).append(path)
    for key, paths in sorted(appliers.items()):
        if len(set(paths)) > 1:
            findings.append(
                _finding(
                    view,
                    walk,
                    paths[0],
                    objects[key][1],
                    f"{key[0]} {key[2]} is applied from both {' and '.join(sorted(set(paths)))}"
                    "; their Flux Kustomizations would fight over it",
                    "keep it in one of them (run `meshgen render`)",
                )
            )
    return findings


def _bootstrap_findings(mesh: Mesh, walks: list[ClusterWalk]) -> list[Finding]:
    """Every cluster's folder is applied from exactly one bootstrap path: its own."""
    folders = {f"clusters/{c.name}": c.name for c in mesh.clusters}
    reached: dict[str, list[str]] = {c.name: [] for c in mesh.clusters}
    for cluster_walk in walks:
        for target in cluster_walk.targets.values():
            if target in folders:
                reached[folders[target]].append(cluster_walk.cluster)
    findings = []
    for cluster, sources in sorted(reached.items()):
        own, others = sources.count(cluster), sorted(set(sources) - {cluster})
        problems, fix = [], "keep one Kustomization with that path (the one flux bootstrap made)"
        if own == 0:
            problems.append(
                f"clusters/{cluster} is not applied by the flux-system Kustomization of "
                f"clusters/{cluster}/{BOOTSTRAP_FOLDER}"
            )
            fix = f"run `flux bootstrap` for {cluster} with --path=clusters/{cluster}"
        elif own > 1:
            problems.append(f"clusters/{cluster} is applied {own} times in cluster {cluster}")
        if others:
            problems.append(f"clusters/{cluster} is also applied in cluster {', '.join(others)}")
            fix = (
                "each cluster must sync only its own folder: bootstrap each with "
                "--path=clusters/<cluster>"
            )
        if problems:
            findings.append(
                Finding(
                    check="gitops",
                    message="; ".join(problems),
                    fix=fix,
                    cluster=cluster,
                    file=f"clusters/{cluster}/kustomization.yaml",
                )
            )
    return findings


def wiring(view: RepoView, jobs: int = 1) -> list[Finding]:
    mesh = view.mesh
    assert mesh is not None
    walks = walk(view, jobs)
    findings: list[Finding] = []
    for cluster_walk in walks:
        findings += cluster_walk.findings
        findings += _order_findings(view, cluster_walk)
        findings += _object_findings(view, cluster_walk)
    for cluster_walk, path, release, _helm, layers in _releases(view, walks):
        for message, fix, severity in layers.problems:
            findings.append(
                _finding(
                    view,
                    cluster_walk,
                    path,
                    release,
                    f"HelmRelease {_key(release)[2]}: {message}",
                    fix,
                    severity,
                )
            )
    findings += _bootstrap_findings(mesh, walks)
    return findings
