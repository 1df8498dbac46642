"""Meshes and TrafficPolicy files shared by the traffic tests (imported as ``traffic_fixtures``)."""

from __future__ import annotations

from typing import Any

HEADER = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: mesh1
istio: {version: 1.30.3}           # the upstream charts and CRDs the tests validate against
repository: {url: https://git.example.com/platform/mesh.git}
"""

# The mesh: two networks, an east-west gateway on each, regions and zones.
TWO_NETWORKS = (
    HEADER
    + """\
networks: [{name: network1}, {name: network2}]
clusters:
  - name: cluster1
    network: network1
    eastWestGateway: {enabled: true}
    region: europe-west1
    zone: europe-west1-b
  - name: cluster2
    network: network2
    eastWestGateway: {enabled: true}
    region: us-east1
    zone: us-east1-c
"""
)

ONE_NETWORK = (
    HEADER
    + """\
networks: [{name: network1}]
clusters:
  - {name: cluster1, network: network1, eastWestGateway: {enabled: false}}
  - {name: cluster2, network: network1, eastWestGateway: {enabled: false}}
  - {name: cluster3, network: network1, eastWestGateway: {enabled: false}}
"""
)

# primary-1 manages remote-1 (same network) and remote-2 (other network); primary-2 stands alone.
PRIMARY_REMOTE = (
    HEADER
    + """\
networks: [{name: net1}, {name: net2}]
clusters:
  - name: primary-1
    network: net1
    eastWestGateway: {enabled: true}
    discovery: {address: 192.0.2.7}
  - name: remote-1
    network: net1
    role: remote
    controlPlane: primary-1
    eastWestGateway: {enabled: false}
  - name: remote-2
    network: net2
    role: remote
    controlPlane: primary-1
    eastWestGateway: {enabled: true}
  - name: primary-2
    network: net2
    eastWestGateway: {enabled: false}
"""
)

EXTERNAL = (
    HEADER
    + """\
networks: [{name: net1}]
clusters:
  - name: external-1
    network: net1
    role: external-control-plane
    eastWestGateway: {enabled: false}
    discovery: {address: 192.0.2.9}
  - name: config-1
    network: net1
    role: remote
    controlPlane: external-1
    eastWestGateway: {enabled: false}
"""
)

REVIEWS = """\
apiVersion: meshgen.io/v1alpha1
kind: TrafficPolicy
metadata: {name: reviews, namespace: default}
spec:
  clients: [cluster1]
  split:
    - {cluster: cluster2, labels: {version: v3}, weight: 75}
    - {cluster: cluster1, labels: {version: v1}, weight: 15}
    - {cluster: cluster1, labels: {version: v2}, weight: 10}
  failover:
    priority: [topology.istio.io/network, topology.istio.io/cluster]
"""


def policy(spec: str, name: str = "reviews", namespace: str = "default") -> str:
    """A TrafficPolicy document with this ``spec:`` body (indented two spaces)."""
    return (
        "apiVersion: meshgen.io/v1alpha1\nkind: TrafficPolicy\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{spec}"
    )


def parsed(mesh_text: str, files: dict[str, str]) -> tuple[Any, Any]:
    """(mesh, policies) for a mesh.yaml text and traffic files."""
    from meshgen import spec, traffic

    return spec.parse(mesh_text).mesh, traffic.parse_files(files)
