"""Planning: clusters of one shape share the work of planning, never its result."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import upgrade_fixtures
from helpers import mesh_text
from meshgen import library, spec
from meshgen.render import plan
from render.test_tree_hashes import CASES

NAMESPACES = ("reviews", "ratings")
# Two primaries with gateways (cluster-1, cluster-3) that differ only in what one of them
# says of its Istio: a canary under way, a revision of its own.
SAME_BUT_ISTIO = {
    "canary/cluster-3": {"cluster-3": upgrade_fixtures.canary_state()},
    "revision/cluster-3": {"cluster-3": "    revision: blue\n"},
    "both": {"cluster-1": upgrade_fixtures.canary_state(), "cluster-3": "    revision: blue\n"},
}
# Remotes of an external control plane and of a primary; external control planes with and
# without a config cluster: the same entries but for their relations.
RELATIONS = """\
  - name: cp-host
    network: net1
    role: external-control-plane
    eastWestGateway: {enabled: false}
    discovery: {address: "192.0.2.30"}
  - name: config-1
    network: net1
    role: remote
    controlPlane: cp-host
    eastWestGateway: {enabled: false}
  - name: cp-idle
    network: net1
    role: external-control-plane
    eastWestGateway: {enabled: false}
    discovery: {address: "192.0.2.31"}
  - name: primary-1
    network: net1
    eastWestGateway: {enabled: false}
    discovery: {address: "192.0.2.32"}
  - name: remote-1
    network: net1
    role: remote
    controlPlane: primary-1
    eastWestGateway: {enabled: false}
"""
MESHES = {
    **{name: lambda build=build: build()[0] for name, build in CASES.items()},
    **{
        f"istio-state/{name}": lambda extra=extra: spec.parse(
            upgrade_fixtures.three_clusters(extra)
        )
        for name, extra in SAME_BUT_ISTIO.items()
    },
    "relations": lambda: spec.parse(mesh_text("  - name: net1\n", RELATIONS)),
}


def _fresh(document: spec.MeshDocument) -> spec.Mesh:
    """The mesh read anew: nothing kept on it from earlier plans."""
    return spec.parse(spec.to_text(document)).mesh


@pytest.mark.parametrize("name", list(MESHES))
@pytest.mark.parametrize("order", ["file order", "reversed"])
@pytest.mark.parametrize("traffic_every", [0, 3])
def test_plans_equal_planning_each_cluster_on_its_own(
    name: str, order: str, traffic_every: int
) -> None:
    """Whatever cluster of a shape comes first (its plan is the template of the others), every
    plan is the one worked out for the cluster alone: paths in its own folder, its control
    planes, its versions. With ``traffic_every``, every so many clusters get traffic
    namespaces, so those are part of the shape too."""
    document = MESHES[name]()
    mesh = _fresh(document)
    profiles = library.load().chart_profiles
    clusters = list(mesh.clusters)
    if order == "reversed":
        clusters.reverse()
    for index, cluster in enumerate(clusters):
        traffic = NAMESPACES if traffic_every and index % traffic_every == 2 else ()
        planned = plan.plan_cluster(mesh, cluster, profiles, traffic)
        assert planned == plan._plan_cluster(mesh, cluster, profiles, traffic)
        assert planned.folder == plan.cluster_folder(cluster.name)
        for component in planned.components:
            for path in (component.values_path, component.overlay_path):
                assert path is None or path.startswith(f"{planned.folder}/")


def test_clusters_of_one_shape_are_planned_once() -> None:
    """The bench mesh's 100 clusters have a handful of shapes: only those are worked out."""
    document, _ = CASES["bench/scale-100"]()
    mesh = _fresh(document)
    worked_out = []
    original = plan._plan_cluster

    def counted(*args: object, **kwargs: object) -> plan.ClusterPlan:
        worked_out.append(args[1])
        return original(*args, **kwargs)  # type: ignore[arg-type]

    plan._plan_cluster = counted  # type: ignore[assignment]
    try:
        plans = plan.plan_mesh(mesh, library.load().chart_profiles)
    finally:
        plan._plan_cluster = original  # type: ignore[assignment]
    assert len(plans) == 100
    assert 1 < len(worked_out) <= 5
    assert len({p.folder for p in plans}) == 100


def test_components_stay_frozen() -> None:
    component = plan.Component(name="base", sync_wave=1, namespace="istio-system")
    with pytest.raises(AttributeError):
        component.name = "other"  # type: ignore[misc]
    assert component == plan.Component("base", 1, "istio-system")
    assert hash(component) == hash(plan.Component("base", 1, "istio-system"))
    assert component.values_path is None and component.control_plane is None


def test_a_component_outside_the_cluster_folder_is_never_copied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan whose component lies outside the cluster's folder (none does today) cannot be
    moved into another cluster's folder: clusters of its shape are each worked out."""
    document, _ = CASES["bench/scale-10"]()
    mesh = _fresh(document)
    original = plan._plan_cluster
    worked_out = []

    def outside(*args: Any, **kwargs: Any) -> plan.ClusterPlan:
        worked_out.append(args[1].name)
        made = original(*args, **kwargs)
        shared = plan.Component("shared", 9, "istio-system", overlay_path="overlays/shared")
        return dataclasses.replace(made, components=(*made.components, shared))

    monkeypatch.setattr(plan, "_plan_cluster", outside)
    plans = plan.plan_mesh(mesh, library.load().chart_profiles)
    assert worked_out == [c.name for c in sorted(mesh.clusters, key=lambda c: c.name)]
    assert all(p.components[-1].overlay_path == "overlays/shared" for p in plans)
