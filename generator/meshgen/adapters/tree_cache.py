"""What each file of the work tree held when meshgen last read or wrote it, to skip reading it
again: a cache in the Git folder (``meshgen-tree-cache``), never in the work tree.

A repository of 1,000 clusters holds 11,000 generated files; reading them back to compare
them with a render costs more than rendering. Like Git's index, the cache keeps per file its
inode, size, modification and change times (nanoseconds) with the SHA-256 of its bytes and
whether it carries the generated mark. A file whose ``lstat`` matches its entry exactly holds
those bytes, unless it changed within the same tick of the file system's clock as meshgen
looked at it: so an entry is trusted only when the file had last changed
:data:`FINE_SLACK_NS` before meshgen looked (:data:`COARSE_SLACK_NS` on a file system that
keeps whole seconds). The change time (ctime) cannot be set back by hand, unlike the
modification time. Anything else (no entry, another stat, a link, an unreadable cache) means
reading the file, as without the cache; the cache is safe to delete at any time.

Beside it, two memos of pure functions, keyed by a digest of their inputs and meshgen's own
code: which file record a render gave (``meshgen-render-memo``), and what a valid mesh.yaml
text reads as (``meshgen-parsed-mesh``, the last two texts read or written), so that a
command does not read a thousand clusters again with libyaml nor check them again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshgen.adapters import lock

CACHE_FILE = "meshgen-tree-cache"
VERSION = 1
FINE_SLACK_NS = 100_000_000  # far above the clock tick of file systems with nanoseconds
COARSE_SLACK_NS = 2_000_000_000  # whole seconds (or two, as FAT keeps): two of them


def stat_key(info: os.stat_result) -> str:
    """What must stay the same for a remembered digest to hold: inode, size and both times."""
    return f"{info.st_ino} {info.st_size} {info.st_mtime_ns} {info.st_ctime_ns}"


def settled(info: os.stat_result, seen_ns: int) -> bool:
    """Whether the file last changed well before ``seen_ns`` (when it was hashed), so that
    a later change cannot hide behind the same times: the clock tick's slack apart."""
    slack = COARSE_SLACK_NS if info.st_ctime_ns % 1_000_000_000 == 0 else FINE_SLACK_NS
    return info.st_ctime_ns + slack < seen_ns


FORGOTTEN = "-"  # the entry of a line that takes a path out (appended by a later command)


class TreeCache:
    """The cache of the work tree ``root``: :meth:`lookup` before reading a file, :meth:`record`
    after, :meth:`save` at the end.

    On disk, a header line (format version and ``root``), then one line per file:
    ``<path> TAB <inode> <size> <mtime ns> <ctime ns> <sha256> <0|1: marked> <seen ns>``.
    A command that only noted the files it wrote appends their lines (a later line of a path
    wins; ``<path> TAB -`` takes it out) instead of writing 11,000 lines again; the file is
    written whole once the lines it holds are more than twice its entries. Entries are read
    when first looked up (a command that only writes never reads them), and stay text until
    then: 11,000 of them cost a megabyte or two."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[str, str] | None = None
        self._lines = 0  # lines of entries in the file read
        self._seen: dict[str, str] = {}
        self._forgotten: set[str] = set()
        folder = lock.state_dir(root)
        self.path: Path | None = folder / CACHE_FILE if folder.is_dir() else None

    @property
    def _entries(self) -> dict[str, str]:
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    def _load(self) -> dict[str, str]:
        if self.path is None:
            return {}
        pending = _pending_caches.get(self.path)
        if isinstance(pending, _Whole):
            return dict(pending.files)
        entries: dict[str, str] = {}
        with (
            contextlib.suppress(OSError, UnicodeDecodeError),
            self.path.open(encoding="utf-8", newline="\n") as handle,
        ):
            if handle.readline() == f"{self._header()}\n":
                for line in handle:
                    path, _, entry = line.rstrip("\n").partition("\t")
                    entries[path] = entry
                    self._lines += 1
        if isinstance(pending, _Appended):
            entries.update(pending.lines)
            self._lines += len(pending.lines)
        return {path: entry for path, entry in entries.items() if entry != FORGOTTEN}

    def _header(self) -> str:
        return f"meshgen-tree-cache {VERSION} {self.root}"

    def lookup(self, path: str, info: os.stat_result) -> tuple[str, bool] | None:
        """(sha256, has the generated mark) of the regular file ``path`` whose ``lstat`` is
        ``info``, when the cache knows it for certain; else None (read the file)."""
        entry = self._entries.get(path)
        if entry is None or not stat.S_ISREG(info.st_mode):
            return None
        key = f"{stat_key(info)} "
        if not entry.startswith(key):
            return None
        fields = entry[len(key) :].split(" ")
        if len(fields) != 3:
            return None
        try:
            seen = int(fields[2])
        except ValueError:
            return None
        if not settled(info, seen):
            return None  # changed too shortly before meshgen looked: it may change unseen
        self._seen[path] = entry
        return fields[0], fields[1] == "1"

    def record(
        self, path: str, info: os.stat_result, digest: str, marked: bool, since: int
    ) -> None:
        """``path`` had ``lstat`` ``info`` and held bytes of ``digest``, as read or written
        after ``since`` (``time.time_ns()`` taken before the ``lstat``)."""
        if stat.S_ISREG(info.st_mode):
            self.record_key(path, stat_key(info), digest, marked, since)

    def record_key(self, path: str, key: str, digest: str, marked: bool, since: int) -> None:
        """:meth:`record` of a regular file by its :func:`stat_key`."""
        if "\t" not in path and "\n" not in path:
            self._seen[path] = f"{key} {digest} {int(marked)} {since}"
            self._forgotten.discard(path)

    def forget(self, path: str) -> None:
        self._seen.pop(path, None)
        if "\t" not in path and "\n" not in path:
            self._forgotten.add(path)
        if self._loaded is not None:
            self._loaded.pop(path, None)

    def save(self, complete: bool = False) -> None:
        """Keep the cache for :func:`flush`, which writes it once the command has written its
        change (the cache never takes the last free blocks of a full disk from the change).
        ``complete``: this command looked at every file the cache should know (a walk of the
        generated folders), so entries it did not see go. Only a command that holds the
        repository's lock keeps it: one that only reads (``render --check``, ``--dry-run``)
        changes nothing, not even in the Git folder."""
        if self.path is None or not lock.is_held(self.root):
            return
        pending = _pending_caches.get(self.path)
        if self._loaded is None and not complete and not isinstance(pending, _Whole):
            # Only noted what it wrote: appended, the entries never read.
            lines = {**({} if pending is None else pending.lines)}
            lines.update(dict.fromkeys(self._forgotten, FORGOTTEN))
            lines.update(self._seen)
            if lines:
                _pending_caches[self.path] = _Appended(self._header(), lines)
            return
        entries = self._entries
        files = self._seen if complete else {**entries, **self._seen}
        crowded = self._lines > 2 * len(files) + 100  # appended lines to fold in
        if files == entries and pending is None and not crowded:
            return
        _pending_caches[self.path] = _Whole(self._header(), files)
        self._loaded = dict(files)
        self._lines = len(files)


@dataclass
class _Whole:
    """The whole cache, to write (replacing the file)."""

    header: str
    files: dict[str, str]


@dataclass
class _Appended:
    """Lines to append to the file (path -> entry, or FORGOTTEN)."""

    header: str
    lines: dict[str, str]


# What save() and remember_render() keep for flush(): cache path -> what to write; memo
# path -> its lines.
_pending_caches: dict[Path, _Whole | _Appended] = {}
_pending_memos: dict[Path, list[tuple[str, str]]] = {}


def _write(path: Path, lines: Iterable[str]) -> None:
    """Replace ``path`` with ``lines`` (atomically, by rename); never fails."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.writelines(lines)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


def _append(path: Path, pending: _Appended) -> None:
    """Append ``pending``'s lines to the cache file when it holds whole lines under this
    header; else write them as the whole cache (a file cut short by a kill, another
    version's, none yet). Never fails."""
    lines = [f"{name}\t{entry}\n" for name, entry in pending.lines.items()]
    header = f"{pending.header}\n".encode()
    try:
        with path.open("rb+") as handle:
            head = handle.read(len(header))
            handle.seek(-1, os.SEEK_END)
            if head == header and handle.read(1) == b"\n":
                handle.write("".join(lines).encode("utf-8"))
                return
    except OSError:
        pass
    kept = [line for line in lines if not line.endswith(f"\t{FORGOTTEN}\n")]
    _write(path, [f"{pending.header}\n", *kept])


def is_new(root: Path) -> bool:
    """Whether no meshgen command that writes has been here yet: the work tree ``root`` has
    a Git folder but no tree cache in it (a fresh clone, or the cache was deleted)."""
    folder = lock.state_dir(root)
    return (folder / "HEAD").is_file() and not (folder / CACHE_FILE).exists()


def flush(root: Path) -> None:
    """Write what this process kept for the tree cache and render memo of the repository at
    ``root`` (see :meth:`TreeCache.save`); called once a command's change is written. Never
    fails."""
    folder = lock.state_dir(root)
    for path in [path for path in _pending_caches if path.parent == folder]:
        pending = _pending_caches.pop(path)
        if isinstance(pending, _Appended):
            _append(path, pending)
            continue
        # Lines made as they are written: 11,000 of them at once would raise the peak memory.
        lines = (f"{name}\t{entry}\n" for name, entry in pending.files.items())
        _write(path, itertools.chain([f"{pending.header}\n"], lines))
    for path in [path for path in _pending_memos if path.parent == folder]:
        _write(path, [f"{key} {value}\n" for key, value in _pending_memos.pop(path)])
    for path in [path for path in _pending_parsed if path.parent == folder]:
        _write(path, [f"{key}\t{text}\n" for key, text in _pending_parsed.pop(path)])


def now() -> int:
    """The time to pass as ``since`` to :meth:`TreeCache.record`."""
    return time.time_ns()


RENDER_MEMO_FILE = "meshgen-render-memo"
RENDER_MEMO_KEPT = 16


def _memo_path(root: Path) -> Path | None:
    folder = lock.state_dir(root)
    return folder / RENDER_MEMO_FILE if folder.is_dir() else None


def _memo_lines(path: Path) -> list[tuple[str, str]]:
    if path in _pending_memos:
        return list(_pending_memos[path])
    with contextlib.suppress(OSError, UnicodeDecodeError):
        pairs = [line.split(" ") for line in path.read_text(encoding="utf-8").splitlines()]
        return [(pair[0], pair[1]) for pair in pairs if len(pair) == 2]
    return []


def render_result(root: Path, key: str) -> str | None:
    """The SHA-256 of the file record (``.meshgen/generated.sha256``) a render of the inputs
    ``key`` gave, as :func:`remember_render` noted it; None when unknown."""
    path = _memo_path(root)
    found = dict(_memo_lines(path)) if path is not None else {}
    return found.get(key)


def remember_render(root: Path, key: str, record_digest: str) -> None:
    """Note that rendering the inputs ``key`` gives the file record of ``record_digest`` (a
    render is a pure function of its inputs); the last few are kept. Written by :func:`flush`,
    and only with the repository's lock held, like :meth:`TreeCache.save`."""
    path = _memo_path(root)
    if path is None or not lock.is_held(root):
        return
    pairs = _memo_lines(path)
    if (key, record_digest) in pairs:
        return
    pairs = [(k, v) for k, v in pairs if k != key][-(RENDER_MEMO_KEPT - 1) :]
    _pending_memos[path] = [*pairs, (key, record_digest)]


PARSED_MEMO_FILE = "meshgen-parsed-mesh"
PARSED_MEMO_KEPT = 2  # the text read and the text this command wrote

# memo path -> its entries: (key, the data as JSON text), oldest first
_pending_parsed: dict[Path, list[tuple[str, str]]] = {}


def _parsed_path(root: Path) -> Path | None:
    folder = lock.state_dir(root)
    return folder / PARSED_MEMO_FILE if folder.is_dir() else None


def _parsed_entries(path: Path) -> list[tuple[str, str]]:
    """The memo's entries, one line each: ``<key> TAB <data as JSON>``; each is decoded only
    when asked for."""
    if path in _pending_parsed:
        return list(_pending_parsed[path])
    with contextlib.suppress(OSError, UnicodeDecodeError):
        lines = path.read_text(encoding="utf-8").split("\n")
        return [(k, v) for k, _, v in (line.partition("\t") for line in lines) if v]
    return []


def parsed_data(root: Path, key: str) -> Any | None:
    """The data of a valid ``mesh.yaml`` whose reading (text, meshgen and Python) ``key``
    names, as :func:`remember_parsed` noted it; None when unknown. Reading a mesh of a
    thousand clusters with libyaml costs a tenth of a second; this, a few milliseconds."""
    path = _parsed_path(root)
    if path is None:
        return None
    entries = _parsed_entries(path)
    text = dict(entries).get(key)
    if text is None:
        return None
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if lock.is_held(root) and entries[-1][0] != key:
        # Used again: kept, as the newest, when this command notes the text it writes.
        _pending_parsed[path] = [*(e for e in entries if e[0] != key), (key, text)]
    return found


def _json_exact(value: Any) -> bool:
    """Whether JSON gives ``value`` back exactly: strings as keys, no tuples nor floats."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _json_exact(v) for k, v in value.items())
    if kind is list:
        return all(_json_exact(item) for item in value)
    return kind in (str, int, bool) or value is None


def remember_parsed(root: Path, key: str, data: Any, exact: bool = False) -> None:
    """Note that the reading ``key`` names gives ``data`` (plain dicts, lists and scalars),
    and that it passed every check; the last :data:`PARSED_MEMO_KEPT` are kept. Data JSON
    cannot give back exactly (a key that is not a string) is not noted; ``exact``: the
    caller knows it can (data read from a note, say), so it is not walked to find out.
    Written by :func:`flush`, with the repository's lock held."""
    path = _parsed_path(root)
    if path is None or not lock.is_held(root) or "\t" in key or "\n" in key:
        return
    try:
        if not exact and not _json_exact(data):
            return
    except RecursionError:
        return
    text = json.dumps(data, separators=(",", ":"))  # one line: JSON escapes line breaks
    entries = [(k, v) for k, v in _parsed_entries(path) if k != key]
    _pending_parsed[path] = [*entries[-(PARSED_MEMO_KEPT - 1) :], (key, text)]
