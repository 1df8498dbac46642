"""What each cluster receives, as engine-neutral units the engines turn into sync objects."""

from __future__ import annotations

from dataclasses import dataclass

from meshgen.library import ChartProfile
from meshgen.spec import Cluster, Mesh

ISTIO_NAMESPACE = "istio-system"
NAMESPACE_WAVE = 0


@dataclass(frozen=True)
class Component:
    """One thing a cluster syncs: a Helm release of an upstream chart or a kustomize overlay.

    ``name`` is unique within the cluster (it names the Argo CD Application and the file);
    ``sync_wave`` orders components: namespace and secrets, base, istiod, gateway, mesh config.
    """

    name: str
    sync_wave: int
    namespace: str
    chart: ChartProfile | None = None
    values_path: str | None = None
    overlay_path: str | None = None


@dataclass(frozen=True)
class ClusterPlan:
    cluster: Cluster
    folder: str
    components: tuple[Component, ...]

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


def cluster_folder(name: str) -> str:
    return f"clusters/{name}"


def plan_cluster(mesh: Mesh, cluster: Cluster, profiles: dict[str, ChartProfile]) -> ClusterPlan:
    folder = cluster_folder(cluster.name)
    charts = ["base", "istiod"]
    if cluster.east_west_gateway.enabled:
        charts.append("gateway")
    components = [
        Component(
            name="istio-system",
            sync_wave=NAMESPACE_WAVE,
            namespace=ISTIO_NAMESPACE,
            overlay_path=f"{folder}/istio-system",
        )
    ]
    for chart in charts:
        profile = profiles[chart]
        components.append(
            Component(
                name=profile.release,
                sync_wave=profile.sync_wave,
                namespace=profile.namespace,
                chart=profile,
                values_path=f"{folder}/values/{chart}.yaml",
            )
        )
    if cluster.east_west_gateway.enabled:
        components.append(
            Component(
                name="mesh-config",
                sync_wave=max(c.sync_wave for c in components) + 1,
                namespace=ISTIO_NAMESPACE,
                overlay_path=f"{folder}/mesh-config",
            )
        )
    return ClusterPlan(cluster=cluster, folder=folder, components=tuple(components))


def plan_mesh(mesh: Mesh, profiles: dict[str, ChartProfile]) -> list[ClusterPlan]:
    """One plan per cluster, sorted by cluster name (file order carries no meaning here)."""
    return [
        plan_cluster(mesh, cluster, profiles)
        for cluster in sorted(mesh.clusters, key=lambda c: c.name)
    ]
