"""The JSON Schema check of ``mesh.yaml`` (``schemas/mesh.schema.json``), with errors that
name the line and field, and suggest the key that was probably meant."""

from __future__ import annotations

import difflib
import re
from typing import Any

from meshgen import library
from meshgen.errors import SpecError, excerpt
from meshgen.spec.locations import field_name, line_of
from meshgen.spec.model import MESH_FILE
from meshgen.spec.schemacheck import Check, compile_schema


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
        return f"{excerpt(error.instance)} is not allowed: {hint.rstrip('.')}{_expected(schema)}"
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
        return f"{excerpt(error.instance)} is longer than {schema['maxLength']} characters"
    if validator == "enum":
        allowed = ", ".join(str(v) for v in schema["enum"])
        return f"{excerpt(error.instance)} is not one of: {allowed}"
    if validator == "const":
        return f"must be {schema['const']!r}, not {excerpt(error.instance)}"
    if validator == "required":
        return error.message.replace("is a required property", "is required here; add it")
    if validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        unknown = _unknown_keys(error)[0]
        close = difflib.get_close_matches(unknown, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(known)}"
        return f"unknown key; {hint}"
    if validator == "type":
        expected = schema["type"]
        if expected == "integer" and isinstance(error.instance, float):
            return f"{excerpt(error.instance)} should be a whole number, written without a point"
        return f"{excerpt(error.instance)} should be of type {expected}"
    if len(error.message) > 200:  # messages quote the whole instance
        return f"{excerpt(error.instance)} does not pass the schema's {validator} rule"
    return error.message


def _unknown_keys(error: Any) -> list[str]:
    known = error.schema.get("properties", {})
    return sorted(str(k) for k in error.instance if k not in known)


def _is_integer(_checker: Any, instance: Any) -> bool:
    """Integers only: JSON Schema counts 2.0 as an integer, but the YAML writer, Helm and
    Kubernetes want 2 (a float in ``replicas`` ends up as ``2.0`` in the values)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _validator_class(schema: dict[str, Any]) -> Any:
    import jsonschema

    base = jsonschema.validators.validator_for(schema)
    checker = base.TYPE_CHECKER.redefine("integer", _is_integer)
    return jsonschema.validators.extend(base, type_checker=checker)


# The compiled check of each schema (see schemacheck), by the schema's identity; the schema
# is kept too, so its id cannot be reused while the entry lives.
_compiled: dict[int, tuple[dict[str, Any], Check | None]] = {}


def _fast_check(schema: dict[str, Any]) -> Check | None:
    entry = _compiled.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = (schema, compile_schema(schema))
        _compiled[id(schema)] = entry
    return entry[1]


def validate_schema(
    tree: Any, source: str = MESH_FILE, schema: dict[str, Any] | None = None
) -> None:
    """Check the tree against ``schemas/mesh.schema.json`` (or ``schema``, for the other inputs
    of a mesh repository); report the first error with its line. A tree the compiled check
    passes is valid; any other goes to jsonschema, which finds and words the error."""
    schema = schema if schema is not None else library.mesh_schema()
    check = _fast_check(schema)
    if check is not None and check(tree):
        return
    import jsonschema

    validator = _validator_class(schema)(schema)
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
