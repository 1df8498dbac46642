"""The JSON Schema check of ``mesh.yaml`` (``schemas/mesh.schema.json``), with errors that
name the line and field, and suggest the key that was probably meant."""

from __future__ import annotations

import difflib
import re
from typing import Any

from meshgen import library
from meshgen.errors import SpecError
from meshgen.spec.locations import field_name, line_of
from meshgen.spec.model import MESH_FILE


def _as_written(value: Any) -> str:
    """A scalar as the file spells it (ruamel keeps ``1.30`` although the number is 1.3)."""
    import io

    from ruamel.yaml import YAML

    stream = io.StringIO()
    YAML(typ="rt").dump([value], stream)
    return stream.getvalue().strip().removeprefix("- ")


def _expected(schema: dict[str, Any], written: str | None = None) -> str:
    """``; expected something like 1.30.3`` from the schema's ``examples`` (empty when there
    are none, or ``written`` already has the right shape)."""
    examples = schema.get("examples")
    if not examples:
        return ""
    if written is not None and re.fullmatch(schema.get("pattern", ".*"), written):
        return ""
    from meshgen.render.yamltext import scalar

    return f"; expected something like {scalar(examples[0])}"


def _describe_schema_error(error: Any) -> str:
    validator = error.validator
    schema = error.schema
    if validator == "pattern":
        hint = schema.get("description") or f"it must match {schema['pattern']}"
        return f"{error.instance!r} is not allowed: {hint.rstrip('.')}{_expected(schema)}"
    if (
        validator == "type"
        and schema["type"] == "string"
        and isinstance(error.instance, (int, float))
        and not isinstance(error.instance, bool)
    ):
        written = _as_written(error.instance)
        read = f"read as {error.instance}" if written != str(error.instance) else "not text"
        return (
            f"{written} is a number to YAML, {read}; write it in quotes, "
            f'"{written}"{_expected(schema, written)}'
        )
    if validator == "maxLength":
        return f"{error.instance!r} is longer than {schema['maxLength']} characters"
    if validator == "enum":
        allowed = ", ".join(str(v) for v in schema["enum"])
        return f"{error.instance!r} is not one of: {allowed}"
    if validator == "const":
        return f"must be {schema['const']!r}, not {error.instance!r}"
    if validator == "required":
        return error.message.replace("is a required property", "is required here; add it")
    if validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        unknown = _unknown_keys(error)[0]
        close = difflib.get_close_matches(unknown, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(known)}"
        return f"unknown key; {hint}"
    if validator == "type":
        return f"{error.instance!r} should be of type {schema['type']}"
    return error.message


def _unknown_keys(error: Any) -> list[str]:
    known = error.schema.get("properties", {})
    return sorted(str(k) for k in error.instance if k not in known)


def validate_schema(
    tree: Any, source: str = MESH_FILE, schema: dict[str, Any] | None = None
) -> None:
    """Check the tree against ``schemas/mesh.schema.json`` (or ``schema``, for the other inputs
    of a mesh repository); report the first error with its line."""
    import jsonschema

    schema = schema if schema is not None else library.mesh_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(tree), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    path = list(error.absolute_path)
    if error.validator == "propertyNames":
        path = [*path, error.instance]
    elif error.validator == "additionalProperties":
        path = [*path, _unknown_keys(error)[0]]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise SpecError(
        source, line_of(tree, path), field_name(path), f"{_describe_schema_error(error)}{more}"
    )
