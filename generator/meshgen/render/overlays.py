"""kustomize overlays: the vendored pieces, one overlay per network, and per-cluster overlays.

A cluster gets two overlays: ``istio-system`` (the namespace with its network label and the
remote-secret placeholders; synced before any chart) and, when it runs an east-west gateway,
``mesh-config`` (Istio config such as the cross-network Gateway; synced after the charts, once
istiod's validating webhook answers).
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from meshgen.render import yamltext
from meshgen.render.files import kustomization, mesh_labels, with_header, yaml_file
from meshgen.render.plan import ISTIO_NAMESPACE, ClusterPlan

if TYPE_CHECKING:
    from meshgen.render.secrets import SecretProvider
    from meshgen.spec import Mesh

OVERLAYS = "overlays"
BASE_NAMESPACE = f"{OVERLAYS}/base/istio-system"
EAST_WEST_COMPONENT = f"{OVERLAYS}/components/east-west-gateway"


def network_overlay(network: str) -> str:
    return f"{OVERLAYS}/networks/{network}"


def relative_to_cluster_overlay(path: str) -> str:
    """``path`` as seen from ``clusters/<cluster>/<overlay>/`` (three levels down)."""
    return f"../../../{path}"


def shared_files(mesh: Mesh, vendored: dict[str, str]) -> dict[str, str]:
    files = {
        f"{OVERLAYS}/{path}": with_header(text)
        for path, text in vendored.items()
        if path.endswith((".yaml", ".yml"))
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


def cluster_files(mesh: Mesh, plan: ClusterPlan, provider: SecretProvider) -> dict[str, str]:
    files = {}
    labels = mesh_labels(mesh.mesh_id, plan.cluster.name)
    namespace = plan.component("istio-system")
    if namespace is not None and namespace.overlay_path:
        resources = [relative_to_cluster_overlay(network_overlay(plan.cluster.network))]
        resources += provider.cluster_resources(mesh, plan.cluster)
        doc = kustomization(
            resources=resources,
            labels=labels,
            patches=provider.cluster_patches(mesh, plan.cluster),
        )
        files[f"{namespace.overlay_path}/kustomization.yaml"] = yaml_file(doc)
    mesh_config = plan.component("mesh-config")
    if mesh_config is not None and mesh_config.overlay_path:
        components = []
        if plan.cluster.east_west_gateway.enabled:
            components.append(relative_to_cluster_overlay(EAST_WEST_COMPONENT))
        doc = kustomization(components=components, labels=labels)
        files[f"{mesh_config.overlay_path}/kustomization.yaml"] = yaml_file(doc)
    return files
