"""The ``validate`` cache: results of the expensive, pure steps, keyed by everything they read.

A kustomize build, a Helm release's check (``helm template`` included) and an object's schema
check are functions of their inputs only: the content of every file they read, the chart and
CRD content, the tool binaries, meshgen's version and the check options. Each result is stored
under the sha256 of those inputs (:func:`digest`), so a run after a change recomputes only what
the change reaches, and replays everything else, findings included.

The cache lives outside the repository (``~/.cache/meshgen/validate``, ``$MESHGEN_CACHE_DIR``
or ``--cache-dir``) and is safe to delete at any time, also while ``validate`` runs: an entry
is written to a temporary file and renamed into place, carries the sha256 of its payload, and
an entry that is missing, truncated, corrupt or of another format is a miss, never an error.
Entries are plain JSON (a shared CI cache never makes ``validate`` run code). After a run that
wrote entries, the least recently used ones are removed while the folder is above its bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "MESHGEN_CACHE_DIR"
CACHE_MAX_ENV = "MESHGEN_CACHE_MAX_MB"
DEFAULT_MAX_MB = 512
FORMAT = "meshgen-validate-cache/1"
_HEADER_END = b"\n"
USAGE_FILE = "usage.json"  # the folder's size when last scanned, plus what runs wrote since
RESCAN_SECONDS = 24 * 3600  # scan at least this often (other writers, stale temporary files)


def default_dir() -> Path:
    """``$MESHGEN_CACHE_DIR``, else ``validate`` beside meshgen's tools cache
    (``~/.cache/meshgen/validate``, following ``$XDG_CACHE_HOME``)."""
    from meshgen.adapters import toolchain

    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return toolchain.tools_dir().parent / "validate"


def max_bytes() -> int:
    """The bound of the cache folder: ``$MESHGEN_CACHE_MAX_MB`` MiB (default 512)."""
    try:
        megabytes = int(os.environ.get(CACHE_MAX_ENV, DEFAULT_MAX_MB))
    except ValueError:
        megabytes = DEFAULT_MAX_MB
    return max(1, megabytes) * 1024 * 1024


def digest(*parts: Any) -> str:
    """The sha256 of ``parts`` (strings, bytes, numbers, None and lists/tuples of them)."""
    h = hashlib.sha256()
    try:  # one C-encoded JSON text when there are no bytes (most keys): much faster
        h.update(b"j" + json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except TypeError:
        h = hashlib.sha256()
        _feed(h, parts)
    return h.hexdigest()


def _feed(h: Any, part: Any) -> None:
    if isinstance(part, bytes):
        h.update(b"b%d:" % len(part))
        h.update(part)
    elif isinstance(part, str):
        data = part.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data))
        h.update(data)
    elif isinstance(part, (list, tuple)):
        h.update(b"l%d:" % len(part))
        for item in part:
            _feed(h, item)
    elif part is None or isinstance(part, (bool, int, float)):
        h.update(f"v{part!r};".encode())
    else:
        raise TypeError(f"cannot digest {type(part).__name__}")


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes ("-" when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "-"


def tool_identity(path: Path) -> tuple[str, int, int]:
    """What identifies a tool binary cheaply: its resolved path, size and modification time
    (a replaced or upgraded binary changes them; hashing 100 MB per run would not pay)."""
    resolved = path.resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return (str(resolved), -1, -1)
    return (str(resolved), stat.st_size, stat.st_mtime_ns)


def is_plain(value: Any) -> bool:
    """Whether JSON gives ``value`` back unchanged (YAML can hold dates, bytes, int keys).

    Walked with a stack, the exact built-in types first (a new build's objects, checked
    before they are stored, are thousands of values: the recursion cost a one-cluster change
    a few milliseconds after kubectl's last build); anything else as :func:`_plain_node`
    says."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            for key, sub in item.items():
                if type(key) is not str and not isinstance(key, str):
                    return False
                pending.append(sub)
        elif kind is list:
            pending.extend(item)
        elif not _plain_node(item, pending):
            return False
    return True


def _plain_node(value: Any, pending: list[Any]) -> bool:
    """Whether one value of a type other than the exact built-ins is plain (its items, if
    any, are added to ``pending``)."""
    if isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        pending.extend(value)
        return True
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return False
        pending.extend(value.values())
        return True
    return False


class Cache:
    """A folder of entries ``<kind>/<key[:2]>/<key>.json``; ``enabled=False`` stores nothing.

    Thread-safe: the checks read and write it from their worker threads.
    """

    def __init__(self, folder: Path | None, enabled: bool = True) -> None:
        self.folder = folder
        self._folder = str(folder) if folder is not None else ""
        self.enabled = enabled and folder is not None
        self.hits: dict[str, int] = {}
        self.misses: dict[str, int] = {}
        self.written = 0
        self.written_bytes = 0
        self.recomputed: dict[str, list[str]] = {}  # kind -> what missed, as the caller names it
        self._lock = threading.Lock()

    @classmethod
    def disabled(cls) -> Cache:
        return cls(None, enabled=False)

    def _path(self, kind: str, key: str) -> str:
        """The entry's path, as a string: a run asks for about a thousand, and pathlib took
        a twentieth of a second to join them."""
        assert self.folder is not None
        return os.path.join(self._folder, kind, key[:2], f"{key}.json")

    def _count(self, table: dict[str, int], kind: str) -> None:
        with self._lock:
            table[kind] = table.get(kind, 0) + 1

    def has(self, kind: str, key: str) -> bool:
        """Whether an entry is there (it may still turn out damaged: :meth:`get` tells)."""
        return self.enabled and os.path.isfile(self._path(kind, key))

    def reused(self, kind: str, key: str) -> None:
        """Count a hit for an entry :meth:`has` found, read later with :meth:`peek` (or not at
        all, when nothing needs it: it is still marked as used, for pruning); one that turns
        out damaged is made a miss with :meth:`stale`."""
        if self.enabled:
            with contextlib.suppress(OSError):
                os.utime(self._path(kind, key))
        self._count(self.hits, kind)

    def peek(self, kind: str, key: str) -> Any:
        """:meth:`get` without counting a hit or a miss (see :meth:`reused`)."""
        return self._get(kind, key, count=False)

    def get(self, kind: str, key: str, label: str | None = None) -> Any:
        """The value stored under ``key``, or None (a miss) when there is none or it cannot
        be read back exactly. A miss is recorded under ``label`` in :attr:`recomputed`."""
        value = self._get(kind, key)
        if value is None and label is not None:
            with self._lock:
                self.recomputed.setdefault(kind, []).append(label)
        return value

    def counted(self, kind: str, label: str | None) -> None:
        """Count a result of ``kind`` kept in a :class:`Table` as a hit (``label`` None) or as
        a miss named ``label``, as :meth:`get` counts an entry of its own."""
        if label is None:
            self._count(self.hits, kind)
            return
        with self._lock:
            self.misses[kind] = self.misses.get(kind, 0) + 1
            self.recomputed.setdefault(kind, []).append(label)

    def stale(self, kind: str, label: str) -> None:
        """Count an entry :meth:`get` returned as a miss after all: the caller found that it
        no longer holds (a fact it was computed from changed) and computes it again."""
        with self._lock:
            self.hits[kind] = self.hits.get(kind, 1) - 1
            self.misses[kind] = self.misses.get(kind, 0) + 1
            self.recomputed.setdefault(kind, []).append(label)

    def _get(self, kind: str, key: str, count: bool = True) -> Any:
        if not self.enabled:
            return None
        path = self._path(kind, key)
        try:
            with open(path, "rb") as entry:
                data = entry.read()
            header_bytes, _, payload = data.partition(_HEADER_END)
            header = json.loads(header_bytes)
            if (
                header.get("format") != FORMAT
                or header.get("key") != key
                or header.get("sha256") != hashlib.sha256(payload).hexdigest()
            ):
                raise ValueError("not this entry")
            value = json.loads(payload)
        except (OSError, ValueError, AttributeError):
            if count:
                self._count(self.misses, kind)
            return None
        with contextlib.suppress(OSError):  # least recently used goes first when pruned
            os.utime(path)
        if count:
            self._count(self.hits, kind)
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``; any failure leaves no entry.
        Nothing is stored once a signal asked meshgen to stop: the tools were stopped with
        it, and what this run found since is no answer to keep."""
        from meshgen.adapters import transaction

        if not self.enabled or transaction.stop_requested() is not None:
            return
        path = Path(self._path(kind, key))
        try:
            payload = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
            header = json.dumps(
                {"format": FORMAT, "key": key, "sha256": hashlib.sha256(payload).hexdigest()}
            ).encode()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(header + _HEADER_END + payload)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except (OSError, TypeError, ValueError):
            return  # a cache that cannot be written (read-only, deleted meanwhile) is no error
        with self._lock:
            self.written += 1
            self.written_bytes += len(header) + len(payload) + len(_HEADER_END)

    def prune(self, limit: int | None = None) -> int:
        """Remove the least recently used entries (and stale temporary files) until the folder
        holds at most ``limit`` bytes (default :func:`max_bytes`); the number removed.

        The folder is scanned only when it may be above the bound: its size at the last scan
        plus what runs wrote since (kept in ``usage.json``; entries written over or deleted
        by hand only make that estimate high) reaches ``limit``, or the last scan is a day
        old, or there is no such record. A 100-cluster mesh leaves about 800 entries: their
        scan cost a tenth of a second of every run."""
        if not self.enabled or self.folder is None:
            return 0
        limit = max_bytes() if limit is None else limit
        now = time.time()
        usage = self._usage()
        if usage is not None:
            estimate = usage["bytes"] + self.written_bytes
            if estimate <= limit and 0 <= now - usage["scanned"] < RESCAN_SECONDS:
                self._record_usage(estimate, usage["scanned"])
                return 0
        entries: list[tuple[float, int, Path]] = []
        removed = 0
        for path in _files(self.folder):
            if path.parent == self.folder and not path.name.startswith(".tmp-"):
                continue  # usage.json: not an entry
            try:
                stat = path.stat()
            except OSError:
                continue
            if path.name.startswith(".tmp-"):
                if now - stat.st_mtime > 3600:  # left by a run that was killed
                    removed += _unlink(path)
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        for _mtime, size, path in sorted(entries, key=lambda e: (e[0], str(e[2]))):
            if total <= limit:
                break
            removed += _unlink(path)
            total -= size
        self._record_usage(total, now)
        return removed

    def _usage(self) -> dict[str, float] | None:
        assert self.folder is not None
        try:
            usage = json.loads((self.folder / USAGE_FILE).read_bytes())
            if isinstance(usage["bytes"], int) and isinstance(usage["scanned"], (int, float)):
                return {"bytes": usage["bytes"], "scanned": usage["scanned"]}
        except (OSError, ValueError, TypeError, KeyError):
            pass
        return None

    def _record_usage(self, size: float, scanned: float) -> None:
        assert self.folder is not None
        with contextlib.suppress(OSError):
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump({"bytes": int(size), "scanned": scanned}, out)
                os.replace(tmp, self.folder / USAGE_FILE)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    def summary(self) -> dict[str, Any]:
        kinds = sorted(set(self.hits) | set(self.misses))
        return {
            "enabled": self.enabled,
            "folder": str(self.folder) if self.folder is not None else None,
            "reused": {k: self.hits.get(k, 0) for k in kinds},
            "computed": {k: self.misses.get(k, 0) for k in kinds},
            "recomputed": {k: sorted(v) for k, v in sorted(self.recomputed.items())},
            "written": self.written,
        }


class Table:
    """Many small results of one kind (a file's secrets, an object's schema problems) in one
    entry per ``context``: a file per result would cost more to read than to compute.

    Read once (:meth:`get`), written back once (:meth:`store`) when something was added,
    holding what this run used and, below ``limit`` entries, what earlier runs left.

    A run that adds a few results to a large table (the two builds a one-cluster change
    reaches, among 212) writes them to a second, small entry, its delta, instead of writing
    the whole table again (serialising and hashing 800 KB took a run 20 to 30 ms per table);
    the delta names the generation of the table it extends (a random token written with the
    table) and is read only with that table, so a table written again by another run (or
    pruned) makes an older delta void. The table is written whole, its delta void, once the
    delta would hold more than one result in :data:`DELTA_SHARE` of the table.
    """

    DELTA_SHARE = 8

    def __init__(self, cache: Cache, kind: str, context: str, limit: int = 200_000) -> None:
        self.cache, self.kind, self.context, self.limit = cache, kind, context, limit
        self.known: dict[str, Any] = {}
        self.used: dict[str, Any] = {}
        self.added: dict[str, Any] = {}
        self._generation: str | None = None
        self._delta: dict[str, Any] = {}
        self._lock = threading.Lock()
        stored = cache.get(kind, context)
        if not _is_table(stored):
            return
        self.known, self._generation = dict(stored["entries"]), stored["generation"]
        delta = cache.peek(kind, self._delta_key())
        if _is_table(delta) and delta["generation"] == self._generation:
            self._delta = delta["entries"]
            self.known.update(self._delta)

    def _delta_key(self) -> str:
        return digest("table-delta", self.context)

    def get(self, key: str) -> Any:
        value = self.known.get(key)
        if value is not None:
            self.used[key] = value
        return value

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self.used[key] = value
            self.added[key] = value

    def store(self) -> None:
        if not self.added:
            return
        delta = {**self._delta, **self.added}
        if self._generation is not None and len(delta) * self.DELTA_SHARE <= len(self.known):
            self.cache.put(
                self.kind, self._delta_key(), {"generation": self._generation, "entries": delta}
            )
            return
        kept = {**self.known, **self.used} if len(self.known) < self.limit else self.used
        generation = os.urandom(8).hex()
        self.cache.put(self.kind, self.context, {"generation": generation, "entries": kept})


def _is_table(stored: Any) -> bool:
    return (
        isinstance(stored, dict)
        and isinstance(stored.get("generation"), str)
        and isinstance(stored.get("entries"), dict)
    )


def _files(folder: Path) -> Iterable[Path]:
    for top, _dirs, names in os.walk(folder):
        for name in names:
            yield Path(top) / name


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError:
        return 0
    return 1


class FileDigests:
    """The sha256 of the repository's files, without reading those whose ``lstat`` shows them
    unchanged since their bytes were hashed.

    Known digests come from the work-tree cache ``meshgen render`` keeps in the Git folder
    (:mod:`meshgen.adapters.tree_cache`, only read here: validate writes nothing into the
    repository) and from this cache's own entry for the repository (one per work tree, kept
    by :meth:`store`). As for the work-tree cache, an entry holds the file's inode, size,
    modification and change times, and is trusted only for a regular file whose ``lstat``
    matches it exactly and that had last changed well before its bytes were hashed
    (:data:`meshgen.adapters.tree_cache.FINE_SLACK_NS`, or the coarse slack on a file system
    that keeps whole seconds): a file written again within one tick of its clock would keep
    its stat. Anything else means reading and hashing the file.
    """

    def __init__(self, cache: Cache, root: Path) -> None:
        from meshgen.adapters.tree_cache import TreeCache

        self.cache, self.root = cache, root
        self._key = digest("file-digests", FORMAT, str(root))
        stored = cache.get("file-digests", self._key) if cache.enabled else None
        self._known: dict[str, str] = stored if isinstance(stored, dict) else {}
        self._seen: dict[str, str] = {}
        self._digests: dict[str, str] = {}  # this run's answers
        self._tree: TreeCache | None = None
        with contextlib.suppress(Exception):  # no Git folder, an unreadable cache: no help
            self._tree = TreeCache(root)
        self._lock = threading.Lock()
        self.hashed = 0  # files read and hashed by this run

    def digest(self, path: str) -> str:
        """The sha256 of the bytes of ``path`` (relative to the root), "-" when it cannot be
        read; found once per run (the keying of the overlays and the secrets scan ask for
        the same 600 files of a 100-cluster mesh)."""
        found = self._digests.get(path)
        if found is None:
            found = self._digests[path] = self._digest(path)
        return found

    def _digest(self, path: str) -> str:
        from meshgen.adapters import tree_cache

        full = os.path.join(self.root, path)
        try:
            info = os.lstat(full)
        except OSError:
            return "-"
        if not stat.S_ISREG(info.st_mode):
            return file_digest(Path(full))
        key = tree_cache.stat_key(info)
        entry = self._known.get(path)
        known_sha = trusted_sha(entry, key, info) if entry is not None else None
        if entry is not None and known_sha is not None:
            self._remember(path, entry)
            return known_sha
        if self._tree is not None:
            known = self._tree.lookup(path, info)
            if known is not None:
                return known[0]
        since = tree_cache.now()
        try:
            data = Path(full).read_bytes()
            after = os.lstat(full)
        except OSError:
            return "-"
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            self.hashed += 1
        if tree_cache.stat_key(after) == key:
            self._remember(path, f"{key} {sha} {since}")
        return sha

    def _remember(self, path: str, entry: str) -> None:
        with self._lock:
            self._seen[path] = entry

    def store(self) -> None:
        """Keep what this run hashed or confirmed (only that: files gone are forgotten)."""
        if self.cache.enabled and self._seen and self._seen != self._known:
            self.cache.put("file-digests", self._key, dict(sorted(self._seen.items())))


def trusted_sha(entry: str, key: str, info: os.stat_result) -> str | None:
    """The sha256 a :class:`FileDigests` entry (``<inode> <size> <mtime> <ctime> <sha256>
    <seen ns>``) gives a file whose stat key is ``key``, when it holds for certain."""
    from meshgen.adapters.tree_cache import settled

    fields = entry.split(" ")
    if len(fields) != 6 or " ".join(fields[:4]) != key or not fields[5].isdigit():
        return None
    return fields[4] if settled(info, int(fields[5])) else None
