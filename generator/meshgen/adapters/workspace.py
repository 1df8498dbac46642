"""The file system side of a meshgen repository: what is generated, what changes, writing it.

Generated files are recognised by the generated mark on their first line (and the record of
them, :mod:`meshgen.manifest`); anything else is hand-written and never touched. Nothing is
read or written through a symbolic link that leads out of the repository. Writes go through
a transaction (:mod:`meshgen.adapters.transaction`): all of them happen, or none, even when
the process is killed. A generated file changed by hand since meshgen wrote it is never
overwritten or removed without ``--overwrite-edits``.
"""

from __future__ import annotations

import difflib
import errno
import itertools
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshgen import manifest
from meshgen.adapters import transaction, tree_cache
from meshgen.adapters.tree_cache import TreeCache, now
from meshgen.errors import MeshgenError
from meshgen.render.files import GENERATED_MARK

# Where generated files may live; hand-written files elsewhere are never even looked at.
GENERATED_ROOTS = ("clusters", "bootstrap", "overlays", ".meshgen", ".github")
GENERATED_TOP_FILES = ("README.md", ".sops.yaml")
# Written by `flux bootstrap` under clusters/<cluster>/: never read, written or removed.
FOREIGN_FOLDERS = ("flux-system",)
_MARK_BYTES = GENERATED_MARK.encode()
DIFF_LINES_SHOWN = 40
OVERWRITE_OPTION = "--overwrite-edits"


class Boundary:
    """Checks that paths stay inside the repository ``root`` once symbolic links are followed.

    Folders are resolved once each, so checking every file of a large repository stays cheap.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self._folders: dict[str, bool] = {}
        self._reals: dict[str, str] = {}
        # Folders found missing (nothing at all there) while resolving: no file is in them.
        self._missing: set[str] = set()

    def _inside(self, real: str) -> bool:
        return real == self.real_root or real.startswith(self.real_root + os.sep)

    def _folder_inside(self, folder: str) -> bool:
        if folder not in self._folders:
            self._folders[folder] = self._inside(self._real(folder))
        return self._folders[folder]

    def _real(self, folder: str) -> str:
        """``os.path.realpath`` of the folder, from its parent's (one ``lstat`` per folder, not
        one per component: thousands of cluster folders share their first ones)."""
        real = self._reals.get(folder)
        if real is not None:
            return real
        parent, _, name = folder.rpartition("/")
        if not folder or name in (".", "..") or (parent and parent in (".", "..")):
            real = os.path.realpath(self.root / folder)
        else:
            real = os.path.join(self._real(parent) if parent else self.real_root, name)
            if parent in self._missing:
                self._missing.add(folder)
            else:
                try:
                    mode = os.lstat(real).st_mode
                except (FileNotFoundError, NotADirectoryError):
                    self._missing.add(folder)
                else:
                    if stat.S_ISLNK(mode):
                        real = os.path.realpath(real)
        self._reals[folder] = real
        return real

    def check(self, path: str) -> None:
        """Raise when ``path`` (relative, POSIX) leads out of the repository."""
        target = self.root / path
        if not self.folder_inside(path) or (
            target.is_symlink() and not self._inside(os.path.realpath(target))
        ):
            self._refuse(path)

    def folder_inside(self, path: str) -> bool:
        """Whether the folder holding ``path`` is inside (the file itself is not looked at)."""
        folder, _, _ = path.rpartition("/")
        return self._folder_inside(folder)

    def folder_missing(self, path: str) -> bool:
        """Whether the folder holding ``path`` was missing when :meth:`folder_inside` looked
        (so ``path`` is missing too: a first render needs no ``lstat`` per file)."""
        return path.rpartition("/")[0] in self._missing

    def read(self, path: str) -> bytes | None:
        """The bytes of ``path`` (None: missing), never through a link out of the repository.

        One ``open`` that does not follow a final link; only a link costs more."""
        if not self.folder_inside(path):
            self._refuse(path)
        target = self.root / path
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            self.check(path)  # a link: fine when it stays inside
            return target.read_bytes()
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def _refuse(self, path: str) -> None:
        raise MeshgenError(
            f"{path}: leads out of the repository through the symbolic link "
            f"{self._first_link(path)}; meshgen never reads or writes outside it: replace "
            "the link with a folder or file of the repository"
        )

    def _first_link(self, path: str) -> str:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            candidate = "/".join(parts[:depth])
            if (self.root / candidate).is_symlink():
                return f"{candidate} -> {os.readlink(self.root / candidate)}"
        return path


def require_no_links_out(root: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """Refuse a repository whose generated folders hold a symbolic link out of it, before a
    check reads through it (kustomize, for one, follows links). Returns what the walk found
    below those folders that is not a folder (relative POSIX path and entry: files, links
    to files, anything else), for a caller that lists the files next (``validate``: walking
    the tree again for them cost it 3 to 4 ms at 100 clusters)."""
    boundary = Boundary(root)
    for name in sorted({*GENERATED_TOP_FILES, *(p.name for p in root.glob("*.md"))}):
        if (root / name).is_symlink():
            boundary.check(name)
    found: list[tuple[str, os.DirEntry[str]]] = []
    for top in GENERATED_ROOTS:
        if not (root / top).is_symlink() and not (root / top).is_dir():
            continue
        boundary.check(top)
        for link in _links_below(str(root), top, found):
            boundary.check(link)
    return found


def _links_below(
    root: str, top: str, others: list[tuple[str, os.DirEntry[str]]] | None = None
) -> Iterator[str]:
    """The symbolic links below ``root/top`` (relative to ``root``), in the order ``os.walk``
    finds them (top-down; in each folder its subfolders, then its files; links to folders
    not descended into), from one ``scandir`` per folder: a Path and an ``lstat`` per entry
    cost a few hundredths of a second at 100 clusters. ``others`` receives each entry that
    is not a folder (nor a link to one), with its path, as its folder is walked."""
    try:
        with os.scandir(os.path.join(root, top)) as found:
            entries = list(found)
    except OSError:
        return
    folders: list[os.DirEntry[str]] = []
    files: list[os.DirEntry[str]] = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        (folders if is_dir else files).append(entry)
    for entry in [*folders, *files]:
        if entry.is_symlink():
            yield f"{top}/{entry.name}"
    if others is not None:
        others += [(f"{top}/{entry.name}", entry) for entry in files]
    for entry in folders:
        if not entry.is_symlink():
            yield from _links_below(root, f"{top}/{entry.name}", others)


def is_generated(path: Path) -> bool:
    """True when the file's first line carries meshgen's generated mark (never a link)."""
    if path.is_symlink():
        return False
    try:
        with path.open("rb") as handle:
            first_line = handle.readline(512)
    except OSError:
        return False
    return _MARK_BYTES in first_line


def _marked(data: bytes) -> bool:
    """Whether file content ``data`` has the generated mark on its first line."""
    return _MARK_BYTES in data[:512].split(b"\n", 1)[0]


def _has_mark(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return _MARK_BYTES in handle.readline(512)
    except OSError:
        return False


def _read_walked(path: str) -> tuple[os.stat_result, bytes] | None:
    """The ``fstat`` and bytes of the regular file ``path`` that a walk found (None: gone, a
    link since, unreadable): one ``open`` that follows no final link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        return info, handle.read()


def _note_walked(cache: TreeCache, path: str, full: str) -> tuple[str, bool] | None:
    """(sha256, has the mark) of a file the cache does not know, read whole once and noted
    in the cache: the planning that walks the tree compares it with the render without
    opening it again (a fresh clone knows none of its 11,000 files)."""
    since = now()  # before the fstat, as TreeCache.record asks
    read = _read_walked(full)
    if read is None:
        return None
    info, data = read
    known = (manifest.digest(data), _marked(data))
    cache.record(path, info, known[0], known[1], since)
    return known


def generated_files(
    root: Path,
    cache: TreeCache | None = None,
    known: dict[str, tuple[str, bool] | None] | None = None,
) -> set[str]:
    """Paths (POSIX, relative to ``root``) of every generated file currently in the tree.

    Links are never followed: a linked folder is not entered, a linked file is not
    generated (see :class:`Boundary` for what is refused). With a ``cache``, a file it knows
    is not opened to look for the mark, and one it does not know is read whole and noted in
    it; ``known`` receives (sha256, has the mark) of each file under the generated folders,
    as the cache knew it or as it was read (None: it could not be read)."""
    found = set()
    boundary = Boundary(root)
    # The generated guide may live in any top-level Markdown file (repository.readme).
    top_files = {*GENERATED_TOP_FILES, *(p.name for p in root.glob("*.md"))}
    for name in sorted(top_files):
        if is_generated(root / name):
            found.add(name)
    record = root / manifest.PATH
    if record.is_file() and not record.is_symlink():
        found.add(manifest.PATH)
    prefix = len(str(root)) + 1
    for top in GENERATED_ROOTS:
        base = root / top
        if not base.is_dir():
            continue
        boundary.check(top)
        folders = [(str(base), 0)]
        while folders:
            folder, depth = folders.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        foreign = top == "clusters" and depth == 1
                        if not (foreign and entry.name in FOREIGN_FOLDERS):
                            folders.append((entry.path, depth + 1))
                    elif entry.is_file(follow_symlinks=False):
                        path = entry.path[prefix:]
                        if os.sep != "/":
                            path = path.replace(os.sep, "/")
                        if cache is None:
                            if _has_mark(entry.path):
                                found.add(path)
                            continue
                        hit = cache.lookup(path, entry.stat(follow_symlinks=False))
                        if hit is None:
                            hit = _note_walked(cache, path, entry.path)
                        if known is not None:
                            known[path] = hit
                        if hit is not None and hit[1]:
                            found.add(path)
    return found


@dataclass
class ChangeSet:
    """What writing ``desired`` into a tree would do."""

    write: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    unchanged: int = 0
    # Paths of ``write`` where no file is now, as the planning saw (nothing there to read).
    absent: set[str] = field(default_factory=set)

    @property
    def paths(self) -> list[str]:
        return sorted([*self.write, *self.remove])

    def __bool__(self) -> bool:
        return bool(self.write or self.remove)


def plan_changes(
    root: Path, desired: dict[str, str], owned: dict[str, str] | None = None
) -> ChangeSet:
    """Compare ``desired`` generated files (plus ``owned`` files such as mesh.yaml) with disk.

    Generated files that are not desired any more are removed. A hand-written file where a
    generated one must go is an error: meshgen never overwrites someone's file.
    """
    changes = ChangeSet()
    for path in desired:
        parts = path.split("/", 3)
        if len(parts) == 4 and parts[0] == "clusters" and parts[2] in FOREIGN_FOLDERS:
            raise MeshgenError(f"{path}: meshgen never writes into {'/'.join(parts[:3])}/")
    # Files whose lstat matches what meshgen last read or wrote are not read again.
    cache = TreeCache(root)
    walked: dict[str, tuple[str, bool] | None] = {}
    current = generated_files(root, cache, walked)
    boundary = Boundary(root)
    owned = owned or {}
    base = str(root)
    generated = ((path, text) for path, text in desired.items() if path not in owned)
    for path, text in itertools.chain(generated, owned.items()):  # an owned text wins
        since, info, known = now(), None, walked.get(path)
        if known is not None:
            pass  # seen by the walk, which enters no link: its folder is inside
        elif boundary.folder_inside(path):
            if boundary.folder_missing(path):
                changes.write[path] = text
                changes.absent.add(path)
                continue
            try:
                info = os.lstat(os.path.join(base, path))
            except (FileNotFoundError, NotADirectoryError):
                changes.write[path] = text  # nothing there: nothing to read or compare
                changes.absent.add(path)
                continue
            except OSError:
                pass
            known = cache.lookup(path, info) if info is not None else None
        data = text.encode("utf-8")
        if known is not None:
            if path in desired and path not in current:
                raise _not_generated(path)
            if known[0] == manifest.digest(data):
                changes.unchanged += 1
            else:
                changes.write[path] = text
            continue
        try:
            on_disk = boundary.read(path)
        except IsADirectoryError:
            on_disk = b""  # a folder where the file goes: "not generated" below
        except OSError as exc:
            raise MeshgenError(
                f"{path}: cannot be read ({exc.strerror}); fix its permissions"
            ) from None
        if path in desired and on_disk is not None and path not in current:
            raise _not_generated(path)
        if on_disk is not None and info is not None:
            cache.record(path, info, manifest.digest(on_disk), path in current, since)
        if on_disk == data:
            changes.unchanged += 1
            continue
        changes.write[path] = text
    changes.remove = sorted(current - desired.keys())
    cache.save(complete=True)
    return changes


def _not_generated(path: str) -> MeshgenError:
    return MeshgenError(
        f"{path}: exists but was not generated by meshgen; move or rename it, "
        "then run the command again"
    )


def plan_recorded(root: Path, record_digest: str | None) -> ChangeSet | None:
    """The empty change set when the tree holds exactly the render whose file record
    (``.meshgen/generated.sha256``) has the SHA-256 ``record_digest``: that record on disk, no
    other generated file, and every file it lists with its recorded bytes, as the tree cache
    knows them (nothing is read but the record). None when any of it is not certain: then
    :func:`plan_changes` compares the render with the files."""
    if record_digest is None:
        return None
    boundary = Boundary(root)
    try:
        record = boundary.read(manifest.PATH)
    except (OSError, MeshgenError):
        return None
    if record is None or manifest.digest(record) != record_digest:
        return None
    recorded = manifest.parse(record.decode("utf-8", errors="replace"))
    cache = TreeCache(root)
    walked: dict[str, tuple[str, bool] | None] = {}
    try:
        if generated_files(root, cache, walked) != {*recorded, manifest.PATH}:
            return None
    except MeshgenError:
        return None  # reported by plan_changes
    for path, expected in recorded.items():
        known = walked.get(path)
        if known is not None:  # seen by the walk (its lstat), as recorded
            # The walk enters no link, so the file's folder is inside the repository.
            if known[0] != expected:
                return None
            continue
        if not boundary.folder_inside(path):
            return None
        since = now()
        try:
            info = os.lstat(root / path)
            known = cache.lookup(path, info)
            if known is None:  # not known for certain (just written, say): read it
                data = boundary.read(path)
                if data is None:
                    return None
                known = (manifest.digest(data), _marked(data))
                cache.record(path, info, known[0], known[1], since)
        except (OSError, MeshgenError):
            return None
        if known[0] != expected or not known[1]:
            return None
    cache.save(complete=True)
    return ChangeSet(unchanged=len(recorded) + 1)


def edited_by_hand(root: Path, changes: ChangeSet) -> list[str]:
    """Generated files ``changes`` would overwrite or remove that differ from what meshgen
    last wrote (:mod:`meshgen.manifest`). A repository without the record has none."""
    if not changes:
        return []  # nothing to overwrite: the record need not be read
    recorded = manifest.read(root)
    if not recorded:
        return []
    return manifest.edited(root, recorded, changes.paths)


def require_unedited(root: Path, changes: ChangeSet) -> None:
    """Refuse to overwrite or remove generated files changed by hand, naming them."""
    edited = edited_by_hand(root, changes)
    if edited:
        shown = ", ".join(edited[:5]) + (f" and {len(edited) - 5} more" if len(edited) > 5 else "")
        raise MeshgenError(
            f"{shown}: changed by hand since meshgen wrote "
            f"{'it' if len(edited) == 1 else 'them'}, and this command would overwrite the "
            "change; move it into mesh.yaml or a hand-written file (see the README's "
            f"Customising), undo it (git checkout -- PATH), or pass {OVERWRITE_OPTION} to "
            "discard it"
        )


def apply_changes(
    root: Path,
    changes: ChangeSet,
    commit: transaction.Commit | None = None,
    overwrite_edits: bool = False,
    command: str = "meshgen",
) -> str | None:
    """Write and remove files (and commit them with ``commit``), all or nothing.

    Generated files changed by hand are refused unless ``overwrite_edits``. Returns the new
    commit, if any.
    """
    if not overwrite_edits:
        require_unedited(root, changes)
    writes = _Encoded(changes.write)
    created: dict[str, tuple[str, str]] = {}
    sha = transaction.apply(
        root,
        writes,
        changes.remove,
        commit=commit,
        command=command,
        created=created,
        absent=changes.absent,
    )
    if changes:
        remember_written(root, writes, changes.remove, created)
    tree_cache.flush(root)  # the change is written: now what this command learnt of the tree
    return sha


class _Encoded(Mapping[str, bytes]):
    """``texts`` as UTF-8 bytes, encoded when asked for: a copy of every file of a large
    render would double the memory a write needs."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts

    def __getitem__(self, path: str) -> bytes:
        return self._texts[path].encode("utf-8")

    def __contains__(self, path: object) -> bool:  # Mapping's would encode the text
        return path in self._texts

    def marked(self, path: str) -> bool:
        """Whether the text of ``path`` has the generated mark (without encoding it)."""
        # The first 512 characters encode to at least the 512 bytes _marked looks at.
        return _marked(self._texts[path][:512].encode("utf-8"))

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


def remember_written(
    root: Path,
    writes: Mapping[str, bytes],
    removed: list[str],
    created: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Record the files just written in the tree cache, so the next command need not read
    them back (those written too shortly before are read again: see
    :mod:`meshgen.adapters.tree_cache`). ``created``: the stat key and SHA-256 the
    transaction noted of the files it created (regular files), not asked for again."""
    cache = TreeCache(root)
    since = now()
    created = created or {}
    base = str(root)
    for path in writes:
        noted = created.get(path)
        if noted is not None:
            marked = writes.marked(path) if isinstance(writes, _Encoded) else _marked(writes[path])
            cache.record_key(path, noted[0], noted[1], marked, since)
            continue
        data = writes[path]
        try:
            info = os.lstat(os.path.join(base, path))
        except OSError:
            cache.forget(path)
            continue
        cache.record(path, info, manifest.digest(data), _marked(data), since)
    for path in removed:
        cache.forget(path)
    cache.save()


def short_diff(root: Path, path: str, new_text: str) -> list[str]:
    """A unified diff from the file on disk to ``new_text``, cut after DIFF_LINES_SHOWN lines."""
    try:
        old = (root / path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        old = []
    diff = list(
        difflib.unified_diff(old, new_text.splitlines(), f"a/{path}", f"b/{path}", lineterm="")
    )
    if len(diff) > DIFF_LINES_SHOWN:
        diff = [*diff[:DIFF_LINES_SHOWN], f"... ({len(diff) - DIFF_LINES_SHOWN} more diff lines)"]
    return diff
