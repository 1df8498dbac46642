"""What the checks read from a repository on disk: YAML files, documents and their lines."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshgen import spec
from meshgen.adapters import workspace
from meshgen.validation.cache import Cache, FileDigests, Table, digest
from meshgen.validation.progress import Progress

YAML_SUFFIXES = (".yaml", ".yml")
# Summaries of builds kept between runs (a 100-cluster mesh uses about 830, a change adds
# those of the builds it reaches): beyond this many, only those the last run used are kept.
SUMMARIES_KEPT = 2000
_DOC_START = re.compile(r"^---(?:\s.*)?$")
# Line breaks of str.splitlines other than "\n": a text with one is split line by line.
_OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def split_documents(text: str) -> list[tuple[int, str]]:
    """The documents of a YAML stream with the 1-based line each starts on."""
    if not text or any(brk in text for brk in _OTHER_BREAKS):
        return _split_lines(text)
    # Only the lines starting with "---" are looked at (found with str.find): a Helm render
    # of a 100-cluster mesh has 300,000 lines, and looking at each in Python took 0.4 s.
    docs: list[tuple[int, str]] = []
    start, pos, line = 1, 0, 1  # the current document's first line, its offset, pos's line
    candidates = [0] if text.startswith("---") else []
    found = text.find("\n---")
    while found >= 0:
        candidates.append(found + 1)
        found = text.find("\n---", found + 1)
    for at in candidates:
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        if end - at == 3 or text[at + 3].isspace():  # "---" alone or before a space
            docs.append((start, text[pos:at]))
            line += text.count("\n", pos, at)  # the marker's line
            start, pos = line + 1, min(end + 1, len(text))
            line += 1
    docs.append((start, text[pos:]))
    return [(line, doc) for line, doc in docs if doc.strip()]


def _split_lines(text: str) -> list[tuple[int, str]]:
    """:func:`split_documents`, line by line (every kind of line break ``str.splitlines``
    knows)."""
    docs: list[tuple[int, str]] = []
    start, lines = 1, []  # type: tuple[int, list[str]]
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if _DOC_START.match(line):
            docs.append((start, "".join(lines)))
            start, lines = number + 1, []
        else:
            lines.append(line)
    docs.append((start, "".join(lines)))
    return [(line, doc) for line, doc in docs if doc.strip()]


def load_fast(text: str) -> Any:
    """One YAML document, read the way kubectl and Helm read it (YAML 1.1), with libyaml's
    C parser when present (pure-Python parsing of a 1 MB CRD takes seconds) and the objects
    built as :mod:`meshgen.yamlload` builds them."""
    from meshgen import yamlload

    return yamlload.load(text)


def load_documents(text: str) -> list[tuple[int, Any]]:
    """(line, document) of every non-empty document; raises yaml.YAMLError when invalid."""
    loaded = []
    for line, doc in split_documents(text):
        value = load_fast(doc)
        if value is not None:
            loaded.append((line, value))
    return loaded


def key_line(text: str, path: list[Any]) -> int | None:
    """1-based line of the deepest key of ``path`` in a one-document YAML text, when known."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        node = YAML(typ="rt").load(text)
    except YAMLError:
        return None
    line = None
    for key in path:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                line = (lc.item(key) if isinstance(key, int) else lc.key(key))[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


@dataclass(frozen=True)
class StoredBuild:
    """A build whose objects the cache holds under ``key`` (its inputs did not change): read
    by ``load()`` when a check first needs them, never when the checks' results about it are
    replayed (see :meth:`RepoView.summary`). ``load`` gives the objects, or builds the folder
    again when the entry turns out damaged or gone."""

    key: str
    load: Callable[[], Any]


@dataclass
class RepoView:
    """The repository under validation: its root, its mesh (None when mesh.yaml is broken),
    and the kustomize builds the checks share (folder -> objects, or the build's error, or a
    :class:`StoredBuild` still in the cache: read them with :meth:`build` or :meth:`objects`,
    and what a check reads of every build with :meth:`summary`).

    ``stand_ins`` (folder -> {relative path: text}) are files a folder's build gets although
    the repository does not hold them yet, such as the ``flux-system/`` that only
    ``flux bootstrap`` writes (set by the engine, before the builds). ``progress`` is where
    the checks report the work they complete (for the progress bar).

    A kustomization may list remote resources (``https://...``), which validate never
    fetches: ``offline_copy`` gives the text it builds instead (the Gateway API CRDs of that
    release, from ``--crds``), or None; ``remote_resources`` records, per folder, each remote
    resource and whether an offline copy stood in for it.

    ``cache`` keeps the results of builds and checks between runs (see
    :mod:`meshgen.validation.cache`); ``context`` holds what identifies this run's tools and
    options in its keys (the kubectl and helm binaries, the CRDs, the Kubernetes version)."""

    root: Path
    document: spec.MeshDocument | None
    builds: dict[str, Any] = field(default_factory=dict)  # objects, error or StoredBuild
    stand_ins: dict[str, dict[str, str]] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress.silent)
    offline_copy: Callable[[str], str | None] | None = None
    remote_resources: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    cache: Cache = field(default_factory=Cache.disabled)
    context: dict[str, Any] = field(default_factory=dict)
    _digests: dict[str, str] = field(default_factory=dict)
    _files: FileDigests | None = None
    _texts: dict[str, str | None] = field(default_factory=dict)
    _sources: dict[tuple[str, str, str], list[tuple[str, int]]] | None = None
    _load_lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def mesh(self) -> spec.Mesh | None:
        return self.document.mesh if self.document is not None else None

    def text(self, path: str) -> str | None:
        """The file's text (None when missing or unreadable), read once."""
        if path not in self._texts:
            try:
                self._texts[path] = (self.root / path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[path] = None
        return self._texts[path]

    @property
    def files(self) -> FileDigests:
        """The digests of the repository's files, kept between runs (see
        :class:`~meshgen.validation.cache.FileDigests`)."""
        if self._files is None:
            self._files = FileDigests(self.cache, self.root)
        return self._files

    def digest(self, path: str) -> str:
        """The sha256 of a file's bytes (relative to the root, or absolute), "-" when it
        cannot be read; computed once per run."""
        if path not in self._digests:
            from meshgen.validation.cache import file_digest

            inside = not (path.startswith(("/", "../")) or path == "..")
            self._digests[path] = (
                self.files.digest(path) if inside else file_digest(self.root / path)
            )
        return self._digests[path]

    def yaml_files(self) -> list[str]:
        """Every YAML file under the folders meshgen generates into (hand-written ones too)."""
        if "yaml-files" in self.context:
            return list(self.context["yaml-files"])
        found = []
        for top in workspace.GENERATED_ROOTS:
            found += _files_under(str(self.root), top, YAML_SUFFIXES)
        self.context["yaml-files"] = sorted(found)
        return list(self.context["yaml-files"])

    def walked(self, entries: list[tuple[str, os.DirEntry[str]]]) -> None:
        """Take the YAML files from a walk of the generated folders that was made already
        (what :func:`meshgen.adapters.workspace.require_no_links_out` returns) instead of
        walking them again: the same files :meth:`yaml_files` finds."""
        self.context["yaml-files"] = sorted(
            path
            for path, entry in entries
            if os.path.splitext(entry.name)[1] in YAML_SUFFIXES and _is_file(entry)
        )

    @property
    def _written(self) -> Table:
        if "written-objects" not in self.context:
            from meshgen import library

            self.context["written-objects"] = Table(
                self.cache,
                "written-objects",
                digest("written-objects", "by file sha256", library.code_fingerprint()),
            )
        table: Table = self.context["written-objects"]
        return table

    def _written_objects(self, path: str) -> list[tuple[str, str, str, int]]:
        """(kind, namespace, name, line) of each object written in a file, replayed from the
        cache by the sha256 of its text."""
        stored = self._written.get(self.digest(path))  # the text is read only when new
        if not isinstance(stored, list):
            text = self.text(path)
            stored = _written_entries(text or "")
            if text is not None:  # keyed by what was read (the file may have changed since)
                self._written.set(hashlib.sha256(text.encode("utf-8")).hexdigest(), stored)
        return [(str(k), str(ns), str(n), int(line)) for k, ns, n, line in stored]

    def build(self, folder: str) -> Any:
        """A folder's build: its objects, its error (MeshgenError), or None when it was not
        built; a build replayed from the cache is read here, once."""
        built = self.builds.get(folder)
        if isinstance(built, StoredBuild):
            with self._load_lock:  # the schema check's thread and the others share builds
                built = self.builds.get(folder)
                if isinstance(built, StoredBuild):
                    built = self.builds[folder] = built.load()
        return built

    def objects(self, folder: str) -> list[dict[str, Any]]:
        """Built objects of a kustomization folder ([] when it did not build or was not built)."""
        built = self.build(folder)
        return built if isinstance(built, list) else []

    def summary(
        self, folder: str, name: str, compute: Callable[[list[dict[str, Any]]], Any]
    ) -> Any:
        """``compute(objects)`` of a folder's build, replayed by the build's cache key (which
        stands for its objects): what a check reads of every build (the Argo CD Applications,
        the kinds) is kept small, so that an unchanged build is not read back for it.
        ``compute`` must return plain JSON data (lists, not tuples or sets) and depend on the
        objects only; a new ``name`` for any change to what it computes."""
        from meshgen.validation.cache import is_plain

        key = self.context.get("build-keys", {}).get(folder)
        if key is None or not isinstance(self.builds.get(folder), (list, StoredBuild)):
            return compute(self.objects(folder))
        table = self._summaries
        stored = table.get(f"{name} {key}")
        if isinstance(stored, list) and len(stored) == 1:
            return stored[0]
        value = compute(self.objects(folder))
        if is_plain(value):
            table.set(f"{name} {key}", [value])
        return value

    @property
    def _summaries(self) -> Table:
        with self._load_lock:
            if "build-summaries" not in self.context:
                from meshgen import library

                self.context["build-summaries"] = Table(
                    self.cache,
                    "build-summaries",
                    digest("build-summaries", library.code_fingerprint()),
                    limit=SUMMARIES_KEPT,
                )
        table: Table = self.context["build-summaries"]
        return table

    def prefetch(self) -> None:
        """Read what the checks after the builds need from the cache, whatever changed: what
        was kept of each build, and where each object is written (see :meth:`locate`)."""
        _ = self._summaries
        self.locate(None)

    def store(self) -> None:
        """Keep what this run computed about the builds and the files for the next run."""
        if "build-summaries" in self.context:
            self._summaries.store()
        self.files.store()

    def locate(self, obj: Any, near: str | None = None) -> tuple[str | None, int | None]:
        """(file, line) where an object is written literally in the repository, if anywhere.

        Objects of the same kind and name can be written for several clusters (Flux's live in
        ``flux-system`` in every cluster): ``near`` (a folder) prefers the one written under
        it, then one in the same cluster's folder.
        """
        if self._sources is None:
            self._sources = {}
            for path in self.yaml_files():
                for kind, namespace, name, line in self._written_objects(path):
                    self._sources.setdefault((kind, namespace, name), []).append((path, line))
            self._written.store()
        found = self._sources.get(_object_key(obj), []) if isinstance(obj, dict) else []
        if not found:
            return (None, None)
        if near is not None:
            parts = near.strip("/").split("/")
            prefixes = ["/".join(parts) + "/"]
            if len(parts) >= 2 and parts[0] == "clusters":
                prefixes.append(f"clusters/{parts[1]}/")
            for prefix in prefixes:
                for path, line in found:
                    if path.startswith(prefix):
                        return (path, line)
        return found[0]


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a link that cannot be followed
        return False


def _files_under(root: str, top: str, suffixes: tuple[str, ...]) -> list[str]:
    """The regular files (symlinks to them too) with one of ``suffixes`` below ``root/top``,
    relative to ``root``; symlinked folders are not descended into (as ``Path.rglob``)."""
    found = []
    pending = [top]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(os.path.join(root, folder)) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(f"{folder}/{entry.name}")
                    elif os.path.splitext(entry.name)[1] in suffixes and entry.is_file():
                        found.append(f"{folder}/{entry.name}")
        except OSError:
            continue
    return found


def _written_entries(text: str) -> list[list[Any]]:
    try:
        docs = load_documents(text)
    except Exception:  # unreadable files are reported by the checks that read them
        return []
    return [
        [*_object_key(doc), line]
        for line, doc in docs
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict)
    ]


def _object_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (str(obj.get("kind")), str(meta.get("namespace", "")), str(meta.get("name")))
