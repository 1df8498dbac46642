"""A fast yes/no check of a tree against one of meshgen's own JSON Schemas.

``jsonschema`` walks a schema keyword by keyword for every node, with generators and
reference resolution at each step: about 0.2 s for a 1,000-cluster ``mesh.yaml``, most of a
first ``render``'s check. The schemas meshgen ships use a small set of keywords, so each is
turned once into a tree of plain Python functions that answer only "valid" or "not sure".

The answer is used one way: :func:`compile_schema`'s check returning True means that
``jsonschema`` (draft 2020-12, with meshgen's integer rule: no bools, no floats) finds no
error. Anything else, a False or a schema using a keyword not handled here (then
:func:`compile_schema` returns None), sends the tree to ``jsonschema``, which finds and
words the error as before. The functions are therefore strict where the two could differ
(``enum`` compares values of the same type only; ``uniqueItems`` decides only lists of text),
and ``tests/test_spec_schemacheck.py`` holds them to ``jsonschema`` on many mutated meshes.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that say nothing about validity.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated"}
)
_MAPPING = frozenset(
    {"properties", "required", "additionalProperties", "propertyNames", "minProperties"}
)
_SEQUENCE = frozenset({"items", "minItems", "uniqueItems"})
_TEXT = frozenset({"pattern", "minLength", "maxLength"})
_HANDLED = (
    _ANNOTATIONS
    | _MAPPING
    | _SEQUENCE
    | _TEXT
    | {"$defs", "$ref", "type", "enum", "const", "minimum", "maximum"}
)


class _Unsupported(Exception):
    """The schema uses something this module does not decide; jsonschema must."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": _is_number,
    "null": lambda v: v is None,
}

_SCALARS = (str, bool, int, float, type(None))


def _same_value(option: Any) -> Check:
    """Equal to ``option`` and of its very type (jsonschema also takes 1.0 for 1: then the
    answer here is False, and jsonschema decides)."""
    if not isinstance(option, _SCALARS):
        raise _Unsupported("enum or const of a list or mapping")
    kind = type(option)
    return lambda v: type(v) is kind and v == option


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def node(self, schema: Any) -> Check:
        if schema is True:
            return lambda _v: True
        if schema is False:
            return lambda _v: False
        if not isinstance(schema, dict):
            raise _Unsupported("a schema that is not an object")
        unknown = set(schema) - _HANDLED
        if unknown:
            raise _Unsupported(", ".join(sorted(unknown)))
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "type" in schema:
            checks.append(self.type(schema["type"]))
        if "enum" in schema:
            options = [_same_value(option) for option in schema["enum"]]
            checks.append(lambda v: any(option(v) for option in options))
        if "const" in schema:
            checks.append(_same_value(schema["const"]))
        if not _MAPPING.isdisjoint(schema):
            checks.append(self.mapping(schema))
        if not _SEQUENCE.isdisjoint(schema):
            checks.append(self.sequence(schema))
        if not _TEXT.isdisjoint(schema):
            checks.append(self.text(schema))
        if "minimum" in schema or "maximum" in schema:
            checks.append(self.bounds(schema.get("minimum"), schema.get("maximum")))
        if not checks:
            return lambda _v: True
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda v: first(v) and second(v)
        return lambda v: all(check(v) for check in checks)

    def ref(self, reference: Any) -> Check:
        if not isinstance(reference, str) or not reference.startswith("#/$defs/"):
            raise _Unsupported(f"$ref {reference!r}")
        name = reference.removeprefix("#/$defs/")
        if name not in self.refs:
            definitions = self.root.get("$defs", {})
            if name not in definitions:
                raise _Unsupported(f"$ref {reference!r}")
            resolved: list[Check] = []  # filled below; a recursive reference waits for it
            self.refs[name] = lambda v: resolved[0](v)
            resolved.append(self.node(definitions[name]))
            self.refs[name] = resolved[0]
        return self.refs[name]

    @staticmethod
    def type(expected: Any) -> Check:
        names = [expected] if isinstance(expected, str) else expected
        if not isinstance(names, list) or not all(name in _TYPES for name in names):
            raise _Unsupported(f"type {expected!r}")
        if len(names) == 1:
            return _TYPES[names[0]]
        tests = [_TYPES[name] for name in names]
        return lambda v: any(test(v) for test in tests)

    def mapping(self, schema: dict[str, Any]) -> Check:
        properties = {
            key: self.node(value) for key, value in (schema.get("properties") or {}).items()
        }
        required = tuple(schema.get("required") or ())
        extra = schema.get("additionalProperties", True)
        others: Check | None = None if extra is True else self.node(extra)
        names = self.node(schema["propertyNames"]) if "propertyNames" in schema else None
        least = schema.get("minProperties", 0)
        if not isinstance(least, int):
            raise _Unsupported("minProperties")

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            if len(value) < least:
                return False
            for key in required:
                if key not in value:
                    return False
            for key, item in value.items():
                if names is not None and not names(key):
                    return False
                known = properties.get(key) if isinstance(key, str) else None
                if known is not None:
                    if not known(item):
                        return False
                elif others is not None and not others(item):
                    return False
            return True

        return check

    def sequence(self, schema: dict[str, Any]) -> Check:
        each = self.node(schema["items"]) if "items" in schema else None
        least = schema.get("minItems", 0)
        unique = schema.get("uniqueItems", False)
        if not isinstance(least, int) or not isinstance(unique, bool):
            raise _Unsupported("minItems or uniqueItems")

        def check(value: Any) -> bool:
            if not isinstance(value, list):
                return True
            if len(value) < least:
                return False
            if each is not None:
                for item in value:
                    if not each(item):
                        return False
            if unique and len(value) > 1:
                # Only lists of text are decided here; jsonschema's equality of numbers,
                # bools and nested values is its own.
                if not all(type(item) is str for item in value):
                    return False
                return len(set(value)) == len(value)
            return True

        return check

    @staticmethod
    def text(schema: dict[str, Any]) -> Check:
        search = re.compile(schema["pattern"]).search if "pattern" in schema else None
        shortest = schema.get("minLength", 0)
        longest = schema.get("maxLength")

        def check(value: Any) -> bool:
            if not isinstance(value, str):
                return True
            if len(value) < shortest or (longest is not None and len(value) > longest):
                return False
            return search is None or search(value) is not None

        return check

    @staticmethod
    def bounds(least: Any, most: Any) -> Check:
        if not all(limit is None or _is_number(limit) for limit in (least, most)):
            raise _Unsupported("minimum or maximum")

        def check(value: Any) -> bool:
            if not _is_number(value):
                # jsonschema bounds any number but a bool; another kind than int or float
                # (Decimal, which neither YAML reader gives) is left to it
                return isinstance(value, bool) or not isinstance(value, numbers.Number)
            return (least is None or value >= least) and (most is None or value <= most)

        return check


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """The check of ``schema`` (see the module's documentation), or None when the schema
    uses something it does not handle."""
    if schema.get("$schema") not in (None, "https://json-schema.org/draft/2020-12/schema"):
        return None
    try:
        return _Compiler(schema).node(schema)
    except (_Unsupported, re.error):
        return None
