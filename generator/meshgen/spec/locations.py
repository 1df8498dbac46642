"""Where a field of ``mesh.yaml`` is: its line in the file and its dotted name in errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from meshgen.errors import excerpt


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


FIELD_CHARS = 60


def _key_text(key: Any) -> str:
    """A key as errors show it: as written when it is short and printable, else an excerpt."""
    text = str(key)
    if text.isprintable() and len(text) <= FIELD_CHARS and " " not in text:
        return text
    return excerpt(text, FIELD_CHARS)


def field_name(path: Iterable[Any]) -> str:
    text = ""
    for key in path:
        if isinstance(key, int) and not isinstance(key, bool):
            text += f"[{key}]"
        else:
            text += f".{_key_text(key)}" if text else _key_text(key)
    return text or "(top level)"


def text_line_of(text: str, path: Iterable[Any]) -> int:
    """:func:`line_of` for the text of ``mesh.yaml``, composed by libyaml's C parser when
    present: the same lines, without building the round-trip tree (a fifth of a second for a
    100-cluster mesh) to name one of them. Keys are matched as written (plain strings)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = _COMPOSED[text] if text in _COMPOSED else yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        return 1
    _COMPOSED.clear()
    _COMPOSED[text] = node
    line = 0
    for key in path:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                    line, child = key_node.start_mark.line, value_node
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(key, int)
            and 0 <= key < len(node.value)
        ):
            child = node.value[key]
            line = child.start_mark.line
        if child is None:
            break
        node = child
    return line + 1


_COMPOSED: dict[str, Any] = {}  # the last text composed (one mesh.yaml per command)
