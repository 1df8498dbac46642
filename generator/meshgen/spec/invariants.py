"""Invariants: the rules of a mesh that the schema cannot express (topology, networks,
address ranges, reachability). Each broken rule is one error naming the line and field."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection
from typing import Any

from meshgen import gateway_api, library
from meshgen.errors import SpecError, excerpt
from meshgen.releases import Version, parse_version
from meshgen.spec import urls
from meshgen.spec.locations import field_name, line_of
from meshgen.spec.model import (
    DEFAULT_TAG,
    ENGINES_WITH_SOPS,
    EXTERNAL_CONTROL_PLANE,
    MESH_FILE,
    PRIMARY,
    REMOTE,
    UNREVISIONED,
    Cluster,
    EastWestGateway,
    GatewayAPI,
    Mesh,
)

# Upstream supports a canary (revision) upgrade across at most two minor versions, an
# in-place one across one, and a mesh whose clusters run at most two minor versions at once.
MAX_MINORS_APART = 2


def _check_gateway_size(
    tree: Any, path: list[Any], gateway: EastWestGateway, fail: Callable[[list[Any], str], None]
) -> None:
    """Either a fixed ``replicas`` or autoscaler bounds, with the minimum not above the
    maximum (``replicas`` + ``maxReplicas`` is the earlier spelling of the bounds)."""
    raw: Any = tree
    for key in [*path, "eastWestGateway"]:
        if isinstance(raw, dict):
            raw = raw.get(key)
        elif isinstance(raw, list) and isinstance(key, int) and key < len(raw):
            raw = raw[key]
        else:
            raw = None
    keys = set(raw) if isinstance(raw, dict) else set()
    if "autoscaling" in keys and keys & {"replicas", "maxReplicas"}:
        other = "replicas" if "replicas" in keys else "maxReplicas"
        fail(
            [*path, "eastWestGateway", other],
            f"{other} and autoscaling both size the gateway; keep autoscaling "
            "{minReplicas, maxReplicas}, or a fixed replicas without autoscaling",
        )
    if gateway.autoscaled and gateway.max_replicas < gateway.min_replicas:
        where = "maxReplicas" if "maxReplicas" in keys else "autoscaling"
        fail(
            [*path, "eastWestGateway", where],
            f"maxReplicas {gateway.max_replicas} is below the minimum {gateway.min_replicas}; "
            "raise maxReplicas or lower the minimum",
        )


def check_invariants(
    mesh: Mesh,
    tree: Any = None,
    source: str = MESH_FILE,
    new_clusters: Collection[str] | None = None,
) -> None:
    """Rules the schema cannot express. Raises MeshgenError at the first broken one.

    ``new_clusters``: ``mesh`` is a valid mesh with only these clusters added (and any
    clusters or networks taken out), so the rules of one cluster alone (its gateway's size,
    its ranges' syntax) run for these only, and the ranges' overlaps only on their networks
    (taking clusters out creates no overlap), and the version-skew rules of one cluster (its
    own, a remote's against its control plane) for these only. Every other rule across
    clusters or networks still runs whole. A mesh that passes this passes the full check;
    a caller words an error with the full check, whose first finding may be another one.
    """

    def fail(path: list[Any], message: str) -> None:
        line = line_of(tree, path) if tree is not None else None
        raise SpecError(source, line, field_name(path), message)

    _check_urls(mesh, fail)
    if mesh.secrets_provider == "sops":
        if mesh.engine not in ENGINES_WITH_SOPS:
            fail(
                ["secrets", "provider"],
                f"provider sops needs the flux engine ({mesh.engine} cannot decrypt SOPS "
                "without a plugin); use engine flux, or provider external-secrets or manual",
            )
        if not mesh.sops_age_recipients:
            fail(
                ["secrets"],
                "provider sops needs at least one age recipient; add secrets.sops.ageRecipients "
                "(the public keys, age1..., of whoever may decrypt)",
            )
    seen_networks: dict[str, int] = {}
    for index, name in enumerate(mesh.networks):
        if name in seen_networks:
            fail(["networks", index, "name"], f"network {name!r} is declared twice; remove one")
        seen_networks[name] = index
    seen_clusters: dict[str, int] = {}
    for index, cluster in enumerate(mesh.clusters):
        path = ["clusters", index]
        if cluster.name in seen_clusters:
            fail([*path, "name"], f"cluster {cluster.name!r} is declared twice; remove one")
        seen_clusters[cluster.name] = index
        if cluster.network not in seen_networks:
            fail(
                [*path, "network"],
                f"network {cluster.network!r} is not declared under networks; "
                f"add '- name: {cluster.network}' there",
            )
        if new_clusters is not None and cluster.name not in new_clusters:
            continue
        _check_gateway_size(tree, path, cluster.east_west_gateway, fail)
        for key, cidrs in (
            ("podCIDRs", cluster.pod_cidrs),
            ("serviceCIDRs", cluster.service_cidrs),
        ):
            for position, cidr in enumerate(cidrs):
                try:
                    ipaddress.ip_network(cidr, strict=True)
                except ValueError as exc:
                    fail([*path, key, position], f"{excerpt(cidr)} is not a valid CIDR ({exc})")
    if mesh.trust_domain in mesh.trust_domain_aliases:
        position = mesh.trust_domain_aliases.index(mesh.trust_domain)
        fail(
            ["trustDomainAliases", position],
            f"{mesh.trust_domain!r} is the trust domain itself; remove it from the aliases",
        )
    if mesh.ambient:
        _check_ambient(mesh, tree, fail)
    else:
        _check_no_ambient_settings(mesh, fail)
    _check_topology(mesh, fail)
    if mesh.secrets_provider == "sealed-secrets":
        for index, cluster in enumerate(mesh.clusters):
            if cluster.role == EXTERNAL_CONTROL_PLANE:
                fail(
                    ["clusters", index, "role"],
                    f"{cluster.name} is an external control plane, which the sealed-secrets "
                    "provider does not support yet (its secrets live in external-istiod); use "
                    "provider external-secrets or manual",
                )
    if new_clusters is None:
        _check_flat_networks(mesh, fail)
    elif new_clusters:
        touched = {c.network for c in mesh.clusters if c.name in new_clusters}
        _check_flat_networks(mesh, fail, touched)
    _check_reachability(mesh, fail)
    for path, message in skew_problems(mesh, only=new_clusters):
        fail(path, message)


Fail = Callable[[list[Any], str], None]

NO_CREDENTIALS = (
    "remove them: mesh.yaml and everything rendered from it are committed, and the engine "
    "authenticates with its own secret"
)


def _check_urls(mesh: Mesh, fail: Fail) -> None:
    """The repository URL is one an engine can pull; no URL carries credentials."""
    problem = urls.repository_url_problem(mesh.repo_url)
    if problem is not None:
        fail(["repository", "url"], problem)
    _, removed = urls.without_credentials(mesh.repo_url)
    if removed:
        fail(["repository", "url"], f"holds credentials ({', '.join(removed)}); {NO_CREDENTIALS}")
    for index, cluster in enumerate(mesh.clusters):
        if cluster.api_server is None:
            continue
        path = ["clusters", index, "apiServer"]
        problem = urls.api_server_problem(cluster.api_server)
        if problem is not None:
            fail(path, problem)
        _, removed = urls.without_credentials(cluster.api_server)
        if removed:
            fail(path, f"holds credentials ({', '.join(removed)}); {NO_CREDENTIALS}")


# eastWestGateway keys that size the sidecar east-west gateway's Deployment (gateway chart).
GATEWAY_SIZING_KEYS = ("replicas", "maxReplicas", "autoscaling")


def _raw(tree: Any, path: list[Any]) -> Any:
    """The value at ``path`` in the round-trip tree, or None."""
    node = tree
    for key in path:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def _check_ambient(mesh: Mesh, tree: Any, fail: Fail) -> None:
    """What upstream's ambient mode cannot do, and settings that only mean something to
    sidecars (each refused with the limitation named)."""
    for index, cluster in enumerate(mesh.clusters):
        path: list[Any] = ["clusters", index]
        if cluster.role == REMOTE:
            fail(
                [*path, "role"],
                f"{cluster.name} is a remote of {cluster.control_plane} (primary-remote), which "
                "Istio's ambient mode does not support: ambient multicluster runs only "
                "multi-primary; make it a primary (role: primary, no controlPlane) or keep "
                "dataplane: sidecar",
            )
        if cluster.role == EXTERNAL_CONTROL_PLANE:
            fail(
                [*path, "role"],
                f"{cluster.name} is an external control plane, which Istio's ambient mode "
                "does not support (ambient multicluster runs only multi-primary); make every "
                "cluster a primary or keep dataplane: sidecar",
            )
        raw = _raw(tree, [*path, "eastWestGateway"])
        for key in GATEWAY_SIZING_KEYS:
            if isinstance(raw, dict) and key in raw:
                fail(
                    [*path, "eastWestGateway", key],
                    f"{key} sizes the sidecar east-west gateway (the gateway chart); in ambient "
                    "mode istiod deploys the east-west gateway from its Gateway API Gateway and "
                    f"meshgen does not size it; remove eastWestGateway.{key}",
                )
    wanted = library.istio_releases().gateway_api_for(mesh.istio_version)
    if mesh.gateway_api.version and gateway_api.older(mesh.gateway_api.version, wanted):
        fail(
            ["gatewayAPI", "version"],
            f"Gateway API {mesh.gateway_api.version} is older than {wanted}, which Istio "
            f"{mesh.istio_version} is built against (istiod ignores Gateway API kinds whose "
            f"CRDs are too old); set {wanted} or newer, or leave it out",
        )
    cluster_names = {c.name for c in mesh.clusters}
    seen: dict[tuple[str, str], int] = {}
    placed: dict[str, tuple[str, ...]] = {}  # namespace -> the clusters of its first waypoint
    for index, waypoint in enumerate(mesh.waypoints):
        where = (waypoint.namespace, waypoint.name)
        if where in seen:
            fail(
                ["waypoints", index, "name"],
                f"waypoint {waypoint.name} in {waypoint.namespace} is listed twice; remove one",
            )
        seen[where] = index
        clusters = placed.setdefault(waypoint.namespace, waypoint.clusters)
        if sorted(clusters) != sorted(waypoint.clusters):
            fail(
                ["waypoints", index, "clusters"],
                f"waypoints of namespace {waypoint.namespace} run in different clusters; "
                "upstream routes across clusters by waypoint name, so every cluster that runs "
                "the namespace needs the same waypoints: give them the same clusters",
            )
        for position, name in enumerate(waypoint.clusters):
            if name not in cluster_names:
                fail(
                    ["waypoints", index, "clusters", position],
                    f"{name!r} is not a cluster of this mesh; list clusters from clusters:",
                )
    exported: set[tuple[str, str]] = set()
    for index, service in enumerate(mesh.global_services):
        if (service.namespace, service.name) in exported:
            fail(
                ["globalServices", index, "name"],
                f"{service.name} in {service.namespace} is listed twice; remove one",
            )
        exported.add((service.namespace, service.name))


def _check_no_ambient_settings(mesh: Mesh, fail: Fail) -> None:
    """Settings that only mean something in ambient mode, refused in a sidecar mesh."""
    for key, used in (
        ("globalServices", bool(mesh.global_services)),
        ("waypoints", bool(mesh.waypoints)),
        ("gatewayAPI", mesh.gateway_api != GatewayAPI()),
    ):
        if used:
            fail(
                [key],
                f"{key} is for ambient mode only (sidecar meshes export every service and have "
                "no waypoints); set dataplane: ambient, or remove it",
            )


def _check_topology(mesh: Mesh, fail: Fail) -> None:
    """Roles, control planes and discovery addresses (primary-remote, external control plane)."""
    for index, cluster in enumerate(mesh.clusters):
        path: list[Any] = ["clusters", index]
        if cluster.role == REMOTE:
            _check_remote(mesh, cluster, path, fail)
        elif cluster.control_plane is not None:
            fail(
                [*path, "controlPlane"],
                f"controlPlane is only for role: remote, and {cluster.name} is a {cluster.role}; "
                "remove it or set role: remote",
            )
        discovery = cluster.discovery
        if discovery is not None:
            if cluster.role == REMOTE:
                fail(
                    [*path, "discovery"],
                    "a remote has no istiod to discover; move discovery to its control plane "
                    f"{cluster.control_plane}",
                )
            if not discovery.is_ip and not discovery.valid_certificate:
                fail(
                    [*path, "discovery", "address"],
                    f"{discovery.address!r} is a hostname: the remotes' istiod Service would "
                    "become an ExternalName, which webhooks cannot call; use the IP address of "
                    f"{cluster.name}'s east-west gateway, or set validCertificate: true if "
                    "the name serves a certificate the API servers trust (remotes then use "
                    "injectionURL)",
                )
        remotes = mesh.remotes_of(cluster.name)
        if cluster.role == EXTERNAL_CONTROL_PLANE:
            if len(remotes) > 1:
                fail(
                    [*path, "name"],
                    f"external control plane {cluster.name} serves {len(remotes)} clusters "
                    f"({', '.join(r.name for r in remotes)}); it serves one config cluster; "
                    "make the others remotes of a primary",
                )
            for served in (cluster, *remotes):
                if served.east_west_gateway.enabled:
                    fail(
                        ["clusters", mesh.clusters.index(served), "eastWestGateway", "enabled"],
                        f"{served.name} is part of external control plane {cluster.name}, "
                        "which meshgen renders without an east-west gateway; "
                        "set eastWestGateway.enabled: false",
                    )
        elif cluster.role == PRIMARY and not cluster.east_west_gateway.enabled:
            away = [r.name for r in remotes if r.network != cluster.network]
            if away:
                fail(
                    [*path, "eastWestGateway"],
                    f"primary {cluster.name} manages remotes on other networks "
                    f"({', '.join(away)}) that reach its istiod through its east-west gateway; "
                    "set eastWestGateway.enabled: true",
                )


def _check_remote(mesh: Mesh, cluster: Cluster, path: list[Any], fail: Fail) -> None:
    if cluster.control_plane is None:
        fail(
            [*path, "role"],
            f"remote {cluster.name} has no controlPlane; add controlPlane: <the primary "
            "whose istiod manages it>",
        )
        return
    control = mesh.control_plane_of(cluster)
    if control is None:
        fail(
            [*path, "controlPlane"],
            f"control plane {cluster.control_plane!r} of {cluster.name} is not a cluster of "
            "this mesh; add it first or fix the name",
        )
        return
    if control.role == REMOTE:
        fail(
            [*path, "controlPlane"],
            f"control plane {control.name} of {cluster.name} is itself a remote; point "
            f"controlPlane at a primary (such as {control.control_plane})",
        )
    if control.discovery is None:
        fail(
            [*path, "controlPlane"],
            f"control plane {control.name} of {cluster.name} has no discovery address yet; "
            f"once {control.name}'s east-west gateway has an address, pass it with "
            f"--discovery-address (or set discovery.address on {control.name})",
        )


def _check_flat_networks(mesh: Mesh, fail: Fail, networks: set[str] | None = None) -> None:
    """Clusters on one network route pods to each other directly: their ranges must not overlap.

    One sort and sweep per network and IP version, so the check stays O(n log n);
    ``networks``: only those (default: all).
    """
    ranges: dict[tuple[str, int], list[tuple[int, int, int, str, int, str]]] = {}
    for index, cluster in enumerate(mesh.clusters):
        if cluster.role == EXTERNAL_CONTROL_PLANE:
            continue
        if networks is not None and cluster.network not in networks:
            continue
        for key, cidrs in (
            ("podCIDRs", cluster.pod_cidrs),
            ("serviceCIDRs", cluster.service_cidrs),
        ):
            for position, cidr in enumerate(cidrs):
                net = ipaddress.ip_network(cidr)
                ranges.setdefault((cluster.network, net.version), []).append(
                    (
                        int(net.network_address),
                        int(net.broadcast_address),
                        index,
                        key,
                        position,
                        cidr,
                    )
                )
    for (network, _), items in sorted(ranges.items()):
        items.sort()
        widest: tuple[int, int, int, str, int, str] | None = None  # the range reaching furthest
        widest_other: tuple[int, int, int, str, int, str] | None = None  # same, another cluster
        for item in items:
            start, end, index = item[0], item[1], item[2]
            for seen in (widest, widest_other):
                if seen is not None and seen[2] != index and seen[1] >= start:
                    first, second = mesh.clusters[seen[2]], mesh.clusters[index]
                    fail(
                        ["clusters", index, item[3], item[4]],
                        f"{second.name} {item[3]} {item[5]} overlaps {first.name} {seen[3]} "
                        f"{seen[5]} on network {network}; clusters sharing a network route "
                        "pods directly, so give them disjoint ranges (or put them on different "
                        "networks)",
                    )
            if widest is None or end > widest[1]:
                if widest is not None and widest[2] != index:
                    widest_other = widest
                widest = item
            elif widest[2] != index and (widest_other is None or end > widest_other[1]):
                widest_other = item


def unreachable_networks(mesh: Mesh) -> dict[str, list[Cluster]]:
    """Networks (with their clusters) that no other network can reach: no east-west gateway.

    Empty while the data plane spans one network. External control-plane clusters host no
    workloads and do not count. Asked for several times per command (checks, README,
    summary): worked out once per mesh, and a copy handed out.
    """
    known = mesh.derive("spec.invariants.unreachable_networks", lambda: _unreachable(mesh))
    return {network: list(members) for network, members in known.items()}


def _unreachable(mesh: Mesh) -> dict[str, list[Cluster]]:
    grouped: dict[str, list[Cluster]] = {}
    for cluster in mesh.clusters:
        if cluster.role != EXTERNAL_CONTROL_PLANE:
            grouped.setdefault(cluster.network, []).append(cluster)
    if len(grouped) < 2:
        return {}
    return {
        network: members
        for network, members in sorted(grouped.items())
        if not any(c.east_west_gateway.enabled for c in members)
    }


def _check_reachability(mesh: Mesh, fail: Fail) -> None:
    """A gateway-less network is an error unless every one of its clusters says so explicitly
    (``eastWestGateway.enabled: false``): then it is one-way on purpose, and only a warning."""
    for network, members in unreachable_networks(mesh).items():
        implicit = [c for c in members if not c.east_west_gateway.explicit]
        if implicit:
            names = ", ".join(c.name for c in members)
            fail(
                ["clusters", mesh.clusters.index(implicit[0]), "name"],
                f"network {network} has no east-west gateway, so its clusters ({names}) would "
                "be unreachable from the other networks; set eastWestGateway.enabled: true on "
                "one of them (or enabled: false on each, to keep them one-way on purpose)",
            )


# ----------------------------------------------------------------------- Istio versions


def _parsed(version: str) -> Version:
    parsed = parse_version(version)
    assert parsed is not None  # the schema's pattern
    return parsed


def minors_apart(older: str, newer: str) -> int:
    """How many minor versions ``newer`` is ahead of ``older`` (negative when behind)."""
    a, b = _parsed(older), _parsed(newer)
    return (b.major - a.major) * 100 + b.minor - a.minor


def _state_path(mesh: Mesh, cluster: Cluster, *keys: Any) -> list[Any]:
    return ["clusters", mesh.clusters.index(cluster), "istio", *keys]


def _own_problems(mesh: Mesh, cluster: Cluster) -> list[tuple[list[Any], str]]:
    """A cluster's revisions and tags, on their own."""
    state, name = cluster.istio, cluster.name
    problems: list[tuple[list[Any], str]] = []
    if state.version and state.revisions:
        problems.append(
            (
                _state_path(mesh, cluster, "revisions"),
                f"{name} has both istio.version (in place) and istio.revisions; keep one: "
                "with revisions, each revision names its own version",
            )
        )
    control = mesh.control_plane_of(cluster)
    external = EXTERNAL_CONTROL_PLANE in (cluster.role, control.role if control else None)
    if mesh.ambient and (state.revisions or state.tags):
        key = "revisions" if state.revisions else "tags"
        problems.append(
            (
                _state_path(mesh, cluster, key),
                f"{name} runs the ambient data plane, which meshgen upgrades in place only "
                "(istio-cni and ztunnel run once per node, without revisions); replace "
                "istio.revisions and istio.tags with istio.version",
            )
        )
    elif external and (state.revisions or state.tags):
        key = "revisions" if state.revisions else "tags"
        problems.append(
            (
                _state_path(mesh, cluster, key),
                f"{name} is part of an external control plane, which meshgen upgrades in "
                "place only; replace istio.revisions and istio.tags with istio.version",
            )
        )
    planes = mesh.control_planes_of(cluster)
    revisions = [p.revision for p in planes]
    if len(planes) > 2:
        problems.append(
            (
                _state_path(mesh, cluster, "revisions"),
                f"{name} runs {len(planes)} control planes ({', '.join(revisions)}); an "
                "upgrade runs at most two side by side: finish one first (meshgen upgrade "
                "--finish)",
            )
        )
    base = mesh.revision_of(cluster) or UNREVISIONED
    if UNREVISIONED in revisions and base != UNREVISIONED:
        problems.append(
            (
                _state_path(mesh, cluster, "revisions", UNREVISIONED),
                f"an unrevisioned istiod next to revision {base} in {name} takes over the "
                "namespaces labelled istio-injection=enabled (istio/istio#48643); give the new "
                "control plane a revision name",
            )
        )
    for tag, target in state.tags:
        if target not in revisions:
            problems.append(
                (
                    _state_path(mesh, cluster, "tags", tag),
                    f"tag {tag} of {name} points at revision {target}, which {name} does not "
                    f"run ({', '.join(revisions)}); point it at one of those",
                )
            )
        elif tag != DEFAULT_TAG and tag in revisions:
            problems.append(
                (
                    _state_path(mesh, cluster, "tags", tag),
                    f"tag {tag} of {name} has the name of a revision, so istio.io/rev={tag} "
                    "would select two webhooks; rename the tag",
                )
            )
    default = mesh.default_revision_of(cluster) or UNREVISIONED
    if state.revisions and default not in revisions:
        problems.append(
            (
                _state_path(mesh, cluster, "tags"),
                f"no control plane of {name} serves the default (istio-injection=enabled, "
                f"config validation, the east-west gateway); add tags: {{default: "
                f"{revisions[-1]}}}",
            )
        )
    if len(planes) == 2 and abs(minors_apart(planes[0].version, planes[1].version)) > 2:
        problems.append(
            (
                _state_path(mesh, cluster, "revisions"),
                f"{name}'s revisions run {planes[0].version} and {planes[1].version}, more than "
                f"{MAX_MINORS_APART} minor versions apart; upstream supports canaries across "
                "at most two",
            )
        )
    return problems


def _remote_problems(mesh: Mesh, cluster: Cluster) -> list[tuple[list[Any], str]]:
    """A remote's webhooks and proxies go to its control plane's istiod of the same revision:
    that revision must run there, at the remote's version or newer."""
    control = mesh.control_plane_of(cluster)
    if cluster.role != REMOTE or control is None:
        return []
    served = {p.revision: p for p in mesh.control_planes_of(control)}
    problems: list[tuple[list[Any], str]] = []
    key = "revisions" if cluster.istio.revisions else "version"
    for plane in mesh.control_planes_of(cluster):
        where = [plane.revision] if key == "revisions" else []
        serving = served.get(plane.revision)
        if serving is None:
            problems.append(
                (
                    _state_path(mesh, cluster, key, *where),
                    f"remote {cluster.name} uses revision {plane.revision} of {control.name}, "
                    f"which does not run it ({', '.join(served)}); a remote's webhooks and "
                    f"proxies go to its control plane's istiod of the same revision: move "
                    f"{cluster.name} with {control.name}",
                )
            )
        elif _parsed(plane.version) > _parsed(serving.version):
            problems.append(
                (
                    _state_path(mesh, cluster, key, *where),
                    f"remote {cluster.name} would run {plane.version} while {control.name}'s "
                    f"istiod serving it (revision {plane.revision}) runs {serving.version}: a "
                    "data plane newer than its control plane; upgrade the control plane first, "
                    "or together with its remotes",
                )
            )
    return problems


def _mesh_minor_problems(mesh: Mesh) -> list[tuple[list[Any], str]]:
    """At most two minor versions in the mesh at once, at most two minors apart."""
    seen: dict[str, str] = {}  # minor line -> first cluster running it
    for cluster in mesh.clusters:
        for version in mesh.versions_of(cluster):
            line = _parsed(version).line
            if line in seen:
                continue
            seen[line] = cluster.name
            lines = sorted(seen, key=lambda text: _parsed(text + ".0"))
            apart = minors_apart(lines[0] + ".0", lines[-1] + ".0")
            if len(lines) > 2 or apart > MAX_MINORS_APART:
                running = ", ".join(f"{line_} ({seen[line_]})" for line_ in lines)
                return [
                    (
                        _state_path(mesh, cluster) if cluster.istio else ["istio", "version"],
                        f"the mesh would run Istio {running} at once; during an upgrade a mesh "
                        "spans at most two minor versions, at most two apart: finish moving "
                        "the clusters on the oldest one first",
                    )
                ]
    return []


def skew_problems(mesh: Mesh, only: Collection[str] | None = None) -> list[tuple[list[Any], str]]:
    """Every broken version-skew rule, as (mesh.yaml path, message), in file order: a
    cluster's revisions and tags, what its remotes use, and the minors the mesh spans.
    ``meshgen upgrade`` refuses a step that breaks one; ``validate`` reports a hand edit.
    ``only``: the rules of one cluster (its own, and its control plane's for a remote) for
    these clusters alone, as :func:`check_invariants` with ``new_clusters`` asks."""
    problems: list[tuple[list[Any], str]] = []
    for cluster in mesh.clusters:
        if only is not None and cluster.name not in only:
            continue
        if cluster.istio:
            problems += _own_problems(mesh, cluster)
        problems += _remote_problems(mesh, cluster)
    return problems + _mesh_minor_problems(mesh)
