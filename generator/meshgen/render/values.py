"""Helm values for the upstream Istio charts, per cluster.

Fixed values come from ``charts/<chart>/meshgen.yaml``; the keys that make a cluster part of the
mesh are computed here from ``mesh.yaml`` (Istio 1.30 key paths, no ``pilot.*``).
"""

from __future__ import annotations

import copy
from typing import Any

from meshgen.render.files import yaml_file
from meshgen.render.plan import ClusterPlan
from meshgen.spec import Cluster, Mesh


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``override`` merged in: mappings merge, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def istiod_values(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    mesh_config: dict[str, Any] = {"trustDomain": mesh.trust_domain}
    if mesh.dns_capture:
        mesh_config["defaultConfig"] = {"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}
    return {
        "global": {
            "meshID": mesh.mesh_id,
            "multiCluster": {"clusterName": cluster.name},
            "network": cluster.network,
        },
        "meshConfig": mesh_config,
    }


def gateway_values(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    """The east-west gateway release: ``networkGateway`` makes the chart add the network label,
    the requested-network-view env and ports 15021/15443/15012/15017 itself."""
    gateway = cluster.east_west_gateway
    if gateway.max_replicas is None:
        autoscaling: dict[str, Any] = {"enabled": False}
    else:
        autoscaling = {
            "enabled": True,
            "minReplicas": gateway.replicas,
            "maxReplicas": gateway.max_replicas,
        }
    service: dict[str, Any] = {"type": gateway.service_type}
    if gateway.annotations:
        service["annotations"] = dict(sorted(gateway.annotations.items()))
    return {
        "networkGateway": cluster.network,
        "replicaCount": gateway.replicas,
        "autoscaling": autoscaling,
        "service": service,
    }


_COMPUTED = {"base": lambda mesh, cluster: {}, "istiod": istiod_values, "gateway": gateway_values}


def chart_values(mesh: Mesh, cluster: Cluster, chart: str, fixed: dict[str, Any]) -> dict[str, Any]:
    return deep_merge(fixed, _COMPUTED[chart](mesh, cluster))


def cluster_values_files(mesh: Mesh, plan: ClusterPlan) -> dict[str, str]:
    files = {}
    for component in plan.components:
        if component.chart is None or component.values_path is None:
            continue
        values = chart_values(mesh, plan.cluster, component.chart.chart, component.chart.values)
        files[component.values_path] = yaml_file(values)
    return files
