"""A small, fast, deterministic YAML writer for generated files.

Generated files are plain data (dicts, lists, strings, ints, bools), so a 100-line emitter
beats ruamel.yaml's pure-Python dumper by an order of magnitude and, more importantly, makes
every quoting decision explicit. Helm and kubectl read YAML like YAML 1.1, where ``on``, ``no``,
``y``, ``0755`` or ``1e3`` are not strings; any string that a 1.1 *or* 1.2 reader could take as
something else is double-quoted. Key order is the insertion order of the dicts, which the
renderer builds in Kubernetes' conventional order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Strings matching this (and not a YAML 1.1 keyword) are safe as plain scalars in block context.
# Colons may appear only when followed by a non-space (as in URLs), never at the end.
_PLAIN = re.compile(r"[A-Za-z_/$][A-Za-z0-9_.$/=@+-]*(?::[A-Za-z0-9_.$/=@+-]+)*")
_KEYWORDS_11 = frozenset(["y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"])


def needs_quotes(text: str) -> bool:
    """True when ``text`` must be quoted to be read back as the same string by YAML 1.1 and 1.2."""
    return _PLAIN.fullmatch(text) is None or text.lower() in _KEYWORDS_11


def scalar(value: Any) -> str:
    """One scalar as YAML text."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if needs_quotes(value):
            return _double_quoted(value)
        return value
    raise TypeError(f"cannot write {type(value).__name__} as YAML: {value!r}")


# Characters YAML does not allow raw in a document (C0 controls but tab and line breaks, DEL,
# C1 controls, surrogates, U+FFFE, U+FFFF), or reads as line breaks / byte order marks. Listed,
# not as the complement of what YAML allows: that class takes Python 9 ms to compile.
_NEEDS_ESCAPE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _double_quoted(text: str) -> str:
    # JSON's escapes are a subset of YAML's double-quoted ones; JSON leaves the rest raw.
    return _NEEDS_ESCAPE.sub(_escape, json.dumps(text, ensure_ascii=False))


def _is_literal_block(text: str) -> bool:
    """Multi-line strings are written as ``|`` blocks when that round-trips exactly."""
    if "\n" not in text or text.startswith((" ", "\n")) or "\r" in text:
        return False
    if _NEEDS_ESCAPE.search(text):
        return False
    return all(line == line.rstrip() and "\t" not in line for line in text.split("\n"))


def _literal_block(text: str, indent: str) -> list[str]:
    body = text[:-1] if text.endswith("\n") else text
    header = "|" if text.endswith("\n") and not text.endswith("\n\n") else "|-"
    if text.endswith("\n\n"):
        header = "|+"
        body = text[:-1]
    lines = [header]
    lines.extend(f"{indent}{line}" if line else "" for line in body.split("\n"))
    return lines


# Text of each string scalar and of each mapping key (``key:``) seen: a render writes the
# same few thousand strings hundreds of thousands of times. Bounded, so memory stays flat.
_STRING_TEXT: dict[str, str] = {}
_KEY_TEXT: dict[str, str] = {}
_CACHE_LIMIT = 200_000


def _string(text: str) -> str:
    written = _STRING_TEXT.get(text)
    if written is None:
        written = _double_quoted(text) if needs_quotes(text) else text
        if len(_STRING_TEXT) < _CACHE_LIMIT:
            _STRING_TEXT[text] = written
    return written


def _key(key: Any) -> str:
    written = _KEY_TEXT.get(key) if type(key) is str else None
    if written is None:
        if not isinstance(key, str):
            raise TypeError(f"mapping keys must be strings, got {key!r}")
        written = f"{scalar(key)}:"
        if type(key) is str and len(_KEY_TEXT) < _CACHE_LIMIT:
            _KEY_TEXT[key] = written
    return written


def _emit(value: Any, indent: str, out: list[str], prefix: str) -> None:
    """Append lines for ``value`` whose first line starts with ``prefix`` (e.g. ``key:``).

    The built-in types a renderer produces take the short branches first; any other
    mapping, sequence or scalar takes the general ones, with the same result."""
    kind = type(value)
    if kind is str:
        if "\n" in value and _is_literal_block(value):
            block = _literal_block(value, indent + "  ")
            out.append(f"{prefix} {block[0]}" if prefix else block[0])
            out.extend(block[1:])
            return
        text = _string(value)
        out.append(f"{prefix} {text}" if prefix else text)
        return
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        if not value:
            out.append(f"{prefix} {{}}" if prefix else "{}")
            return
        if prefix:
            out.append(prefix)
            indent += "  "
        _emit_items(value, indent, out)
        return
    if kind is list or (isinstance(value, Sequence) and not isinstance(value, str)):
        if not value:
            out.append(f"{prefix} []" if prefix else "[]")
            return
        if prefix:
            out.append(prefix)
            indent += "  "
        for item in value:
            _emit_item(item, indent, out)
        return
    if isinstance(value, str) and _is_literal_block(value):
        block = _literal_block(value, indent + "  ")
        out.append(f"{prefix} {block[0]}" if prefix else block[0])
        out.extend(block[1:])
        return
    out.append(f"{prefix} {scalar(value)}" if prefix else scalar(value))


def _emit_items(mapping: Mapping[Any, Any], indent: str, out: list[str]) -> None:
    """The entries of a non-empty mapping at ``indent``: one-line strings, booleans, ints and
    None written here (most entries are), the rest by :func:`_emit`, with the same text."""
    # _key and _string inlined (their caches read here): a render writes ~250,000 entries.
    key_text, string_text, append = _KEY_TEXT, _STRING_TEXT, out.append
    for key, item in mapping.items():
        written = key_text.get(key) if type(key) is str else None
        if written is None:
            written = _key(key)
        kind = type(item)
        if kind is str and "\n" not in item:
            text = string_text.get(item)
            append(f"{indent}{written} {text if text is not None else _string(item)}")
        elif kind is bool:
            append(f"{indent}{written} {'true' if item else 'false'}")
        elif kind is int:
            append(f"{indent}{written} {item}")
        elif item is None:
            append(f"{indent}{written} null")
        elif kind is dict and item:  # as _emit writes a non-empty mapping, one call less
            append(indent + written)
            _emit_items(item, indent + "  ", out)
        else:
            _emit(item, indent, out, indent + written)


def _emit_item(item: Any, indent: str, out: list[str]) -> None:
    """A sequence entry: ``- `` then the item, nested mappings continue at ``indent + 2``."""
    kind = type(item)
    if kind is str and "\n" not in item:
        out.append(f"{indent}- {_string(item)}")
        return
    if kind is dict and item:  # as _emit writes it, without the call
        start = len(out)
        _emit_items(item, indent + "  ", out)
        out[start] = f"{indent}- {out[start][len(indent) + 2 :]}"
        return
    if (kind is not list and isinstance(item, Mapping)) and item:
        start = len(out)
        _emit(item, indent + "  ", out, "")
        first = out[start]
        out[start] = f"{indent}- {first[len(indent) + 2 :]}"
        return
    if (kind is list or (isinstance(item, Sequence) and not isinstance(item, str))) and item:
        start = len(out)
        for sub in item:
            _emit_item(sub, indent + "  ", out)
        out[start] = f"{indent}- {out[start][len(indent) + 2 :]}"
        return
    if isinstance(item, str) and _is_literal_block(item):
        block = _literal_block(item, indent + "  ")
        out.append(f"{indent}- {block[0]}")
        out.extend(block[1:])
        return
    placeholder = "{}" if isinstance(item, Mapping) else "[]" if isinstance(item, list) else None
    out.append(f"{indent}- {placeholder or scalar(item)}")


def dump(value: Any) -> str:
    """One YAML document (no ``---``), ending in a newline."""
    out: list[str] = []
    if isinstance(value, Mapping) and value:
        _emit_items(value, "", out)
    else:
        _emit(value, "", out, "")
    return "\n".join(out) + "\n"


def dump_all(documents: Iterable[Any]) -> str:
    """Several documents separated by ``---``."""
    return "---\n".join(dump(doc) for doc in documents)
