"""Reading and writing ``mesh.yaml`` text: parse, then migrate, validate and model it.

ruamel.yaml's round-trip mode keeps comments and key order, so a command that edits the file
writes back what the user wrote, plus the change. Reading does not need that: a mesh.yaml of
the current ``apiVersion`` in plain YAML (no anchors, tags, dates or floats) is parsed by
libyaml (PyYAML's C parser, some 20 times faster on a large mesh), with every plain scalar
typed by ruamel's own YAML 1.2 rules, so the model is the same. Anything else, and any file
with a problem, goes through ruamel, whose messages name the line. The round-trip tree of a
document read the fast way is parsed when a command first asks for it (to edit or write it).

``mesh.yaml`` arrives in pull requests that CI checks, so parsing is bounded: the text is at
most :data:`MAX_BYTES`, nests at most :data:`MAX_INDENT` columns and :data:`MAX_FLOW_DEPTH`
brackets deep (checked before the YAML parser, which slows down quadratically on deep
nesting), holds no control characters, no anchors or aliases (an alias chain of a kilobyte
expands to gigabytes), no value over :data:`MAX_VALUE_CHARS` characters and no integer
beyond 64 bits.
"""

from __future__ import annotations

import dataclasses
import io
import re
import warnings
from typing import Any

from meshgen.errors import MeshgenError, excerpt, invalid_yaml
from meshgen.spec.invariants import check_invariants
from meshgen.spec.migrate import migrate
from meshgen.spec.model import API_VERSION, KIND, MESH_FILE, MeshDocument, build_model
from meshgen.spec.schema import validate_schema


def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


MAX_BYTES = 4 * 1024 * 1024  # a mesh of 10,000 clusters is about 3 MB
MAX_INDENT = 256
MAX_FLOW_DEPTH = 32
MAX_VALUE_CHARS = 16 * 1024
MAX_INTEGER = 2**63 - 1
# What YAML allows in a stream (YAML 1.2, 5.1): tab, line breaks and printable characters.
_NOT_ALLOWED = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INDENT = re.compile(r"[ \t?-]*")


def _line_of_offset(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


_FLOW_SIGNIFICANT = re.compile(r"""[\[\]{}'"#\n\\]""")


def _flow_depth_error(text: str) -> int | None:
    """The offset where ``[``/``{`` nest deeper than MAX_FLOW_DEPTH (quotes and comments
    skipped), or None. A bracket inside a plain scalar counts too: only absurd text trips it.
    Only the characters that matter are visited, so a large file costs little."""
    depth, quote, comment, escaped_until = 0, "", False, -1
    for match in _FLOW_SIGNIFICANT.finditer(text):
        offset, char = match.start(), match.group()
        if comment:
            comment = char != "\n"
        elif quote:
            if char == "\\" and quote == '"' and offset > escaped_until:
                escaped_until = offset + 1  # the next character is escaped
            elif char == quote and offset != escaped_until:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (offset == 0 or text[offset - 1] in " \t\n"):
            comment = True
        elif char in "[{":
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                return offset
        elif char in "]}":
            depth = max(0, depth - 1)
    return None


def check_bounds(text: str, source: str = MESH_FILE) -> None:
    """Refuse text the YAML parser should not even see (see the module documentation)."""
    if len(text) > MAX_BYTES:
        raise MeshgenError(
            f"{source}: {len(text)} characters, more than meshgen reads ({MAX_BYTES}); "
            "a mesh.yaml is far smaller: check the file"
        )
    bad = _NOT_ALLOWED.search(text)
    if bad is not None:
        line, column = _line_of_offset(text, bad.start())
        raise MeshgenError(
            f"{source}:{line}: column {column}: the control character "
            f"U+{ord(bad.group()):04X} is not allowed in YAML; remove it"
        )
    for number, line_text in enumerate(text.splitlines(), start=1):
        if len(line_text) > MAX_INDENT and _INDENT.match(line_text).end() > MAX_INDENT:  # type: ignore[union-attr]
            raise MeshgenError(
                f"{source}:{number}: nested more than {MAX_INDENT} columns deep; "
                "mesh.yaml needs a few levels: check the file"
            )
    offset = _flow_depth_error(text)
    if offset is not None:
        line, _ = _line_of_offset(text, offset)
        raise MeshgenError(
            f"{source}:{line}: brackets nested more than {MAX_FLOW_DEPTH} deep; "
            "mesh.yaml needs a few levels: check the file"
        )


def _line(node: Any) -> str:
    lc = getattr(node, "lc", None)
    return f":{lc.line + 1}" if lc is not None and lc.line is not None else ""


def _check_nodes(tree: Any, source: str) -> None:
    """No anchors (so no aliases), no huge values or integers. Each node is visited once."""
    seen: set[int] = set()
    stack = [(tree, "")]
    while stack:
        node, where = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        anchor = getattr(node, "anchor", None)
        if anchor is not None and getattr(anchor, "value", None):
            raise MeshgenError(
                f"{source}{where or _line(node)}: anchors and aliases (&{anchor.value}, "
                f"*{anchor.value}) are not allowed in mesh.yaml; write the values out"
            )
        if isinstance(node, str) and len(node) > MAX_VALUE_CHARS:
            raise MeshgenError(
                f"{source}{where}: a value of {len(node)} characters, starting {node[:30]!r}; "
                f"at most {MAX_VALUE_CHARS} are allowed"
            )
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INTEGER:
            raise MeshgenError(
                f"{source}{where}: the number {excerpt(node, 30)} is too large; "
                "numbers in mesh.yaml are small counts"
            )
        if isinstance(node, dict):
            for index, (key, value) in enumerate(node.items()):
                line = _item_line(node, index)
                stack.append((key, line))
                stack.append((value, line))
        elif isinstance(node, list):
            lines = getattr(node, "lc", None)
            for index, value in enumerate(node):
                line = ""
                if lines is not None:
                    try:
                        line = f":{lines.item(index)[0] + 1}"
                    except (KeyError, TypeError, IndexError):
                        line = _line(node)
                stack.append((value, line))


def _item_line(node: Any, index: int) -> str:
    lines = getattr(node, "lc", None)
    if lines is None:
        return ""
    try:
        key = list(node)[index]
        return f":{lines.key(key)[0] + 1}"
    except (KeyError, TypeError, IndexError):
        return _line(node)


def _too_long_number(text: str, source: str) -> MeshgenError:
    match = re.search(r"\d{300,}", text)
    line = f":{_line_of_offset(text, match.start())[0]}" if match else ""
    return MeshgenError(
        f"{source}{line}: a number with thousands of digits; numbers in mesh.yaml are small"
    )


class _NotPlain(Exception):
    """The text needs the round-trip parser (see :func:`plain_tree`)."""


# Text the libyaml path leaves to ruamel: anchors, aliases, tags, merge keys, the line
# breaks and byte order mark that YAML 1.1 (libyaml) and 1.2 (ruamel) read differently, and
# tabs (ruamel's scanner refuses some that libyaml takes, inside a plain scalar).
_NOT_PLAIN_TEXT = re.compile("[&*!\t\x85\u2028\u2029\ufeff]|<<|^%", re.M)
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")
_libyaml_loader: Any = None


def _loader() -> Any:
    """PyYAML's C loader, typing plain scalars by ruamel's YAML 1.2 resolver (None: no libyaml)."""
    global _libyaml_loader
    if _libyaml_loader is not None:
        return _libyaml_loader or None
    try:
        import yaml
        from yaml import CSafeLoader
    except ImportError:
        _libyaml_loader = False
        return None
    from ruamel.yaml.nodes import ScalarNode as RoundTripScalar
    from ruamel.yaml.resolver import VersionedResolver

    yaml_12 = VersionedResolver()
    tags: dict[str, str] = {}

    def resolve(loader: Any, kind: Any, value: Any, implicit: Any) -> str:
        if kind is not yaml.ScalarNode:
            return "tag:yaml.org,2002:seq" if kind is yaml.SequenceNode else "tag:yaml.org,2002:map"
        if not implicit[0]:
            return "tag:yaml.org,2002:str"  # quoted or a block scalar: a string
        tag = tags.get(value)
        if tag is None:
            tag = str(yaml_12.resolve(RoundTripScalar, value, (True, False)))
            tags[value] = tag
        return tag

    scalar_node, mapping_node = yaml.ScalarNode, yaml.MappingNode
    str_tag, int_tag = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"
    bool_tag, null_tag = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null"

    def plain(node: Any) -> Any:
        """The data of a node libyaml composed (tags resolved by ``resolve``), built
        directly: what the constructors give, without PyYAML's general machinery, and the
        bounds of :func:`_check_nodes` kept (a value beyond them goes to ruamel, which names
        its line)."""
        kind = type(node)
        if kind is scalar_node:
            tag, value = node.tag, node.value
            if tag == str_tag:
                if len(value) > MAX_VALUE_CHARS:
                    raise _NotPlain
                return value
            if tag == int_tag:
                if not _DECIMAL.fullmatch(value):
                    raise _NotPlain  # octal, hex, underscores: ruamel's constructor decides
                number = int(value)
                if abs(number) > MAX_INTEGER:
                    raise _NotPlain
                return number
            if tag == bool_tag:
                return value.lower() == "true"
            if tag == null_tag:
                return None
            raise _NotPlain  # floats, timestamps, merge and value keys
        if kind is mapping_node:
            mapping: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = plain(key_node)
                if not isinstance(key, str) or key in mapping:
                    raise _NotPlain  # ruamel reports the duplicate with its line
                mapping[key] = plain(value_node)
            return mapping
        return [plain(item) for item in node.value]

    class Loader(CSafeLoader):  # type: ignore[misc,valid-type]
        pass

    Loader.plain = staticmethod(plain)
    Loader.resolve = resolve  # type: ignore[method-assign,assignment]
    _libyaml_loader = Loader
    return Loader


def plain_tree(text: str) -> Any:
    """``text`` as plain dicts, lists and scalars, read by libyaml with YAML 1.2 scalar types;
    None when it needs the round-trip parser (anchors, tags, floats, dates, duplicate keys, a
    syntax error, no libyaml), which then decides what it means or what is wrong."""
    return plain_tree_and_lines(text)[0]


def plain_tree_and_lines(text: str) -> tuple[Any, dict[str, int] | None]:
    """:func:`plain_tree`, and the line (from 0) of each top-level entry written whole on
    one line from column 0 as ``key: value`` (a plain key, a plain or quoted value) in a
    block mapping (None when the document is not such a mapping)."""
    loader = _loader()
    if loader is None or _NOT_PLAIN_TEXT.search(text):
        return None, None
    import yaml

    reader = loader(text)
    try:
        node = reader.get_single_node()
        tree = loader.plain(node) if node is not None else None
    except (_NotPlain, yaml.YAMLError, ValueError, RecursionError):
        return None, None
    finally:
        reader.dispose()
    if not isinstance(node, yaml.MappingNode) or node.flow_style:
        return tree, None
    lines = {}
    for key, value in node.value:
        line = key.start_mark.line
        if (
            isinstance(key, yaml.ScalarNode)
            and isinstance(value, yaml.ScalarNode)
            and not key.style  # plain: None, or "" from libyaml
            and value.style in (None, "", '"', "'")  # not a block scalar
            and key.start_mark.column == 0
            and value.end_mark.line == line
        ):
            lines[key.value] = line
    return tree, lines


def _parse_plain(
    text: str,
    source: str,
    schema_checked: bool = False,
    known_valid: bool = False,
    plain: Any = None,
) -> MeshDocument | None:
    """The document read by libyaml (see :func:`plain_tree`; ``plain``: what it gave for this
    text before), or None when ruamel must read it: another apiVersion (a migration writes it
    back), or any problem (ruamel's tree names its line)."""
    tree, lines = (plain, None) if plain is not None else plain_tree_and_lines(text)
    if not isinstance(tree, dict) or tree.get("apiVersion") != API_VERSION:
        return None
    try:
        if known_valid:
            mesh = build_model(tree, plain=plain is not None)
            document = MeshDocument.from_text(source, text, tree, mesh, entry_lines=lines)
            document.json_exact = plain is not None  # the note's data is JSON's
            return document
        # No _check_nodes: libyaml's reading kept its bounds, and the text has no anchors.
        if not schema_checked:
            validate_schema(tree, source)
        mesh = build_model(tree)
        check_invariants(mesh, tree, source)
    except MeshgenError:
        return None
    return MeshDocument.from_text(source, text, tree, mesh, entry_lines=lines)


_KIND_LINE = re.compile(r"^kind:[ \t]*Mesh[ \t]*\n", re.M)
_VERSION_LINE = re.compile(
    r'^meshgenVersion:[ \t]*(?:"[0-9A-Za-z.+-]*"|[0-9A-Za-z.+-]+)[ \t]*\n', re.M
)
_VERSION = re.compile(r"[0-9A-Za-z.+-]+")


def with_version_line(document: MeshDocument, version: str) -> MeshDocument | None:
    """``meshgenVersion: "<version>"`` recorded in the text of an unedited document read by
    libyaml: the one line replaced, or added after a plain ``kind: Mesh`` line, and the rest
    of the file left byte for byte. None when the lines are not that simple (a comment on
    them, flow style) or the result does not read back as the same data plus the version:
    then the round-trip tree records it.

    The new text is not read again when libyaml's reading placed that entry, whole, on the
    line the text edit found (``entry_lines``): a line of the top-level block mapping that
    starts at column 0 and holds the entry alone ends where the next entry, a comment or
    the end begins, so a line replacing it, or a ``key: "text"`` line after it, changes that
    entry or adds one, and nothing else."""
    text = document.text
    if text is None or not _VERSION.fullmatch(version):
        return None
    data = document.data
    line = f'meshgenVersion: "{version}"\n'
    if "meshgenVersion" in data:
        found = list(_VERSION_LINE.finditer(text))
        expected = {**data, "meshgenVersion": version}
    else:
        found = list(_KIND_LINE.finditer(text))
        items = list(data.items())
        after = list(data).index("kind") + 1
        expected = dict([*items[:after], ("meshgenVersion", version), *items[after:]])
    if len(found) != 1:
        return None
    match = found[0]
    edited = "meshgenVersion" if "meshgenVersion" in data else "kind"
    if edited == "meshgenVersion":
        updated = text[: match.start()] + line + text[match.end() :]
    else:
        updated = text[: match.end()] + line + text[match.end() :]
    lines = document.entry_lines
    exact = False
    if lines is not None and lines.get(edited) == text.count("\n", 0, match.start()):
        plain, exact = expected, document.json_exact
    else:
        plain = plain_tree(updated)
        if not isinstance(plain, dict) or list(plain) != list(expected) or plain != expected:
            return None
    mesh = dataclasses.replace(document.mesh, meshgen_version=version)
    recorded = MeshDocument.from_text(document.source, updated, plain, mesh, written=True)
    recorded.json_exact = exact
    return recorded


def round_trip_tree(text: str) -> Any:
    """The round-trip tree of a text :func:`parse` accepted (for a document read by libyaml,
    when it is first edited or written)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _round_trip_yaml().load(text)


def parse(
    text: str,
    source: str = MESH_FILE,
    schema_checked: bool = False,
    known_valid: bool = False,
    plain: Any = None,
) -> MeshDocument:
    """Parse, migrate and validate ``mesh.yaml`` text; raise MeshgenError naming file and line.

    ``schema_checked``: this text passed the schema check of this meshgen before, so a text
    read by libyaml is not checked again (the rules beyond the schema still are).
    ``known_valid``: it passed every check here (read by libyaml: nodes, schema, invariants)
    with this meshgen before; a text read by libyaml is then only turned into the model (the
    checks are pure functions of the text and meshgen's code and data). ``plain``: with
    ``known_valid``, what libyaml's reading of this text gave then (not read again)."""
    if not known_valid:  # a text that passed every check passed these bounds too
        check_bounds(text, source)
    document = _parse_plain(
        text, source, schema_checked, known_valid, plain if known_valid else None
    )
    if document is not None:
        return document
    if known_valid:
        check_bounds(text, source)
    from ruamel.yaml.error import YAMLError

    try:
        with warnings.catch_warnings():
            # ruamel warns on stderr about reused anchors, which are refused below anyway.
            warnings.simplefilter("ignore")
            tree = _round_trip_yaml().load(text)
    except ValueError:  # int() of a number over Python's digit limit
        raise _too_long_number(text, source) from None
    except RecursionError:
        raise MeshgenError(f"{source}: nested too deeply; check the file") from None
    except YAMLError as exc:
        raise invalid_yaml(source, exc) from None
    if not isinstance(tree, dict):
        raise MeshgenError(
            f"{source}: expected a mapping with apiVersion: {API_VERSION} and kind: {KIND}; "
            "run `meshgen init` to create one"
        )
    _check_nodes(tree, source)
    return from_tree(tree, source)


def from_tree(tree: Any, source: str = MESH_FILE) -> MeshDocument:
    """Migrate and validate a round-trip tree (parsed, or edited in memory)."""
    original_version = tree.get("apiVersion")
    tree = migrate(tree, source)
    validate_schema(tree, source)
    mesh = build_model(tree)
    check_invariants(mesh, tree, source)
    migrated_from = original_version if original_version != API_VERSION else None
    return MeshDocument(source=source, tree=tree, mesh=mesh, migrated_from=migrated_from)


def to_text(document: MeshDocument) -> str:
    if document.written_text is not None:
        return document.written_text
    stream = io.StringIO()
    _round_trip_yaml().dump(document.tree, stream)
    return stream.getvalue()
