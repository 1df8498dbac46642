"""Where a field of ``mesh.yaml`` is: its line in the file and its dotted name in errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def line_of(tree: Any, path: Iterable[Any]) -> int:
    """1-based line of the deepest node of ``path`` that the round-trip tree knows."""
    line = 0
    node = tree
    for key in path:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                line = lc.item(key)[0] if isinstance(key, int) else lc.key(key)[0]
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line + 1


def field_name(path: Iterable[Any]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "(top level)"
