"""What each cluster receives, as engine-neutral units the engines turn into sync objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from meshgen.library import ChartProfile
from meshgen.spec import (
    EXTERNAL_CONTROL_PLANE,
    EXTERNAL_ISTIOD_NAMESPACE,
    ISTIO_SYSTEM,
    Cluster,
    Mesh,
)

ISTIO_NAMESPACE = ISTIO_SYSTEM
NAMESPACE_WAVE = 0
MESH_CONFIG_WAVE = 4  # after the gateway (3): Istio config needs istiod's webhook answering
TRAFFIC_WAVE = 5  # traffic policies last: their routes may cross the east-west gateway
TRAFFIC_PREFIX = "traffic-"


@dataclass(frozen=True)
class Component:
    """One thing a cluster syncs: a Helm release of an upstream chart or a kustomize overlay.

    ``name`` is unique within the cluster (it names the Argo CD Application and the file);
    ``sync_wave`` orders components: namespace and secrets, base, istiod, gateway, mesh config,
    traffic.
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
    namespace: str  # the system namespace: istio-system, or external-istiod
    components: tuple[Component, ...]

    @property
    def namespace_component(self) -> Component:
        """The overlay synced first: the system namespace and the secret placeholders."""
        return self.components[0]

    def component(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


def cluster_folder(name: str) -> str:
    return f"clusters/{name}"


def charts_of(mesh: Mesh, cluster: Cluster) -> list[str]:
    """The upstream charts a cluster installs, in install order.

    An external control-plane cluster runs only istiod (for its config cluster, none before it
    has one); every other cluster gets ``base`` and ``istiod`` (with ``profile: remote`` on a
    remote) and, when enabled, the east-west ``gateway``.
    """
    if cluster.role == EXTERNAL_CONTROL_PLANE:
        return ["istiod"] if mesh.remotes_of(cluster.name) else []
    charts = ["base", "istiod"]
    if cluster.east_west_gateway.enabled:
        charts.append("gateway")
    return charts


def system_namespace(mesh: Mesh, cluster: Cluster) -> str:
    """Namespace of the cluster's control-plane objects: ``external-istiod`` on both sides of an
    external control plane, ``istio-system`` everywhere else."""
    control = mesh.control_plane_of(cluster)
    if EXTERNAL_CONTROL_PLANE in (cluster.role, control and control.role):
        return EXTERNAL_ISTIOD_NAMESPACE
    return ISTIO_NAMESPACE


def plan_cluster(
    mesh: Mesh,
    cluster: Cluster,
    profiles: dict[str, ChartProfile],
    traffic_namespaces: Sequence[str] = (),
) -> ClusterPlan:
    """``traffic_namespaces``: the namespaces of the cluster's traffic overlays, each synced as
    its own component (one destination namespace each, created when missing)."""
    folder = cluster_folder(cluster.name)
    namespace = system_namespace(mesh, cluster)
    components = [
        Component(
            name=namespace,
            sync_wave=NAMESPACE_WAVE,
            namespace=namespace,
            overlay_path=f"{folder}/{namespace}",
        )
    ]
    for chart in charts_of(mesh, cluster):
        profile = profiles[chart]
        components.append(
            Component(
                name=profile.release,
                sync_wave=profile.sync_wave,
                namespace=namespace,
                chart=profile,
                values_path=f"{folder}/values/{chart}.yaml",
            )
        )
    if cluster.east_west_gateway.enabled:
        components.append(
            Component(
                name="mesh-config",
                sync_wave=MESH_CONFIG_WAVE,
                namespace=namespace,
                overlay_path=f"{folder}/mesh-config",
            )
        )
    for service_namespace in traffic_namespaces:
        components.append(
            Component(
                name=f"{TRAFFIC_PREFIX}{service_namespace}",
                sync_wave=TRAFFIC_WAVE,
                namespace=service_namespace,
                overlay_path=f"{folder}/traffic/{service_namespace}",
            )
        )
    return ClusterPlan(
        cluster=cluster, folder=folder, namespace=namespace, components=tuple(components)
    )


def plan_mesh(
    mesh: Mesh,
    profiles: dict[str, ChartProfile],
    traffic_namespaces: Mapping[str, Sequence[str]] | None = None,
) -> list[ClusterPlan]:
    """One plan per cluster, sorted by cluster name (file order carries no meaning here).

    ``traffic_namespaces``: per cluster, the namespaces of its traffic overlays
    (``render.traffic.namespaces``)."""
    traffic = traffic_namespaces or {}
    return [
        plan_cluster(mesh, cluster, profiles, traffic.get(cluster.name, ()))
        for cluster in sorted(mesh.clusters, key=lambda c: c.name)
    ]
