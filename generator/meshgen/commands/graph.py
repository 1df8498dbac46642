"""``meshgen graph``: draw the mesh from mesh.yaml as Mermaid, Graphviz DOT or SVG, or give
its graph (networks with their nodes, edges) as JSON or YAML."""

from __future__ import annotations

from pathlib import Path

from meshgen import graph, mesh_repo, output, spec
from meshgen.adapters import graphviz
from meshgen.errors import MeshgenError


def _data(mesh: spec.Mesh, fmt: str) -> str:
    import dataclasses
    import json

    from meshgen.render import yamltext

    model = {"meshID": mesh.mesh_id, **dataclasses.asdict(graph.mesh_graph(mesh))}
    return json.dumps(model, indent=2) + "\n" if fmt == "json" else yamltext.dump(model)


def run(repo: Path | None, output_format: str, target: Path | None) -> int:
    mesh = mesh_repo.load(mesh_repo.find_root(repo)).mesh
    if output_format == "mermaid":
        text = graph.to_mermaid(mesh)
    elif output_format == "dot":
        text = graph.to_dot(mesh)
    elif output_format in ("json", "yaml"):
        text = _data(mesh, output_format)
    else:
        text = graphviz.to_svg(graph.to_dot(mesh))
    if target is None:
        output.raw(text)
        return 0
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MeshgenError(
            f"--output-file {target}: cannot be written ({exc.strerror}); choose another file"
        ) from None
    output.info(f"Wrote the {output_format} graph of mesh {mesh.mesh_id} to {target}.")
    return 0
