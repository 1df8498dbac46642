"""Argo CD wiring, walked the way Argo CD would: bootstrap folder → root Applications → each
cluster's child Applications → their paths and value files."""

from __future__ import annotations

import fnmatch
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from meshgen.gateway_api import EAST_WEST_CLASS, WAYPOINT_CLASS
from meshgen.gateway_api import GROUP as GATEWAY_GROUP
from meshgen.render.engines.argocd import BOOTSTRAP, IN_CLUSTER
from meshgen.validation import Finding, cluster_of, object_label
from meshgen.validation.engines import HelmRelease
from meshgen.validation.kustomize import ensure_built
from meshgen.validation.repository import RepoView

WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
# Sync order within a cluster: namespace and secrets, base, istiod, gateway, mesh config; an
# ambient mesh adds the Gateway API CRDs after the namespace, cni and ztunnel after istiod,
# and its gateway and waypoints are Gateways (east-west before waypoints).
CHART_RANK = {"base": 2, "istiod": 3, "cni": 4, "ztunnel": 5, "gateway": 6}
RANK_NAMES = [
    "namespace and secrets",
    "CRDs",
    "base",
    "istiod",
    "cni",
    "ztunnel",
    "gateway",
    "mesh config",
]
CRD_RANK, GATEWAY_RANK, MESH_CONFIG_RANK = 1, 6, 7
SECRET_KINDS = {"Namespace", "Secret", "ExternalSecret", "SealedSecret"}
CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ClusterSecretStore",
    "ClusterExternalSecret",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}


@dataclass
class Walk:
    """What the walk found: the AppProject, root and child Applications (with their folder)."""

    project: dict[str, Any] | None = None
    bootstrap: list[dict[str, Any]] = field(default_factory=list)
    roots: list[dict[str, Any]] = field(default_factory=list)
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # root -> children
    findings: list[Finding] = field(default_factory=list)


def _map(obj: Any, *keys: str) -> dict[str, Any]:
    """``obj[k1][k2]...`` when every step is a mapping, else {} (hand-made files vary)."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def _sources(app: dict[str, Any]) -> list[dict[str, Any]]:
    spec = _map(app, "spec")
    sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
    return [s for s in sources if isinstance(s, dict)] if isinstance(sources, list) else []


def _name(app: dict[str, Any]) -> str:
    return str(_map(app, "metadata").get("name"))


def _finding(view: RepoView, app: dict[str, Any], message: str, fix: str) -> Finding:
    file, line = view.locate(app)
    cluster = _map(app, "spec", "destination").get("name")
    return Finding(
        check="gitops",
        message=message,
        fix=fix,
        cluster=cluster_of(file) if file else (cluster if cluster != IN_CLUSTER else None),
        file=file,
        line=line,
        obj=object_label(app),
    )


def _apps(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == "Application"]


def _built_apps(view: RepoView, folder: str) -> list[dict[str, Any]]:
    """The Applications of a folder's build, kept by the build's key (see
    :meth:`RepoView.summary`): an unchanged cluster's build is not read back for them."""
    apps: list[dict[str, Any]] = view.summary(folder, "argocd-applications", _apps)
    return apps


def walk(view: RepoView, jobs: int = 1) -> Walk:
    result = Walk()
    if not (view.root / BOOTSTRAP).is_dir():
        result.findings.append(
            Finding(
                check="gitops",
                message=f"{BOOTSTRAP} is missing: nothing bootstraps the clusters",
                fix="run `meshgen render`",
                file=BOOTSTRAP,
            )
        )
        return result
    ensure_built(view, [BOOTSTRAP], jobs)
    bootstrap = view.objects(BOOTSTRAP)
    projects = [o for o in bootstrap if o.get("kind") == "AppProject"]
    result.project = projects[0] if len(projects) == 1 else None
    result.bootstrap = _apps(bootstrap)
    for app in result.bootstrap:
        paths = [s.get("path") for s in _sources(app)]
        if BOOTSTRAP not in paths:
            result.roots.append(app)
    folders = [s["path"] for a in result.roots for s in _sources(a) if s.get("path")]
    ensure_built(view, folders, jobs)
    for root in result.roots:
        kids = [c for s in _sources(root) if s.get("path") for c in _built_apps(view, s["path"])]
        result.children[_name(root)] = kids
    child_paths = [
        str(s["path"])
        for kids in result.children.values()
        for c in kids
        for s in _sources(c)
        if s.get("path")
    ]
    ensure_built(view, child_paths, jobs)
    return result


def all_applications(view: RepoView, walked: Walk) -> list[dict[str, Any]]:
    """Every Application the builds hold, once (also those no root reaches)."""
    found: dict[str, dict[str, Any]] = {}
    for app in [*walked.bootstrap, *(a for kids in walked.children.values() for a in kids)]:
        found.setdefault(object_label(app), app)
    for folder in sorted(view.builds):
        for app in _built_apps(view, folder):
            found.setdefault(object_label(app), app)
    return list(found.values())


def helm_repository_url(repo_url: str) -> str:
    """The repository of a Helm source as Helm names it: Argo CD writes an OCI registry without
    a scheme (``ghcr.io/istio/release/charts``), Helm as ``oci://ghcr.io/...``."""
    return repo_url if "://" in repo_url or not repo_url else f"oci://{repo_url}"


def helm_releases(view: RepoView, jobs: int = 1) -> list[HelmRelease]:
    """Every chart source of every Application, with its ``$values`` files resolved."""
    releases = []
    for app in all_applications(view, walk(view, jobs)):
        sources = _sources(app)
        refs = {s["ref"]: s for s in sources if "ref" in s}
        for source in sources:
            if "chart" not in source:
                continue
            helm = source.get("helm") or {}
            files = []
            for value_file in helm.get("valueFiles") or []:
                ref, _, rel = str(value_file).partition("/")
                # Argo CD skips missing files under ignoreMissingValueFiles.
                skipped = helm.get("ignoreMissingValueFiles") is True and not (
                    (view.root / rel).is_file()
                )
                if ref.startswith("$") and ref[1:] in refs and not skipped:
                    files.append(rel)
            file, _line = view.locate(app)
            destination = _map(app, "spec", "destination")
            releases.append(
                HelmRelease(
                    cluster=destination.get("name"),
                    file=file or "",
                    obj=object_label(app),
                    chart=str(source["chart"]),
                    version=str(source.get("targetRevision", "")),
                    repo_url=helm_repository_url(str(source.get("repoURL", ""))),
                    release=str(helm.get("releaseName") or _name(app)),
                    namespace=str(destination.get("namespace", "default")),
                    value_files=tuple(files),
                )
            )

    return releases


def _glob_any(patterns: list[Any], value: str) -> bool:
    return any(isinstance(p, str) and fnmatch.fnmatchcase(value, p) for p in patterns)


_GLOB_CHARACTERS = frozenset("*?[")


def _allowed(view: RepoView, project: dict[str, Any], name: str, namespace: str) -> bool:
    """Whether the AppProject's destinations allow ``name``/``namespace`` (glob patterns,
    as Argo CD matches them). Destinations without a pattern character are looked up in a
    set made once per run: a project lists every cluster, and each Application scanning all
    of them was most of the check at 100 clusters."""
    index = view.context.get("argocd-destinations")
    if index is None or index[0] is not project:
        exact: set[tuple[str, str]] = set()
        patterns = []
        for d in _map(project, "spec").get("destinations") or []:
            if not isinstance(d, dict):
                continue
            pair = (d.get("name", d.get("server")), d.get("namespace"))
            if all(isinstance(p, str) and not _GLOB_CHARACTERS & set(p) for p in pair):
                exact.add(pair)  # type: ignore[arg-type]
            else:
                patterns.append(pair)
        index = view.context["argocd-destinations"] = (project, exact, patterns)
    _project, exact, patterns = index
    return (name, namespace) in exact or any(
        _glob_any([n], name) and _glob_any([ns], namespace) for n, ns in patterns
    )


def _destinations(view: RepoView) -> frozenset[Any]:
    """The names an Application may sync to: the mesh's clusters and Argo CD's own, made
    once per run (every Application of a 100-cluster mesh made it again)."""
    found = view.context.get("argocd-clusters")
    if found is None or found[0] is not view.mesh:
        assert view.mesh is not None
        names = frozenset({c.name for c in view.mesh.clusters} | {IN_CLUSTER})
        found = view.context["argocd-clusters"] = (view.mesh, names)
    return found[1]  # type: ignore[no-any-return]


def _is_file(view: RepoView, rel: str) -> bool:
    """``(view.root / rel).is_file()``, without a Path per value file."""
    return os.path.isfile(os.path.join(view.root, rel))


def _is_dir(view: RepoView, rel: str) -> bool:
    """``(view.root / rel).is_dir()``, without a Path per Application."""
    return os.path.isdir(os.path.join(view.root, rel))


def _check_app(view: RepoView, walked: Walk, app: dict[str, Any]) -> list[Finding]:
    mesh = view.mesh
    assert mesh is not None
    problems: list[tuple[str, str]] = []
    meta = _map(app, "metadata")
    spec = _map(app, "spec")
    if meta.get("namespace") != mesh.argocd_namespace:
        problems.append(
            (
                f"is in namespace {meta.get('namespace')!r}, Argo CD runs in "
                f"{mesh.argocd_namespace!r}",
                "move it to the Argo CD namespace",
            )
        )
    destination = _map(spec, "destination")
    dest_name, dest_ns = destination.get("name"), str(destination.get("namespace", ""))
    if dest_name not in _destinations(view):
        problems.append(
            (
                f"destination {dest_name!r} is not a cluster of the mesh",
                "point destination.name at a cluster listed in mesh.yaml",
            )
        )
    project = walked.project
    if project is not None and spec.get("project") != _name(project):
        problems.append(
            (f"project {spec.get('project')!r} is not {_name(project)!r}", "set spec.project")
        )
    elif project is not None and not _allowed(view, project, str(dest_name), dest_ns):
        problems.append(
            (
                f"destination {dest_name}/{dest_ns} is not allowed by AppProject {_name(project)}",
                "add the destination to the AppProject (run `meshgen render`)",
            )
        )
    repos = _map(project, "spec").get("sourceRepos") or []
    sources = _sources(app)
    refs = {s["ref"]: s for s in sources if "ref" in s}
    for source in sources:
        url = str(source.get("repoURL", ""))
        if project is not None and not _glob_any(repos, url):
            problems.append((f"repository {url} is not in the AppProject's sourceRepos", ""))
        if "path" in source:
            problems += _path_problems(view, walked, source, dest_ns)
        helm_options = _map(source, "helm")
        for value_file in helm_options.get("valueFiles") or []:
            ref, _, rel = str(value_file).partition("/")
            ref_source = refs.get(ref[1:]) if ref.startswith("$") else None
            if ref_source is None:
                problems.append((f"value file {value_file} names no ref source", ""))
            elif ref_source.get("repoURL") != mesh.repo_url:
                problems.append((f"${ref[1:]} is not this repository ({mesh.repo_url})", ""))
            elif not _is_file(view, rel) and not helm_options.get("ignoreMissingValueFiles"):
                problems.append(
                    (
                        f"value file {value_file}: {rel} does not exist in the repository",
                        "create it or correct valueFiles (run `meshgen render`)",
                    )
                )
    return [
        _finding(view, app, f"Application {_name(app)}: {message}", fix or "run `meshgen render`")
        for message, fix in problems
    ]


def _path_problems(
    view: RepoView, walked: Walk, source: dict[str, Any], dest_ns: str
) -> list[tuple[str, str]]:
    mesh = view.mesh
    assert mesh is not None
    path = str(source["path"])
    problems = []
    if source.get("repoURL") != mesh.repo_url:
        problems.append((f"path {path} is not in this repository ({mesh.repo_url})", ""))
        return problems
    if not _is_dir(view, path):
        return [(f"path {path} does not exist", "create it or correct source.path")]
    if posixpath.normpath(path) != path.rstrip("/"):
        problems.append((f"path {path} is not normalised", ""))
    whitelist = _map(walked.project, "spec").get("clusterResourceWhitelist") or []
    for kind, group, namespace, label in view.summary(path, "argocd-placement", _placement):
        if kind in CLUSTER_SCOPED:
            if walked.project is not None and not any(
                _glob_any([w.get("group")], group) and _glob_any([w.get("kind")], kind)
                for w in whitelist
                if isinstance(w, dict)
            ):
                problems.append((f"{label} in {path} is not in clusterResourceWhitelist", ""))
        elif namespace not in (None, dest_ns):
            problems.append((f"{label} in {path} is outside {dest_ns}", ""))
    return problems


def _placement(objects: list[dict[str, Any]]) -> list[list[Any]]:
    """What :func:`_path_problems` reads of each object: kind, API group, namespace, label."""
    return [
        [
            str(obj.get("kind")),
            str(obj.get("apiVersion", "")).rpartition("/")[0],
            _map(obj, "metadata").get("namespace"),
            object_label(obj),
        ]
        for obj in objects
    ]


def objects_rank(view: RepoView, folder: str) -> int | None:
    """Where the objects an overlay applies go in a cluster's order (None: anywhere)."""
    kinds, groups, classes = (set(found) for found in view.summary(folder, "argocd-rank", _ranked))
    if kinds & SECRET_KINDS:
        return 0
    if "CustomResourceDefinition" in kinds or view.remote_resources.get(folder):
        return CRD_RANK
    if EAST_WEST_CLASS in classes:
        return GATEWAY_RANK
    if WAYPOINT_CLASS in classes or any(g.endswith("istio.io") for g in groups):
        return MESH_CONFIG_RANK
    return None


def _ranked(objects: list[dict[str, Any]]) -> list[list[str]]:
    """What :func:`objects_rank` reads of a build: its kinds, API groups and the classes of
    its Gateway API Gateways, each sorted."""
    return [
        sorted({str(o.get("kind")) for o in objects}),
        sorted({str(o.get("apiVersion", "")).rpartition("/")[0] for o in objects}),
        sorted(
            {
                str(_map(o, "spec").get("gatewayClassName"))
                for o in objects
                if o.get("kind") == "Gateway"
                and str(o.get("apiVersion", "")).startswith(GATEWAY_GROUP)
            }
        ),
    ]


def order_fix(ranks: set[int]) -> str:
    """The fix of an ordering finding: the order of the kinds of component present."""
    return ", ".join(RANK_NAMES[r] for r in sorted(ranks))


def _rank(view: RepoView, app: dict[str, Any]) -> int | None:
    for source in _sources(app):
        if "chart" in source:
            return CHART_RANK.get(str(source["chart"]))
        if "path" in source:
            return objects_rank(view, str(source["path"]))
    return None


def _wave(app: dict[str, Any]) -> int:
    annotations = _map(app, "metadata", "annotations")
    try:
        return int(annotations.get(WAVE_ANNOTATION, 0))
    except (TypeError, ValueError):
        return 0


def _wave_findings(view: RepoView, kids: list[dict[str, Any]]) -> list[Finding]:
    ranked = [(rank, _wave(app), app) for app in kids if (rank := _rank(view, app)) is not None]
    order = order_fix({rank for rank, _wave, _app in ranked})
    findings = []
    for rank, wave, app in ranked:
        for other_rank, other_wave, other in ranked:
            if other_rank < rank and other_wave >= wave:
                findings.append(
                    _finding(
                        view,
                        app,
                        f"Application {_name(app)} ({RANK_NAMES[rank]}) syncs in wave {wave}, "
                        f"not after {_name(other)} ({RANK_NAMES[other_rank]}, wave "
                        f"{other_wave})",
                        f"order the sync waves: {order} (run `meshgen render`)",
                    )
                )
                break
    return findings


def wiring(view: RepoView, jobs: int = 1) -> list[Finding]:
    mesh = view.mesh
    assert mesh is not None
    walked = walk(view, jobs)
    findings = list(walked.findings)
    if walked.project is None and (view.root / BOOTSTRAP).is_dir():
        findings.append(
            Finding(
                check="gitops",
                message=f"{BOOTSTRAP} must build exactly one AppProject",
                fix="run `meshgen render`",
                file=f"{BOOTSTRAP}/kustomization.yaml",
            )
        )
    for app in all_applications(view, walked):
        findings += _check_app(view, walked, app)
    reached: dict[str, list[str]] = {c.name: [] for c in mesh.clusters}
    for root in walked.roots:
        kids = walked.children.get(_name(root), [])
        if not kids:
            findings.append(
                _finding(
                    view,
                    root,
                    f"root Application {_name(root)} syncs no child Applications",
                    "point it at a cluster folder (run `meshgen render`)",
                )
            )
        targets = set()
        for app in kids:
            targets.add(_map(app, "spec", "destination").get("name"))
        for target in sorted(t for t in targets if t in reached):
            reached[target].append(_name(root))
        findings += _wave_findings(view, kids)
    for cluster, roots in sorted(reached.items()):
        if len(roots) != 1:
            how = "no" if not roots else f"{len(roots)} ({', '.join(roots)})"
            findings.append(
                Finding(
                    check="gitops",
                    message=f"cluster {cluster} is reached from {how} bootstrap root "
                    "Applications; it must be exactly one",
                    fix=f"list one root Application for {cluster} in {BOOTSTRAP} "
                    "(run `meshgen render`)",
                    cluster=cluster,
                    file=f"{BOOTSTRAP}/kustomization.yaml",
                )
            )
    return findings
