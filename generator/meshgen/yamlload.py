"""YAML read as kubectl and Helm read it (YAML 1.1, PyYAML's safe loader), faster.

``validate`` parses what ``kubectl kustomize`` and ``helm template`` print, megabytes per run;
with libyaml's C parser, most of that time was PyYAML's constructor in Python (a generator per
mapping, a resolver's regular expressions per scalar). :func:`load` and :func:`load_all` give
exactly what ``yaml.load(text, Loader=CSafeLoader)`` gives (equal values of the same types,
the same errors): the tag of a plain scalar is resolved once per distinct (value, style) and
process, and strings, nulls, booleans, decimal integers, mappings and sequences are built
directly from libyaml's nodes. Everything else (other numbers, timestamps, binary, merge keys,
sets, explicit tags) is built by PyYAML's own constructor, node by node. An alias gives the
object of its anchor, as PyYAML's does; one inside its own anchor (a recursive document) is
built by PyYAML entirely, and so is a document where anything fails (PyYAML's error is then
the one raised). Without libyaml, both are PyYAML's safe loader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_TAG = "tag:yaml.org,2002:"
STR, NULL, BOOL, INT = (_TAG + name for name in ("str", "null", "bool", "int"))
MAP, SEQ = _TAG + "map", _TAG + "seq"
# Keys PyYAML's constructor rewrites before it builds a mapping (merge keys, and "=" read as
# a string): such a mapping is left to it.
_FLATTENED = (_TAG + "merge", _TAG + "value")
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")  # what int() reads as PyYAML does
_BOOLS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}
_MEMO_LIMIT = 200_000  # resolved tags kept per process
_MEMO_VALUE = 256  # longer scalars are resolved each time (hashing them costs as much)


class _Recursive(Exception):
    """A node inside itself: left to PyYAML's constructor, which handles it."""


# Anything unusual (a node inside itself, an unhashable key, an unknown tag, nesting deeper
# than Python's recursion limit) makes PyYAML's constructor build the whole document again,
# so that its value, or its error, is the one given.


def _loader_class() -> type | None:
    try:
        import yaml
        from yaml import CSafeLoader
    except ImportError:
        return None
    del yaml
    resolve = CSafeLoader.resolve
    memo: dict[tuple[Any, str, tuple[bool, bool]], str] = {}

    class Loader(CSafeLoader):  # type: ignore[misc,valid-type]
        """CSafeLoader whose scalar tags are remembered: the safe loader has no path
        resolvers, so a tag depends on the node's kind, value and style only."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if not isinstance(value, str) or len(value) > _MEMO_VALUE:
                return resolve(self, kind, value, implicit)  # type: ignore[no-any-return]
            key = (kind, value, implicit)
            tag = memo.get(key)
            if tag is None:
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                tag = memo[key] = resolve(self, kind, value, implicit)
            return tag

    return Loader


_LOADER: list[type | None] = []


def _loader() -> type | None:
    if not _LOADER:
        _LOADER.append(_loader_class())
    return _LOADER[0]


def load(text: str) -> Any:
    """The one document of ``text`` (None when empty), as ``yaml.load(text, CSafeLoader)``."""
    import yaml

    loader_class = _loader()
    if loader_class is None:
        return yaml.load(text, Loader=yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _document(loader, node)
    finally:
        loader.dispose()


def load_all(text: str) -> Iterator[Any]:
    """Every document of ``text``, as ``yaml.load_all(text, CSafeLoader)``."""
    import yaml

    loader_class = _loader()
    if loader_class is None:
        yield from yaml.load_all(text, Loader=yaml.SafeLoader)
        return
    loader = loader_class(text)
    try:
        while loader.check_node():
            yield _document(loader, loader.get_node())
    finally:
        loader.dispose()


def _document(loader: Any, node: Any) -> Any:
    try:
        return _Builder(loader).build(node)
    except Exception:  # PyYAML's constructor decides: its value, or its error
        loader.constructed_objects, loader.recursive_objects = {}, {}
        loader.state_generators, loader.deep_construct = [], False
        return loader.construct_document(node)


class _Builder:
    def __init__(self, loader: Any) -> None:
        import yaml

        self.loader = loader
        self.scalar, self.sequence, self.mapping = (
            yaml.ScalarNode,
            yaml.SequenceNode,
            yaml.MappingNode,
        )
        self.built: dict[int, Any] = {}  # collections by node: an alias gives the same object
        self.building: set[int] = set()

    def build(self, node: Any) -> Any:
        kind, tag = type(node), node.tag
        if kind is self.scalar:
            if tag == STR:
                return node.value
            if tag == NULL:
                return None
            if tag == BOOL:
                return _BOOLS[node.value.lower()]
            if tag == INT and _DECIMAL.fullmatch(node.value):
                return int(node.value)
            return self.loader.construct_object(node, deep=True)
        ident = id(node)
        if ident in self.built:
            return self.built[ident]
        if ident in self.building:
            raise _Recursive
        if kind is self.sequence and tag == SEQ:
            self.building.add(ident)
            value: Any = [self.build(item) for item in node.value]
        elif (
            kind is self.mapping
            and tag == MAP
            and not any(key.tag in _FLATTENED for key, _ in node.value)
        ):
            self.building.add(ident)
            value = {}
            for key_node, value_node in node.value:
                value[self.build(key_node)] = self.build(value_node)  # unhashable: raises
        else:
            value = self.loader.construct_object(node, deep=True)
        self.building.discard(ident)
        self.built[ident] = value
        return value
