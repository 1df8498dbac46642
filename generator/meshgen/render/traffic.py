"""Traffic policies as upstream Istio objects (pure): DestinationRules and VirtualServices in
the overlays of the clusters that configure the clients' istiod, and the ``serviceSettings`` of
cluster-local services in their istiod values.

Each config cluster gets one overlay per namespace, ``clusters/<c>/traffic/<namespace>/``, with
one file per service; the engines sync it after the mesh config (see ``plan.TRAFFIC_WAVE``).
Where the objects go, and why there, is :mod:`meshgen.traffic.placement`'s answer.
"""

from __future__ import annotations

from typing import Any

from meshgen.render.files import YAML_HEADER, kustomization, mesh_labels, yaml_file
from meshgen.render.yamltext import dump_all
from meshgen.spec import Mesh
from meshgen.traffic import CLUSTER_LOCAL, HTTP, TrafficPolicies, TrafficPolicy
from meshgen.traffic.model import CLUSTER_LABEL
from meshgen.traffic.placement import (
    ServiceConfig,
    placements,
    served_by,
    service_settings_holders,
)

NETWORKING_API = "networking.istio.io/v1"
FOLDER = "traffic"

# Outlier detection for failover when the policy sets none. Envoy's own defaults, except
# maxEjectionPercent: its default of 10% never ejects one of two endpoints, so a failing
# locality would never fail over.
DEFAULT_OUTLIER_DETECTION: dict[str, Any] = {
    "consecutive5xxErrors": 5,
    "interval": "10s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 100,
}


def overlay(cluster: str, namespace: str) -> str:
    return f"clusters/{cluster}/{FOLDER}/{namespace}"


def istio_locality(text: str) -> str:
    """``region`` or ``region/zone`` as Istio's localities read them (``region/*``)."""
    if text == "*" or text.endswith("/*"):
        return text
    return f"{text}/*"


def _locality_lb(policy: TrafficPolicy) -> dict[str, Any] | None:
    setting: dict[str, Any] = {}
    if policy.failover is not None:
        if policy.failover.regions:
            setting["failover"] = [{"from": a, "to": b} for a, b in policy.failover.regions]
        if policy.failover.priority:
            setting["failoverPriority"] = list(policy.failover.priority)
    if policy.distribute:
        setting["distribute"] = [
            {
                "from": istio_locality(entry.origin),
                "to": {istio_locality(where): weight for where, weight in entry.to},
            }
            for entry in policy.distribute
        ]
    return {"enabled": True, **setting} if setting else None


def outlier_detection(policy: TrafficPolicy) -> tuple[dict[str, Any] | None, bool]:
    """The policy's outlier detection, or meshgen's default when it fails over without one;
    and whether it is the default."""
    if policy.outlier_detection:
        return dict(policy.outlier_detection), False
    if policy.failover is not None:
        return dict(DEFAULT_OUTLIER_DETECTION), True
    return None, False


def destination_rule(config: ServiceConfig) -> dict[str, Any] | None:
    spec: dict[str, Any] = {"host": config.service.host}
    policy = config.locality
    if policy is not None:
        traffic_policy: dict[str, Any] = {}
        locality = _locality_lb(policy)
        if locality is not None:
            traffic_policy["loadBalancer"] = {"localityLbSetting": locality}
        outlier, _default = outlier_detection(policy)
        if outlier is not None:
            traffic_policy["outlierDetection"] = outlier
        if traffic_policy:
            spec["trafficPolicy"] = traffic_policy
    if config.subsets:
        spec["subsets"] = [{"name": d.subset, "labels": d.selector} for d in config.subsets]
    if len(spec) == 1:
        return None
    return _object("DestinationRule", config, spec)


def _object(kind: str, config: ServiceConfig, spec: dict[str, Any]) -> dict[str, Any]:
    service = config.service
    return {
        "apiVersion": NETWORKING_API,
        "kind": kind,
        "metadata": {"name": service.name, "namespace": service.namespace},
        "spec": spec,
    }


def _retries(policy: TrafficPolicy) -> dict[str, Any]:
    retries = policy.retries
    assert retries is not None
    found: dict[str, Any] = {}
    for key, value in (
        ("attempts", retries.attempts),
        ("perTryTimeout", retries.per_try_timeout),
        ("retryOn", retries.retry_on),
        ("retryRemoteLocalities", retries.retry_remote_localities),
    ):
        if value is not None:
            found[key] = value
    return found


def virtual_service(mesh: Mesh, config: ServiceConfig) -> dict[str, Any] | None:
    if not any(route.policy.routes_traffic for route in config.routes):
        return None
    host = config.service.host
    http = config.routes[0].policy.protocol == HTTP
    rules = []
    for route in config.routes:
        policy = route.policy
        rule: dict[str, Any] = {"name": policy.source} if http else {}
        if not config.whole:
            rule["match"] = [{"sourceLabels": {CLUSTER_LABEL: c}} for c in route.clients]
        rule["route"] = [
            {"destination": {"host": host, "subset": d.subset}, "weight": d.weight}
            for d in policy.split
        ] or [{"destination": {"host": host}}]
        if http and policy.retries is not None:
            rule["retries"] = _retries(policy)
        if http and policy.timeout:
            rule["timeout"] = policy.timeout
        rules.append(rule)
    governed = {c for route in config.routes for c in route.clients}
    if governed != set(served_by(mesh, mesh.cluster(config.cluster))):
        # Clients of this istiod that no policy names keep Istio's default routing.
        rest: dict[str, Any] = {"name": "other-clients"} if http else {}
        rest["route"] = [{"destination": {"host": host}}]
        rules.append(rest)
    spec = {"hosts": [host], "http" if http else "tcp": rules}
    return _object("VirtualService", config, spec)


def _comments(mesh: Mesh, config: ServiceConfig) -> list[str]:
    sources = ", ".join(config.sources)
    lines = [f"{config.service}, from {sources}: edit the policy there, then run `meshgen render`."]
    served = ", ".join(served_by(mesh, mesh.cluster(config.cluster)))
    if config.routes and config.whole:
        lines.append(f"Governs every client configured from {config.cluster}: {served}.")
    elif config.routes:
        for route in config.routes:
            lines.append(
                f"Routes of {route.policy.source} match clients {', '.join(route.clients)} "
                f"(sourceLabels {CLUSTER_LABEL}); {config.cluster} configures {served}."
            )
    if config.gateways:
        lines.append(
            f"Subsets for the east-west gateway of {', '.join(config.gateways)}: it routes "
            "cross-network traffic by SNI, which names the subset."
        )
    if config.locality is not None:
        _outlier, default = outlier_detection(config.locality)
        if default:
            lines.append(
                f"outlierDetection: meshgen's defaults, as {config.locality.source} sets none "
                "for its failover; without outlier detection no endpoint is ever ejected and "
                "failover never happens."
            )
    return [f"# {line}\n" for line in lines]


def _service_file(mesh: Mesh, config: ServiceConfig, dumped: dict[str, str]) -> str | None:
    """The file of one service in one config cluster. Most clusters of a mesh hold the same
    objects for a service, so each distinct set is written as YAML once (``dumped``)."""
    objects = [
        obj for obj in (destination_rule(config), virtual_service(mesh, config)) if obj is not None
    ]
    if not objects:
        return None
    key = repr(objects)
    if key not in dumped:
        dumped[key] = dump_all(objects)
    return YAML_HEADER + "".join(_comments(mesh, config)) + dumped[key]


def files(mesh: Mesh, policies: TrafficPolicies) -> dict[str, str]:
    """Every traffic overlay: per config cluster and namespace, a file per service and the
    ``kustomization.yaml`` listing them."""
    out: dict[str, str] = {}
    dumped: dict[str, str] = {}
    for cluster, configs in placements(mesh, policies).items():
        listed: dict[str, list[str]] = {}
        for config in configs:
            text = _service_file(mesh, config, dumped)
            if text is None:
                continue
            folder = overlay(cluster, config.service.namespace)
            out[f"{folder}/{config.service.name}.yaml"] = text
            listed.setdefault(folder, []).append(f"{config.service.name}.yaml")
        for folder, names in listed.items():
            doc = kustomization(resources=sorted(names), labels=mesh_labels(mesh.mesh_id, cluster))
            out[f"{folder}/kustomization.yaml"] = yaml_file(doc)
    return out


def namespaces(traffic_files: dict[str, str]) -> dict[str, list[str]]:
    """Per cluster, the namespaces of its traffic overlays (sorted), from :func:`files`."""
    found: dict[str, set[str]] = {}
    for path in traffic_files:
        parts = path.split("/")
        if len(parts) == 5 and parts[2] == FOLDER and parts[4] == "kustomization.yaml":
            found.setdefault(parts[1], set()).add(parts[3])
    return {cluster: sorted(names) for cluster, names in found.items()}


def cluster_local_hosts(mesh: Mesh, policies: TrafficPolicies) -> dict[str, list[str]]:
    """Per cluster, the hosts its istiod values mark ``clusterLocal`` (sorted)."""
    found: dict[str, set[str]] = {}
    for policy in policies:
        if policy.scope != CLUSTER_LOCAL:
            continue
        for name in policy.clients_in(mesh):
            try:
                client = mesh.cluster(name)
            except KeyError:
                continue
            for holder in service_settings_holders(mesh, client):
                found.setdefault(holder, set()).add(policy.service.host)
    return {cluster: sorted(hosts) for cluster, hosts in found.items()}


def istiod_values(hosts: list[str]) -> dict[str, Any]:
    """What the istiod values of a cluster gain for its cluster-local hosts."""
    setting = {"settings": {"clusterLocal": True}, "hosts": hosts}
    return {"meshConfig": {"serviceSettings": [setting]}}
