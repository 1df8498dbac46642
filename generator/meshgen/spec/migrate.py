"""Migrations: bring a ``mesh.yaml`` of an older ``apiVersion`` up to the current one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshgen.errors import MeshgenError, excerpt
from meshgen.spec.locations import line_of
from meshgen.spec.model import API_VERSION

MIGRATIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {}


def rename_key(mapping: Any, old: str, new: str) -> None:
    """Rename a key of a round-trip mapping in place, keeping its position and its comments.

    For migrations: ruamel keeps a key's comments in ``ca.items[key]``, which a plain
    pop/insert would drop.
    """
    position = list(mapping).index(old)
    comments = mapping.ca.items.pop(old, None)
    mapping.insert(position, new, mapping.pop(old))
    if comments is not None:
        mapping.ca.items[new] = comments


def migrate(tree: Any, source: str) -> Any:
    """Bring an older ``mesh.yaml`` tree up to :data:`API_VERSION` (in place, comments kept)."""
    version = tree.get("apiVersion")
    seen = set()
    while version != API_VERSION:
        if isinstance(version, str) and version in MIGRATIONS and version not in seen:
            seen.add(version)
            version, step = MIGRATIONS[version]
            tree = step(tree)
            tree["apiVersion"] = version
            continue
        line = line_of(tree, ["apiVersion"])
        raise MeshgenError(
            f"{source}:{line}: apiVersion {excerpt(version)} is not one this meshgen knows "
            f"(it reads {API_VERSION}); set apiVersion: {API_VERSION} or upgrade meshgen"
        )
    return tree
