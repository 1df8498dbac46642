"""The record of what meshgen last wrote: ``.meshgen/generated.sha256``.

One line per generated file, ``<sha256>  <path>``, sorted by path, the record itself left
out: the format ``sha256sum`` writes, so ``sha256sum -c .meshgen/generated.sha256`` in the
repository lists every generated file edited by hand. It is rendered with the other files
(a pure function of them, so byte-identical everywhere and checked by ``render --check``),
committed, and read back before a command overwrites or removes a generated file: a file
whose bytes differ from its record was changed by hand since meshgen wrote it.

This module is the only place that knows the format; callers use :func:`text`, :func:`parse`,
:func:`read`, :func:`edited` and :class:`RenderedRecord`.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

PATH = ".meshgen/generated.sha256"
# Far above any real record (2,000 clusters are about 5 MB); keeps a hostile file cheap.
MAX_BYTES = 64 * 1024 * 1024
DIGEST_LENGTH = 64  # a SHA-256 in hexadecimal


# Bytes at least this large have their digest remembered (see digest).
REMEMBERED_BYTES = 64 * 1024
REMEMBERED = 4
_remembered: list[tuple[bytes, str]] = []  # the last large bytes hashed, newest first


def digest(data: bytes) -> str:
    """The SHA-256 of ``data`` (hexadecimal). A command hashes each large file of a change
    several times (the file record, 1.26 MB at 1,000 clusters: to plan, to journal, to
    remember it written): the digests of the last few large ones are remembered, and equal
    bytes (compared, which costs a fraction of hashing them) take the remembered one."""
    if len(data) < REMEMBERED_BYTES:
        return hashlib.sha256(data).hexdigest()
    for known, found in _remembered:
        if known == data:
            return found
    found = hashlib.sha256(data).hexdigest()
    _remembered.insert(0, (data, found))
    del _remembered[REMEMBERED:]
    return found


def _line(checksum: str, path: str) -> str:
    """One line of the record, without its line break: ``<sha256>  <path>``."""
    return f"{checksum}  {path}"


def text(files: Mapping[str, str]) -> str:
    """The record of ``files`` (path -> text as written, UTF-8), itself excluded."""
    return "".join(
        f"{_line(digest(content.encode('utf-8')), path)}\n"
        for path, content in sorted(files.items())
        if path != PATH
    )


_last_parsed: tuple[str, dict[str, str]] | None = None


def parse(content: str) -> dict[str, str]:
    """path -> sha256 from a record; lines that are not ``<sha256>  <path>`` are skipped.

    A command reads the record up to three times (to plan, and to protect hand edits before
    and while writing): the last record parsed is kept, and a copy of it returned."""
    global _last_parsed
    if _last_parsed is not None and _last_parsed[0] == content:
        return dict(_last_parsed[1])
    recorded = {}
    for line in content.splitlines():
        checksum, separator, path = line.partition("  ")
        if separator and len(checksum) == DIGEST_LENGTH and path:
            recorded[path] = checksum.lower()
    _last_parsed = (content, recorded)
    return dict(recorded)


_PATH_AT = len(_line("0" * DIGEST_LENGTH, ""))  # where the path starts in a line meshgen wrote


def _path_of(line: str) -> str:
    return line[_PATH_AT:]


class RenderedRecord(Mapping[str, str]):
    """A record as meshgen renders it (:func:`text`: one well-formed line per file, sorted by
    path), kept as its lines: a path's digest is found by bisection and :meth:`changed`
    splices lines out and in, where :func:`parse` reads every line (11,000 at 1,000
    clusters). Only for a record known to be meshgen's rendering (its digest is the one a
    render gave): :func:`read` returns it for a record with the same content."""

    def __init__(self, content: str) -> None:
        global _rendered
        self.content = content
        self._lines = content.split("\n")[:-1]  # each line ends with one
        _rendered = self

    def __getitem__(self, path: str) -> str:
        lines = self._lines
        at = bisect.bisect_left(lines, path, key=_path_of)
        if at < len(lines) and _path_of(lines[at]) == path:
            return lines[at][:DIGEST_LENGTH]
        raise KeyError(path)

    def __iter__(self) -> Iterator[str]:
        return (_path_of(line) for line in self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def changed(self, removed: Iterable[str], added: Mapping[str, str]) -> tuple[str, int]:
        """The record with the files ``removed`` taken out and ``added`` (path -> digest) put
        in (or replaced): its text and how many files it lists."""
        lines, kept, at = self._lines, [], 0
        count = len(lines)
        for path in sorted({*removed, *added}):
            found = bisect.bisect_left(lines, path, lo=at, key=_path_of)
            kept += lines[at:found]
            if found < len(lines) and _path_of(lines[found]) == path:
                found += 1
                count -= 1
            if path in added:
                kept.append(_line(added[path], path))
                count += 1
            at = found
        kept += lines[at:]
        return ("\n".join(kept) + "\n" if kept else ""), count


_rendered: RenderedRecord | None = None


def read(root: Path) -> Mapping[str, str] | None:
    """The record in the repository at ``root``; None when there is none (older meshgen)."""
    target = root / PATH
    try:
        if target.is_symlink() or target.stat().st_size > MAX_BYTES:
            return None
        content = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if _rendered is not None and _rendered.content == content:
        return _rendered
    return parse(content)


def edited(root: Path, recorded: Mapping[str, str], paths: Iterable[str]) -> list[str]:
    """Of ``paths``, the recorded files whose bytes on disk differ from their record."""
    changed = []
    for path in sorted(paths):
        expected = recorded.get(path)
        if expected is None:
            continue
        try:
            current = digest((root / path).read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            continue  # deleted by hand: nothing to lose
        if current != expected:
            changed.append(path)
    return changed
