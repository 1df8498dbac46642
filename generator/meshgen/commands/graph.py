"""``meshgen graph``: draw the mesh from mesh.yaml as Mermaid, Graphviz DOT or SVG, or give its
graph (networks with their nodes, edges) as JSON or YAML; with ``--service``, the traffic of
one service from its traffic files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshgen import graph, mesh_repo, output, traffic
from meshgen.adapters import graphviz
from meshgen.errors import MeshgenError


def _service_graph(root: Path, name: str) -> tuple[graph.Graph, str]:
    mesh = mesh_repo.load(root).mesh
    policies = mesh_repo.load_traffic(root, mesh)
    service = traffic.Service.parse(name)
    if not policies.for_service(service):
        known = ", ".join(str(s) for s in policies.services()) or "none yet"
        raise MeshgenError(
            f"--service {name}: no TrafficPolicy for {service} under traffic/ "
            f"(services with one: {known}); pass NAME.NAMESPACE"
        )
    return graph.service_graph(mesh, policies, service), str(service)


def _data(header: dict[str, Any], drawn: graph.Graph, fmt: str) -> str:
    import dataclasses
    import json

    from meshgen.render import yamltext

    model = {**header, **dataclasses.asdict(drawn)}
    return json.dumps(model, indent=2) + "\n" if fmt == "json" else yamltext.dump(model)


def run(
    repo: Path | None, output_format: str, target: Path | None, service: str | None = None
) -> int:
    root = mesh_repo.find_root(repo)
    if service is not None:
        drawn, title = _service_graph(root, service)
        what = f"traffic of {title}"
        header = {"service": title}
    else:
        mesh = mesh_repo.load(root).mesh
        drawn, title = graph.mesh_graph(mesh), mesh.mesh_id
        what = f"graph of mesh {title}"
        header = {"meshID": title}
    if output_format == "mermaid":
        text = graph.graph_to_mermaid(drawn)
    elif output_format == "dot":
        text = graph.graph_to_dot(drawn, title)
    elif output_format in ("json", "yaml"):
        text = _data(header, drawn, output_format)
    else:
        text = graphviz.to_svg(graph.graph_to_dot(drawn, title))
    if target is None:
        output.raw(text)
        return 0
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MeshgenError(
            f"--output-file {target}: cannot be written ({exc.strerror}); choose another file"
        ) from None
    output.info(f"Wrote the {output_format} {what} to {target}.")
    return 0
