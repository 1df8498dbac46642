"""What each cluster receives, as engine-neutral units the engines turn into sync objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshgen.frozen import fields_at_once
from meshgen.library import ChartProfile
from meshgen.releases import Version, parse_version
from meshgen.spec import (
    EXTERNAL_CONTROL_PLANE,
    EXTERNAL_ISTIOD_NAMESPACE,
    ISTIO_SYSTEM,
    Cluster,
    ControlPlane,
    Mesh,
)

ISTIO_NAMESPACE = ISTIO_SYSTEM
NAMESPACE_WAVE = 0
MESH_CONFIG_WAVE = 4  # after the gateway (3): Istio config needs istiod's webhook answering
TRAFFIC_WAVE = 5  # traffic policies last: their routes may cross the east-west gateway
TRAFFIC_PREFIX = "traffic-"

# An ambient mesh's order (upstream's ambient install order, with the Gateway API CRDs before
# anything that uses them): namespace and secrets, CRDs, base, istiod, cni, ztunnel, the
# east-west gateway (a Gateway istiod deploys), then mesh config and waypoints.
GATEWAY_API_CRDS = "gateway-api-crds"
EAST_WEST_GATEWAY = "east-west-gateway"
WAYPOINTS_PREFIX = "waypoints-"
AMBIENT_CHARTS = ("base", "istiod", "cni", "ztunnel")
AMBIENT_WAVES = {
    GATEWAY_API_CRDS: 1,
    "base": 2,
    "istiod": 3,
    "cni": 4,
    "ztunnel": 5,
    EAST_WEST_GATEWAY: 6,
    "mesh-config": 7,
}


@fields_at_once
@dataclass(frozen=True)
class Component:
    """One thing a cluster syncs: a Helm release of an upstream chart or a kustomize overlay.

    ``name`` is unique within the cluster (it names the Argo CD Application, the file and, for a
    chart, the Helm release: ``istiod-<revision>`` for a second control plane); ``sync_wave``
    orders components: namespace and secrets, base, istiod, gateway, mesh config, traffic.
    """

    name: str
    sync_wave: int
    namespace: str
    chart: ChartProfile | None = None
    values_path: str | None = None
    overlay_path: str | None = None
    # A chart's version when it is not the mesh's istio.version (a cluster being upgraded).
    version: str | None = None
    # For an istiod release: the control plane it installs.
    control_plane: ControlPlane | None = None


@fields_at_once
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
    remote) and, when enabled, the east-west ``gateway``. An ambient cluster installs
    ``base``, ``istiod``, ``cni`` and ``ztunnel``; its east-west gateway is a Gateway, not a chart.
    """
    if mesh.ambient:
        return list(AMBIENT_CHARTS)  # every ambient cluster is a primary
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


def chart_version(mesh: Mesh, cluster: Cluster, chart: str) -> str:
    """The version of ``chart`` in ``cluster`` (istiod: see ``Mesh.control_planes_of``).

    ``base`` (the CRDs) follows the newest control plane, which needs its CRDs first; the
    east-west ``gateway`` follows the control plane that injects it, the default revision's.
    """
    planes = mesh.control_planes_of(cluster)
    if chart == "gateway":
        default = mesh.default_revision_of(cluster) or "default"
        for plane in planes:
            if plane.revision == default:
                return plane.version
    if len(planes) == 1:  # as almost always: nothing to compare (planned per cluster)
        return planes[0].version
    return max((p.version for p in planes), key=_semver)


def _semver(version: str) -> Version:
    parsed = parse_version(version)
    assert parsed is not None  # the schema's pattern
    return parsed


def component_version(mesh: Mesh, component: Component) -> str:
    """The chart version an engine installs for ``component``."""
    return component.version or mesh.istio_version


def _chart(
    mesh: Mesh, cluster: Cluster, namespace: str, profile: ChartProfile, wave: int
) -> list[Component]:
    """The Helm release(s) of one upstream chart, each with its values file in the cluster's
    folder: istiod one per control plane (``istiod`` keeps ``values/istiod.yaml``,
    ``istiod-<rev>`` gets ``values/istiod-<rev>.yaml``), every other chart one."""
    folder = cluster_folder(cluster.name)
    chart = profile.chart
    releases: list[tuple[str, str, str, ControlPlane | None]] = (
        [(p.release, p.release, p.version, p) for p in mesh.control_planes_of(cluster)]
        if chart == "istiod"
        else [(profile.release, chart, chart_version(mesh, cluster, chart), None)]
    )
    return [
        Component(
            name=name,
            sync_wave=wave,
            namespace=namespace,
            chart=profile,
            values_path=f"{folder}/values/{values_file}.yaml",
            version=None if version == mesh.istio_version else version,
            control_plane=plane,
        )
        for name, values_file, version, plane in releases
    ]


def waypoints_component(namespace: str) -> str:
    return f"{WAYPOINTS_PREFIX}{namespace}"


def _ambient_components(
    mesh: Mesh, cluster: Cluster, profiles: dict[str, ChartProfile], namespace: str
) -> list[Component]:
    """Everything after the namespace overlay in an ambient cluster, in install order."""
    folder = cluster_folder(cluster.name)
    components = []
    if mesh.gateway_api.install:
        components.append(
            Component(
                name=GATEWAY_API_CRDS,
                sync_wave=AMBIENT_WAVES[GATEWAY_API_CRDS],
                namespace=namespace,
                overlay_path=f"{folder}/{GATEWAY_API_CRDS}",
            )
        )
    for chart in charts_of(mesh, cluster):
        components += _chart(mesh, cluster, namespace, profiles[chart], AMBIENT_WAVES[chart])
    if cluster.east_west_gateway.enabled:
        components.append(
            Component(
                name=EAST_WEST_GATEWAY,
                sync_wave=AMBIENT_WAVES[EAST_WEST_GATEWAY],
                namespace=namespace,
                overlay_path=f"{folder}/{EAST_WEST_GATEWAY}",
            )
        )
    for waypoint_namespace in sorted({w.namespace for w in mesh.waypoints_in(cluster)}):
        # One per namespace: an Application (or Kustomization) syncs into one namespace.
        components.append(
            Component(
                name=waypoints_component(waypoint_namespace),
                sync_wave=AMBIENT_WAVES["mesh-config"],
                namespace=waypoint_namespace,
                overlay_path=f"{folder}/waypoints/{waypoint_namespace}",
            )
        )
    return components


def plan_cluster(
    mesh: Mesh,
    cluster: Cluster,
    profiles: dict[str, ChartProfile],
    traffic_namespaces: Sequence[str] = (),
) -> ClusterPlan:
    """``traffic_namespaces``: the namespaces of the cluster's traffic overlays, each synced as
    its own component (one destination namespace each, created when missing).

    Clusters of one shape (see :func:`_shape`) get the same components but for the cluster's
    folder in their paths: the first one's are kept (on the mesh) and the others' made from
    them: planning the 1,000 clusters of the bench mesh took 2.2 times as many
    instructions before."""
    shape = _shape(mesh, cluster, traffic_namespaces)
    if shape is None:
        return _plan_cluster(mesh, cluster, profiles, traffic_namespaces)
    # Per chart profiles (the same object on every call of a command, the library's). Not
    # Mesh.derive: this runs once per cluster, and a closure per call costs 5% of planning.
    kept: tuple[dict[str, ChartProfile], _Shapes] | None = mesh.derived.get(_SHAPES)
    if kept is None or kept[0] is not profiles:
        kept = mesh.derived[_SHAPES] = (profiles, {})
    shapes = kept[1]
    folder = cluster_folder(cluster.name)
    template = shapes.get(shape)
    if template is None:
        plan = _plan_cluster(mesh, cluster, profiles, traffic_namespaces)
        relative = [_in_any_folder(c, folder) for c in plan.components]
        if all(part is not None for part in relative):  # else each such cluster is worked out
            shapes[shape] = (plan.namespace, tuple(p for p in relative if p is not None))
        return plan
    namespace, parts = template
    return ClusterPlan(
        cluster,
        folder,
        namespace,
        tuple(
            Component(
                name,
                wave,
                component_namespace,
                chart,
                values and f"{folder}/{values}",
                overlay and f"{folder}/{overlay}",
                version,
                plane,
            )
            for name, wave, component_namespace, chart, values, overlay, version, plane in parts
        ),
    )


_SHAPES = "render.plan.shapes"
# shape -> (the system namespace, each component's fields with paths relative to the folder)
_Shapes = dict[tuple[Any, ...], tuple[str, tuple[tuple[Any, ...], ...]]]


def _shape(
    mesh: Mesh, cluster: Cluster, traffic_namespaces: Sequence[str]
) -> tuple[Any, ...] | None:
    """Everything of ``cluster`` and its relations that :func:`_plan_cluster` reads but its
    name (the mesh's settings are the same for all): clusters with the same shape get the same
    components in their own folders. None for an ambient cluster (its waypoints are chosen by
    cluster name): planned on its own."""
    if mesh.ambient:
        return None
    control = mesh.control_plane_of(cluster)
    return (
        cluster.role,
        cluster.east_west_gateway.enabled,
        cluster.istio or None,
        cluster.revision,
        control.role if control is not None else None,
        cluster.role == EXTERNAL_CONTROL_PLANE and bool(mesh.remotes_of(cluster.name)),
        tuple(traffic_namespaces),
    )


def _in_any_folder(component: Component, folder: str) -> tuple[Any, ...] | None:
    """``component``'s fields, its paths relative to the cluster's ``folder``; None when a
    path lies outside it."""
    prefix = f"{folder}/"
    for path in (component.values_path, component.overlay_path):
        if path is not None and not path.startswith(prefix):
            return None

    def relative(path: str | None) -> str | None:
        return None if path is None else path[len(prefix) :]

    return (
        component.name,
        component.sync_wave,
        component.namespace,
        component.chart,
        relative(component.values_path),
        relative(component.overlay_path),
        component.version,
        component.control_plane,
    )


def _plan_cluster(
    mesh: Mesh,
    cluster: Cluster,
    profiles: dict[str, ChartProfile],
    traffic_namespaces: Sequence[str] = (),
) -> ClusterPlan:
    """:func:`plan_cluster`, worked out."""
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
    traffic_wave = TRAFFIC_WAVE
    if mesh.ambient:
        components += _ambient_components(mesh, cluster, profiles, namespace)
        traffic_wave = AMBIENT_WAVES["mesh-config"] + 1  # after the waypoints that apply it
    else:
        for chart in charts_of(mesh, cluster):
            profile = profiles[chart]
            components += _chart(mesh, cluster, namespace, profile, profile.sync_wave)
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
                sync_wave=traffic_wave,
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
