"""`meshgen.graph`: the Mermaid output parses, and its nodes and edges match the mesh."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from helpers import MINIMAL_MESH
from meshgen import graph, spec

NODE = re.compile(r'^\s{4}(?P<id>[a-z0-9_]+)(?:\["(?P<box>[^"]*)"\]|\{\{"(?P<hex>[^"]*)"\}\})$')
EDGE = re.compile(
    r"^\s{2}(?P<src>[a-z0-9_]+) (?P<arrow>---|==>|-\.->)(?:\|[^|]+\|)? (?P<dst>[a-z0-9_]+)$"
)
SUBGRAPH = re.compile(r'^\s{2}subgraph (?P<id>[a-z0-9_]+)\["(?P<label>[^"]*)"\]$')


def parse_mermaid(text: str) -> dict:
    """A strict reader for the subset meshgen writes; any other line fails the test."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    groups: dict[str, dict] = {}
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    current = None
    for line in lines[1:]:
        if m := SUBGRAPH.match(line):
            assert current is None, "nested subgraph"
            current = m["id"]
            groups[current] = {"label": m["label"], "nodes": []}
        elif line == "  end":
            assert current is not None
            current = None
        elif m := NODE.match(line):
            assert current is not None, f"node outside a network: {line}"
            assert m["id"] not in nodes, f"duplicate node {m['id']}"
            nodes[m["id"]] = "gateway" if m["hex"] is not None else "cluster"
            groups[current]["nodes"].append(m["id"])
        elif m := EDGE.match(line):
            edges.append((m["src"], m["arrow"], m["dst"]))
        elif line.startswith("  style "):
            assert line.split()[1] in groups
        else:
            pytest.fail(f"unexpected Mermaid line: {line!r}")
    assert current is None, "subgraph not closed"
    for src, _, dst in edges:
        assert src in nodes or src in groups, src
        assert dst in nodes or dst in groups, dst
    return {"groups": groups, "nodes": nodes, "edges": edges}


def build(*requests: spec.NewCluster, text: str = MINIMAL_MESH) -> spec.Mesh:
    document = spec.parse(text)
    for request in requests:
        document, _ = spec.add_cluster(document, request)
    return document.mesh


MESHES = {
    "one cluster": lambda: build(spec.NewCluster("c1", "n1")),
    "multi-primary, three networks": lambda: build(
        spec.NewCluster("c1", "n1", east_west_gateway=True),
        spec.NewCluster("c2", "n2"),
        spec.NewCluster("c3", "n2"),
        spec.NewCluster("c4", "n3"),
    ),
    "primary-remote": lambda: build(
        spec.NewCluster("p1", "n1", east_west_gateway=True),
        spec.NewCluster(
            "r1", "n2", role="remote", control_plane="p1", discovery_address="192.0.2.1"
        ),
        spec.NewCluster("r2", "n1", role="remote", control_plane="p1"),
        spec.NewCluster("one-way", "n3", east_west_gateway=False),
    ),
    "external control plane": lambda: build(
        spec.NewCluster("ext", "n1", role="external-control-plane", east_west_gateway=False),
        spec.NewCluster(
            "config", "n1", role="remote", control_plane="ext", discovery_address="192.0.2.9"
        ),
    ),
}


@pytest.mark.parametrize("name", list(MESHES))
def test_mermaid_nodes_and_edges_match_the_mesh(name: str) -> None:
    mesh = MESHES[name]()
    parsed = parse_mermaid(graph.to_mermaid(mesh))
    gateways = [c for c in mesh.clusters if c.east_west_gateway.enabled]
    remotes = [c for c in mesh.clusters if c.control_plane]
    networks = {c.network for c in mesh.clusters}
    gateways_on = {n: sum(c.network == n for c in gateways) for n in networks}
    cross = sum(gateways_on[b] for a in networks for b in networks if a != b)

    assert len(parsed["groups"]) == len(networks)
    assert sum(kind == "cluster" for kind in parsed["nodes"].values()) == len(mesh.clusters)
    assert sum(kind == "gateway" for kind in parsed["nodes"].values()) == len(gateways)
    arrows = [arrow for _, arrow, _ in parsed["edges"]]
    assert arrows.count("---") == len(gateways)
    assert arrows.count("==>") == len(remotes)
    assert arrows.count("-.->") == cross
    # Every cluster sits in its network's group.
    for cluster in mesh.clusters:
        group = parsed["groups"][f"net_{cluster.network}"]
        assert f"c_{cluster.name.replace('-', '_')}" in group["nodes"]
    for remote in remotes:
        assert (f"c_{remote.control_plane}", "==>", f"c_{remote.name}") in parsed["edges"]


def test_unreachable_network_carries_a_warning_mark() -> None:
    mesh = MESHES["primary-remote"]()
    parsed = parse_mermaid(graph.to_mermaid(mesh))
    assert parsed["groups"]["net_n3"]["label"].startswith(f"{graph.WARNING_MARK} network n3")
    assert not parsed["groups"]["net_n1"]["label"].startswith(graph.WARNING_MARK)
    # n3 has no gateway: nothing points into it, but it reaches the others' gateways.
    assert not [e for e in parsed["edges"] if e[2] == "net_n3" or e[2].endswith("one_way")]
    assert ("net_n3", "-.->", "gw_p1") in parsed["edges"]


def test_output_is_deterministic() -> None:
    mesh = MESHES["multi-primary, three networks"]()
    assert graph.to_mermaid(mesh) == graph.to_mermaid(MESHES["multi-primary, three networks"]())
    assert graph.to_dot(mesh) == graph.to_dot(mesh)


def test_dot_has_the_same_nodes_and_edges() -> None:
    mesh = MESHES["primary-remote"]()
    text = graph.to_dot(mesh)
    model = graph.mesh_graph(mesh)
    assert text.count("subgraph cluster_") == len(model.groups)
    assert len(re.findall(r"^\s+\w+ -> \w+ \[", text, re.M)) == len(model.edges)
    assert len(re.findall(r"^\s{4}\w+ \[label=", text, re.M)) == sum(
        len(g.nodes) for g in model.groups
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_dot_is_valid_graphviz_and_gives_svg() -> None:
    mesh = MESHES["multi-primary, three networks"]()
    result = subprocess.run(
        ["dot", "-Tsvg"], input=graph.to_dot(mesh), capture_output=True, text=True, check=True
    )
    root = ET.fromstring(result.stdout)
    assert root.tag.endswith("svg")
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert {"c_c1", "c_c4", "gw_c1", "cluster_net_n2"} <= titles
