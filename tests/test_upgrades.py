"""The plan of an upgrade (pure): the states each step writes, and every refusal, checked
before anything is written."""

from __future__ import annotations

import pytest

from meshgen import library, spec, upgrades
from meshgen.render import render_repository
from meshgen.render.plan import plan_mesh
from upgrade_fixtures import (
    NEW,
    NEW_REVISION,
    OLD,
    ambient_primaries,
    canary_state,
    external_control_plane,
    three_clusters,
)

CATALOGUE = library.istio_releases()


def mesh_of(text: str) -> spec.Mesh:
    return spec.parse(text).mesh


def step_of(mesh: spec.Mesh, **request: object) -> upgrades.Step:
    return upgrades.plan_upgrade(mesh, upgrades.UpgradeRequest(**request), CATALOGUE)  # type: ignore[arg-type]


def written(text: str, step: upgrades.Step) -> spec.Mesh:
    """The mesh once the step is written into mesh.yaml (through the spec edit)."""
    return spec.set_istio_states(spec.parse(text), step.change).mesh


def refused(call: object, *args: object, **kwargs: object) -> str:
    with pytest.raises(upgrades.UpgradeRefused) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(caught.value)


def test_revision_names_follow_the_version() -> None:
    assert upgrades.revision_name("1.31.0-rc.0") == "1-31-0-rc-0"
    assert upgrades.revision_name("1.30.3") == "1-30-3"


def test_a_canary_adds_the_revision_next_to_the_running_one() -> None:
    text = three_clusters()
    step = step_of(mesh_of(text), target=NEW, canary="cluster-3")
    assert step.clusters == ("cluster-3",)
    assert step.branch == f"meshgen/upgrade-istio-{NEW}-canary-cluster-3"
    assert step.title.endswith("(canary)")
    assert step.change.mesh_version is None
    after = written(text, step)
    planes = after.control_planes_of(after.cluster("cluster-3"))
    assert [(p.revision, p.version, p.release, p.tags) for p in planes] == [
        ("default", OLD, "istiod", ("default", "stable")),
        (NEW_REVISION, NEW, f"istiod-{NEW_REVISION}", ("canary",)),
    ]
    # The others do not move.
    assert after.versions_of(after.cluster("cluster-1")) == (OLD,)


def test_the_rest_follows_and_a_remote_moves_with_its_primary() -> None:
    text = three_clusters({"cluster-3": canary_state()})
    step = step_of(mesh_of(text), target=NEW)
    assert step.clusters == ("cluster-1", "cluster-2")
    after = written(text, step)
    for name in ("cluster-1", "cluster-2"):
        assert after.versions_of(after.cluster(name)) == (OLD, NEW)


def test_promote_moves_every_tag_of_the_old_revision() -> None:
    state = canary_state()
    text = three_clusters({name: state for name in ("cluster-1", "cluster-2", "cluster-3")})
    step = upgrades.plan_promote(mesh_of(text), (), None)
    assert step.target == NEW and step.clusters == ("cluster-1", "cluster-2", "cluster-3")
    after = written(text, step)
    cluster = after.cluster("cluster-1")
    assert dict(cluster.istio.tags) == {
        "default": NEW_REVISION,
        "stable": NEW_REVISION,
        "canary": NEW_REVISION,
    }
    assert after.default_revision_of(cluster) == NEW_REVISION


def promoted(name: str = "default") -> str:
    return canary_state(name).replace(
        f"default: {name}, stable: {name}", f"default: {NEW_REVISION}, stable: {NEW_REVISION}"
    )


def test_finish_removes_the_old_revision_and_moves_the_mesh_version() -> None:
    text = three_clusters({name: promoted() for name in ("cluster-1", "cluster-2", "cluster-3")})
    step = upgrades.plan_finish(mesh_of(text), (), None)
    assert step.change.mesh_version == NEW
    after = written(text, step)
    assert after.istio_version == NEW
    for cluster in after.clusters:
        assert [(p.revision, p.release) for p in after.control_planes_of(cluster)] == [
            (NEW_REVISION, f"istiod-{NEW_REVISION}")
        ]


def test_finish_drops_the_old_revision_key_of_a_revisioned_cluster() -> None:
    state = "    revision: 1-30\n" + promoted("1-30")
    text = three_clusters({"cluster-3": state})
    step = upgrades.plan_finish(mesh_of(text), ("cluster-3",), None)
    assert step.change.drop_revision == frozenset({"cluster-3"})
    after = written(text, step)
    assert after.cluster("cluster-3").revision is None
    assert (
        after.control_planes_of(after.cluster("cluster-3"))[0].release == f"istiod-{NEW_REVISION}"
    )


def test_in_place_for_every_cluster_reads_as_a_mesh_made_at_the_new_version() -> None:
    text = three_clusters()
    step = step_of(mesh_of(text), target=NEW, strategy=upgrades.IN_PLACE)
    assert step.change.mesh_version == NEW
    assert all(not state for state in step.change.states.values())
    after = written(text, step)
    assert after.istio_version == NEW and not any(c.istio for c in after.clusters)


def test_in_place_one_cluster_at_a_time() -> None:
    text = three_clusters()
    first = step_of(mesh_of(text), target=NEW, strategy=upgrades.IN_PLACE, canary="cluster-3")
    assert first.change.states["cluster-3"] == spec.IstioState(version=NEW)
    document = spec.set_istio_states(spec.parse(text), first.change)
    rest = step_of(document.mesh, target=NEW, strategy=upgrades.IN_PLACE)
    assert rest.clusters == ("cluster-1", "cluster-2")
    after = spec.set_istio_states(document, rest.change).mesh
    assert after.istio_version == NEW and not any(c.istio for c in after.clusters)


def test_status_says_where_each_cluster_is_and_what_comes_next() -> None:
    text = three_clusters({"cluster-3": canary_state()})
    lines = upgrades.status_lines(mesh_of(text))
    assert lines[2].startswith("cluster-3  primary: 1.30.3 (unrevisioned; tags default, stable)")
    assert lines[2].endswith(f"{NEW} (revision {NEW_REVISION}; tags canary)")
    assert lines[-1] == (
        f"Upgrade to Istio {NEW} in progress; next: meshgen upgrade --istio-version {NEW} "
        "(for cluster-1, cluster-2)."
    )
    assert upgrades.status_lines(mesh_of(three_clusters()))[-1] == (
        f"No upgrade in progress; the mesh runs Istio {OLD}."
    )


def test_the_apply_order_follows_the_engine() -> None:
    text = three_clusters()
    before = mesh_of(text)
    after = written(text, step_of(before, target=NEW, canary="cluster-3"))
    knowledge = library.load()
    sides = [
        (mesh, plan_mesh(mesh, knowledge.chart_profiles), render_repository(mesh, knowledge))
        for mesh in (before, after)
    ]
    (line,) = upgrades.apply_order("argocd", sides[0], sides[1])
    assert line == (
        f"cluster-3: istio-base (wave 1): {OLD} -> {NEW}; then istiod (wave 2): values "
        f"revisionTags; then istiod-{NEW_REVISION} (wave 2): added, {NEW}"
    )
    (flux,) = upgrades.apply_order("flux", sides[0], sides[1])
    assert flux.startswith(f"cluster-3: istio-base: {OLD} -> {NEW}; then istiod: values")


# ------------------------------------------------------------------------------- refusals


def test_a_release_outside_the_catalogue_is_refused() -> None:
    message = refused(step_of, mesh_of(three_clusters()), target="1.31.7")
    assert "Istio 1.31.7 is not in meshgen's release catalogue" in message
    assert "newest GA: 1.31.1" in message


def test_in_place_across_two_minors_is_refused() -> None:
    mesh = mesh_of(three_clusters(version="1.29.6"))
    message = refused(step_of, mesh, target=NEW, strategy=upgrades.IN_PLACE)
    assert "1.29.6 -> 1.31.0-rc.0 skips 1 minor version(s)" in message
    assert "use --strategy revision" in message
    # With revisions, two minors are a supported canary.
    assert step_of(mesh, target=NEW, canary="cluster-3").clusters == ("cluster-3",)


def test_revisions_across_three_minors_are_refused() -> None:
    mesh = mesh_of(three_clusters(version="1.28.10"))
    message = refused(step_of, mesh, target=NEW, canary="cluster-3")
    assert "upstream supports 2 minor version(s) at a time revision" in message
    assert "upgrade to 1.30.x first" in message


def test_a_downgrade_is_refused() -> None:
    mesh = mesh_of(three_clusters(version=NEW))
    assert "meshgen does not downgrade" in refused(step_of, mesh, target=OLD, canary="cluster-3")


def test_a_remote_alone_is_refused() -> None:
    mesh = mesh_of(three_clusters())
    for strategy in upgrades.STRATEGIES:
        message = refused(step_of, mesh, target=NEW, strategy=strategy, canary="cluster-2")
        assert "a remote never moves alone" in message
        assert "--clusters cluster-1,cluster-2" in message


def test_a_remote_after_its_primary_is_fine() -> None:
    text = three_clusters({"cluster-1": canary_state()})
    step = step_of(mesh_of(text), target=NEW, clusters=("cluster-2",))
    assert step.clusters == ("cluster-2",)


def test_a_third_minor_version_in_the_mesh_is_refused() -> None:
    text = three_clusters({"cluster-3": '    istio: {version: "1.29.6"}\n'})
    message = refused(step_of, mesh_of(text), target=NEW, clusters=("cluster-1", "cluster-2"))
    assert message.startswith("upgrade refused: the mesh would run Istio 1.29 (cluster-3), 1.30")
    assert "at most two minor versions" in message


def test_a_second_upgrade_in_the_middle_of_one_is_refused() -> None:
    mesh = mesh_of(three_clusters({"cluster-3": canary_state()}))
    message = refused(step_of, mesh, target="1.31.1", clusters=("cluster-3",))
    assert "cluster-3 is in the middle of a revision-based upgrade" in message


def test_nothing_to_do_is_refused() -> None:
    mesh = mesh_of(three_clusters(version=NEW))
    assert "every cluster already runs Istio" in refused(step_of, mesh, target=NEW)
    assert "cluster-3 already runs Istio" in refused(step_of, mesh, target=NEW, canary="cluster-3")
    assert "'ghost' is not in the mesh" in refused(step_of, mesh, target=NEW, canary="ghost")


def test_promote_refuses_a_cluster_without_the_new_revision() -> None:
    mesh = mesh_of(three_clusters({"cluster-3": canary_state()}))
    message = refused(upgrades.plan_promote, mesh, (), None)
    assert message.startswith(
        f"cluster-1, cluster-2 not rendered at the new revision {NEW_REVISION} yet"
    )
    # Named, the canary alone can be promoted.
    assert upgrades.plan_promote(mesh, ("cluster-3",), None).clusters == ("cluster-3",)


def test_promote_refuses_a_remote_before_its_primary() -> None:
    state = canary_state()
    mesh = mesh_of(three_clusters({"cluster-1": state, "cluster-2": state}))
    message = refused(upgrades.plan_promote, mesh, ("cluster-2",), None)
    assert "a remote never moves alone" in message


def test_promote_without_an_upgrade_is_refused() -> None:
    message = refused(upgrades.plan_promote, mesh_of(three_clusters()), (), None)
    assert message.startswith("no revision-based upgrade is in progress")


def test_finish_refuses_while_a_tag_points_at_the_old_revision() -> None:
    mesh = mesh_of(three_clusters({"cluster-3": canary_state()}))
    message = refused(upgrades.plan_finish, mesh, (), None)
    assert message == (
        "cluster-3: tags default, stable still point at revision default (1.30.3); promote "
        "first (meshgen upgrade --promote) or move them in mesh.yaml"
    )


def test_finish_refuses_while_the_default_label_uses_the_old_revision() -> None:
    """No tag left on the old revision, but the unrevisioned istiod still serves the
    istio-injection=enabled namespaces (no default tag elsewhere)."""
    state = f"""\
    istio:
      revisions: {{default: "{OLD}", {NEW_REVISION}: "{NEW}"}}
      tags: {{stable: {NEW_REVISION}}}
"""
    message = refused(upgrades.plan_finish, mesh_of(three_clusters({"cluster-3": state})), (), None)
    assert "namespaces labelled istio-injection=enabled" in message
    assert "still use revision default" in message


def test_finish_refuses_a_primary_whose_remote_still_uses_the_old_revision() -> None:
    text = three_clusters({"cluster-1": promoted(), "cluster-2": canary_state()})
    message = refused(upgrades.plan_finish, mesh_of(text), ("cluster-1",), None)
    assert "remote cluster-2 still uses revision default of cluster-1" in message


def test_revisions_on_an_external_control_plane_are_refused() -> None:
    mesh = mesh_of(external_control_plane())
    assert "upgrades in place only" in refused(step_of, mesh, target=NEW)
    step = step_of(mesh, target=NEW, strategy=upgrades.IN_PLACE)
    assert step.change.mesh_version == NEW


def test_status_of_an_in_place_upgrade_part_of_the_way() -> None:
    text = three_clusters({"cluster-3": f'    istio: {{version: "{NEW}"}}\n'})
    assert upgrades.status_lines(mesh_of(text))[-1] == (
        f"Clusters run Istio {OLD}, {NEW}; next: meshgen upgrade --istio-version {NEW} "
        "--strategy in-place (for cluster-1, cluster-2)."
    )


def test_a_mesh_without_clusters_just_moves_its_version() -> None:
    from helpers import MINIMAL_MESH

    step = step_of(mesh_of(MINIMAL_MESH), target=OLD)
    assert step.change == spec.IstioChange(states={}, mesh_version=OLD)
    assert written(MINIMAL_MESH, step).istio_version == OLD


def test_an_ambient_mesh_is_upgraded_in_place_only() -> None:
    mesh = mesh_of(ambient_primaries())
    assert "ambient data plane" in refused(step_of, mesh, target=NEW, canary="cluster-3")
    step = step_of(mesh, target=NEW, strategy=upgrades.IN_PLACE, canary="cluster-3")
    assert step.change.states == {"cluster-3": spec.IstioState(version=NEW)}


def test_clusters_that_move_alike_share_one_line() -> None:
    """A commit message and a review stay short when a thousand clusters move alike."""
    from helpers import MINIMAL_MESH, mesh_text
    from meshgen import meshdiff

    clusters = "".join(
        f"  - {{name: c{i:02d}, network: n1, eastWestGateway: {{enabled: false}}}}\n"
        for i in range(12)
    )
    header = MINIMAL_MESH.replace(
        "meshID: mesh1\n", f'meshID: mesh1\nistio: {{version: "{OLD}"}}\n'
    )
    text = mesh_text("  - name: n1\n", clusters, header)
    before = mesh_of(text)
    step = step_of(before, target=NEW)
    assert step.title.endswith("c00, c01, c02, c03, c04 and 7 more")
    after = written(text, step)
    (line,) = meshdiff.summarize(before, after)
    assert line.startswith(f"c00, c01, c02, c03, c04 and 7 more istiod {OLD} -> {NEW}")
    knowledge = library.load()
    sides = [
        (mesh, plan_mesh(mesh, knowledge.chart_profiles), render_repository(mesh, knowledge))
        for mesh in (before, after)
    ]
    (order,) = upgrades.apply_order("argocd", sides[0], sides[1])
    assert order.startswith("c00, c01, c02, c03, c04 and 7 more: istio-base (wave 1)")
