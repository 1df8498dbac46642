"""The rules a set of traffic policies must follow against a mesh, each broken one a
:class:`Problem` naming the file, line and field. ``render`` stops at the first one,
``validate`` reports them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshgen.spec import EXTERNAL_ISTIOD_NAMESPACE, ISTIO_SYSTEM, Mesh
from meshgen.spec.locations import field_name
from meshgen.traffic.model import (
    CLUSTER_LABEL,
    CLUSTER_LOCAL,
    NETWORK_LABEL,
    REGION_LABEL,
    SUBZONE_LABEL,
    TCP,
    ZONE_LABEL,
    Problem,
    Service,
    TrafficPolicies,
    TrafficPolicy,
)
from meshgen.traffic.placement import (
    Topology,
    config_cluster,
    runs_workloads,
    served_by,
    service_configs,
)

# Namespaces meshgen itself manages in every cluster: no application Service lives there.
RESERVED_NAMESPACES = (ISTIO_SYSTEM, EXTERNAL_ISTIOD_NAMESPACE, "flux-system", "kube-system")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|ms|m|s)")
_UNIT_MS = {"h": 3_600_000.0, "m": 60_000.0, "s": 1000.0, "ms": 1.0}


def duration_ms(text: str) -> float:
    """A schema-valid duration (``1m30s``, ``250ms``) in milliseconds."""
    return sum(float(n) * _UNIT_MS[unit] for n, unit in _DURATION.findall(text))


def _problem(policy: TrafficPolicy, path: list[Any], message: str) -> Problem:
    return Problem(policy.source, policy.line_of(path), field_name(path), message)


def _names(names: list[str] | tuple[str, ...] | set[str]) -> str:
    return ", ".join(sorted(names))


def _locality_parts(text: str) -> list[str]:
    """``region/zone/*`` as ``[region, zone]`` (``*`` alone: ``[]``)."""
    parts = text.split("/")
    return [] if parts == ["*"] else [p for p in parts if p != "*"]


class _Known:
    """What mesh.yaml knows: workload clusters, networks, regions and zones."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.topology = Topology(mesh)
        self.clusters = {c.name: c for c in mesh.clusters}
        self.regions = sorted({c.region for c in mesh.clusters if c.region})
        self.zones = sorted({c.zone for c in mesh.clusters if c.zone})
        self.region_zones = {(c.region, c.zone) for c in mesh.clusters if c.region and c.zone}

    def locality(self, text: str) -> str | None:
        """Why a locality is unknown (None: mesh.yaml knows it)."""
        parts = _locality_parts(text)
        if parts and parts[0] not in self.regions:
            return self.region(parts[0])
        if len(parts) > 1 and (parts[0], parts[1]) not in self.region_zones:
            zones = sorted(z for r, z in self.region_zones if r == parts[0])
            return (
                f"zone {parts[1]!r} of region {parts[0]} is no cluster's zone in mesh.yaml "
                f"(known there: {_names(zones) or 'none'})"
            )
        return None

    def region(self, name: str) -> str | None:
        if name in self.regions:
            return None
        known = _names(self.regions) or "none; set region on the clusters in mesh.yaml"
        return f"region {name!r} is no cluster's region in mesh.yaml (known: {known})"


def _check_cluster(known: _Known, name: str, role: str) -> str | None:
    cluster = known.clusters.get(name)
    if cluster is None:
        return (
            f"{role} {name!r} is not a cluster of mesh.yaml (clusters: "
            f"{_names(list(known.clusters)) or 'none'}); fix the name"
        )
    if not runs_workloads(cluster):
        return (
            f"{role} {name} is an external control plane, which runs no workloads; name the "
            "clusters it serves instead"
        )
    return None


def _policy_problems(known: _Known, policy: TrafficPolicy) -> Iterator[Problem]:
    mesh = known.mesh
    if policy.service.namespace in RESERVED_NAMESPACES:
        yield _problem(
            policy,
            ["metadata", "namespace"],
            f"{policy.service.namespace} is a namespace meshgen manages for the control plane; "
            "traffic policies are for application services",
        )
    clients = []
    for index, name in enumerate(policy.clients or ()):
        reason = _check_cluster(known, name, "client")
        if reason:
            yield _problem(policy, ["spec", "clients", index], reason)
        else:
            clients.append(known.clusters[name])
    if policy.clients is None:
        clients = [c for c in mesh.clusters if runs_workloads(c)]
    yield from _split_problems(known, policy, clients)
    yield from _locality_problems(known, policy)
    if policy.protocol == TCP:
        for key in ("retries", "timeout"):
            if getattr(policy, key):
                yield _problem(
                    policy,
                    ["spec", key],
                    f"only HTTP routes have {key}; a tcp service gets weights only (remove "
                    f"{key}, or set protocol: http)",
                )
    if policy.scope == CLUSTER_LOCAL:
        for key, present in (
            ("split", policy.split),
            ("failover", policy.failover),
            ("distribute", policy.distribute),
        ):
            if present:
                yield _problem(
                    policy,
                    ["spec", key],
                    f"scope cluster-local keeps clients on their own cluster's endpoints, so "
                    f"{key} cannot send them elsewhere; remove {key} or use scope: global",
                )
    for path, value in _durations(policy):
        if duration_ms(value) < 1:
            yield _problem(policy, path, f"{value} is shorter than 1ms; Istio refuses it")


def _durations(policy: TrafficPolicy) -> Iterator[tuple[list[Any], str]]:
    if policy.timeout:
        yield ["spec", "timeout"], policy.timeout
    if policy.retries and policy.retries.per_try_timeout:
        yield ["spec", "retries", "perTryTimeout"], policy.retries.per_try_timeout
    for key, value in policy.outlier_detection:
        if isinstance(value, str):
            yield ["spec", "outlierDetection", key], value


def _split_problems(known: _Known, policy: TrafficPolicy, clients: list[Any]) -> Iterator[Problem]:
    if not policy.split:
        return
    total = sum(d.weight for d in policy.split)
    if total != 100:
        shares = " + ".join(str(d.weight) for d in policy.split)
        yield _problem(
            policy,
            ["spec", "split"],
            f"the weights sum to {total} ({shares}), not 100; Istio would refuse the "
            "VirtualService, so make them add up to 100",
        )
    seen: dict[str, int] = {}
    for index, destination in enumerate(policy.split):
        path: list[Any] = ["spec", "split", index]
        if destination.subset in seen:
            first = policy.split[seen[destination.subset]]
            how = (
                "rename one (subset)"
                if destination.explicit_subset
                else f"both select {first.label}; merge them, or give one a subset name"
            )
            yield _problem(
                policy,
                [*path, "subset" if destination.explicit_subset else "cluster"],
                f"subset {destination.subset} is already spec.split[{seen[destination.subset]}]"
                f"; subset names are unique: {how}",
            )
        seen.setdefault(destination.subset, index)
        reason = _check_cluster(known, destination.cluster, "cluster")
        if reason:
            yield _problem(policy, [*path, "cluster"], reason)
            continue
        target = known.clusters[destination.cluster]
        for client in clients:
            why = known.topology.unreachable(client, target)
            if why:
                yield _problem(
                    policy,
                    [*path, "cluster"],
                    f"client {client.name} cannot reach {target.name}: {why}; fix the mesh, "
                    "or leave the client out (spec.clients)",
                )


def _priority_problem(known: _Known, entry: str) -> str | None:
    key, _, value = entry.partition("=")
    if not value:
        return None
    if key == REGION_LABEL:
        return known.region(value)
    if key == ZONE_LABEL and value not in known.zones:
        return (
            f"zone {value!r} is no cluster's zone in mesh.yaml "
            f"(known: {_names(known.zones) or 'none'})"
        )
    if key == NETWORK_LABEL and value not in known.mesh.networks:
        return (
            f"network {value!r} is not declared in mesh.yaml (networks: "
            f"{_names(list(known.mesh.networks)) or 'none'}); fix the name"
        )
    if key == CLUSTER_LABEL:
        return _check_cluster(known, value, "cluster")
    return None


def _locality_problems(known: _Known, policy: TrafficPolicy) -> Iterator[Problem]:
    failover = policy.failover
    if failover is not None:
        for index, entry in enumerate(failover.priority):
            reason = _priority_problem(known, entry)
            if reason:
                yield _problem(policy, ["spec", "failover", "priority", index], reason)
            if failover.regions and entry.partition("=")[0] in (
                REGION_LABEL,
                ZONE_LABEL,
                SUBZONE_LABEL,
            ):
                yield _problem(
                    policy,
                    ["spec", "failover", "priority", index],
                    f"{entry} ranks by region or zone while failover.regions also picks "
                    "regions; Istio refuses both: drop one",
                )
        for index, (origin, target) in enumerate(failover.regions):
            path: list[Any] = ["spec", "failover", "regions", index]
            for key, region in (("from", origin), ("to", target)):
                reason = known.region(region)
                if reason:
                    yield _problem(policy, [*path, key], reason)
            if origin == target:
                yield _problem(
                    policy, [*path, "to"], f"fails over from {origin} to itself; name another"
                )
    if failover is not None and policy.distribute:
        yield _problem(
            policy,
            ["spec", "distribute"],
            "distribute and failover cannot both be set (Istio refuses it); pick one",
        )
    origins: list[tuple[int, list[str]]] = []
    for index, distribution in enumerate(policy.distribute):
        path = ["spec", "distribute", index]
        reason = known.locality(distribution.origin)
        if reason:
            yield _problem(policy, [*path, "from"], reason)
        parts = _locality_parts(distribution.origin)
        for other, other_parts in origins:
            shorter = min(len(parts), len(other_parts))
            if parts[:shorter] == other_parts[:shorter]:
                yield _problem(
                    policy,
                    [*path, "from"],
                    f"{distribution.origin} overlaps spec.distribute[{other}].from; each client "
                    "locality may appear once",
                )
                break
        origins.append((index, parts))
        for locality, _weight in distribution.to:
            reason = known.locality(locality)
            if reason:
                yield _problem(policy, [*path, "to", locality], reason)
        total = sum(weight for _locality, weight in distribution.to)
        if total != 100:
            yield _problem(
                policy,
                [*path, "to"],
                f"the shares sum to {total}, not 100; Istio refuses it, so make them add up to 100",
            )


def _service_problems(
    known: _Known, policies: TrafficPolicies, service: Service
) -> Iterator[Problem]:
    mesh = known.mesh
    group = policies.for_service(service)
    owner: dict[str, TrafficPolicy] = {}
    for policy in group:
        taken: dict[int, list[tuple[int, str]]] = {}  # earlier policy -> (index, client)
        for index, client in enumerate(policy.clients_in(mesh)):
            first = owner.setdefault(client, policy)
            if first is not policy:
                taken.setdefault(id(first), []).append((index, client))
        for first in (p for p in group if id(p) in taken):
            overlap = taken[id(first)]
            path: list[Any] = ["spec", "clients", overlap[0][0]] if policy.clients else ["spec"]
            yield _problem(
                policy,
                path,
                f"{service} already has a policy for client(s) "
                f"{_names([c for _i, c in overlap])} in {first.source} (line {first.line}); "
                "one policy per service and client: list disjoint clients",
            )
    protocols = {p.protocol for p in group}
    if len(protocols) > 1:
        yield _problem(
            group[-1],
            ["spec", "protocol"],
            f"the policies of {service} disagree on the protocol ({_names(protocols)}); "
            "a service has one",
        )
    subsets: dict[str, tuple[TrafficPolicy, Any]] = {}
    for policy in group:
        for index, destination in enumerate(policy.split):
            first_seen = subsets.setdefault(destination.subset, (policy, destination))
            other, earlier = first_seen
            if other is not policy and earlier.selector != destination.selector:
                yield _problem(
                    policy,
                    ["spec", "split", index, "subset"],
                    f"subset {destination.subset} selects {earlier.label} in {other.source}, "
                    f"not {destination.label}; the policies of a service share one "
                    "DestinationRule per control plane, so give this one another subset name",
                )
    yield from _control_plane_problems(known, policies, service)


def _control_plane_problems(
    known: _Known, policies: TrafficPolicies, service: Service
) -> Iterator[Problem]:
    """Failover, distribute, outlier detection and scope hold for every client of an istiod."""
    mesh = known.mesh
    for name, config in service_configs(mesh, policies, service, known.topology).items():
        setting = [r for r in config.routes if r.policy.sets_locality]
        if not setting:
            continue
        served = served_by(mesh, mesh.cluster(name))
        governed = {c for r in config.routes for c in r.clients}
        first = setting[0].policy
        for route in config.routes:
            if route.policy.locality_settings != first.locality_settings:
                yield _problem(
                    route.policy,
                    ["spec"],
                    f"{service}: {route.policy.source} and {first.source} give the clients of "
                    f"the istiod configured from {name} ({_names(served)}) different failover, "
                    "distribute, outlierDetection or scope; one istiod has one DestinationRule "
                    "and one meshConfig per host: make them the same",
                )
        missing = sorted(set(served) - governed)
        if missing:
            key = next(
                k
                for k, v in (
                    ("failover", first.failover),
                    ("distribute", first.distribute),
                    ("outlierDetection", first.outlier_detection),
                    ("scope", True),
                )
                if v
            )
            yield _problem(
                first,
                ["spec", key],
                f"{key} holds for every cluster the istiod configured from {name} serves "
                f"({_names(served)}), but no policy of {service} names {_names(missing)}; add "
                "them to clients (or leave clients out)",
            )


def problems(mesh: Mesh, policies: TrafficPolicies) -> list[Problem]:
    """Everything wrong with ``policies`` in ``mesh``, sorted by file and line."""
    if not policies:  # nothing to check: the mesh's topology is not worked out
        return []
    known = _Known(mesh)
    found: list[Problem] = []
    for policy in policies:
        found += _policy_problems(known, policy)
    for service in policies.services():
        found += _service_problems(known, policies, service)
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda p: (p.source, p.line or 0, p.field, p.message))


def check(mesh: Mesh, policies: TrafficPolicies) -> None:
    """Raise the first problem (a SpecError naming file, line and field)."""
    found = problems(mesh, policies)
    if found:
        first = found[0]
        more = ""
        if len(found) > 1:
            more = f" (and {len(found) - 1} more; `meshgen validate` lists them)"
        raise Problem(first.source, first.line, first.field, first.message + more).error()


def config_clusters_of(mesh: Mesh, policy: TrafficPolicy) -> list[str]:
    """Where ``policy``'s client configuration goes (for messages and the graph)."""
    names = set()
    for client in policy.clients_in(mesh):
        try:
            names.add(config_cluster(mesh, mesh.cluster(client)).name)
        except KeyError:
            continue
    return sorted(names)
