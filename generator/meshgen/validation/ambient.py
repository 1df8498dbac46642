"""The ``ambient`` check: what an ambient mesh needs in every cluster, and that neither data
plane carries the other's settings.

For an ambient mesh, per cluster: istio-cni and ztunnel installed at istiod's version (ztunnel
may trail by one minor, never lead); istiod on the ambient profile with multi-network on; the
Gateway API CRDs present and not older than the release the cluster's Istio is built against
(also the CRDs given with ``--crds``, which stand for the clusters' own); the east-west Gateway
(class ``istio-east-west``, HBONE on 15008, network label) where mesh.yaml asks for one; one
``serviceScopeConfigs`` and the same waypoints everywhere (upstream reads neither across
clusters); nothing only sidecars use. For a sidecar mesh: nothing only ambient uses.

It reads what the engines install (the Helm releases with their values resolved, the built
overlays), so a hand edit is caught as surely as a render gone wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from meshgen import gateway_api, library
from meshgen.releases import parse_version
from meshgen.spec import Mesh
from meshgen.validation import UNCHECKED, WARNING, Finding, cluster_of, object_label
from meshgen.validation.engines import HelmRelease
from meshgen.validation.helm_values import deep_merge
from meshgen.validation.repository import RepoView, load_documents
from meshgen.validation.schemas import CrdIndex

CHECK = "ambient"
RENDER = "run `meshgen render`"
AMBIENT_CHARTS = ("cni", "ztunnel")
MULTI_NETWORK_ENV = "AMBIENT_ENABLE_MULTI_NETWORK"
DNS_CAPTURE = "ISTIO_META_DNS_CAPTURE"
# Ambient across networks is beta from this minor line on (alpha before).
MULTI_NETWORK_BETA = (1, 29)


def offline_copy(url: str, crds: CrdIndex) -> str | None:
    """What a Gateway API release asset URL holds, from the CRDs given with ``--crds`` (the
    CRDs of that release and channel), or None when they were not given."""
    release = gateway_api.release_of_url(url)
    if release is None:
        return None
    documents = crds.bundle_documents(*release)
    if not documents:
        return None
    return "\n---\n".join(doc.strip("\n") for doc in documents) + "\n"


@dataclass
class ClusterView:
    """What one cluster gets, as the checks need it."""

    name: str
    releases: dict[str, list[HelmRelease]] = field(default_factory=dict)  # chart -> releases
    objects: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (folder, object)
    gateway_api: list[tuple[str, str]] = field(default_factory=list)  # (version, where)

    def gateways(self, gateway_class: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (folder, obj)
            for folder, obj in self.objects
            if obj.get("kind") == "Gateway"
            and str(obj.get("apiVersion", "")).startswith(gateway_api.GROUP + "/")
            and _map(obj, "spec").get("gatewayClassName") == gateway_class
        ]


def _map(obj: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def merged_values(view: RepoView, release: HelmRelease) -> dict[str, Any]:
    """The values a release gets from its value files, merged in order (unreadable: none);
    replayed from the cache by the sha256 of each file's bytes (the files of an unchanged
    cluster are neither read nor parsed)."""
    from meshgen.validation.cache import Table, digest, is_plain

    table = view.context.get("ambient-values")
    if table is None:
        context = digest("ambient-values", library.code_fingerprint())
        table = view.context["ambient-values"] = Table(view.cache, "ambient-values", context)
    key = digest(
        [
            own if (own := release.value_text(index)) is not None else ["file", view.digest(path)]
            for index, path in enumerate(release.value_files)
        ]
    )
    stored = table.get(key)
    if isinstance(stored, dict):
        return stored
    merged = _merged_values(view, release)
    if is_plain(merged):
        table.set(key, merged)
    return merged


def _merged_values(view: RepoView, release: HelmRelease) -> dict[str, Any]:
    merged: Any = {}
    for index, path in enumerate(release.value_files):
        text = release.value_text(index)
        text = text if text is not None else view.text(path)
        try:
            docs = load_documents(text or "")
        except Exception:  # reported by helm-values
            continue
        if docs and isinstance(docs[0][1], dict):
            merged = deep_merge(merged, docs[0][1])
    return merged if isinstance(merged, dict) else {}


def _gateway_kind(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects of kind Gateway (any API group) of a build."""
    return [o for o in objects if isinstance(o, dict) and o.get("kind") == "Gateway"]


def _clusters(
    view: RepoView, mesh: Mesh, releases: Iterable[HelmRelease], gateways_only: bool = False
) -> list[ClusterView]:
    """What each cluster gets. ``gateways_only``: of the built objects, only those of kind
    Gateway (all a sidecar mesh's check reads), kept per build by its key
    (:meth:`RepoView.summary`), so that an unchanged cluster's builds are not read back; an
    object is kept once per kind, namespace and name either way, so the Gateways are the
    same."""
    views = {c.name: ClusterView(c.name) for c in mesh.clusters}
    for release in releases:
        if release.cluster in views:
            views[release.cluster].releases.setdefault(release.chart, []).append(release)
    for folder in sorted(view.builds):
        cluster = cluster_of(folder)
        if cluster not in views:
            continue
        seen = {object_label(o) for _f, o in views[cluster].objects}
        built = (
            view.summary(folder, "ambient-gateways", _gateway_kind)
            if gateways_only
            else view.objects(folder)
        )
        for obj in built:
            if isinstance(obj, dict) and object_label(obj) not in seen:
                views[cluster].objects.append((folder, obj))
        for url, _copied in view.remote_resources.get(folder, []):
            found = gateway_api.release_of_url(url)
            if found is not None:
                views[cluster].gateway_api.append((found[0], f"{folder}/kustomization.yaml"))
    for cluster_view in views.values():
        # CRDs written into the repository (not a release URL, already counted above)
        for folder, obj in cluster_view.objects:
            version = _map(obj, "metadata", "annotations").get(gateway_api.BUNDLE_VERSION)
            if (
                obj.get("kind") == "CustomResourceDefinition"
                and version
                and not view.remote_resources.get(folder)
            ):
                cluster_view.gateway_api.append((str(version), folder))
        cluster_view.gateway_api = sorted(set(cluster_view.gateway_api))
    return [views[c.name] for c in sorted(mesh.clusters, key=lambda c: c.name)]


def _finding(
    cluster: str | None,
    message: str,
    fix: str = RENDER,
    release: HelmRelease | None = None,
    file: str | None = None,
    obj: dict[str, Any] | None = None,
    severity: str = "error",
) -> Finding:
    where = file or (release.value_files[-1] if release and release.value_files else None)
    return Finding(
        check=CHECK,
        message=message,
        fix=fix,
        cluster=cluster,
        file=where or (release.file if release else None),
        obj=object_label(obj) if obj is not None else (release.obj if release else None),
        severity=severity,
    )


def _minor(version: str) -> tuple[int, int] | None:
    parsed = parse_version(version)
    return (parsed.major, parsed.minor) if parsed else None


def _versions(cluster: ClusterView, istiod: HelmRelease) -> list[Finding]:
    """cni at istiod's version; ztunnel at it or one minor behind, never ahead."""
    findings = []
    wanted = parse_version(istiod.version)
    for chart in AMBIENT_CHARTS:
        for release in cluster.releases.get(chart, []):
            have = parse_version(release.version)
            if wanted is None or have is None or have == wanted:
                continue
            behind = (wanted.major, wanted.minor - 1) == (have.major, have.minor)
            if chart == "ztunnel" and have < wanted and behind:
                continue  # upstream supports ztunnel one minor behind istiod
            how = "ahead of" if have > wanted else "behind"
            allowed = (
                f"{istiod.version}, or a {wanted.major}.{wanted.minor - 1} release"
                if chart == "ztunnel"
                else istiod.version
            )
            findings.append(
                _finding(
                    cluster.name,
                    f"{chart} {release.version} is {how} istiod {istiod.version}; {chart} must "
                    f"run {allowed}",
                    f"install {chart} at istiod's version (upgrade istiod first, ztunnel last)",
                    release=release,
                    file=release.file,
                )
            )
    return findings


def _istiod_settings(cluster: ClusterView, istiod: HelmRelease, values: dict[str, Any]) -> list:
    findings = []
    if values.get("profile") != "ambient":
        findings.append(
            _finding(
                cluster.name,
                f"istiod runs profile {values.get('profile') or '(none)'}, not ambient: it "
                "neither enables ambient nor programs ztunnel",
                f"set profile: ambient ({RENDER})",
                release=istiod,
            )
        )
    if str(_map(values, "env").get(MULTI_NETWORK_ENV)) != "true":
        findings.append(
            _finding(
                cluster.name,
                f'istiod lacks env.{MULTI_NETWORK_ENV}: "true": ambient traffic does not '
                "cross networks and the istio-east-west Gateway class does not exist",
                f'set env.{MULTI_NETWORK_ENV}: "true" ({RENDER})',
                release=istiod,
            )
        )
    return findings


def _gateway_api(mesh: Mesh, cluster: ClusterView, istio_version: str) -> list[Finding]:
    """Gateway API CRDs present, and not older than the cluster's Istio is built against."""
    findings = []
    needed = library.istio_releases().gateway_api_for(istio_version)
    if not cluster.gateway_api and mesh.gateway_api.install:
        findings.append(
            _finding(
                cluster.name,
                "the cluster installs no Gateway API CRDs, which its east-west gateway and "
                "waypoints need",
                f"install the Gateway API {needed} CRDs before the charts ({RENDER})",
            )
        )
    for version, where in cluster.gateway_api:
        if gateway_api.older(version, needed):
            findings.append(
                _finding(
                    cluster.name,
                    f"Gateway API CRDs {version} are older than {needed}, which Istio "
                    f"{istio_version} is built against (istiod ignores kinds whose CRDs are "
                    "too old)",
                    f"install {needed} or newer (gatewayAPI.version in mesh.yaml; {RENDER})",
                    file=where,
                )
            )
    return findings


def _given_crds(mesh: Mesh, crds: CrdIndex) -> list[Finding]:
    """The Gateway API CRDs passed with --crds (the clusters' own, from ``kubectl get crd``)
    must be new enough too: the schema check reads Gateways against them."""
    needed = mesh.gateway_api_version()
    given = crds.bundles.get((gateway_api.GROUP, "Gateway"))
    if given is None or not gateway_api.older(given[0], needed):
        return []
    return [
        _finding(
            None,
            f"the Gateway API CRDs given with --crds are {given[0]}, older than {needed}, which "
            f"this mesh installs for Istio {mesh.istio_version}",
            f"upgrade the clusters' Gateway API CRDs to {needed} or newer (or pass the ones "
            "they have)",
            file="mesh.yaml",
        )
    ]


def _east_west(mesh: Mesh, cluster: ClusterView) -> list[Finding]:
    spec_cluster = mesh.cluster(cluster.name)
    gateways = cluster.gateways(gateway_api.EAST_WEST_CLASS)
    if spec_cluster.east_west_gateway.enabled and not gateways:
        return [
            _finding(
                cluster.name,
                f"no Gateway of class {gateway_api.EAST_WEST_CLASS}: other networks cannot "
                f"reach network {spec_cluster.network} through this cluster",
                RENDER,
            )
        ]
    findings = []
    for folder, gateway in gateways:
        label = _map(gateway, "metadata", "labels").get("topology.istio.io/network")
        listeners = _map(gateway, "spec").get("listeners") or []
        hbone = any(
            isinstance(item, dict)
            and item.get("port") == gateway_api.HBONE_PORT
            and item.get("protocol") == "HBONE"
            for item in listeners
        )
        problems = []
        if label != spec_cluster.network:
            problems.append(
                f"is labelled topology.istio.io/network: {label!r}, not {spec_cluster.network!r}"
            )
        if not hbone:
            problems.append(f"has no HBONE listener on port {gateway_api.HBONE_PORT}")
        for problem in problems:
            findings.append(
                _finding(
                    cluster.name,
                    f"east-west Gateway {problem}",
                    RENDER,
                    file=f"{folder}/kustomization.yaml",
                    obj=gateway,
                )
            )
    return findings


def _waypoints(cluster: ClusterView) -> dict[str, set[tuple[str, str]]]:
    """namespace -> {(name, waypoint-for)} of the cluster's waypoint Gateways."""
    found: dict[str, set[tuple[str, str]]] = {}
    for _folder, gateway in cluster.gateways(gateway_api.WAYPOINT_CLASS):
        meta = _map(gateway, "metadata")
        traffic = str(_map(meta, "labels").get(gateway_api.WAYPOINT_FOR, "service"))
        found.setdefault(str(meta.get("namespace", "default")), set()).add(
            (str(meta.get("name")), traffic)
        )
    return found


def _same_everywhere(clusters: list[ClusterView], scopes: dict[str, Any]) -> list[Finding]:
    """One serviceScopeConfigs, and per namespace the same waypoints, in every cluster."""
    findings = []
    canonical = {name: json.dumps(value, sort_keys=True) for name, value in scopes.items()}
    if len(set(canonical.values())) > 1:
        first = min(canonical)
        for name in sorted(canonical):
            if canonical[name] != canonical[first]:
                findings.append(
                    _finding(
                        name,
                        f"meshConfig.serviceScopeConfigs differs from {first}'s "
                        f"({canonical[name]} vs {canonical[first]}); istiod reads only its own "
                        "cluster's, so services would be global in one cluster and local in "
                        "another",
                        f"use the same serviceScopeConfigs in every cluster ({RENDER})",
                    )
                )
    by_cluster = {c.name: _waypoints(c) for c in clusters}
    namespaces = sorted({ns for found in by_cluster.values() for ns in found})
    for namespace in namespaces:
        holders = {name: got[namespace] for name, got in by_cluster.items() if namespace in got}
        if len({frozenset(v) for v in holders.values()}) <= 1:
            continue
        first = min(holders)
        for name in sorted(holders):
            if holders[name] != holders[first]:
                show = ", ".join(f"{n} ({t})" for n, t in sorted(holders[name]))
                other = ", ".join(f"{n} ({t})" for n, t in sorted(holders[first]))
                findings.append(
                    _finding(
                        name,
                        f"waypoints in {namespace} are {show}, but {other} in {first}: upstream "
                        "routes across clusters by waypoint name, so they must be identical",
                        f"give every cluster that runs {namespace} the same waypoints ({RENDER})",
                    )
                )
    return findings


def _sidecar_only(cluster: ClusterView, istiod_values: dict[str, Any]) -> list[Finding]:
    findings = []
    for release in cluster.releases.get("gateway", []):
        findings.append(
            _finding(
                cluster.name,
                "the gateway chart is a sidecar east-west gateway (AUTO_PASSTHROUGH on 15443); "
                "ambient traffic crosses networks through the istio-east-west Gateway",
                f"remove the release ({RENDER})",
                release=release,
                file=release.file,
            )
        )
    metadata = _map(istiod_values, "meshConfig", "defaultConfig", "proxyMetadata")
    if DNS_CAPTURE in metadata:
        findings.append(
            _finding(
                cluster.name,
                f"istiod sets the sidecar setting meshConfig.defaultConfig.proxyMetadata."
                f"{DNS_CAPTURE}; in ambient mode istio-cni captures DNS (ambient.dnsCapture)",
                f"remove it ({RENDER})",
                release=next(iter(cluster.releases.get("istiod", [])), None),
            )
        )
    for folder, obj in cluster.objects:
        servers = _map(obj, "spec").get("servers") or []
        passthrough = any(
            isinstance(s, dict) and _map(s, "tls").get("mode") == "AUTO_PASSTHROUGH"
            for s in servers
        )
        if obj.get("kind") == "Gateway" and passthrough:
            findings.append(
                _finding(
                    cluster.name,
                    "an AUTO_PASSTHROUGH Gateway is the sidecar way across networks; ambient "
                    "uses the istio-east-west Gateway",
                    f"remove it ({RENDER})",
                    file=f"{folder}/kustomization.yaml",
                    obj=obj,
                )
            )
    return findings


def _ambient_only(cluster: ClusterView, istiod_values: dict[str, Any]) -> list[Finding]:
    findings = []
    for chart in AMBIENT_CHARTS:
        for release in cluster.releases.get(chart, []):
            findings.append(
                _finding(
                    cluster.name,
                    f"{chart} is part of the ambient data plane, and this mesh runs sidecars "
                    "(dataplane: sidecar)",
                    f"remove the release, or set dataplane: ambient in mesh.yaml ({RENDER})",
                    release=release,
                    file=release.file,
                )
            )
    istiod = next(iter(cluster.releases.get("istiod", [])), None)
    ambient_settings = []
    if istiod_values.get("profile") == "ambient":
        ambient_settings.append("profile: ambient")
    ambient_settings += [f"env.{k}" for k in sorted(_map(istiod_values, "env")) if "AMBIENT" in k]
    if "serviceScopeConfigs" in _map(istiod_values, "meshConfig"):
        ambient_settings.append("meshConfig.serviceScopeConfigs")
    for setting in ambient_settings:
        findings.append(
            _finding(
                cluster.name,
                f"istiod sets the ambient setting {setting} in a sidecar mesh",
                f"remove it, or set dataplane: ambient in mesh.yaml ({RENDER})",
                release=istiod,
            )
        )
    for gateway_class in (gateway_api.EAST_WEST_CLASS, gateway_api.WAYPOINT_CLASS):
        for folder, gateway in cluster.gateways(gateway_class):
            findings.append(
                _finding(
                    cluster.name,
                    f"a Gateway of class {gateway_class} is ambient-only, and this mesh runs "
                    "sidecars",
                    f"remove it, or set dataplane: ambient in mesh.yaml ({RENDER})",
                    file=f"{folder}/kustomization.yaml",
                    obj=gateway,
                )
            )
    return findings


def _upstream_limits(mesh: Mesh) -> list[Finding]:
    """Warnings for what upstream does not stand behind yet."""
    findings = []
    networks = mesh.clusters_by_network()
    version = parse_version(mesh.istio_version)
    spanned = len([n for n, members in networks.items() if members])
    if spanned > 1 and version is not None and (version.major, version.minor) < MULTI_NETWORK_BETA:
        findings.append(
            _finding(
                None,
                f"ambient across networks is alpha in Istio {version.line} (beta from 1.29)",
                "upgrade istio.version to 1.29 or later",
                file="mesh.yaml",
                severity=WARNING,
            )
        )
    shared = [n for n, members in networks.items() if len(members) > 1]
    if shared:
        findings.append(
            _finding(
                None,
                f"network(s) {', '.join(shared)} hold several clusters: upstream has not tested "
                "ambient multicluster on one network and supports only multi-network",
                "give each cluster its own network",
                file="mesh.yaml",
                severity=WARNING,
            )
        )
    if not mesh.gateway_api.install:
        findings.append(
            _finding(
                None,
                "gatewayAPI.install is false: the clusters must already have the Gateway API "
                f"CRDs {mesh.gateway_api_version()} or newer, which validate cannot see",
                "check them with `kubectl get crd gateways.gateway.networking.k8s.io -o yaml` "
                "(or pass them with --crds)",
                file="mesh.yaml",
                severity=UNCHECKED,
            )
        )
    return findings


def check(view: RepoView, mesh: Mesh, releases: list[HelmRelease], crds: CrdIndex) -> list[Finding]:
    try:
        return _check(view, mesh, releases, crds)
    finally:
        table = view.context.get("ambient-values")
        if table is not None:
            table.store()


def _check(
    view: RepoView, mesh: Mesh, releases: list[HelmRelease], crds: CrdIndex
) -> list[Finding]:
    clusters = _clusters(view, mesh, releases, gateways_only=not mesh.ambient)
    findings: list[Finding] = []
    scopes: dict[str, Any] = {}
    for cluster in clusters:
        istiod = next(iter(cluster.releases.get("istiod", [])), None)
        values = merged_values(view, istiod) if istiod is not None else {}
        if not mesh.ambient:
            findings += _ambient_only(cluster, values)
            continue
        for chart in ("istiod", *AMBIENT_CHARTS):
            if not cluster.releases.get(chart):
                findings.append(
                    _finding(
                        cluster.name,
                        f"no {chart} release: every cluster of an ambient mesh runs istiod, "
                        "istio-cni and ztunnel",
                        f"install {chart} ({RENDER})",
                    )
                )
        if istiod is not None:
            findings += _versions(cluster, istiod)
            findings += _istiod_settings(cluster, istiod, values)
            scopes[cluster.name] = _map(values, "meshConfig").get("serviceScopeConfigs")
        findings += _gateway_api(mesh, cluster, istiod.version if istiod else mesh.istio_version)
        findings += _east_west(mesh, cluster)
        findings += _sidecar_only(cluster, values)
    if mesh.ambient:
        findings += _same_everywhere(clusters, scopes)
        findings += _given_crds(mesh, crds)
        findings += _upstream_limits(mesh)
    return findings
