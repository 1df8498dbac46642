"""clusters[].istio: the model of each cluster's control planes and the version-skew rules that
`meshgen upgrade` and `meshgen validate` share, applied to hand-written mesh.yaml."""

from __future__ import annotations

import pytest

from meshgen import spec
from meshgen.errors import SpecError
from upgrade_fixtures import (
    NEW,
    NEW_REVISION,
    OLD,
    ambient_primaries,
    canary_state,
    external_control_plane,
    three_clusters,
)


def planes(text: str, cluster: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    mesh = spec.parse(text).mesh
    return [
        (p.revision, p.version, p.release, p.tags)
        for p in mesh.control_planes_of(mesh.cluster(cluster))
    ]


def test_a_cluster_without_state_runs_the_mesh_version_unrevisioned() -> None:
    assert planes(three_clusters(), "cluster-1") == [("default", OLD, "istiod", ())]


@pytest.mark.parametrize(
    "text",
    [
        three_clusters(),
        three_clusters({"cluster-3": canary_state()}),
        three_clusters({"cluster-1": f'    istio:\n      version: "{NEW}"\n'}),
        three_clusters().replace("istio:\n", "istio:\n  revision: 1-30\n", 1),
    ],
)
def test_the_versions_of_a_cluster_are_those_of_its_control_planes(text: str) -> None:
    """``versions_of`` answers a cluster without a state of its own without its control
    planes: the same answer as theirs."""
    mesh = spec.parse(text).mesh
    for cluster in mesh.clusters:
        planes = mesh.control_planes_of(cluster)
        assert mesh.versions_of(cluster) == tuple(dict.fromkeys(p.version for p in planes))


def test_revisions_keep_the_running_release_name_and_add_one_per_revision() -> None:
    text = three_clusters({"cluster-3": canary_state()})
    assert planes(text, "cluster-3") == [
        ("default", OLD, "istiod", ("default", "stable")),
        (NEW_REVISION, NEW, f"istiod-{NEW_REVISION}", ("canary",)),
    ]
    mesh = spec.parse(text).mesh
    assert mesh.versions_of(mesh.cluster("cluster-3")) == (OLD, NEW)
    assert mesh.default_revision_of(mesh.cluster("cluster-3")) is None  # unrevisioned


def test_a_revisioned_cluster_keeps_istiod_for_its_revision() -> None:
    """A cluster that ran revision 1-30 (the old `revision` key) keeps release istiod for it."""
    text = three_clusters({"cluster-3": "    revision: 1-30\n" + canary_state("1-30")})
    assert [(r, rel) for r, _, rel, _ in planes(text, "cluster-3")] == [
        ("1-30", "istiod"),
        (NEW_REVISION, f"istiod-{NEW_REVISION}"),
    ]


def test_in_place_version_is_the_clusters_own() -> None:
    text = three_clusters({"cluster-3": f'    istio: {{version: "{NEW}"}}\n'})
    assert planes(text, "cluster-3") == [("default", NEW, "istiod", ())]


def refusal(text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        spec.parse(text)
    return caught.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# Each rule, broken by a hand edit: one error naming the line and field, with the way out.


def test_a_remote_newer_than_its_control_plane_is_refused() -> None:
    text = three_clusters({"cluster-2": f'    istio: {{version: "{NEW}"}}\n'})
    error = refusal(text)
    assert error.field == "clusters[1].istio.version"
    assert error.line == line_of(text, f'istio: {{version: "{NEW}"}}')
    assert "data plane newer than its control plane" in error.detail
    assert "upgrade the control plane first, or together with its remotes" in error.detail


def test_a_remote_on_a_revision_its_control_plane_does_not_run_is_refused() -> None:
    error = refusal(three_clusters({"cluster-2": canary_state()}))
    assert error.field == f"clusters[1].istio.revisions.{NEW_REVISION}"
    assert f"uses revision {NEW_REVISION} of cluster-1, which does not run it" in error.detail


def test_a_control_plane_that_drops_the_revision_its_remote_uses_is_refused() -> None:
    finished = f"""\
    istio:
      revisions: {{{NEW_REVISION}: "{NEW}"}}
      tags: {{default: {NEW_REVISION}}}
"""
    error = refusal(three_clusters({"cluster-1": finished}))
    assert error.field == "clusters[1].istio.version"  # the remote still on default
    assert "uses revision default of cluster-1, which does not run it" in error.detail


def test_more_than_two_minor_versions_in_the_mesh_are_refused() -> None:
    text = three_clusters(
        {
            "cluster-3": '    istio: {version: "1.29.6"}\n',
            "cluster-1": f'    istio: {{version: "{NEW}"}}\n',
        }
    )
    error = refusal(text)
    assert (
        "the mesh would run Istio 1.29 (cluster-3), 1.30 (cluster-2), 1.31 (cluster-1) at once"
        in (error.detail)
    )
    assert "at most two minor versions" in error.detail
    assert error.field == "clusters[2].istio"


def test_two_minor_versions_too_far_apart_are_refused() -> None:
    """Two apart is a supported canary (1.29 next to 1.31); three apart is not."""
    spec.parse(three_clusters({"cluster-3": '    istio: {version: "1.28.10"}\n'}))
    text = three_clusters({"cluster-3": '    istio: {version: "1.28.10"}\n'}, version=NEW)
    error = refusal(text)
    assert "Istio 1.28 (cluster-3), 1.31 (cluster-1) at once" in error.detail
    assert "at most two apart" in error.detail


def test_revisions_more_than_two_minors_apart_are_refused() -> None:
    state = f'    istio:\n      revisions: {{default: "1.28.10", {NEW_REVISION}: "{NEW}"}}\n'
    error = refusal(three_clusters({"cluster-3": state}, version="1.28.10"))
    assert "more than 2 minor versions apart" in error.detail


def test_a_tag_on_a_revision_the_cluster_does_not_run_is_refused() -> None:
    text = three_clusters({"cluster-3": canary_state().replace("stable: default", "stable: 1-29")})
    error = refusal(text)
    assert error.field == "clusters[2].istio.tags.stable"
    assert "points at revision 1-29, which cluster-3 does not run" in error.detail


def test_an_unrevisioned_istiod_next_to_a_revision_is_refused() -> None:
    """istio/istio#48643: it would take over the istio-injection=enabled namespaces."""
    state = (
        f'    revision: 1-30\n    istio:\n      revisions: {{1-30: "{OLD}", default: "{NEW}"}}\n'
    )
    error = refusal(three_clusters({"cluster-3": state}))
    assert "istio/istio#48643" in error.detail
    assert error.field == "clusters[2].istio.revisions.default"


def test_revisions_without_a_default_are_refused() -> None:
    state = f'    istio:\n      revisions: {{1-30: "{OLD}", {NEW_REVISION}: "{NEW}"}}\n'
    error = refusal(three_clusters({"cluster-3": state}))
    assert "no control plane of cluster-3 serves the default" in error.detail
    assert f"tags: {{default: {NEW_REVISION}}}" in error.detail


def test_three_control_planes_are_refused() -> None:
    state = (
        '    istio:\n      revisions: {default: "1.30.3", 1-30-5: "1.30.5", '
        f'{NEW_REVISION}: "{NEW}"}}\n'
    )
    assert "at most two side by side" in refusal(three_clusters({"cluster-3": state})).detail


def test_version_and_revisions_together_are_refused() -> None:
    state = f'    istio:\n      version: "{NEW}"\n      revisions: {{default: "{OLD}"}}\n'
    assert "keep one" in refusal(three_clusters({"cluster-3": state})).detail


def test_a_tag_named_like_a_revision_is_refused() -> None:
    text = three_clusters(
        {"cluster-3": canary_state().replace("canary: 1-31-0-rc-0", f"{NEW_REVISION}: default")}
    )
    assert "has the name of a revision" in refusal(text).detail


def test_revisions_on_an_external_control_plane_are_refused() -> None:
    state = f'    istio:\n      revisions: {{default: "{OLD}", {NEW_REVISION}: "{NEW}"}}\n'
    assert "upgrades in place only" in refusal(external_control_plane(state)).detail


def test_the_schema_rejects_a_malformed_version() -> None:
    error = refusal(three_clusters({"cluster-3": "    istio: {version: latest}\n"}))
    assert error.field == "clusters[2].istio.version"


def test_a_remote_joining_a_revisioned_control_plane_uses_its_revisions() -> None:
    """new-cluster gives a remote its control plane's state, or it would use a revision
    (default) that its control plane no longer runs."""
    finished = f"""\
    istio:
      revisions: {{{NEW_REVISION}: "{NEW}"}}
      tags: {{default: {NEW_REVISION}, stable: {NEW_REVISION}}}
"""
    text = three_clusters({"cluster-3": finished})
    document = spec.parse(text)
    document, _ = spec.add_cluster(
        document,
        spec.NewCluster(
            "cluster-4",
            "network2",
            role="remote",
            control_plane="cluster-3",
            discovery_address="192.0.2.30",
        ),
    )
    mesh = document.mesh
    assert mesh.cluster("cluster-4").istio == mesh.cluster("cluster-3").istio
    assert [p.revision for p in mesh.control_planes_of(mesh.cluster("cluster-4"))] == [NEW_REVISION]
    text = spec.to_text(document)
    written = text.split("name: cluster-4")[1]
    assert f'    istio:\n      revisions:\n        "{NEW_REVISION}": "{NEW}"\n' in written


def test_revisions_in_an_ambient_mesh_are_refused() -> None:
    spec.parse(ambient_primaries(f'    istio: {{version: "{NEW}"}}\n'))  # in place is fine
    error = refusal(ambient_primaries(canary_state()))
    assert "ambient data plane, which meshgen upgrades in place only" in error.detail
    assert error.field == "clusters[1].istio.revisions"
