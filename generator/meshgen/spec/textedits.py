"""Edits of ``mesh.yaml`` made in its text, byte for byte what the round-trip edits write.

Parsing a mesh of a thousand clusters with ruamel.yaml's round-trip parser, and writing it
back, takes seconds; adding or removing one cluster changes a few lines. When the file is in
the layout ruamel writes itself (block style with its indentation, plain, single- or
double-quoted scalars that it writes back unchanged, one-line flow collections written as it
writes them, comments away from the edit), the change is made in the text: the new entry's
lines inserted, the removed entry's lines cut. The result is read back with libyaml and must
hold exactly the data the round-trip edit gives; it is then checked like any mesh (schema for
the new entries, every rule beyond the schema). Anything else, and every invalid result,
returns None: the caller makes the edit on the round-trip tree, which words the errors.

:func:`layout` is deliberately narrow: a line it does not recognise sends the edit to ruamel.
The tests compare both paths' bytes over the edit fixtures and generated layouts.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meshgen.errors import MeshgenError
from meshgen.spec.invariants import check_invariants
from meshgen.spec.model import Mesh, MeshDocument, build_model
from meshgen.spec.schema import validate_schema
from meshgen.spec.yamlio import plain_tree

_KEY = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_PLAIN_CHARS = r"[A-Za-z0-9_./=+@$-]"
# A plain scalar ruamel writes back as it was: safe characters, single inner spaces, colons
# only inside (as in URLs); its YAML 1.2 type comes from libyaml's reading (see plain_tree).
_PLAIN = rf"{_PLAIN_CHARS}+(?::{_PLAIN_CHARS}+)*(?: {_PLAIN_CHARS}+(?::{_PLAIN_CHARS}+)*)*"
_DOUBLE = r'"[ !#-\[\]-~]*"'
_SINGLE = r"'[ -&(-~]*'"
_FLOW_ITEM = rf"(?:{_PLAIN_CHARS}+|{_DOUBLE}|{_SINGLE})"
_FLOW_SEQUENCE = rf"\[(?:{_FLOW_ITEM}(?:, {_FLOW_ITEM})*)?\]"
_FLOW_MAPPING = rf"\{{(?:{_KEY}: {_FLOW_ITEM}(?:, {_KEY}: {_FLOW_ITEM})*)?\}}"
_VALUE = rf"(?:{_PLAIN}|{_DOUBLE}|{_SINGLE}|{_FLOW_SEQUENCE}|{_FLOW_MAPPING})"
_COMMENT = r"(?: +#.*)?"
_CONTENT = re.compile(
    rf"(?P<indent> *)(?P<dash>- )?(?:(?P<key>{_KEY}):(?: (?P<value>{_VALUE}))?|(?P<item>{_VALUE}))"
    rf"(?P<comment>{_COMMENT})"
)
_NOT_ROUND_TRIP = re.compile(
    r"(?<![A-Za-z0-9_./=+@$-])(?:~|null|Null|NULL|True|TRUE|False|FALSE)(?![A-Za-z0-9_./=+@$-])"
)
_SAFE_TEXT = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without '"' and '\'


@dataclass(frozen=True)
class Layout:
    """A mesh.yaml text ruamel writes back unchanged, cut into lines, with where each
    top-level key starts and where the items of its block sequence start."""

    lines: list[str]
    keys: dict[str, int]  # top-level key -> its line
    items: dict[str, list[int]]  # top-level key of a block sequence -> its items' first lines

    def block_end(self, key: str) -> int:
        """The line after the block of top-level ``key``."""
        start = self.keys[key]
        later = [line for line in self.keys.values() if line > start]
        return min(later) if later else len(self.lines)

    def last_content(self, end: int) -> int:
        """The last line before ``end`` that is not blank or a comment."""
        line = end - 1
        while not _is_content(self.lines[line]):
            line -= 1
        return line


def _is_content(line: str) -> bool:
    stripped = line.lstrip(" ")
    return bool(stripped) and not stripped.startswith("#")


def layout(text: str) -> Layout | None:
    """The :class:`Layout` of ``text``, or None when ruamel might write any of it differently."""
    if not text.endswith("\n") or "\r" in text or text.startswith("\n"):
        return None  # (ruamel drops blank lines before the first line of text)
    lines = text[:-1].split("\n")
    keys: dict[str, int] = {}
    items: dict[str, list[int]] = {}
    stack: list[tuple[int, bool]] = []  # (column, is a sequence) of the open blocks
    opened: int | None = None  # a key without a value: its column, until its block starts
    top = ""
    for number, line in enumerate(lines):
        if not _is_content(line):
            if line.endswith(" "):
                return None
            continue
        match = _CONTENT.fullmatch(line)
        if match is None or line.endswith(" "):
            return None
        value = match["value"] or match["item"]
        if value is not None and _NOT_ROUND_TRIP.search(value):
            return None
        column, dash = len(match["indent"]), match["dash"] is not None
        if opened is not None:
            if column != opened + 2:
                return None
            stack.append((column, dash))
            opened = None
        else:
            while stack and stack[-1] != (column, dash):
                stack.pop()
            if not stack and (column, dash) != (0, False):
                return None
        if not stack:
            stack.append((0, False))
        if column == 0:
            top = match["key"]
            if top in keys:
                return None
            keys[top] = number
        elif column == 2 and dash:
            items.setdefault(top, []).append(number)
        if dash and match["key"] is not None:
            stack.append((column + 2, False))  # the item's mapping
        if match["key"] is not None and value is None:
            if match["comment"]:
                return None
            opened = column + 2 if dash else column
        elif match["key"] is None and not dash:
            return None  # a bare scalar line: a continuation
    if opened is not None:
        return None
    return Layout(lines=lines, keys=keys, items=items)


NOT_EDITABLE = "not editable"  # MeshDocument.text_layout of a text layout() refuses


def layout_of(document: MeshDocument) -> Layout | None:
    """The :class:`Layout` of the document's text (None: no text, or not one to edit): the one
    known with it (``text_layout``: noted with its parsed data, or carried over by the edit
    that made the text), else :func:`layout` of it, kept with the document."""
    text = document.text
    if text is None:
        return None
    known = document.text_layout
    if known is None:
        known = document.text_layout = layout(text) or NOT_EDITABLE
    return known if isinstance(known, Layout) else None


def layout_record(document: MeshDocument) -> dict[str, Any] | None:
    """The layout of the document's text as plain data (JSON), for :func:`restore_layout`
    when the same text is read again; None when it is not one to edit."""
    found = layout_of(document)
    return None if found is None else {"keys": found.keys, "items": found.items}


def restore_layout(document: MeshDocument, record: Any) -> None:
    """Give the document (read from a text) the layout :func:`layout_record` made of that
    very text, so it is not worked out again; a record of another shape is ignored."""
    text = document.text
    if text is None:
        return
    if record is None:
        document.text_layout = NOT_EDITABLE
        return
    if not isinstance(record, dict) or set(record) != {"keys", "items"}:
        return
    keys, items = record["keys"], record["items"]
    if not isinstance(keys, dict) or not all(type(v) is int for v in keys.values()):
        return
    if not isinstance(items, dict) or not all(
        isinstance(v, list) and all(type(n) is int for n in v) for v in items.values()
    ):
        return
    document.text_layout = Layout(lines=text[:-1].split("\n"), keys=keys, items=items)


def layout_after_line(document: MeshDocument, text: str) -> Layout | None:
    """The layout of ``text``, the document's text with one top-level ``key: value`` line
    replaced by one of the same key, or added after such a line (as recording
    ``meshgenVersion`` does), from the document's layout when it is known; None otherwise.
    Such a line opens no block, so the lines after it read as they did."""
    found = document.text_layout
    if not isinstance(found, Layout) or not text.endswith("\n"):
        return None
    old, lines = found.lines, text[:-1].split("\n")
    if len(lines) not in (len(old), len(old) + 1):
        return None
    pairs = enumerate(zip(old, lines, strict=False))  # lines may hold one more
    at = next((n for n, (a, b) in pairs if a != b), len(old))
    if at == len(lines):
        return None  # the same text: not this edit
    alone = layout(f"{lines[at]}\n")
    if alone is None or alone.items or len(alone.keys) != 1:
        return None
    (key,) = alone.keys
    tops = {line: name for name, line in found.keys.items()}
    if len(lines) == len(old):
        if tops.get(at) != key or lines[at + 1 :] != old[at + 1 :] or not _has_value(old[at]):
            return None
        return Layout(lines=lines, keys=found.keys, items=found.items)
    if key in found.keys or at - 1 not in tops or not _has_value(old[at - 1]):
        return None
    if lines[at + 1 :] != old[at:]:
        return None
    keys = {name: line + (line >= at) for name, line in found.keys.items()}
    keys[key] = at
    return Layout(
        lines=lines,
        keys=dict(sorted(keys.items(), key=lambda item: item[1])),
        items={name: [n + (n >= at) for n in starts] for name, starts in found.items.items()},
    )


def _has_value(line: str) -> bool:
    """Whether a line :func:`layout` took holds its key's value (rather than opening a
    block)."""
    match = _CONTENT.fullmatch(line)
    return match is not None and (match["value"] or match["item"]) is not None


def _scalar(value: Any, quoted: bool) -> str | None:
    """A scalar of a new entry as ruamel writes it (None: not written by this module)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str) or not _SAFE_TEXT.fullmatch(value):
        return None
    if quoted:
        return f'"{value}"'
    return value if re.fullmatch(_PLAIN, value) and " " not in value else None


@dataclass(frozen=True)
class Quoted:
    """A string ruamel writes double-quoted (a DoubleQuotedScalarString)."""

    value: str


def quoted_if_needed(value: str) -> str | Quoted:
    """Like ``edits._quoted``: quoted when a YAML 1.1 reader would read something else."""
    from meshgen.render.yamltext import needs_quotes

    return Quoted(value) if needs_quotes(value) else value


def entry_lines(entry: Mapping[str, Any], indent: int, first: str) -> list[str] | None:
    """A new mapping (values: str, :class:`Quoted`, bool, lists of those, mappings) in
    ruamel's block style at ``indent``; ``first`` prefixes the first line (``- `` for a
    sequence item). None when a value is not one this module writes."""
    lines: list[str] = []
    pad = " " * indent
    for position, (key, value) in enumerate(entry.items()):
        lead = pad[: indent - len(first)] + first if position == 0 else pad
        if not isinstance(key, str) or not re.fullmatch(_KEY, key):
            return None
        if isinstance(value, Mapping):
            if not value:
                return None
            inner = entry_lines(value, indent + 2, "")
            if inner is None:
                return None
            lines += [f"{lead}{key}:", *inner]
        elif isinstance(value, Sequence) and not isinstance(value, str):
            if not value:
                return None
            lines.append(f"{lead}{key}:")
            for item in value:
                text = _written(item)
                if text is None:
                    return None
                lines.append(f"{pad}  - {text}")
        else:
            text = _written(value)
            if text is None:
                return None
            lines.append(f"{lead}{key}: {text}")
    return lines


def _written(value: Any) -> str | None:
    if isinstance(value, Quoted):
        return _scalar(value.value, quoted=True)
    return _scalar(value, quoted=False)


def plain_value(value: Any) -> Any:
    """The data of an entry given to :func:`entry_lines`, as libyaml reads it back."""
    if isinstance(value, Quoted):
        return value.value
    if isinstance(value, Mapping):
        return {plain_value(key): plain_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(item) for item in value]
    return value


def _append_at(found: Layout, key: str) -> int | None:
    """The line before which a new item of top-level block sequence ``key`` goes: after its
    last item, before the comment lines that end the block (ruamel moves them below the new
    item); None when the block is not a block sequence with items."""
    if key not in found.keys or not found.items.get(key):
        return None
    end = found.block_end(key)
    last = found.last_content(end)
    trailing = found.lines[last + 1 : end]
    if trailing and _ends_in_flow(found.lines[last]):
        return None  # ruamel keeps what follows a flow collection elsewhere
    if any(trailing):  # comment lines: they move below the new item
        return last + 1
    return end  # blank lines (or none) stay where they are


def _ends_in_flow(line: str) -> bool:
    match = _CONTENT.fullmatch(line)
    value = (match["value"] or match["item"] or "") if match else ""
    return value.startswith(("[", "{"))


def _model(document: MeshDocument, expected: dict[str, Any], new: dict[str, Any]) -> Mesh:
    """The model of ``expected``: the document's, with the new entries' models added and the
    removed ones left out (``build_model`` makes each cluster from its entry alone)."""
    mesh = document.mesh
    names = tuple(str(n["name"]) for n in expected["networks"])
    kept = {str(c["name"]) for c in expected["clusters"]}
    clusters = [c for c in mesh.clusters if c.name in kept]
    if new.get("clusters"):
        clusters += build_model({**expected, "clusters": new["clusters"]}).clusters
    return dataclasses.replace(mesh, networks=names, clusters=tuple(clusters))


def _checked(
    document: MeshDocument,
    text: str,
    expected: dict[str, Any],
    new: dict[str, Any],
    text_layout: Layout | None = None,
) -> MeshDocument | None:
    """The document of the edited ``text``, which holds ``expected`` (the layout and the
    checked new lines vouch for it: see :func:`append_items`), when it is valid;
    ``new``: the top-level sequences' new items, all the schema must look at again: the rest
    was valid, and the schema has no rule across the items of ``clusters`` or ``networks``
    (so taking items out keeps it valid)."""
    plain = expected
    try:
        if new:  # items taken out only: nothing new for the schema (nor its import) to see
            validate_schema({**plain, "clusters": [], "networks": [], **new}, document.source)
        mesh = _model(document, plain, new)
        added = {str(item.get("name")) for item in new.get("clusters", [])}
        check_invariants(mesh, plain, document.source, new_clusters=added)
    except MeshgenError:
        return None
    edited = MeshDocument.from_text(document.source, text, plain, mesh, written=True)
    edited.text_layout = text_layout
    # The new entries hold strings, booleans, lists and mappings keyed by strings only (what
    # entry_lines writes), so the data is as exact for JSON as the document's was.
    edited.json_exact = document.json_exact
    return edited


def _editable(document: MeshDocument) -> tuple[Layout, dict[str, Any]] | None:
    """The layout and data of a document read by libyaml and not edited yet, when its text
    is one this module edits."""
    data = document.data
    if document.text is None or not isinstance(data, dict):
        return None
    found = layout_of(document)
    return None if found is None else (found, data)


def append_items(document: MeshDocument, additions: Mapping[str, Mapping[str, Any]]) -> Any:
    """``document`` with one new item appended to each top-level block sequence named in
    ``additions`` (``networks``, ``clusters``), in the text; None when the text path cannot
    be sure (see the module documentation)."""
    editable = _editable(document)
    if editable is None:
        return None
    found, data = editable
    inserts: list[tuple[int, list[str]]] = []
    expected = dict(data)
    new: dict[str, Any] = {}
    for key, item in additions.items():
        at = _append_at(found, key)
        lines = entry_lines(item, 4, "- ")
        if at is None or lines is None or not isinstance(data.get(key), list):
            return None
        value = plain_value(item)
        # The new lines read back as the item; the layout keeps the rest as it was (whole
        # items at column 2 of a top-level block sequence, the next line a top-level key, a
        # comment, a blank line or the end), so the whole text reads back as ``expected``.
        if plain_tree("\n".join([f"{key}:", *lines]) + "\n") != {key: [value]}:
            return None
        inserts.append((at, lines))
        expected[key] = [*data[key], value]
        new[key] = [value]
    lines = list(found.lines)
    for at, block in sorted(inserts, key=lambda insert: insert[0], reverse=True):
        lines[at:at] = block
    added = _layout_after_inserts(found, lines, inserts, list(additions))
    return _checked(document, "\n".join(lines) + "\n", expected, new, added)


def _layout_after_inserts(
    found: Layout, lines: list[str], inserts: list[tuple[int, list[str]]], keys: list[str]
) -> Layout | None:
    """The layout of the text ``lines`` made by inserting each block of ``inserts`` (before
    its line of ``found``) as a new last item of the top-level block sequence ``keys`` names
    (in the same order): what :func:`layout` gives for it, without reading every line again.
    Each block is read as the item of such a sequence, which it is in the text (the item
    before it ends with a line of content, a top-level key or the end follows its lines),
    so the rest reads as before, at its new line; None when a block does not read so."""
    for (_, block), key in zip(inserts, keys, strict=True):
        alone = layout("\n".join([f"{key}:", *block]) + "\n")
        if alone is None or alone.keys != {key: 0} or alone.items != {key: [1]}:
            return None
    order = sorted(zip(inserts, keys, strict=True), key=lambda pair: pair[0][0])

    def moved(line: int) -> int:  # where an old line is now
        return line + sum(len(block) for (at, block), _ in order if at <= line)

    items = {key: [moved(line) for line in starts] for key, starts in found.items.items()}
    for (at, _), key in order:  # an inserted block starts where its old line was
        items[key].append(at + sum(len(block) for (before, block), _ in order if before < at))
    return Layout(
        lines=lines, keys={key: moved(line) for key, line in found.keys.items()}, items=items
    )


def remove_items(document: MeshDocument, removals: Mapping[str, Sequence[int]]) -> Any:
    """``document`` without the items at the given indexes of top-level block sequences
    (``clusters``, ``networks``), cut from the text; None when the text path cannot be sure:
    a comment or blank line next to a removed item (ruamel moves those by its own rules), or
    a sequence left empty."""
    editable = _editable(document)
    if editable is None:
        return None
    found, data = editable
    cuts: list[tuple[int, int]] = []
    expected = dict(data)
    for key, indexes in removals.items():
        starts = found.items.get(key, [])
        values = data.get(key)
        if not isinstance(values, list) or len(starts) != len(values):
            return None
        if not indexes:
            continue
        if len(set(indexes)) >= len(values):
            return None
        end = found.block_end(key)
        if found.last_content(end) != end - 1:
            return None
        bounds = [*starts, end]
        for index in indexes:
            first, after = bounds[index], bounds[index + 1]
            if not _is_content(found.lines[first - 1]) or not _is_content(found.lines[after - 1]):
                return None
            cuts.append((first, after))
        expected[key] = [v for i, v in enumerate(values) if i not in set(indexes)]
    lines = list(found.lines)
    for first, after in sorted(cuts, reverse=True):
        del lines[first:after]
    return _checked(
        document, "\n".join(lines) + "\n", expected, {}, _layout_after_cuts(found, lines, cuts)
    )


def _layout_after_cuts(found: Layout, lines: list[str], cuts: list[tuple[int, int]]) -> Layout:
    """The layout of the text ``lines`` left by cutting whole items (``cuts``: their first
    line and the line after them) from top-level block sequences of ``found``: what
    :func:`layout` gives for it, without reading every line again. Each line left reads as
    before, at its new line: the line after a cut starts an item of the same sequence or a
    top-level key, as the item cut did, and the sequence keeps an item."""
    cut_starts = {first for first, _ in cuts}
    ends = sorted(after for _, after in cuts)
    # The lines cut before each end, in order: a line at or past the n-th end moves up by
    # the n-th sum (a thousand items are moved this way after a cut).
    widths = list(itertools.accumulate(after - first for first, after in sorted(cuts)))

    def moved(line: int) -> int:  # where a line that stays is now
        passed = bisect.bisect_right(ends, line)
        return line - widths[passed - 1] if passed else line

    return Layout(
        lines=lines,
        keys={key: moved(line) for key, line in found.keys.items()},
        items={
            key: [moved(line) for line in starts if line not in cut_starts]
            for key, starts in found.items.items()
        },
    )
