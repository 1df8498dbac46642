"""`spec.remove_cluster`: a round-trip edit of mesh.yaml, undone when the result is invalid."""

from __future__ import annotations

import sys

import pytest

from helpers import REPO_ROOT, mesh_text
from meshgen import spec
from meshgen.errors import MeshgenError, SpecError

sys.path.insert(0, str(REPO_ROOT / "bench"))
import scale

MESH = mesh_text(
    "  - name: n1\n  # the second network\n  - name: n2\n",
    """\
  - name: p1
    network: n1
    eastWestGateway:
      enabled: true
    discovery:
      address: 192.0.2.1
    # r1 is managed by p1
  - name: r1
    network: n2
    role: remote
    controlPlane: p1
    eastWestGateway:
      enabled: true
    # p2 stays
  - name: p2
    network: n1
    eastWestGateway:
      enabled: false
""",
).replace("meshID: mesh1", "meshID: mesh1  # keep")


def test_removes_the_entry_its_comment_and_an_emptied_network() -> None:
    document = spec.parse(MESH)
    updated, removal = spec.remove_cluster(document, "r1")
    text = spec.to_text(updated)
    assert [c.name for c in removal.clusters] == ["r1"]
    assert removal.networks == ("n2",)
    assert "r1" not in text and "n2" not in text
    assert "meshID: mesh1  # keep" in text
    assert "    # p2 stays\n  - name: p2" in text
    assert spec.parse(text).mesh == updated.mesh


def test_a_control_plane_needs_force_and_force_takes_its_remotes() -> None:
    document = spec.parse(MESH)
    with pytest.raises(SpecError) as error:
        spec.remove_cluster(document, "p1")
    assert error.value.line == 11
    assert "p1 is the control plane of r1" in str(error.value)
    assert spec.to_text(document) == MESH
    updated, removal = spec.remove_cluster(document, "p1", force=True)
    assert [c.name for c in removal.clusters] == ["p1", "r1"]
    assert [c.name for c in updated.mesh.clusters] == ["p2"]
    assert updated.mesh.networks == ("n1",)


UNREACHABLE_AFTER = mesh_text(
    "  - name: n1\n  - name: n2\n",
    """\
  - name: c
    network: n2
    eastWestGateway: {enabled: true}  # c
    # a runs n1's gateway
  - name: a
    network: n1
    eastWestGateway:
      enabled: true  # a
    # b says nothing about gateways
  - name: b
    network: n1
""",
)


def test_an_invalid_result_is_undone_byte_for_byte() -> None:
    document = spec.parse(UNREACHABLE_AFTER)
    with pytest.raises(SpecError, match="network n1 has no east-west gateway"):
        spec.remove_cluster(document, "a")
    assert spec.to_text(document) == UNREACHABLE_AFTER
    # The document is still usable: another edit works on the restored tree.
    updated, _ = spec.remove_cluster(document, "b")
    assert "# a runs n1's gateway\n  - name: a" in spec.to_text(updated)
    assert "b says nothing" not in spec.to_text(updated)


def test_unknown_cluster() -> None:
    with pytest.raises(
        MeshgenError, match=r"cluster 'x' is not in the mesh \(clusters: p1, r1, p2\)"
    ):
        spec.remove_cluster(spec.parse(MESH), "x")


def test_unknown_cluster_of_a_large_mesh_names_the_closest() -> None:
    """A typo in a mesh of a thousand clusters: one short line with the likely name, not
    every cluster of the mesh."""
    text = scale.mesh_text(1000)
    with pytest.raises(MeshgenError) as refused:
        spec.remove_cluster(spec.parse(text), "clustr-9")
    message = str(refused.value)
    assert "cluster 'clustr-9' is not in the mesh (1,000 clusters; did you mean 'cluster-9'" in (
        message
    )
    assert len(message) < 200
