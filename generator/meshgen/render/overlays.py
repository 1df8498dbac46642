"""kustomize overlays: the vendored pieces, one overlay per network, and per-cluster overlays.

A cluster gets two overlays: ``istio-system`` (the namespace with its network label and the
remote-secret placeholders; synced before any chart) and, when it runs an east-west gateway,
``mesh-config`` (Istio config such as the cross-network Gateway; synced after the charts, once
istiod's validating webhook answers).

In an ambient mesh the overlays after the namespace are ``gateway-api-crds`` (the pinned
Gateway API release, before any chart), ``east-west-gateway`` (a Gateway of class
``istio-east-west`` that istiod deploys) and ``waypoints/<namespace>`` (Gateways of class
``istio-waypoint``, the same in every cluster that runs the namespace).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from meshgen import gateway_api
from meshgen.render import yamltext
from meshgen.render.files import kustomization, mesh_labels, with_header, yaml_file
from meshgen.render.plan import (
    EAST_WEST_GATEWAY,
    GATEWAY_API_CRDS,
    ISTIO_NAMESPACE,
    WAYPOINTS_PREFIX,
    ClusterPlan,
)
from meshgen.spec import EXTERNAL_CONTROL_PLANE, PRIMARY

if TYPE_CHECKING:
    from meshgen.render.secrets import SecretProvider
    from meshgen.spec import Mesh

OVERLAYS = "overlays"
BASE_NAMESPACE = f"{OVERLAYS}/base/istio-system"
EAST_WEST_COMPONENT = f"{OVERLAYS}/components/east-west-gateway"
EXPOSE_ISTIOD = "expose-istiod.yaml"


def network_overlay(network: str) -> str:
    return f"{OVERLAYS}/networks/{network}"


def relative_to_cluster_overlay(path: str) -> str:
    """``path`` as seen from ``clusters/<cluster>/<overlay>/`` (three levels down)."""
    return f"../../../{path}"


def shared_files(mesh: Mesh, vendored: dict[str, str]) -> dict[str, str]:
    sidecar_only = "components/east-west-gateway/"  # the AUTO_PASSTHROUGH cross-network Gateway
    files = {
        f"{OVERLAYS}/{path}": with_header(text)
        for path, text in vendored.items()
        if path.endswith((".yaml", ".yml")) and not (mesh.ambient and path.startswith(sidecar_only))
    }
    for network in mesh.networks:
        label_patch = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ISTIO_NAMESPACE,
                "labels": {"topology.istio.io/network": network},
            },
        }
        doc = kustomization(
            resources=[posixpath.relpath(BASE_NAMESPACE, network_overlay(network))],
            patches=[{"patch": yamltext.dump(label_patch)}],
        )
        files[f"{network_overlay(network)}/kustomization.yaml"] = yaml_file(doc)
    return files


def namespace_base(namespace: str) -> str:
    return f"{OVERLAYS}/base/{namespace}"


def expose_istiod(mesh: Mesh, plan: ClusterPlan) -> list[dict[str, Any]]:
    """Gateway ``istiod-gateway`` and VirtualService ``istiod-vs`` (upstream's
    ``expose-istiod.yaml``, or its revision template): remotes reach this primary's istiod
    (xDS 15012, webhooks 15017) through its east-west gateway."""
    revision = mesh.revision_of(plan.cluster)
    service = f"istiod-{revision}" if revision else "istiod"
    host = f"{service}.{plan.namespace}.svc.cluster.local"
    sni = [f"{service}.{plan.namespace}.svc"] if revision else ["*"]
    gateway = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "istiod-gateway", "namespace": plan.namespace},
        "spec": {
            "selector": {"istio": "eastwestgateway"},
            "servers": [
                {
                    "port": {"name": name, "number": number, "protocol": "tls"},
                    "tls": {"mode": "PASSTHROUGH"},
                    "hosts": ["*"],
                }
                for name, number in (("tls-istiod", 15012), ("tls-istiodwebhook", 15017))
            ],
        },
    }
    virtual_service = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {
            "name": f"istiod-vs-{revision}" if revision else "istiod-vs",
            "namespace": plan.namespace,
        },
        "spec": {
            "hosts": ["*"],
            "gateways": ["istiod-gateway"],
            "tls": [
                {
                    "match": [{"port": port, "sniHosts": sni}],
                    "route": [{"destination": {"host": host, "port": {"number": target}}}],
                }
                for port, target in ((15012, 15012), (15017, 443))
            ],
        },
    }
    return [gateway, virtual_service]


def _namespace_patch(plan: ClusterPlan, mesh: Mesh) -> dict[str, Any] | None:
    """Labels and annotations a cluster's system namespace needs beyond its network overlay."""
    cluster = plan.cluster
    metadata: dict[str, Any] = {"name": plan.namespace}
    if plan.namespace != ISTIO_NAMESPACE and cluster.role != EXTERNAL_CONTROL_PLANE:
        metadata["labels"] = {"topology.istio.io/network": cluster.network}
    control = mesh.control_plane_of(cluster)
    if control is not None and control.role == PRIMARY:
        # The primary's istiod (EXTERNAL_ISTIOD) manages only remotes that name it here.
        metadata["annotations"] = {"topology.istio.io/controlPlaneClusters": control.name}
    if len(metadata) == 1:
        return None
    return {"patch": yamltext.dump({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})}


HBONE_LISTENER = {"name": "mesh", "port": gateway_api.HBONE_PORT, "protocol": "HBONE"}
SERVICE_TYPE_ANNOTATION = "networking.istio.io/service-type"


def east_west_gateway(mesh: Mesh, plan: ClusterPlan) -> dict[str, Any]:
    """The ambient east-west gateway of a network (upstream's ``gen-eastwest-gateway.sh
    --ambient``): istiod deploys it and routes other networks' HBONE through port 15008.
    ``serviceType`` and ``annotations`` reach the Service istiod creates."""
    cluster = plan.cluster
    gateway = cluster.east_west_gateway
    metadata: dict[str, Any] = {
        "name": gateway_api.EAST_WEST_NAME,
        "namespace": plan.namespace,
        "labels": {"topology.istio.io/network": cluster.network, **_revision_label(mesh, plan)},
    }
    if gateway.service_type != "LoadBalancer":
        metadata["annotations"] = {SERVICE_TYPE_ANNOTATION: gateway.service_type}
    spec: dict[str, Any] = {"gatewayClassName": gateway_api.EAST_WEST_CLASS}
    if gateway.annotations:
        spec["infrastructure"] = {"annotations": dict(sorted(gateway.annotations.items()))}
    spec["listeners"] = [
        {
            **HBONE_LISTENER,
            "tls": {
                "mode": "Terminate",
                "options": {"gateway.istio.io/tls-terminate-mode": "ISTIO_MUTUAL"},
            },
        }
    ]
    return {
        "apiVersion": gateway_api.API_VERSION,
        "kind": "Gateway",
        "metadata": metadata,
        "spec": spec,
    }


def _revision_label(mesh: Mesh, plan: ClusterPlan) -> dict[str, str]:
    revision = mesh.revision_of(plan.cluster)
    return {"istio.io/rev": revision} if revision else {}


def waypoint_gateways(mesh: Mesh, plan: ClusterPlan, namespace: str) -> list[dict[str, Any]]:
    """The cluster's waypoints in ``namespace`` (what ``istioctl waypoint apply`` creates). A
    namespace with global services gets global waypoints (``istio.io/global`` on the Service
    istiod makes for it), or cross-cluster traffic through them would stay local."""
    exported = any(s.namespace == namespace for s in mesh.global_services)
    gateways = []
    for waypoint in mesh.waypoints_in(plan.cluster):
        if waypoint.namespace != namespace:
            continue
        spec: dict[str, Any] = {"gatewayClassName": gateway_api.WAYPOINT_CLASS}
        if exported:
            spec["infrastructure"] = {"labels": {gateway_api.GLOBAL_LABEL: "true"}}
        spec["listeners"] = [dict(HBONE_LISTENER)]
        labels = {gateway_api.WAYPOINT_FOR: waypoint.traffic_for, **_revision_label(mesh, plan)}
        gateways.append(
            {
                "apiVersion": gateway_api.API_VERSION,
                "kind": "Gateway",
                "metadata": {"name": waypoint.name, "namespace": namespace, "labels": labels},
                "spec": spec,
            }
        )
    return gateways


def _ambient_files(mesh: Mesh, plan: ClusterPlan, labels: dict[str, str]) -> dict[str, str]:
    files = {}
    for component in plan.components:
        path = component.overlay_path
        if path is None:
            continue
        if component.name == GATEWAY_API_CRDS:
            # The official release asset, fetched by kustomize when the engine builds it.
            doc = kustomization(
                resources=[gateway_api.release_url(mesh.gateway_api_version())], labels=labels
            )
        elif component.name == EAST_WEST_GATEWAY:
            files[f"{path}/gateway.yaml"] = yaml_file(east_west_gateway(mesh, plan))
            doc = kustomization(resources=["gateway.yaml"], labels=labels)
        elif component.name.startswith(WAYPOINTS_PREFIX):
            gateways = waypoint_gateways(mesh, plan, component.namespace)
            files[f"{path}/waypoints.yaml"] = yaml_file(*gateways)
            doc = kustomization(resources=["waypoints.yaml"], labels=labels)
        else:
            continue
        files[f"{path}/kustomization.yaml"] = yaml_file(doc)
    return files


def cluster_files(mesh: Mesh, plan: ClusterPlan, provider: SecretProvider) -> dict[str, str]:
    files = {}
    cluster = plan.cluster
    labels = mesh_labels(mesh.mesh_id, cluster.name)
    namespace = plan.namespace_component
    assert namespace.overlay_path is not None
    if plan.namespace == ISTIO_NAMESPACE:
        resources = [relative_to_cluster_overlay(network_overlay(cluster.network))]
    else:
        resources = [relative_to_cluster_overlay(namespace_base(plan.namespace))]
    resources += provider.cluster_resources(mesh, cluster)
    patches = provider.cluster_patches(mesh, cluster)
    namespace_patch = _namespace_patch(plan, mesh)
    if namespace_patch is not None:
        patches = [namespace_patch, *patches]
    doc = kustomization(resources=resources, labels=labels, patches=patches)
    files[f"{namespace.overlay_path}/kustomization.yaml"] = yaml_file(doc)
    mesh_config = plan.component("mesh-config")
    if mesh_config is not None and mesh_config.overlay_path:
        components = [relative_to_cluster_overlay(EAST_WEST_COMPONENT)]
        resources = []
        if cluster.role == PRIMARY and mesh.remotes_of(cluster.name):
            files[f"{mesh_config.overlay_path}/{EXPOSE_ISTIOD}"] = yaml_file(
                *expose_istiod(mesh, plan)
            )
            resources.append(EXPOSE_ISTIOD)
        doc = kustomization(resources=resources, components=components, labels=labels)
        files[f"{mesh_config.overlay_path}/kustomization.yaml"] = yaml_file(doc)
    if mesh.ambient:
        files.update(_ambient_files(mesh, plan, labels))
    return files
