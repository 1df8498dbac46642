"""Check 1: ``mesh.yaml`` against its JSON Schema, then the invariants the commands enforce."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshgen import mesh_repo, spec
from meshgen.errors import MeshgenError, SpecError
from meshgen.render.readme import network_reachability
from meshgen.validation import WARNING, Finding


def check(root: Path) -> tuple[spec.MeshDocument | None, list[Finding]]:
    """The parsed mesh (None when broken) and what is wrong with it.

    ``spec`` stops at the first problem, so at most one error comes back; the other checks
    that need the mesh are then skipped. A valid mesh may bring warnings (a network the
    others cannot reach).
    """
    if not (root / spec.MESH_FILE).is_file():
        raise MeshgenError(
            f"{root}: has no {spec.MESH_FILE}, so it is not a mesh repository; pass --repo DIR "
            "or run `meshgen init`"
        )
    try:
        document = mesh_repo.load(root, editing=False)
    except SpecError as exc:
        finding = Finding(
            check="mesh",
            message=f"{exc.field}: {exc.detail}",
            fix="edit mesh.yaml as the message says (its schema is .meshgen/mesh.schema.json)",
            file=spec.MESH_FILE,
            line=exc.line,
        )
    except MeshgenError as exc:
        message = str(exc).removeprefix(f"{root / spec.MESH_FILE}: ")
        finding = Finding(
            check="mesh",
            message=message.removeprefix(f"{spec.MESH_FILE}: "),
            fix="fix mesh.yaml (or run `meshgen init` to create one)",
            file=spec.MESH_FILE,
        )
    else:
        return document, reachability(document.mesh)
    return None, [finding]


def reachability(mesh: spec.Mesh) -> list[Finding]:
    """A warning for each network the other networks cannot reach (no east-west gateway)."""
    return [
        Finding(
            check="mesh",
            message=warning.split("; ", 1)[0],
            fix=warning.split("; ", 1)[1],
            file=spec.MESH_FILE,
            severity=WARNING,
        )
        for warning in network_reachability(mesh)
    ]


def field_line(document: spec.MeshDocument, path: Sequence[Any]) -> int:
    """The 1-based line of a field of ``mesh.yaml`` (of its deepest part the file sets): from
    the text as read when nothing changed it, else from the round-trip tree."""
    from meshgen.spec.locations import line_of, text_line_of

    text = document.text
    return text_line_of(text, path) if text is not None else line_of(document.tree, path)
