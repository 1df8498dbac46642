"""Meshes for the upgrade tests: the issue's three clusters on two networks (a primary with one
remote, plus another primary), at a release whose charts are in ../shared/upstream/istio."""

from __future__ import annotations

from helpers import MINIMAL_MESH, mesh_text

OLD = "1.30.3"
NEW = "1.31.0-rc.0"
NEW_REVISION = "1-31-0-rc-0"

NETWORKS = "  - name: network1\n  - name: network2\n"
PRIMARY_1 = """\
  - name: cluster-1
    network: network1
    eastWestGateway: {enabled: true}
    discovery: {address: "192.0.2.10"}
"""
REMOTE_2 = """\
  - name: cluster-2
    network: network2
    role: remote
    controlPlane: cluster-1
    eastWestGateway: {enabled: true}
"""
PRIMARY_3 = """\
  - name: cluster-3
    network: network2
    eastWestGateway: {enabled: true}
"""


def three_clusters(extra: dict[str, str] | None = None, version: str = OLD) -> str:
    """mesh.yaml text of the three-cluster mesh; ``extra`` adds lines (already indented by
    four spaces) to a cluster entry, such as its ``istio:`` state."""
    entries = {"cluster-1": PRIMARY_1, "cluster-2": REMOTE_2, "cluster-3": PRIMARY_3}
    for name, lines in (extra or {}).items():
        entries[name] += lines
    header = MINIMAL_MESH.replace(
        "meshID: mesh1\n", f'meshID: mesh1\nistio:\n  version: "{version}"\n'
    )
    return mesh_text(NETWORKS, "".join(entries.values()), header)


def canary_state(revision_of_old: str = "default", old: str = OLD) -> str:
    """``clusters[].istio`` right after a revision-based canary of NEW."""
    return f"""\
    istio:
      revisions:
        {revision_of_old}: "{old}"
        {NEW_REVISION}: "{NEW}"
      tags: {{default: {revision_of_old}, stable: {revision_of_old}, canary: {NEW_REVISION}}}
"""


def external_control_plane(state: str = "") -> str:
    """An external control plane (cp-host) serving one config cluster; ``state`` is added to
    cp-host's entry."""
    clusters = f"""\
  - name: cp-host
    network: net1
    role: external-control-plane
    eastWestGateway: {{enabled: false}}
    discovery: {{address: "192.0.2.30"}}
{state}  - name: config-1
    network: net1
    role: remote
    controlPlane: cp-host
    eastWestGateway: {{enabled: false}}
"""
    header = MINIMAL_MESH.replace(
        "meshID: mesh1\n", f'meshID: mesh1\nistio: {{version: "{OLD}"}}\n'
    )
    return mesh_text("  - name: net1\n", clusters, header)


def ambient_primaries(state: str = "") -> str:
    """Two primaries on two networks in ambient mode at OLD; ``state`` is added to cluster-3."""
    header = MINIMAL_MESH.replace(
        "meshID: mesh1\n", f'meshID: mesh1\nistio: {{version: "{OLD}"}}\ndataplane: ambient\n'
    )
    return mesh_text(NETWORKS, PRIMARY_1 + PRIMARY_3 + state, header)
