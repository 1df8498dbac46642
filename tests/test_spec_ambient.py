"""mesh.yaml in ambient mode: the defaults, what upstream's ambient mode cannot do (refused
with the limitation named, at the line of the field), and settings that belong to the other
data plane."""

from __future__ import annotations

import pytest

from helpers import MINIMAL_MESH, mesh_text
from meshgen import spec
from meshgen.errors import SpecError

NETWORKS = "  - name: network1\n  - name: network2\n"
PRIMARIES = """\
  - name: cluster-1
    network: network1
    eastWestGateway:
      enabled: true
  - name: cluster-2
    network: network2
    eastWestGateway:
      enabled: true
"""


def mesh(clusters: str = PRIMARIES, extra: str = "dataplane: ambient\n") -> str:
    return mesh_text(NETWORKS, clusters, MINIMAL_MESH + extra)


def refused(text: str) -> SpecError:
    with pytest.raises(SpecError) as error:
        spec.parse(text)
    return error.value


def test_sidecar_is_the_default_and_ambient_parses() -> None:
    assert spec.parse(mesh(extra="")).mesh.dataplane == "sidecar"
    model = spec.parse(
        mesh(
            extra="dataplane: ambient\nglobalServices:\n  - {namespace: a, name: b}\n"
            "waypoints:\n  - {namespace: a}\n  - {namespace: c, name: w, for: all, "
            "clusters: [cluster-2]}\ngatewayAPI: {version: v1.6.1}\n"
        )
    ).mesh
    assert model.ambient
    assert model.global_services == (spec.GlobalService("a", "b"),)
    assert model.waypoints == (
        spec.Waypoint("a", "waypoint", "service", ()),
        spec.Waypoint("c", "w", "all", ("cluster-2",)),
    )
    assert model.gateway_api_version() == "v1.6.1"
    assert [w.name for w in model.waypoints_in(model.cluster("cluster-1"))] == ["waypoint"]


def test_primary_remote_is_refused_naming_the_limitation() -> None:
    clusters = PRIMARIES.replace(
        "  - name: cluster-2\n    network: network2\n    eastWestGateway:\n      enabled: true\n",
        "  - name: cluster-2\n    network: network2\n    role: remote\n"
        "    controlPlane: cluster-1\n",
    )
    error = refused(mesh(clusters))
    assert error.field == "clusters[1].role"
    assert error.line == mesh(clusters).splitlines().index("    role: remote") + 1
    assert "primary-remote" in error.detail and "ambient" in error.detail
    assert "multi-primary" in error.detail


def test_an_external_control_plane_is_refused() -> None:
    clusters = PRIMARIES + (
        "  - name: cp\n    network: network1\n    role: external-control-plane\n"
        "    discovery: {address: 192.0.2.10}\n"
    )
    error = refused(mesh(clusters))
    assert error.field == "clusters[2].role"
    assert "external control plane" in error.detail and "ambient" in error.detail


@pytest.mark.parametrize(
    "sizing", ["replicas: 2", "autoscaling: {minReplicas: 2}", "replicas: 1\n      maxReplicas: 3"]
)
def test_sidecar_gateway_sizing_is_refused_in_ambient_mode(sizing: str) -> None:
    clusters = PRIMARIES.replace("enabled: true\n", f"enabled: true\n      {sizing}\n", 1)
    error = refused(mesh(clusters))
    assert error.field.startswith("clusters[0].eastWestGateway.")
    assert "sidecar east-west gateway" in error.detail


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("globalServices:\n  - {namespace: a, name: b}\n", "globalServices"),
        ("waypoints:\n  - {namespace: a}\n", "waypoints"),
        ("gatewayAPI: {install: false}\n", "gatewayAPI"),
    ],
)
def test_ambient_settings_are_refused_in_a_sidecar_mesh(setting: str, key: str) -> None:
    error = refused(mesh(extra=setting))
    assert error.field == key
    assert "ambient mode only" in error.detail and "dataplane: ambient" in error.detail


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ("gatewayAPI: {version: v1.2.0}\n", "gatewayAPI.version", "older than v1.6.0"),
        (
            "waypoints:\n  - {namespace: a, clusters: [cluster-9]}\n",
            "waypoints[0].clusters[0]",
            "not a cluster",
        ),
        (
            "waypoints:\n  - {namespace: a}\n  - {namespace: a}\n",
            "waypoints[1].name",
            "listed twice",
        ),
        (
            "waypoints:\n  - {namespace: a}\n  - {namespace: a, name: b, clusters: [cluster-1]}\n",
            "waypoints[1].clusters",
            "same waypoints",
        ),
        (
            "globalServices:\n  - {namespace: a, name: b}\n  - {namespace: a, name: b}\n",
            "globalServices[1].name",
            "listed twice",
        ),
    ],
)
def test_ambient_settings_are_checked(extra: str, field: str, words: str) -> None:
    error = refused(mesh(extra="dataplane: ambient\n" + extra))
    assert error.field == field
    assert words in error.detail


def test_schema_refuses_an_unknown_dataplane_and_waypoint_traffic() -> None:
    assert "dataplane" in str(refused(mesh(extra="dataplane: proxyless\n")))
    error = refused(mesh(extra="dataplane: ambient\nwaypoints:\n  - {namespace: a, for: pods}\n"))
    assert "for" in error.field
