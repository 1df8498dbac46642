"""Check 5: every rendered object validates against its schema.

Core kinds go through ``kubernetes-validate`` (strict: unknown fields fail) for the mesh's
Kubernetes version; custom resources through the ``openAPIV3Schema`` of their CRD, read from
the files and folders given with ``--crds``. A kind with neither is reported as unchecked,
never passed. ObjectMeta rules (names, labels, annotations) are checked on every object, since
CRD schemas leave ``metadata`` open.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshgen.errors import MeshgenError
from meshgen.output import counted
from meshgen.validation import UNCHECKED, Finding, cluster_of, object_label

if TYPE_CHECKING:
    # (imported where used: the schema worker imports this module, and the repository
    # reader would bring the mesh model and its YAML editing with it, a fifth of its start)
    from meshgen.validation.cache import Cache, Table
    from meshgen.validation.repository import RepoView
    from meshgen.validation.schema_worker import SchemaWorker

# ------------------------------------------------------------------------------ CRD schemas


def structural(schema: Any, strict: bool = True) -> Any:
    """A JSON Schema for ``jsonschema`` from a CRD's openAPIV3Schema.

    ``x-kubernetes-*`` extensions are dropped (CEL rules cannot run here), ``nullable`` becomes
    a null type, and objects that list ``properties`` refuse unknown fields unless they preserve
    them: the API server prunes unknown fields (or rejects them under strict field validation),
    so a field the CRD does not know is at best silently ignored.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: structural(sub, strict) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = structural(value, strict)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [structural(sub, strict=False) for sub in value]
        elif key == "not":
            out[key] = structural(value, strict=False)
        else:
            out[key] = value
    if schema.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if schema.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if strict and "properties" in out and "additionalProperties" not in schema and not preserve:
        out["additionalProperties"] = False
    return out


def crd_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    schema = structural(openapi)
    properties = schema.setdefault("properties", {})
    # Every object may carry these, whether or not the CRD spells them out.
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    properties.setdefault("metadata", {"type": "object"})
    return schema


_CRD_KIND = re.compile(r"^  group: (\S+)$.*?^  names:$.*?^    kind: (\w+)$", re.M | re.S)
_CRD_SCOPE = re.compile(r"^  scope: (\w+)$", re.M)
# The Gateway API release and channel a CRD belongs to (annotations on every one of them).
_BUNDLE = re.compile(r"gateway\.networking\.k8s\.io/bundle-version: ['\"]?([^'\"\s]+)")
_CHANNEL = re.compile(r"gateway\.networking\.k8s\.io/channel: ['\"]?([^'\"\s]+)")


_MARKER = re.compile(r"^---\s*$", re.M)


def split_at_markers(text: str) -> list[str]:
    """``re.split(r"^---\\s*$", text, flags=re.M)``, exactly, with the expression tried only
    where a line starts with ``---`` (found with ``str.find``): scanning the 3 MB of Istio's
    CRDs line by line took a fortieth of a second per run."""
    return [text[start:end] for start, end in _marker_spans(text)]


def _marker_spans(text: str) -> list[tuple[int, int]]:
    """Where each piece of :func:`split_at_markers` starts and ends in ``text``."""
    spans: list[tuple[int, int]] = []
    last = 0
    at = 0 if text.startswith("---") else _next_marker(text, 0)
    while at >= 0:
        if at >= last:  # not inside the previous separator (which may span lines)
            match = _MARKER.match(text, at)
            if match is not None:
                spans.append((last, at))
                last = match.end()
        at = _next_marker(text, at)
    spans.append((last, len(text)))
    return spans


def _next_marker(text: str, after: int) -> int:
    """Where the next line starting with ``---`` after ``after`` starts (-1: none)."""
    found = text.find("\n---", after)
    return found + 1 if found >= 0 else -1


def crd_files(paths: Iterable[Path]) -> list[Path]:
    """The YAML files of ``--crds`` (files as given, folders searched recursively)."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            raise MeshgenError(f"--crds {path}: no such file or folder; pass CRD YAML files")
    return files


def crd_index(paths: Iterable[Path], cache: Cache | None = None) -> CrdIndex:
    """The CRDs of ``--crds`` (files and folders). A file, or a whole folder, that brings no
    CustomResourceDefinition is bad usage: the kinds it was meant to cover would be reported
    as unchecked, and the cause would be hard to see. ``cache`` keeps where the CRDs of each
    text are between runs (see :func:`crd_memo`)."""
    given = [(path, crd_files([path])) for path in paths]
    listed = [file for _, files in given for file in files]
    memo = crd_memo(cache) if cache is not None and listed else None
    index = CrdIndex(listed, memo, CrdFiles(memo) if memo is not None else None)
    if memo is not None:
        memo.store()
    for path, files in given:
        if not any(index.found_in.get(file) for file in files):
            raise MeshgenError(
                f"--crds {path}: {_why_no_crd(path, files)}; pass CustomResourceDefinition "
                "YAML (for example from `kubectl get crd NAME -o yaml`)"
            )
    return index


def _read_crds(path: Path) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def _why_no_crd(path: Path, files: list[Path]) -> str:
    from meshgen.validation.repository import load_documents

    if path.is_dir():
        return f"holds no CustomResourceDefinition in its {counted(len(files), 'YAML file')}"
    text = path.read_text(encoding="utf-8")
    try:
        docs = [doc for _, doc in load_documents(text)]
    except Exception as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        return f"is not valid YAML{line} ({getattr(exc, 'problem', None) or exc})"
    kinds = sorted(
        {d["kind"] for d in docs if isinstance(d, dict) and isinstance(d.get("kind"), str)}
    )
    holds = f"holds {', '.join(kinds)}" if kinds else "holds no Kubernetes object"
    return f"{holds}, no CustomResourceDefinition"


class CrdFiles:
    """The sha256 of the ``--crds`` files, each read only when its ``lstat`` changed since it
    was hashed: reading and hashing 3 MB of CRDs cost every run 4 to 6 ms, for texts it
    seldom needs. Kept in the table of their scans (:func:`crd_memo`), by absolute path, as
    :class:`~meshgen.validation.cache.FileDigests` keeps a repository's files (inode, size,
    modification and change times, trusted once the file had settled when hashed)."""

    def __init__(self, memo: Table) -> None:
        self.memo = memo

    def unread(self, path: Path) -> str | None:
        """The sha256 of a file its stat shows unchanged since it was hashed (None: read it)."""
        full = os.path.abspath(path)
        try:
            info = os.lstat(full)
        except OSError:
            return None
        return self._known(full, info) if stat.S_ISREG(info.st_mode) else None

    def _known(self, full: str, info: os.stat_result) -> str | None:
        from meshgen.adapters.tree_cache import stat_key
        from meshgen.validation.cache import trusted_sha

        entry = self.memo.get(f"file {full}")
        return trusted_sha(entry, stat_key(info), info) if isinstance(entry, str) else None

    def read(self, path: Path) -> tuple[bytes, str]:
        """A file's bytes and their sha256, remembered for the next run; raises OSError."""
        from meshgen.adapters.tree_cache import now, stat_key

        full = os.path.abspath(path)
        info, since = os.lstat(full), now()
        data, sha = _read_crds(Path(full))
        key = stat_key(info)
        if (
            stat.S_ISREG(info.st_mode)
            and stat_key(os.lstat(full)) == key
            and self._known(full, info) != sha
        ):
            self.memo.set(f"file {full}", f"{key} {sha} {since}")
        return data, sha


class CrdIndex:
    """CRDs by (group, kind); a document is parsed only when its kind is asked for.

    Accepts plain CRD documents and ``kubectl get crd -o yaml`` lists (``kind: List``), in
    YAML or JSON. ``found_in`` counts the CRDs each file brought. With ``digests``, a file
    unchanged since an earlier run scanned it (same sha256 by its stat, its scan in ``memo``)
    is not read: its CRDs' texts are read when first asked for (:meth:`text`).
    """

    def __init__(
        self, files: Iterable[Path], memo: Table | None = None, digests: CrdFiles | None = None
    ) -> None:
        # a CRD's text, or where it is in a file not read yet: (file, sha256, start, end)
        self._texts: dict[tuple[str, str], str | tuple[Path, str, int, int]] = {}
        self._unread: dict[Path, str] = {}  # texts read on demand, by file
        self._lock = threading.Lock()
        self.scopes: dict[tuple[str, str], str] = {}
        # (group, kind) -> (bundle-version, channel) of Gateway API CRDs
        self.bundles: dict[tuple[str, str], tuple[str, str]] = {}
        self.found_in: dict[Path, int] = {}
        self._read: list[str] = []  # the sha256 of each file's bytes, in order
        for path in files:
            sha = digests.unread(path) if digests is not None and memo is not None else None
            stored: Any = memo.get(sha) if memo is not None and sha is not None else None
            if _is_scan(stored) and not stored["list"] and self._adds_a_kind(stored):
                assert sha is not None  # (a stored scan was looked up by it)
                self._read.append(sha)
                before = len(self._texts)
                self._add_scanned(stored, (path, sha))
                self.found_in[path] = len(self._texts) - before
                continue
            try:
                data, sha = digests.read(path) if digests is not None else _read_crds(path)
                text = _universal_newlines(data.decode("utf-8"))  # as read_text reads it
            except (OSError, UnicodeDecodeError) as exc:
                raise MeshgenError(f"--crds {path}: cannot be read ({exc})") from None
            self._read.append(sha)
            before = len(self._texts)
            stored = memo.get(sha) if memo is not None else None
            scanned: dict[str, Any] = stored if _is_scan(stored) else _scan(text)
            if memo is not None and scanned is not stored:
                memo.set(sha, scanned)
            if scanned["list"]:
                self._add_list(text)
            self._add_scanned(scanned, text)
            if len(self._texts) == before:  # another layout (JSON, other indentation): parse
                self._add_parsed(text)
            self.found_in[path] = len(self._texts) - before
        self._validators: dict[tuple[str, str], Any] = {}
        self._schemas: dict[tuple[str, str], dict[str, Any] | None] = {}
        # checked schemas kept between runs (set by the schema check; keyed in a table whose
        # context holds content_digest(), meshgen's and jsonschema's versions)
        self.schema_memo: Table | None = None

    def _add_scanned(self, scanned: dict[str, Any], source: str | tuple[Path, str]) -> None:
        """The CRDs a :func:`_scan` found in ``source``: a file's text, or a file not read
        (its path and sha256), whose CRDs :meth:`text` reads when asked for."""
        for group, kind, start, end, scope, version, channel in scanned["crds"]:
            key = (group, kind)
            self._texts[key] = (
                source[start:end] if isinstance(source, str) else (*source, start, end)
            )
            self.scopes[key] = scope
            if version is not None:
                self.bundles[key] = (version, channel)

    def _adds_a_kind(self, scanned: dict[str, Any]) -> bool:
        """Whether a scan brings a CRD not known yet (when it does not, the file is parsed,
        which needs its text)."""
        return any((crd[0], crd[1]) not in self._texts for crd in scanned["crds"])

    def text(self, key: tuple[str, str]) -> str:
        """The text of a CRD by (group, kind), read from its file when first asked for; a
        file changed since its stat was taken is an error (the index describes the other
        content)."""
        found = self._texts[key]
        if isinstance(found, str):
            return found
        path, sha, start, end = found
        with self._lock:
            whole = self._unread.get(path)
            if whole is None:
                try:
                    data = path.read_bytes()
                    if hashlib.sha256(data).hexdigest() != sha:
                        raise OSError("it changed while validate ran; run validate again")
                    whole = _universal_newlines(data.decode("utf-8"))
                except (OSError, UnicodeDecodeError) as exc:
                    raise MeshgenError(f"--crds {path}: cannot be read ({exc})") from None
                self._unread[path] = whole
            text = self._texts[key] = whole[start:end]
        return text

    def content_digest(self) -> str:
        """What the validators are made of, for cache keys: the sha256 of the files read, in
        order (the index is a function of them; serialising the 3 MB of CRDs
        it holds again cost a fortieth of a second per run)."""
        from meshgen.validation.cache import digest

        return digest("crd-files", self._read)

    def _note_bundle(self, key: tuple[str, str], text: str) -> None:
        """Remember the Gateway API release (and channel) a CRD comes from, if it says."""
        bundle = _bundle_of(text)
        if bundle is not None:
            self.bundles[key] = bundle

    def bundle_documents(self, version: str, channel: str) -> list[str]:
        """The CRDs given of one Gateway API release and channel, sorted by kind."""
        return [
            self.text(key)
            for key in sorted(self.bundles)
            if self.bundles[key] == (version, channel)
        ]

    def _add_list(self, text: str) -> None:
        data = _safe_load(text)
        self._add_items((data or {}).get("items") or [])

    def _add_items(self, items: Iterable[Any]) -> None:
        from meshgen.render import yamltext

        for item in items:
            if isinstance(item, dict) and item.get("kind") == "CustomResourceDefinition":
                try:
                    key = (item["spec"]["group"], item["spec"]["names"]["kind"])
                except (KeyError, TypeError):
                    continue
                text = self._texts[key] = yamltext.dump(item)
                self.scopes[key] = item["spec"].get("scope", "Namespaced")
                self._note_bundle(key, text)

    def _add_parsed(self, text: str) -> None:
        """CRDs of a text the line-based scan found none in; nothing when it is not YAML."""
        from meshgen.validation.repository import load_documents

        try:
            docs = [doc for _, doc in load_documents(text)]
        except Exception:  # not YAML: :func:`crd_index` says so for files given by name
            return
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "List":
                self._add_items(doc.get("items") or [])
        self._add_items(docs)

    def kinds(self) -> set[tuple[str, str]]:
        return set(self._texts)

    def validator(self, api_version: str, kind: str) -> Any:
        """A jsonschema validator for the served version, or None when there is no schema."""
        key = (api_version, kind)
        if key not in self._validators:
            self._validators[key] = None
            schema = self.schema(api_version, kind)
            if schema is not None:
                import jsonschema

                self._validators[key] = jsonschema.Draft7Validator(schema)
        return self._validators[key]

    def schema(self, api_version: str, kind: str) -> dict[str, Any] | None:
        """The checked JSON schema of the kind's served version (the same object each time),
        or None when there is none; without importing jsonschema when the memo has it."""
        group, _, version = api_version.rpartition("/")
        key = (api_version, kind)
        if key not in self._schemas:
            self._schemas[key] = None
            if (group, kind) in self._texts:
                self._schemas[key] = self._served_schema(group, version, kind)
        return self._schemas[key]

    def _served_schema(self, group: str, version: str, kind: str) -> dict[str, Any] | None:
        """The checked JSON schema of a served CRD version (None when not served), replayed
        from :attr:`schema_memo` when an earlier run converted and checked it: parsing and
        checking the Argo CD Application CRD alone takes a third of a second."""
        from meshgen.validation.cache import is_plain

        memo_key = f"crd-schema {group}/{version} {kind}"
        memo = self.schema_memo
        stored = memo.get(memo_key) if memo is not None else None
        if isinstance(stored, dict) and "schema" in stored:
            schema = stored["schema"]
            return schema if isinstance(schema, dict) else None
        crd = _safe_load(self.text((group, kind)))
        schema = None
        for entry in crd["spec"]["versions"]:
            if entry["name"] == version and entry.get("served", True):
                schema = crd_schema(entry["schema"]["openAPIV3Schema"])
                import jsonschema

                jsonschema.Draft7Validator.check_schema(schema)  # raises when it is not valid
                break
        if memo is not None and is_plain(schema):
            memo.set(memo_key, {"schema": schema})
        return schema


def _bundle_of(text: str) -> tuple[str, str] | None:
    """The Gateway API release and channel ("" when it names none) a CRD's text says it
    comes from; None when it names no release."""
    version, channel = _BUNDLE.search(text), _CHANNEL.search(text)
    return (version.group(1), channel.group(1) if channel else "") if version else None


def _universal_newlines(text: str) -> str:
    """``text`` with ``\\r\\n`` and ``\\r`` read as ``\\n``, as ``Path.read_text`` reads them."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _scan(text: str) -> dict[str, Any]:
    """Where the CRDs of a text are, found line by line (no YAML parsing): ``list`` when it
    is a ``kind: List`` (its items are parsed), else ``crds``, one entry per CRD document:
    group, kind, start and end in the text, scope, and Gateway API bundle version and
    channel (None when it names none)."""
    # (the substring test first: the regular expression alone scans megabytes of CRDs line
    # by line)
    if "kind: List" in text and re.search(r"^kind: List\s*$", text, re.M):
        return {"list": True, "crds": []}
    crds: list[list[Any]] = []
    for start, end in _marker_spans(text):
        doc = text[start:end]
        match = _CRD_KIND.search(doc)
        if "kind: CustomResourceDefinition" in doc and match:
            scope = _CRD_SCOPE.search(doc)
            version, channel = _bundle_of(doc) or (None, "")
            crds.append(
                [
                    match.group(1),
                    match.group(2),
                    start,
                    end,
                    scope.group(1) if scope else "Namespaced",
                    version,
                    channel,
                ]
            )
    return {"list": False, "crds": crds}


def _is_scan(value: Any) -> bool:
    """Whether a memo entry is a :func:`_scan` result (entries of another shape are not)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("list"), bool)
        and isinstance(value.get("crds"), list)
        and all(
            isinstance(entry, list)
            and len(entry) == 7
            and all(isinstance(entry[i], str) for i in (0, 1, 4, 6))
            and all(isinstance(entry[i], int) for i in (2, 3))
            and (entry[5] is None or isinstance(entry[5], str))
            for entry in value["crds"]
        )
    )


def crd_memo(cache: Cache) -> Table:
    """Where :func:`crd_index` keeps the CRDs of each text it scanned, by the sha256 of the
    file: the scan of Istio's 3 MB of CRDs cost every run a fiftieth of a second."""
    from meshgen import library
    from meshgen.validation.cache import Table, digest

    return Table(cache, "crd-scan", digest("crd-scan", library.code_fingerprint()))


def _safe_load(text: str) -> Any:
    from meshgen.validation.repository import load_fast

    return load_fast(text)


# ------------------------------------------------------------------------------ ObjectMeta

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(rf"{DNS_LABEL.pattern}(\.{DNS_LABEL.pattern})*")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
METADATA_FIELDS = {"name", "namespace", "labels", "annotations", "finalizers"}


def _qualified_name_ok(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and bool(LABEL_NAME.fullmatch(name))


def metadata_problems(obj: dict[str, Any]) -> list[str]:
    """ObjectMeta rules the API server enforces on every kind (CRD schemas leave it open)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return ["metadata is missing"]
    problems = [
        f"metadata.{key} is not expected here" for key in meta if key not in METADATA_FIELDS
    ]
    name = meta.get("name")
    name_rule = DNS_LABEL if obj.get("kind") == "Namespace" else DNS_SUBDOMAIN
    if not isinstance(name, str) or len(name) > 253 or not name_rule.fullmatch(name):
        problems.append(f"metadata.name {name!r} is not a valid name")
    namespace = meta.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not DNS_LABEL.fullmatch(namespace)
    ):
        problems.append(f"metadata.namespace {namespace!r} is not a DNS label")
    for key, value in (meta.get("labels") or {}).items():
        if not _qualified_name_ok(key):
            problems.append(f"label key {key!r} is not a qualified name")
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.fullmatch(value):
            problems.append(f"label {key}={value!r} is not a valid label value")
    for key, value in (meta.get("annotations") or {}).items():
        if not _qualified_name_ok(key) or not isinstance(value, str):
            problems.append(f"annotation {key}={value!r} is not a string annotation")
    finalizers = meta.get("finalizers", [])
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        problems.append(f"metadata.finalizers {finalizers!r} is not a list of strings")
    return problems


# ------------------------------------------------------------------------------ core kinds


class CoreSchemas:
    """Strict schemas of core Kubernetes kinds from ``kubernetes-validate``'s bundled set.

    ``kubernetes_validate.validate`` re-reads and re-compiles the schema on every call and
    compares versions as strings; this picks the bundled version once (the newest one not newer
    than the mesh's, compared numerically) and keeps a compiled validator per kind.
    """

    def __init__(self, kubernetes_version: str) -> None:
        from kubernetes_validate import utils

        def numeric(version: str) -> tuple[int, ...]:
            return tuple(int(part) for part in version.split(".")[:2])

        wanted = numeric(kubernetes_version)
        bundled = sorted({numeric(v) for v in utils.all_versions()})
        usable = [v for v in bundled if v <= wanted]
        self.requested = kubernetes_version
        self.version = ".".join(map(str, usable[-1])) if usable else None
        self.oldest = ".".join(map(str, bundled[0]))
        self._validators: dict[tuple[str, str], Any] = {}

    def validator(self, api_version: str, kind: str) -> Any:
        """A validator, or None when kubernetes-validate has no schema for the kind."""
        import jsonschema
        import referencing
        from kubernetes_validate import utils

        key = (api_version, kind)
        if key in self._validators:
            return self._validators[key]
        self._validators[key] = None
        if self.version is None:
            return None
        folder = f"kubernetes-json-schema/v{self.version}.0-local-strict"
        short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        try:
            schema = utils.schema_contents(f"{folder}/{kind.lower()}-{short}.json", self.version)
            definitions = utils.schema_contents(f"{folder}/_definitions.json", self.version)
        except (FileNotFoundError, utils.VersionNotSupportedError):
            return None
        registry = referencing.Resource.from_contents(definitions) @ (
            referencing.Resource.from_contents(schema) @ referencing.Registry()
        )
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        self._validators[key] = validator
        return validator


# ------------------------------------------------------------------------------ the check


def object_problems(obj: Any, crds: CrdIndex, core: CoreSchemas | None = None) -> list[str]:
    """What is wrong with one object; an entry starting with ``unchecked:`` means no schema."""
    shape = shape_problems(obj)
    if shape is not None:
        return shape
    return schema_problems(obj, crds.validator(obj["apiVersion"], obj["kind"]), core)


def shape_problems(obj: Any) -> list[str] | None:
    """The problems of something that is not an object with apiVersion and kind, else None."""
    if not isinstance(obj, dict):
        return [f"not an object: {obj!r}"]
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"apiVersion/kind missing: {api_version!r}/{kind!r}"]
    return None


def schema_problems(
    obj: dict[str, Any], validator: Any, core: CoreSchemas | None = None
) -> list[str]:
    """:func:`object_problems` of an object of the right shape, given its CRD's validator
    (None: there is none, the core schemas are asked); also run by the schema worker
    (:mod:`meshgen.validation.schema_worker`), with the same answer."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    problems = metadata_problems(obj)
    if validator is None and core is not None:
        validator = core.validator(api_version, kind)
    if validator is None:
        return [*problems, f"unchecked: no schema for {api_version} {kind}"]
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
        where = ".".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{where}: {error.message[:300]}")
    return problems


def _field_line(text: str, document_line: int, problem: str) -> int | None:
    """The line of the field a problem names (``spec.target: ...``) in the document that
    starts at ``document_line`` of ``text``."""
    from meshgen.validation.repository import key_line, split_documents

    field, sep, _ = problem.partition(": ")
    if not sep or " " in field or field == "(root)":
        return None
    path: list[Any] = [int(p) if p.isdigit() else p for p in field.split(".")]
    unexpected = re.search(r"\('([^']+)' (?:was|were) unexpected", problem)
    if unexpected:
        path.append(unexpected.group(1))
    for start, doc in split_documents(text):
        if start == document_line:
            found = key_line(doc, path)
            return start + found - 1 if found is not None else None
    return None


def as_applied(obj: Any) -> Any:
    """The object as the cluster gets it: Flux decrypts a SOPS-encrypted Secret and drops its
    ``sops`` metadata before applying it."""
    from meshgen.validation.secrets import sops_encrypted

    if isinstance(obj, dict) and obj.get("kind") == "Secret" and sops_encrypted(obj):
        return {key: value for key, value in obj.items() if key != "sops"}
    return obj


_PREFETCH: list[threading.Thread] = []
WORKER_KEY = "schema-worker"  # where a run's view keeps the worker it started


def start_worker(view: RepoView) -> None:
    """Start the run's schema worker (once; see :mod:`meshgen.validation.schema_worker`):
    a run that builds something new checks new objects, and the worker imports the schema
    libraries on another core while this process keys and reads the rest. It is kept in
    ``view.context``, so it belongs to this run only (:func:`close_worker` ends it)."""
    if WORKER_KEY not in view.context:
        from meshgen.validation.schema_worker import SchemaWorker

        view.context[WORKER_KEY] = SchemaWorker()


def take_worker(view: RepoView) -> SchemaWorker | None:
    """The run's started schema worker, for the one check that asks it; None when none was."""
    worker: SchemaWorker | None = view.context.pop(WORKER_KEY, None)
    return worker


def close_worker(view: RepoView) -> None:
    """End the run's worker if no check took it (the run stopped before the schema check)."""
    worker = take_worker(view)
    if worker is not None:
        worker.close()


def prefetch() -> None:
    """Start importing the schema libraries in a thread (once): a run that builds or renders
    something new checks new objects, and a third of a second of imports then overlaps with
    kubectl and helm instead of following them."""
    if _PREFETCH:
        return

    def load() -> None:
        with contextlib.suppress(Exception):  # the check imports them again and reports
            import jsonschema  # noqa: F401
            from kubernetes_validate import utils  # noqa: F401

    _PREFETCH.append(threading.Thread(target=load, name="prefetch", daemon=True))
    _PREFETCH[0].start()


def package_version(distribution: str, module: str) -> str:
    """The installed version of a package, from its ``.dist-info`` folder beside the module
    (without importing either, or ``importlib.metadata``: a tenth of a second together)."""
    import importlib.util

    found = importlib.util.find_spec(module)
    origin = found.origin if found is not None else None
    if origin:
        folder = Path(origin).parent.parent
        prefix = f"{distribution.replace('-', '_')}-"
        with contextlib.suppress(OSError):
            names = [
                n[len(prefix) : -len(".dist-info")]
                for n in os.listdir(folder)
                if n.startswith(prefix) and n.endswith(".dist-info")
            ]
            if len(names) == 1:
                return names[0]
    from importlib.metadata import version

    return version(distribution)


class _ProblemMemo:
    """The problems of each object, replayed from the cache by the sha256 of the object
    (canonical JSON), in one table per schema context (meshgen, the CRDs given, the
    Kubernetes version, the schema libraries)."""

    def __init__(self, view: RepoView, crds: CrdIndex, kubernetes_version: str) -> None:
        from meshgen import library
        from meshgen.validation.cache import Table, digest

        self.crds = crds
        context = digest(
            "schema",
            library.code_fingerprint(),
            crds.content_digest(),
            kubernetes_version,
            package_version("kubernetes-validate", "kubernetes_validate"),
            package_version("jsonschema", "jsonschema"),
        )
        self.table = Table(view.cache, "schema", context)
        crds.schema_memo = self.table
        self._core: CoreSchemas | None = None
        self.computed: dict[str, list[str]] = {}  # by the schema worker

    def core_versions(self, kubernetes_version: str) -> tuple[str | None, str]:
        """(bundled version used, oldest bundled) of :class:`CoreSchemas`, without importing
        kubernetes-validate when the cache knows them."""
        stored = self.table.get("core-versions")
        if isinstance(stored, list) and len(stored) == 2 and isinstance(stored[1], str):
            return (stored[0] if isinstance(stored[0], str) else None, stored[1])
        core = self.core(kubernetes_version)
        self.table.set("core-versions", [core.version, core.oldest])
        return (core.version, core.oldest)

    def core(self, kubernetes_version: str) -> CoreSchemas:
        if self._core is None:
            self._core = CoreSchemas(kubernetes_version)
        return self._core

    def stored_keys(self, build_key: str | None) -> list[str] | None:
        """The object keys of :meth:`object_keys` the table holds for a build, if any."""
        stored = self.table.get(f"objects {build_key}") if build_key is not None else None
        if isinstance(stored, list) and all(isinstance(k, str) for k in stored):
            return stored
        return None

    def stored_problems(self, key: str) -> list[str] | None:
        """The problems of the object ``key`` the table holds, if any."""
        found = self.table.get(key)
        if isinstance(found, list) and all(isinstance(p, str) for p in found):
            return list(found)
        return None

    def object_keys(self, build_key: str | None, objects: list[Any]) -> list[str]:
        """The sha256 of each object of a build (canonical JSON), replayed by the build's
        own key: objects of a build whose inputs did not change are not serialised again."""
        import hashlib

        memo_key = f"objects {build_key}"
        stored = self.stored_keys(build_key)
        if stored is not None and len(stored) == len(objects):
            return stored
        keys = [
            hashlib.sha256(
                json.dumps(obj, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
            ).hexdigest()
            for obj in objects
        ]
        if build_key is not None:
            self.table.set(memo_key, keys)
        return keys

    def compute(
        self, pending: list[tuple[str, Any]], kubernetes_version: str, worker: SchemaWorker | None
    ) -> None:
        """Have ``worker`` compute the problems of the objects the table does not know (only
        those JSON gives back exactly, as are their schemas); the others, and all of them
        when there is no worker or it fails, are computed by :meth:`problems` here."""
        from meshgen.validation.cache import is_plain

        todo: dict[str, dict[str, Any]] = {}
        schemas: list[Any] = []
        schema_index: dict[int, int] = {}
        objects: list[tuple[Any, int | None]] = []
        for key, obj in pending:
            if key in todo or key in self.computed or self.stored_problems(key) is not None:
                continue
            applied = as_applied(obj)
            if shape_problems(applied) is not None or not is_plain(applied):
                continue
            schema = self.crds.schema(applied["apiVersion"], applied["kind"])
            index = None
            if schema is not None:
                if id(schema) not in schema_index:
                    if not is_plain(schema):
                        continue
                    schema_index[id(schema)] = len(schemas)
                    schemas.append(schema)
                index = schema_index[id(schema)]
            todo[key] = applied
            objects.append((applied, index))
        if worker is None:
            return
        if not todo:
            worker.close()
            return
        answer = worker.problems(kubernetes_version, schemas, objects)
        if answer is None:
            return
        for key, found in zip(todo, answer, strict=True):
            self.computed[key] = found
            self.table.set(key, found)

    def problems(self, key: str, obj: Any, core: Callable[[], CoreSchemas]) -> list[str]:
        if key in self.computed:
            return list(self.computed[key])
        found = self.table.get(key)
        if not (isinstance(found, list) and all(isinstance(p, str) for p in found)):
            found = object_problems(as_applied(obj), self.crds, core())
            self.table.set(key, found)
        return list(found)

    def store(self) -> None:
        self.table.store()


def check(view: RepoView, crds: CrdIndex, kubernetes_version: str) -> list[Finding]:
    """Validate every object of every build once (identical objects are checked once)."""
    from meshgen.validation import repository

    memo = _ProblemMemo(view, crds, kubernetes_version)
    version, oldest = memo.core_versions(kubernetes_version)
    findings: list[Finding] = []
    if version is None:
        findings.append(
            Finding(
                check="schema",
                message=f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version} "
                f"(oldest bundled: {oldest}); core kinds are not checked",
                fix="set kubernetesVersion in mesh.yaml to a supported version",
                file="mesh.yaml",
                severity=UNCHECKED,
            )
        )
    seen: dict[str, list[str]] = {}
    unchecked: dict[str, list[str]] = {}

    def core() -> CoreSchemas:
        return memo.core(kubernetes_version)

    build_keys: dict[str, str] = view.context.get("build-keys", {})
    # First which objects each build has to read (the table knows the others to be fine),
    # then those new to the table computed in one batch (by the schema worker when there is
    # one), then the findings in order.
    planned: list[tuple[str, list[str], list[Any]]] = []
    known: set[str] = set()
    for folder in sorted(view.builds):
        # A build replayed from the cache is read only when one of its objects is new to the
        # table or has problems to report: its object keys are kept by the build's key.
        keys = None
        if isinstance(view.builds[folder], repository.StoredBuild):
            keys = memo.stored_keys(build_keys.get(folder))
            if keys is not None and any(
                k not in known and memo.stored_problems(k) != [] for k in keys
            ):
                keys = None
        objects: list[Any] = []
        if keys is None:
            objects = view.objects(folder)
            keys = memo.object_keys(build_keys.get(folder), objects)
        known.update(keys)
        planned.append((folder, keys, objects))
    pending = [(key, objs[i]) for _, keys, objs in planned if objs for i, key in enumerate(keys)]
    memo.compute(pending, kubernetes_version, take_worker(view))
    for folder, keys, objects in planned:
        for index, key in enumerate(keys):
            if key in seen:
                continue
            if not objects:  # every object of the build is known to have no problem
                seen[key] = []
                continue
            obj = objects[index]
            problems = seen[key] = memo.problems(key, obj, core)
            for problem in problems:
                if problem.startswith("unchecked: "):
                    kind = f"{obj.get('apiVersion')} {obj.get('kind')}"
                    unchecked.setdefault(kind, []).append(folder)
                    continue
                file, line = view.locate(obj, near=folder)
                if file is not None and line is not None:
                    line = _field_line(view.text(file) or "", line, problem) or line
                findings.append(
                    Finding(
                        check="schema",
                        message=f"{problem} (built from {folder})",
                        fix="correct the field to match the kind's schema",
                        cluster=cluster_of(folder),
                        file=file or f"{folder}/kustomization.yaml",
                        line=line,
                        obj=object_label(obj),
                    )
                )
    memo.store()
    for kind, folders in sorted(unchecked.items()):
        findings.append(
            Finding(
                check="schema",
                message=f"{kind}: no schema available, "
                f"{counted(len(folders), 'object')} not checked (first in {folders[0]})",
                fix="pass the kind's CRD with --crds (e.g. `kubectl get crd NAME -o yaml`)",
                severity=UNCHECKED,
            )
        )
    return findings
