"""The mesh-level summary: pure comparisons of two meshes."""

from __future__ import annotations

from helpers import MINIMAL_MESH, two_network_mesh
from meshgen import meshdiff, spec


def mesh_of(*requests: spec.NewCluster, text: str = MINIMAL_MESH) -> spec.MeshDocument:
    document = spec.parse(text)
    for request in requests:
        document, _ = spec.add_cluster(document, request)
    return document


def test_no_change_says_nothing() -> None:
    mesh = two_network_mesh().mesh
    assert meshdiff.summarize(mesh, mesh) == []


def test_a_primary_joining_a_new_network() -> None:
    before = two_network_mesh()
    after, _ = spec.add_cluster(
        spec.parse(spec.to_text(before)), spec.NewCluster("cluster-3", "network3")
    )
    assert meshdiff.summarize(before.mesh, after.mesh) == [
        "cluster-3 joins network network3 with an east-west gateway.",
        "network3 is a new network: the mesh now spans 3 networks.",
        "Remote secrets: cluster-3 gets placeholders for 2 clusters; "
        "2 clusters gain one for cluster-3.",
    ]


def test_a_cluster_leaving_empties_its_network() -> None:
    before = two_network_mesh()
    after, removal = spec.remove_cluster(spec.parse(spec.to_text(before)), "cluster-2")
    assert removal.networks == ("network2",)
    assert meshdiff.summarize(before.mesh, after.mesh) == [
        "cluster-2 leaves the mesh (network network2).",
        "network2 has no clusters left: the mesh now spans 1 network.",
        "network network2 is no longer declared.",
        "Remote secrets: 1 cluster drops the placeholder for cluster-2 (cluster-1).",
    ]


def test_first_and_last_remote_of_a_primary() -> None:
    primary = spec.NewCluster("p1", "n1", east_west_gateway=True)
    remote = spec.NewCluster(
        "r1", "n1", role="remote", control_plane="p1", discovery_address="192.0.2.1"
    )
    before = mesh_of(primary)
    after = mesh_of(primary, remote)
    assert meshdiff.summarize(before.mesh, after.mesh) == [
        "r1 joins network n1 as a remote of p1 without an east-west gateway.",
        "p1 now manages remotes: its istiod runs with externalIstiod and exposes itself "
        "through its east-west gateway.",
        "Remote secrets: 1 cluster gains one for r1.",
        # The discovery address is recorded on the primary by the same change.
        "p1 changes: discovery (unset) -> 192.0.2.1.",
    ]
    back, _ = spec.remove_cluster(after, "r1")
    lines = meshdiff.summarize(after.mesh, back.mesh)
    assert "p1 no longer manages remotes: externalIstiod is turned off." in lines
    assert "Remote secrets: 1 cluster drops the placeholder for r1 (p1)." in lines


def test_hand_edits_of_fields_are_named() -> None:
    before = two_network_mesh()
    text = (
        spec.to_text(before)
        .replace("meshID: mesh1", "meshID: mesh1\nistio:\n  version: 1.30.5")
        .replace("name: cluster-2\n    network: network2", "name: cluster-2\n    network: network1")
    )
    after = spec.parse(text)
    lines = meshdiff.summarize(before.mesh, after.mesh)
    assert "istio.version changes: 1.31.1 -> 1.30.5." in lines
    assert "cluster-2 changes: network network2 -> network1." in lines
    assert "network2 has no clusters left: the mesh now spans 1 network." in lines


def test_a_role_change_moves_remote_secrets() -> None:
    """cluster-2 turns from primary into a remote of cluster-1: cluster-1 keeps its secret for
    cluster-2, and cluster-2 drops its own for cluster-1 (a remote watches nobody)."""
    primary = spec.NewCluster("cluster-1", "n1", east_west_gateway=True)
    before = mesh_of(primary, spec.NewCluster("cluster-2", "n1"))
    text = (
        spec.to_text(before)
        .replace(
            "    role: primary\n    eastWestGateway:\n      enabled: false",
            "    role: remote\n    controlPlane: cluster-1\n"
            "    eastWestGateway:\n      enabled: false",
        )
        .replace(
            "      enabled: true\n",
            "      enabled: true\n    discovery:\n      address: 192.0.2.7\n",
            1,
        )
    )
    after = spec.parse(text)
    assert after.mesh.cluster("cluster-2").role == spec.REMOTE
    lines = meshdiff.summarize(before.mesh, after.mesh)
    assert "Remote secrets: 1 cluster drops the one for cluster-1 (cluster-2)." in lines
    assert not any("gain one for cluster-2" in line for line in lines)
    assert "cluster-1 now manages remotes" in " ".join(lines)


def test_manual_provider_tells_what_to_apply_and_delete() -> None:
    text = MINIMAL_MESH.replace("networks: []", "secrets:\n  provider: manual\nnetworks: []")
    before = mesh_of(spec.NewCluster("a", "n1"), spec.NewCluster("b", "n1"), text=text)
    after, _ = spec.add_cluster(spec.parse(spec.to_text(before)), spec.NewCluster("c", "n1"))
    assert (
        "Remote secrets (manual provider): apply 2 remote secrets in c and apply c's remote "
        "secret in 2 clusters; see README.md."
    ) in meshdiff.summarize(before.mesh, after.mesh)
    removed, _ = spec.remove_cluster(spec.parse(spec.to_text(after)), "a")
    assert (
        "Remote secrets (manual provider): delete a's remote secret from 2 clusters by hand (b, c)."
    ) in meshdiff.summarize(after.mesh, removed.mesh)


def _ambient(text: str, extra: str) -> spec.MeshDocument:
    return spec.parse(text.replace("repository:\n", f"{extra}repository:\n", 1))


def test_a_switch_to_ambient_says_what_every_cluster_gets() -> None:
    before = mesh_of(
        spec.NewCluster("a", "n1", east_west_gateway=True),
        spec.NewCluster("b", "n2", east_west_gateway=True),
    )
    text = spec.to_text(before)
    after = _ambient(text, "dataplane: ambient\n")
    lines = meshdiff.summarize(before.mesh, after.mesh)
    version = after.mesh.gateway_api_version()
    assert lines[0] == (
        f"Data plane: sidecar -> ambient. 2 cluster(s) (a, b) get the Gateway API CRDs "
        f"{version}, istio-cni and ztunnel; istiod switches to the ambient profile with "
        "multi-network on and one service-scope selector (istio.io/global=true)."
    )
    assert lines[1].startswith("East-west gateways of a, b: the gateway chart release")
    back = meshdiff.summarize(after.mesh, before.mesh)
    assert back[0].startswith("Data plane: ambient -> sidecar. 2 cluster(s) (a, b) lose")


def test_exported_services_waypoints_and_crds_changes_are_named() -> None:
    base = spec.to_text(mesh_of(spec.NewCluster("a", "n1"), spec.NewCluster("b", "n1")))
    before = _ambient(base, "dataplane: ambient\nglobalServices: [{namespace: s, name: old}]\n")
    after = _ambient(
        base,
        "dataplane: ambient\nglobalServices: [{namespace: s, name: new}]\n"
        "waypoints: [{namespace: s, clusters: [b]}]\ngatewayAPI: {install: false}\n",
    )
    lines = meshdiff.summarize(before.mesh, after.mesh)
    assert "new.s becomes global: label it istio.io/global=true in every cluster that runs it." in (
        lines
    )
    assert "old.s is no longer global: remove its istio.io/global label." in lines
    assert "Waypoint waypoint in s is added (b)." in lines
    version = after.mesh.gateway_api_version()
    assert f"Gateway API CRDs: {version} (installed) -> {version} (not installed)." in lines


def test_the_mesh_version_moving_names_every_cluster_and_a_state_only_its_own() -> None:
    """Clusters whose entries stay keep their control planes unless the mesh's Istio version
    or revision moves: then each of them is named."""
    before = two_network_mesh()
    text = spec.to_text(before)
    version = before.mesh.istio_version
    moved = text.replace("meshID:", 'istio:\n  version: "1.30.3"\nmeshID:', 1)
    assert version != "1.30.3"
    after = spec.parse(moved).mesh
    lines = meshdiff.summarize(before.mesh, after)
    assert any("cluster-1" in line and "cluster-2" in line and "1.30.3" in line for line in lines)
    revised = spec.parse(text.replace("meshID:", "istio:\n  revision: canary\nmeshID:", 1)).mesh
    assert any("istiod" in line for line in meshdiff.summarize(before.mesh, revised)), lines
    # One cluster's own state: only that cluster is named.
    document = spec.parse(text)
    one = text.replace(
        "  - name: cluster-1\n", '  - name: cluster-1\n    istio:\n      version: "1.30.3"\n', 1
    )
    lines = meshdiff.summarize(document.mesh, spec.parse(one).mesh)
    assert [line for line in lines if "1.30.3" in line] == [
        line for line in lines if "cluster-1" in line and "1.30.3" in line
    ]
    assert lines and not any("cluster-2" in line and "1.30.3" in line for line in lines)
