"""Reading and writing ``mesh.yaml`` text: parse, then migrate, validate and model it.

ruamel.yaml's round-trip mode keeps comments and key order, so a command that edits the file
writes back what the user wrote, plus the change.
"""

from __future__ import annotations

import io
from typing import Any

from meshgen.errors import MeshgenError
from meshgen.spec.invariants import check_invariants
from meshgen.spec.migrate import migrate
from meshgen.spec.model import API_VERSION, KIND, MESH_FILE, MeshDocument, build_model
from meshgen.spec.schema import validate_schema


def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def parse(text: str, source: str = MESH_FILE) -> MeshDocument:
    """Parse, migrate and validate ``mesh.yaml`` text; raise MeshgenError naming file and line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        tree = _round_trip_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise MeshgenError(
            f"{source}{line}: not valid YAML ({exc.problem or exc.context}); fix the syntax"
        ) from None
    except YAMLError as exc:
        raise MeshgenError(f"{source}: not valid YAML ({exc}); fix the syntax") from None
    if not isinstance(tree, dict):
        raise MeshgenError(
            f"{source}: expected a mapping with apiVersion: {API_VERSION} and kind: {KIND}; "
            "run `meshgen init` to create one"
        )
    return from_tree(tree, source)


def from_tree(tree: Any, source: str = MESH_FILE) -> MeshDocument:
    """Migrate and validate a round-trip tree (parsed, or edited in memory)."""
    original_version = tree.get("apiVersion")
    tree = migrate(tree, source)
    validate_schema(tree, source)
    mesh = build_model(tree)
    check_invariants(mesh, tree, source)
    migrated_from = original_version if original_version != API_VERSION else None
    return MeshDocument(source=source, tree=tree, mesh=mesh, migrated_from=migrated_from)


def to_text(document: MeshDocument) -> str:
    stream = io.StringIO()
    _round_trip_yaml().dump(document.tree, stream)
    return stream.getvalue()
