"""Helm values for the upstream Istio charts, per cluster.

Fixed values come from ``charts/<chart>/meshgen.yaml``; the keys that make a cluster part of the
mesh are computed here from ``mesh.yaml`` (Istio 1.30 key paths, no ``pilot.*``).

Images: the istiod chart is the one that pulls Istio images (istiod itself through ``hub``, and
every proxy it injects, the east-west gateway's included, through ``global.hub``); both are set
from ``istio.hub`` so no cluster depends on a chart's built-in registry. The base chart runs no
pods, and the gateway chart's image is ``auto``, filled in by the injector from istiod's
``global.hub``: neither reads a hub.

Ambient meshes add the ``cni`` and ``ztunnel`` charts, which pull their own images (``hub``),
and run istiod with the ambient profile, multi-network on, and one service-scope selector that
is the same in every cluster (upstream reads only the local cluster's).
"""

from __future__ import annotations

import copy
from typing import Any

from meshgen import gateway_api
from meshgen.render.files import yaml_file
from meshgen.render.plan import ClusterPlan
from meshgen.spec import (
    DEFAULT_TAG,
    EXTERNAL_CONTROL_PLANE,
    EXTERNAL_ISTIOD_NAMESPACE,
    REMOTE,
    Cluster,
    ControlPlane,
    Mesh,
)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``override`` merged in: mappings merge, anything else replaces.
    Nothing of the result is shared with either."""
    merged = _copied(base)
    _merge_into(merged, override)
    return merged


def _merge_into(target: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge_into(current, value)  # a copy already, this merge's own
        else:
            target[key] = _copied(value)


_IMMUTABLE = (str, int, float, bool, type(None))


def _copied(value: Any) -> Any:
    """A deep copy of plain data (a few times faster than ``copy.deepcopy``, which values
    are merged with thousands of times per render); other objects by ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


# Services labelled istio.io/global=true are reachable from every cluster (the selector the
# ambient profile carries, written out so every cluster's values say it the same way).
SERVICE_SCOPE_CONFIGS = [
    {
        "servicesSelector": {
            "matchExpressions": [
                {"key": gateway_api.GLOBAL_LABEL, "operator": "In", "values": ["true"]}
            ]
        },
        "scope": "GLOBAL",
    }
]
# istiod env of an ambient mesh: network-aware ambient (registers the istio-east-west class),
# and peer metadata in HBONE baggage, so metrics across networks name both sides (1.29+).
AMBIENT_ISTIOD_ENV = {"AMBIENT_ENABLE_MULTI_NETWORK": "true", "AMBIENT_ENABLE_BAGGAGE": "true"}


def _mesh_config(mesh: Mesh) -> dict[str, Any]:
    mesh_config: dict[str, Any] = {"trustDomain": mesh.trust_domain}
    if mesh.trust_domain_aliases:
        mesh_config["trustDomainAliases"] = list(mesh.trust_domain_aliases)
    if mesh.ambient:
        mesh_config["serviceScopeConfigs"] = copy.deepcopy(SERVICE_SCOPE_CONFIGS)
    elif mesh.dns_capture:  # ambient pods' DNS is captured by istio-cni and ztunnel instead
        mesh_config["defaultConfig"] = {"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}
    return mesh_config


def _membership(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    return {
        "meshID": mesh.mesh_id,
        "multiCluster": {"clusterName": cluster.name},
        "network": cluster.network,
    }


def injection_path(cluster: Cluster) -> str:
    """The webhook path that tells the primary's injector which cluster and network a pod is in."""
    return f"/inject/cluster/{cluster.name}/net/{cluster.network}"


def remote_values(mesh: Mesh, cluster: Cluster, control: Cluster) -> dict[str, Any]:
    """istiod chart on a remote: no istiod of its own; webhooks and xDS go to ``control``."""
    assert control.discovery is not None  # spec invariant: a remote's control plane has one
    discovery = control.discovery
    remote: dict[str, Any]
    if discovery.valid_certificate:
        remote = {"injectionURL": f"https://{discovery.address}:15017{injection_path(cluster)}"}
    else:
        remote = {"injectionPath": injection_path(cluster)}
    values: dict[str, Any] = {
        "profile": "remote",
        "global": {
            **_membership(mesh, cluster),
            "configCluster": True,
            "remotePilotAddress": discovery.address,
        },
        "istiodRemote": remote,
        "meshConfig": _mesh_config(mesh),
    }
    validation_url = _validation_url(control)
    if validation_url:
        # istiod's own validating webhook reads base.validationURL too.
        values["base"] = {"validationURL": validation_url}
    if control.role == EXTERNAL_CONTROL_PLANE:
        # The config cluster of an external control plane keeps the mesh ConfigMap, in the
        # namespace the external istiod uses. Its discovery address is the external istiod's:
        # the chart's default, istiod.<namespace>.svc, names no Service once a revision is set.
        values["global"]["istioNamespace"] = EXTERNAL_ISTIOD_NAMESPACE
        values["configMap"] = True
        values["meshConfig"].setdefault("defaultConfig", {})["discoveryAddress"] = (
            f"{discovery.address}:15012"
        )
    return values


def _validation_url(control: Cluster) -> str | None:
    """Where a remote's validating webhooks call its control plane, when its address has a
    trusted certificate. A hostname makes the chart's istiod Service an ExternalName, which the
    API server calls on port 443 only; the webhooks listen on 15017."""
    assert control.discovery is not None
    if not control.discovery.valid_certificate:
        return None
    return f"https://{control.discovery.address}:15017/validate"


def external_istiod_values(mesh: Mesh, cluster: Cluster, config: Cluster) -> dict[str, Any]:
    """istiod in ``external-istiod`` of an external control-plane cluster, for ``config``.

    It reads ``config`` as its own cluster through the ``istio-kubeconfig`` Secret (which the
    chart mounts at /var/run/secrets/remote), and the mesh ConfigMaps it shares with it.
    """
    assert cluster.discovery is not None
    address = f"{cluster.discovery.address}:15012"
    namespace = EXTERNAL_ISTIOD_NAMESPACE
    revision = mesh.revision_of(cluster)
    suffix = f"-{revision}" if revision else ""  # the chart names its ConfigMaps so
    mesh_config = _mesh_config(mesh)
    mesh_config["rootNamespace"] = namespace
    mesh_config.setdefault("defaultConfig", {})["discoveryAddress"] = address
    return {
        "global": {
            "meshID": mesh.mesh_id,
            "multiCluster": {"clusterName": config.name},
            "network": config.network,
            "istioNamespace": namespace,
            "operatorManageWebhooks": True,
            "configValidation": False,
            "caAddress": address,
        },
        "meshConfig": mesh_config,
        # CLUSTER_ID is not set here: the chart sets it from global.multiCluster.clusterName,
        # and a second entry makes server-side apply refuse the Deployment.
        "env": {
            "INJECTION_WEBHOOK_CONFIG_NAME": "",
            "VALIDATION_WEBHOOK_CONFIG_NAME": "",
            "EXTERNAL_ISTIOD": "true",
            "LOCAL_CLUSTER_SECRET_WATCHER": "true",
            "SHARED_MESH_CONFIG": "istio",
        },
        "volumes": [
            {"name": "config-volume", "configMap": {"name": f"istio{suffix}"}},
            {"name": "inject-volume", "configMap": {"name": f"istio-sidecar-injector{suffix}"}},
        ],
        "volumeMounts": [
            {"name": "config-volume", "mountPath": "/etc/istio/config"},
            {"name": "inject-volume", "mountPath": "/var/lib/istio/inject"},
        ],
    }


def image_values(mesh: Mesh) -> dict[str, Any]:
    """Where istiod and the proxies it injects pull their images from."""
    return {"hub": mesh.hub, "global": {"hub": mesh.hub}}


def istiod_values(
    mesh: Mesh, cluster: Cluster, plane: ControlPlane | None = None
) -> dict[str, Any]:
    """istiod (of ``plane``, default: the cluster's first control plane) for its role."""
    plane = plane or mesh.control_planes_of(cluster)[0]
    values = deep_merge(_istiod_role_values(mesh, cluster), _revision_values(mesh, cluster, plane))
    if mesh.ambient:
        values = deep_merge({"profile": "ambient"}, values)
        values["env"] = dict(AMBIENT_ISTIOD_ENV)
    return deep_merge(image_values(mesh), values)


def _revision_values(mesh: Mesh, cluster: Cluster, plane: ControlPlane) -> dict[str, Any]:
    """The revision of one istiod release and the tags rendered from it.

    A tag's webhooks come from the release of the revision it points at (the chart's
    ``revisionTags``), so moving a tag moves it between releases. The unrevisioned istiod
    serves the ``default`` selectors itself; once the ``default`` tag points at another
    revision its own injector steps aside (``global.operatorManageWebhooks``: no webhook
    configuration), or both would inject ``istio-injection=enabled`` namespaces.
    """
    values: dict[str, Any] = {}
    if plane.revisioned:
        values["revision"] = plane.revision
    tags = [t for t in plane.tags if plane.revisioned or t != DEFAULT_TAG]
    if tags:
        values["revisionTags"] = tags
    if not plane.revisioned and mesh.default_revision_of(cluster) is not None:
        values["global"] = {"operatorManageWebhooks": True}
    return values


def _istiod_role_values(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    if cluster.role == REMOTE:
        control = mesh.control_plane_of(cluster)
        assert control is not None
        values = remote_values(mesh, cluster, control)
    elif cluster.role == EXTERNAL_CONTROL_PLANE:
        values = external_istiod_values(mesh, cluster, mesh.remotes_of(cluster.name)[0])
    else:
        values = {"global": _membership(mesh, cluster), "meshConfig": _mesh_config(mesh)}
        if mesh.remotes_of(cluster.name):
            # Take the leader lock for, and manage webhooks and CA of, the remote clusters.
            values["global"]["externalIstiod"] = True
    return values


def base_values(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    values: dict[str, Any] = {}
    control = mesh.control_plane_of(cluster)
    if control is not None:
        values["profile"] = "remote"
        if control.role == EXTERNAL_CONTROL_PLANE:
            values["global"] = {"istioNamespace": EXTERNAL_ISTIOD_NAMESPACE}
        validation_url = _validation_url(control)
        if validation_url:
            values["base"] = {"validationURL": validation_url}
    revision = mesh.default_revision_of(cluster)
    if revision:
        # The default validator and the istio-injection=enabled label follow this revision.
        values["defaultRevision"] = revision
    return values


def gateway_values(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    """The east-west gateway release: ``networkGateway`` makes the chart add the network label,
    the requested-network-view env and ports 15021/15443/15012/15017 itself."""
    gateway = cluster.east_west_gateway
    values: dict[str, Any] = {"networkGateway": cluster.network}
    if gateway.replicas is None:
        # The chart's HorizontalPodAutoscaler; written out so a chart default never resizes it.
        values["autoscaling"] = {
            "enabled": True,
            "minReplicas": gateway.min_replicas,
            "maxReplicas": gateway.max_replicas,
        }
    else:
        values["replicaCount"] = gateway.replicas
        values["autoscaling"] = {"enabled": False}
    service: dict[str, Any] = {"type": gateway.service_type}
    if gateway.annotations:
        service["annotations"] = dict(sorted(gateway.annotations.items()))
    values["service"] = service
    # Injected by the default revision: a promotion changes it, which rolls the gateway.
    revision = mesh.default_revision_of(cluster)
    if revision:
        values["revision"] = revision
    return values


def cni_values(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    """istio-cni of an ambient cluster (``profile: ambient`` is fixed): its image, and whether
    it captures ambient pods' DNS (``istio.dnsCapture``, sidecars' DNS proxy in sidecar mode)."""
    values: dict[str, Any] = {"hub": mesh.hub, "ambient": {"dnsCapture": mesh.dns_capture}}
    revision = mesh.revision_of(cluster)
    if revision:
        values["revision"] = revision
    return values


def ztunnel_values(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    """ztunnel: the cluster and network it reports (the keys upstream's install sets; the
    chart flattens ``global`` onto its own keys) and its image."""
    values: dict[str, Any] = {
        "hub": mesh.hub,
        "multiCluster": {"clusterName": cluster.name},
        "global": {"network": cluster.network},
    }
    revision = mesh.revision_of(cluster)
    if revision:  # ztunnel finds istiod-<revision> for xDS and certificates
        values["revision"] = revision
    return values


_COMPUTED = {
    "base": base_values,
    "istiod": istiod_values,
    "gateway": gateway_values,
    "cni": cni_values,
    "ztunnel": ztunnel_values,
}


def chart_values(
    mesh: Mesh,
    cluster: Cluster,
    chart: str,
    fixed: dict[str, Any],
    plane: ControlPlane | None = None,
) -> dict[str, Any]:
    if chart == "istiod":
        return deep_merge(fixed, istiod_values(mesh, cluster, plane))
    return deep_merge(fixed, _COMPUTED[chart](mesh, cluster))


def cluster_values_files(
    mesh: Mesh, plan: ClusterPlan, istiod_extra: dict[str, Any] | None = None
) -> dict[str, str]:
    """The values file of every chart the cluster installs; ``istiod_extra`` is merged into
    istiod's (the ``serviceSettings`` of cluster-local services, from the traffic files)."""
    files = {}
    for component in plan.components:
        if component.chart is None or component.values_path is None:
            continue
        values = chart_values(
            mesh,
            plan.cluster,
            component.chart.chart,
            component.chart.values,
            component.control_plane,
        )
        if istiod_extra and component.chart.chart == "istiod":
            values = deep_merge(values, istiod_extra)
        files[component.values_path] = yaml_file(values)
    return files
