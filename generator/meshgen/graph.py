"""The mesh as a picture: networks as groups, clusters, gateways, control planes, paths (pure).

One model (:func:`mesh_graph`) feeds two writers, Mermaid (rendered inline by GitHub and
GitLab) and Graphviz DOT, so both always draw the same nodes and edges:

- a node per cluster (name and role) inside its network's group, and a node per east-west
  gateway next to its cluster;
- an edge from each cluster to its gateway; from a control plane (primary or external) to
  each cluster it manages;
- a cross-network edge from each network to each east-west gateway of every other network
  (the path its traffic takes there, port 15443);
- a warning mark on networks no other network can reach (no east-west gateway).

Networks without clusters are left out: nothing runs there.

:func:`service_graph` draws one service's traffic from the traffic files instead, with the
same writers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from meshgen import spec, traffic
from meshgen.traffic import placement

WARNING_MARK = "⚠"


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    gateway: bool = False
    endpoint: bool = False  # a service's endpoints (a subset), in a service's traffic graph


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    nodes: tuple[Node, ...]
    unreachable: bool


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str
    kind: str  # "gateway" (cluster to its gateway), "control-plane", "cross-network";
    # in a service's traffic graph: "traffic" (a weighted route), "through" (out of a gateway)


@dataclass(frozen=True)
class Graph:
    groups: tuple[Group, ...]
    edges: tuple[Edge, ...]


def _id(prefix: str, name: str) -> str:
    return f"{prefix}_{name.replace('-', '_')}"  # DNS labels: no "_" of their own, no clash


def _role(mesh: spec.Mesh, cluster: spec.Cluster) -> str:
    if cluster.role == spec.REMOTE:
        return f"remote of {cluster.control_plane}"
    if cluster.role == spec.EXTERNAL_CONTROL_PLANE:
        return "external control plane"
    revision = mesh.revision_of(cluster)
    return f"primary, revision {revision}" if revision else "primary"


def mesh_graph(mesh: spec.Mesh) -> Graph:
    unreachable = spec.unreachable_networks(mesh)
    groups = []
    gateways_of: dict[str, list[str]] = {}
    edges = []
    for network, clusters in mesh.clusters_by_network().items():
        if not clusters:
            continue
        nodes = []
        for cluster in clusters:
            node = _id("c", cluster.name)
            nodes.append(Node(node, f"{cluster.name} ({_role(mesh, cluster)})"))
            if cluster.east_west_gateway.enabled:
                gateway = _id("gw", cluster.name)
                nodes.append(Node(gateway, f"east-west gateway of {cluster.name}", gateway=True))
                gateways_of.setdefault(_id("net", network), []).append(gateway)
                edges.append(Edge(node, gateway, "", "gateway"))
        label = f"network {network}"
        if network in unreachable:
            label = f"{WARNING_MARK} {label}: no east-west gateway, unreachable from other networks"
        groups.append(Group(_id("net", network), label, tuple(nodes), network in unreachable))
    for cluster in mesh.clusters:
        control = mesh.control_plane_of(cluster)
        if control is not None:
            edges.append(
                Edge(
                    _id("c", control.name), _id("c", cluster.name), "control plane", "control-plane"
                )
            )
    for source, target in itertools.permutations(groups, 2):
        network = target.id
        for gateway in gateways_of.get(network, []):
            edges.append(Edge(source.id, gateway, "15443 mTLS", "cross-network"))
    return Graph(tuple(groups), tuple(edges))


def service_graph(
    mesh: spec.Mesh, policies: traffic.TrafficPolicies, service: traffic.Service
) -> Graph:
    """One service's traffic: its client clusters, a weighted edge to each share of the split
    (through the destination network's east-west gateways when it crosses networks), or to
    the service itself when the policy only tunes failover, retries or timeouts."""
    from meshgen.traffic.changes import aspects

    topology = placement.Topology(mesh)
    nodes: dict[str, dict[str, Node]] = {}  # network -> node id -> node
    edges: dict[tuple[str, str, str], Edge] = {}

    def add(network: str, node: Node) -> str:
        nodes.setdefault(network, {}).setdefault(node.id, node)
        return node.id

    for policy in policies.for_service(service):
        notes = [
            f"{key} {value}"
            for key, value in aspects(policy).items()
            if value is not None and (key, value) not in (("protocol", "http"), ("scope", "global"))
        ]
        for name in policy.clients_in(mesh):
            client = mesh.cluster(name)
            label = f"{name}: client" + (f" ({'; '.join(notes)})" if notes else "")
            source = add(client.network, Node(_id("c", name), label))
            if not policy.split:
                target = add("", Node("svc", f"{service} in every cluster", endpoint=True))
                edge = Edge(source, target, "Istio's load balancing", "traffic")
                edges.setdefault((edge.source, edge.target, edge.label), edge)
                continue
            for destination in policy.split:
                cluster = mesh.cluster(destination.cluster)
                endpoints = add(
                    cluster.network,
                    Node(
                        _id("s", destination.subset),
                        f"{service.name} {destination.label} (subset {destination.subset})",
                        endpoint=True,
                    ),
                )
                hops = [endpoints]
                if cluster.network != client.network:
                    gateways = [c.name for c in topology.gateways_on(cluster.network)]
                    via = add(
                        cluster.network,
                        Node(
                            _id("gw", cluster.network),
                            f"east-west gateway: {', '.join(gateways)}",
                            gateway=True,
                        ),
                    )
                    hops = [via, endpoints]
                share = f"{destination.weight}%"
                if len(hops) > 1:
                    share += f" to {destination.label}"
                first = Edge(source, hops[0], share, "traffic")
                edges.setdefault((first.source, first.target, first.label), first)
                if len(hops) > 1:
                    through = Edge(hops[0], hops[1], "", "through")
                    edges.setdefault((through.source, through.target, ""), through)
    order = [n for n in mesh.clusters_by_network() if n in nodes]
    groups = [
        Group(_id("net", network), f"network {network}", tuple(nodes[network].values()), False)
        for network in order
    ]
    if "" in nodes:
        groups.append(Group("net_any", "the whole mesh", tuple(nodes[""].values()), False))
    return Graph(tuple(groups), tuple(edges.values()))


def _quote(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(mesh: spec.Mesh) -> str:
    """A Mermaid ``flowchart`` (one statement a line, so it diffs and parses line by line)."""
    return graph_to_mermaid(mesh_graph(mesh))


ARROWS = {
    "gateway": "---",
    "control-plane": "==>",
    "cross-network": "-.->",
    "traffic": "-->",
    "through": "-.->",
}
TRAFFIC_EDGES = ("traffic", "through")


def graph_to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for group in graph.groups:
        lines.append(f'  subgraph {group.id}["{_quote(group.label)}"]')
        for node in group.nodes:
            shape = ("{{", "}}") if node.gateway else ("([", "])") if node.endpoint else ("[", "]")
            lines.append(f'    {node.id}{shape[0]}"{_quote(node.label)}"{shape[1]}')
        lines.append("  end")
    for edge in graph.edges:
        text = f'"{_quote(edge.label)}"' if edge.kind in TRAFFIC_EDGES else edge.label
        label = f"|{text}|" if edge.label else ""
        lines.append(f"  {edge.source} {ARROWS[edge.kind]}{label} {edge.target}")
    for group in graph.groups:
        if group.unreachable:
            lines.append(f"  style {group.id} stroke:#d97706,stroke-width:3px")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(mesh: spec.Mesh) -> str:
    """A Graphviz ``digraph``; network groups are ``cluster_`` subgraphs, and cross-network
    edges leave their group from its first node with ``ltail`` (``compound=true``)."""
    return graph_to_dot(mesh_graph(mesh), mesh.mesh_id)


def graph_to_dot(graph: Graph, title: str) -> str:
    lines = [
        f"digraph {_dot_quote(title)} {{",
        "  rankdir=LR;",
        "  compound=true;",
        "  node [shape=box, fontname=Helvetica];",
    ]
    first_node = {}
    for group in graph.groups:
        first_node[group.id] = group.nodes[0].id
        lines.append(f"  subgraph cluster_{group.id} {{")
        lines.append(f"    label={_dot_quote(group.label)};")
        if group.unreachable:
            lines.append("    color=orange; penwidth=3;")
        for node in group.nodes:
            shape = ", shape=hexagon" if node.gateway else ""
            shape = ", shape=ellipse" if node.endpoint else shape
            lines.append(f"    {node.id} [label={_dot_quote(node.label)}{shape}];")
        lines.append("  }")
    for edge in graph.edges:
        attributes = [f"label={_dot_quote(edge.label)}"] if edge.label else []
        source = edge.source
        if edge.kind == "gateway":
            attributes.append("arrowhead=none")
        elif edge.kind == "control-plane":
            attributes.append("penwidth=2")
        elif edge.kind == "through":
            attributes.append("style=dashed")
        elif edge.kind == "cross-network":
            attributes += [f"ltail=cluster_{source}", "style=dashed"]
            source = first_node[source]
        lines.append(f"  {source} -> {edge.target} [{', '.join(attributes)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
