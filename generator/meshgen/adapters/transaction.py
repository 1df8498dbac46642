"""A change to a repository that happens completely or not at all, even when killed.

A meshgen change touches up to four things: files of the work tree, the index, a new branch
and HEAD. None of them can change atomically together, so every change runs as a
transaction with a journal in the Git folder (``.git/meshgen-txn/``):

1. **Prepare** (nothing visible changes): the old bytes of every file the change touches
   (a hard link to the file where it can: publishing never writes into one) and the new
   bytes of every file it replaces are kept in the transaction folder, one file each; the
   new bytes of the files it creates (none was there) are appended to one file,
   ``new.blob``; the index is kept (linked, or copied). Then ``journal.json`` is written
   (atomically, by rename). It records the files with the SHA-256 of their old and new bytes
   (and where a created file's bytes sit in the blob), the branch HEAD is on and its commit,
   and the branch the change creates.
2. **Publish**: the folders the created files need are made, each once; each created file is
   written in place with ``O_CREAT | O_EXCL`` (it never replaces a file that appeared
   meanwhile), each replaced file is moved into place from its copy with ``os.replace``
   (atomic per file), files are removed; with a commit, the branch is created at HEAD
   (``git update-ref`` with the empty old value: it must not exist), HEAD switches to it
   (``git symbolic-ref``) and exactly the change's paths are committed, as ``git commit``
   would, hooks included (by plumbing when no hook or setting of ``git commit``'s is there:
   see :func:`_commit_by_plumbing`).

   Created files are not staged and renamed like replaced ones: that doubles the file system
   work of a first render (11,000 files at 1,000 clusters) for no gain, since no reader can
   mistake a new file for an older version of it. A kill while one is written leaves it
   empty or with a prefix of its new bytes; a rollback recognises that prefix in the blob as
   meshgen's own (and removes it), and removes nothing else: a file that is neither the new
   bytes nor a prefix of them was put there by someone else.
3. **Commit point**: the journal is deleted, then the folder.

When anything fails or SIGINT/SIGTERM arrives (the CLI turns SIGTERM into the same orderly
stop as Ctrl-C), the transaction rolls back in-process, with the signals blocked. After a
SIGKILL (or a power cut between steps) the journal stays, and the next meshgen command that
writes (or ``meshgen recover``) rolls it back before doing anything: HEAD back to its branch,
the new branch deleted, the index and the files as they were, and the lock files git left
(``index.lock``, ``HEAD.lock``, ``next-index-*.lock``, the branch's ``.lock``) removed. Those
are certainly abandoned: git children inherit meshgen's repository lock
(:mod:`meshgen.adapters.lock`), which the recovery holds, and only lock files at least as
new as the journal are touched. A file or HEAD changed since (by hand) stops the recovery
with an error naming them, and ``meshgen recover --forget`` drops the journal instead.

Rolling back needs nothing but the journal folder, and each step of it can run again, so a
recovery that is itself killed is finished by the next one. Nothing of this lives in the work
tree. The guarantee covers signals and kills; surviving a power cut would also need ``fsync``
of every file, which meshgen does not pay for.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshgen import manifest
from meshgen.adapters import lock, process
from meshgen.adapters.process import error_summary
from meshgen.adapters.tree_cache import stat_key
from meshgen.errors import MeshgenError

TXN_DIR = "meshgen-txn"
JOURNAL = "journal.json"
BLOB = "new.blob"  # the new bytes of the files a change creates, one after another
JOURNAL_VERSION = 1
OLD_STAGING_PREFIX = "meshgen-staging-"  # meshgen before the journal staged writes here
# Lock files git may leave when killed during the steps above, relative to the Git folder.
GIT_LOCKS = ("index.lock", "HEAD.lock")
# Lock files of git's partial commit (``git commit -- paths``): next-index-<pid>.lock.
NEXT_INDEX_GLOB = "next-index-*.lock"
# Lock files are compared with the journal's start with this much slack for clock rounding.
MTIME_SLACK_SECONDS = 1.0

_completed = 0  # transactions finished in this process (for the message after an interrupt)
_stop: int | None = None  # a signal asked this process to stop (see on_signal)
_pending = False  # ... while a rollback or commit point ran: raise when it is done
_deferring = 0


@dataclass(frozen=True)
class Commit:
    """Commit the change: on a new branch made at HEAD (``new_branch``), or on HEAD's.
    ``before_staging``, when given, is called before git stages the files (it waits for
    objects written in the background, see :class:`meshgen.adapters.git.BlobWriter`)."""

    message: str
    new_branch: str | None = None
    before_staging: Callable[[], object] | None = None


def on_signal(signum: int, _frame: object) -> None:
    """The handler the CLI installs for SIGINT, SIGTERM and SIGHUP: an orderly stop.

    It raises KeyboardInterrupt, so a transaction rolls back, unless a rollback or a commit
    point is running (:func:`signals_deferred`): then the stop waits until it is done. Where
    Python drops the exception (a callback of the import system), the record of the signal
    stops the next transaction before it writes anything.
    """
    global _stop, _pending
    _stop = signum
    if _deferring:
        _pending = True
        return
    raise KeyboardInterrupt


def record_stop(signum: int) -> None:
    """Note a stop that a child process's end shows before this process's own handler ran
    (see :func:`meshgen.adapters.process.require_not_stopped`)."""
    global _stop
    if _stop is None:
        _stop = signum


def forget_stop() -> None:
    global _stop, _pending
    _stop, _pending = None, False


def stop_requested() -> int | None:
    """The signal that asked this process to stop, if one did."""
    return _stop


def record_completion() -> None:
    """A change that needs no journal (``init`` renaming a finished folder into place) just
    reached its commit point."""
    global _completed
    _completed += 1


def completed() -> int:
    """How many transactions this process finished (the CLI's message after an interrupt)."""
    return _completed


def digest(data: bytes) -> str:
    return manifest.digest(data)  # large files' digests remembered, see there


# -- git ----------------------------------------------------------------------------------


def git(root: Path, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run git in ``root``, holding meshgen's repository lock for as long as git runs."""
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            pass_fds=lock.inherited_fds(),
        )
    except FileNotFoundError:
        raise MeshgenError("git was not found on PATH; install git and run again") from None
    if check and result.returncode != 0:
        raise MeshgenError(
            f"git {args[0]} failed: {error_summary(result.stderr or result.stdout)}; "
            "fix the cause and run the command again"
        )
    return result.stdout.strip() if result.returncode == 0 else ""


def _head(git_dir: Path) -> tuple[str | None, str | None]:
    """(the branch ref HEAD is on, or None when detached; the commit, or None when unborn)."""
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None, None
    if text.startswith("ref:"):
        return text.removeprefix("ref:").strip(), None
    return None, text


def _rev(root: Path, ref: str) -> str | None:
    return git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False) or None


def _pathspec_args(paths: Sequence[str]) -> tuple[list[str], str]:
    return ["--pathspec-from-file=-", "--pathspec-file-nul"], "".join(f"{p}\0" for p in paths)


# What ``git commit`` does beyond writing the commit object: the hooks it runs and the
# settings that change the commit it writes (signing, message clean-up, encoding, hooks
# configured by name). When none is there, the commit is made with plumbing instead.
COMMIT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit")
COMMIT_SETTINGS = r"commit\.(gpgsign|cleanup)|i18n\.commitencoding|hook\..*"
# Settings whose other values may give an index entry another mode or name than the file's
# (see _edited_tree): with them, the commit's tree is written from the whole index.
INDEX_SETTINGS = {"core.filemode": "true", "core.ignorecase": "false"}
_SETTINGS_ASKED = rf"^({COMMIT_SETTINGS}|core\.(filemode|ignorecase))$"


def _commit_by_plumbing(
    root: Path, paths: Sequence[str], commit: Commit, parent: str, scratch: Path
) -> str | None:
    """Commit ``paths`` (relative to ``root``) as they are in the work tree on top of
    ``parent``, which HEAD's branch points to, like ``git add -A`` and ``git commit -m``
    with those paths (and ``commit``'s message) would, without the work of the latter (a
    temporary index of the whole tree, a refresh of every file's stat). Returns the commit,
    or None (having written nothing but, perhaps, the same index entries ``git add``
    writes) when ``git commit`` must make it: hooks or settings of its are present, or
    (when the tree is written from the whole index) the index holds staged changes other
    than ``paths``, or there is nothing to commit.
    """
    probe = ["rev-parse", "--show-toplevel"]
    for hook in COMMIT_HOOKS:
        probe += ["--git-path", f"hooks/{hook}"]
    toplevel, *hooks = git(root, *probe, "--show-prefix").split("\n")
    top = Path(toplevel)
    prefix = hooks.pop() if len(hooks) > len(COMMIT_HOOKS) else ""
    for hook in hooks:
        if os.access(os.path.join(root, hook), os.X_OK):
            return None
    settings = {}
    for line in git(root, "config", "--get-regexp", _SETTINGS_ASKED, check=False).splitlines():
        key, _, value = line.partition(" ")
        if key not in INDEX_SETTINGS:
            return None
        settings[key] = value.lower()
    top_paths = [f"{prefix}{path}" for path in paths]
    listed = "".join(f"{path}\0" for path in top_paths)
    if commit.before_staging is not None:
        commit.before_staging()
    git(top, "update-index", "--add", "--remove", "-z", "--stdin", stdin=listed)
    edited = None
    if all(settings.get(key, usual) == usual for key, usual in INDEX_SETTINGS.items()):
        edited = _edited_tree(top, parent, top_paths, scratch)
    if edited is not None:
        tree, parent_tree = edited
        if tree == parent_tree:
            return None
    else:
        tree = git(top, "write-tree")
        changed = git(top, "diff-tree", "-r", "-z", "--name-only", "--no-renames", parent, tree)
        changed_paths = {path for path in changed.split("\0") if path}
        if not changed_paths or not changed_paths <= set(top_paths):
            return None
    cleaned = _stripspace(commit.message)
    title = cleaned.split("\n", 1)[0]
    sha = git(top, "commit-tree", tree, "-p", parent, "-F", "-", stdin=cleaned)
    git(top, "update-ref", "-m", f"commit: {title}", "HEAD", sha, parent)
    return sha


# Above this many paths a commit's tree is written from the whole index (write-tree).
TREE_EDIT_LIMIT = 1000
_TREE_MODE = b"40000"
_FILE_MODE = b"100644"
_Entry = tuple[bytes, bytes]  # a tree entry: (mode, object name as raw bytes)


def _edited_tree(
    top: Path, parent: str, paths: Sequence[str], scratch: Path
) -> tuple[str, str] | None:
    """(the tree of ``parent`` with ``paths`` as the index holds them now, taken out where it
    has none; the tree of ``parent``). It is what ``git write-tree`` gives when the rest of
    the index is as ``parent`` has it (else: what ``git commit -- paths`` commits), made from
    the folders of ``paths`` alone: write-tree reads the whole index and writes it again
    (1.6 MB at 1,000 clusters, hashed each time). The trees that change are put together
    here, in Git's format, and written by one ``git hash-object`` from files in ``scratch``
    (a folder of the transaction's), which must name each as this function does.

    Each path's mode is the one ``git update-index`` gives the file under the usual
    settings (INDEX_SETTINGS): 100644 for a regular file without the executable bit, which
    is what meshgen writes. None when any of it is not certain (another kind of file, an
    unmerged path, a file where a folder was, a name with a line break, many paths, a git
    without ``cat-file --batch-command``): then write-tree makes the tree."""
    if not paths or len(paths) > TREE_EDIT_LIMIT or any("\n" in path for path in paths):
        return None
    changes: dict[str, dict[bytes, _Entry | None]] = {"": {}}
    children: dict[str, set[str]] = {"": set()}
    for path in paths:
        folder = path.rpartition("/")[0]
        changes.setdefault(folder, {})
        while folder:  # its folders up to one already listed (whose folders are, too)
            above = folder.rpartition("/")[0]
            listed = above in changes
            changes.setdefault(above, {})
            children.setdefault(above, set()).add(folder)
            if listed:
                break
            folder = above
    order = sorted(changes, key=lambda folder: folder.count("/") + bool(folder), reverse=True)
    looked_up = _look_up(top, parent, order, paths)
    if looked_up is None:
        return None
    trees, staged = looked_up
    for path in paths:
        folder, _, name = path.rpartition("/")
        blob = staged[path]
        before = trees[folder][1].get(name.encode("utf-8"))
        if blob is None and before is not None and before[0] == _TREE_MODE:
            return None  # no file in the index, a folder in the tree: the index keeps it
        if blob is not None:
            try:
                mode = os.lstat(os.path.join(top, path)).st_mode
            except OSError:
                return None
            if not stat.S_ISREG(mode) or mode & stat.S_IXUSR:
                return None
        changes[folder][name.encode("utf-8")] = None if blob is None else (_FILE_MODE, blob)
    hash_name = "sha1" if len(parent) == 40 else "sha256"
    made: dict[str, bytes | None] = {}
    written: list[tuple[str, str]] = []  # (file in scratch, the tree it holds)
    for folder in order:
        old_tree, old_entries = trees[folder]
        changed = changes[folder]
        for child in children.get(folder, ()):
            tree = made[child]
            changed[child.rpartition("/")[2].encode("utf-8")] = (
                None if tree is None else (_TREE_MODE, tree)
            )
        entries = _changed_entries(old_entries, changed)
        if entries is None:
            return None
        if not entries:
            made[folder] = None  # git writes no empty folder
        elif entries == old_entries:
            made[folder] = old_tree
        else:
            data = _tree_object(entries)
            oid = hashlib.new(hash_name, b"tree %d\0%s" % (len(data), data)).digest()
            made[folder] = oid
            file = str(scratch / f"tree-{len(written)}")
            with open(file, "wb") as handle:
                handle.write(data)
            written.append((file, oid.hex()))
    tree, parent_tree = made[""], trees[""][0]
    if tree is None or parent_tree is None:
        return None
    if written:
        files = "".join(f"{file}\n" for file, _ in written).encode("utf-8")
        result = subprocess.run(
            ["git", "-C", str(top), "hash-object", "-w", "-t", "tree", "--stdin-paths"],
            input=files,
            capture_output=True,
            check=False,
            pass_fds=lock.inherited_fds(),
        )
        if result.stdout.decode("ascii").split() != [oid for _, oid in written]:
            return None
    return tree.hex(), parent_tree.hex()


def _changed_entries(
    entries: dict[bytes, _Entry], changed: dict[bytes, _Entry | None]
) -> dict[bytes, _Entry] | None:
    """A folder's ``entries`` with the ``changed`` ones (None: taken out); None when a file
    would take a folder's place or the other way round."""
    result = dict(entries)
    for name, entry in changed.items():
        before = result.get(name)
        if entry is None:
            result.pop(name, None)
        elif before is not None and (before[0] == _TREE_MODE) != (entry[0] == _TREE_MODE):
            return None
        else:
            result[name] = entry
    return result


def _tree_object(entries: dict[bytes, _Entry]) -> bytes:
    """A tree object's bytes: its entries in Git's order (a folder's name sorts as if it
    ended with ``/``)."""

    def order(name: bytes) -> bytes:
        return name + b"/" if entries[name][0] == _TREE_MODE else name

    return b"".join(
        b"%s %s\0%s" % (entries[name][0], name, entries[name][1])
        for name in sorted(entries, key=order)
    )


def _look_up(
    top: Path, commit: str, folders: Sequence[str], paths: Sequence[str]
) -> tuple[dict[str, tuple[bytes | None, dict[bytes, _Entry]]], dict[str, bytes | None]] | None:
    """By one ``git cat-file --batch-command``: (folder -> its tree in ``commit`` (None when
    it has none there) and the tree's entries; path -> its blob in the index, None when the
    index has none at stage 0). None when a folder is no tree or a path no blob, or git
    cannot answer."""
    request = "".join(f"contents {commit}:{folder}\n" for folder in folders)
    request += "".join(f"info :{path}\n" for path in paths)
    result = subprocess.run(
        ["git", "-C", str(top), "cat-file", "--batch-command"],
        input=request.encode("utf-8"),
        capture_output=True,
        check=False,
        pass_fds=lock.inherited_fds(),
    )
    if result.returncode != 0:
        return None
    out, position = result.stdout, 0
    entry = re.compile(rb"([0-7]+) ([^\0]+)\0(.{%d})" % (len(commit) // 2), re.DOTALL)
    trees: dict[str, tuple[bytes | None, dict[bytes, _Entry]]] = {}
    for folder in folders:
        end = out.index(b"\n", position)
        header = out[position:end].split(b" ")
        position = end + 1
        if header[-1] == b"missing":
            trees[folder] = (None, {})
            continue
        if len(header) != 3 or header[1] != b"tree":
            return None
        size = int(header[2])
        found = entry.findall(out, position, position + size)
        position += size + 1
        trees[folder] = (bytes.fromhex(header[0].decode("ascii")), {n: (m, o) for m, n, o in found})
    staged: dict[str, bytes | None] = {}
    for path in paths:
        end = out.index(b"\n", position)
        header = out[position:end].split(b" ")
        position = end + 1
        if header[-1] == b"missing":
            staged[path] = None
        elif len(header) == 3 and header[1] == b"blob":
            staged[path] = bytes.fromhex(header[0].decode("ascii"))
        else:
            return None
    return trees, staged


def _stripspace(message: str) -> str:
    """The message as ``git commit -m`` stores it (clean-up mode ``whitespace``): trailing
    spaces and leading and trailing blank lines gone, runs of blank lines made one."""
    lines: list[str] = []
    for line in message.split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "".join(f"{line}\n" for line in lines)


# -- the journal --------------------------------------------------------------------------


@dataclass
class Journal:
    data: dict[str, Any]
    folder: Path

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.data["files"]

    def write(self) -> None:
        temporary = self.folder / f"{JOURNAL}.tmp"
        # Compact: json's C encoder (an indented journal of 11,000 files takes a third of a
        # second in Python's).
        temporary.write_text(json.dumps(self.data, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, self.folder / JOURNAL)

    def created_prefix(self, entry: dict[str, Any], data: bytes) -> bool:
        """Whether ``data`` is what publishing ``entry`` (a created file) wrote, or the start of
        it (empty included): the file meshgen was writing when it was stopped."""
        offset, size = entry["blob"]
        if len(data) > size:
            return False
        try:
            with open(self.folder / BLOB, "rb") as handle:
                handle.seek(offset)
                return handle.read(len(data)) == data
        except OSError:
            return False

    def is_ours(self, entry: dict[str, Any], data: bytes | None) -> bool:
        """Whether a file holding ``data`` (None: missing) is as this transaction left it:
        its old or new bytes, or a created file cut short by a kill."""
        found = None if data is None else digest(data)
        if found in (entry["old"], entry["new"]):
            return True
        return data is not None and "blob" in entry and self.created_prefix(entry, data)

    @classmethod
    def read(cls, folder: Path) -> Journal | None:
        try:
            text = (folder / JOURNAL).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            if data.get("version") != JOURNAL_VERSION:
                raise ValueError(data.get("version"))
        except ValueError:
            raise MeshgenError(
                f"{folder / JOURNAL}: a journal meshgen cannot read (another version of "
                "meshgen?); finish with that version, or run `meshgen recover --forget`"
            ) from None
        return cls(data=data, folder=folder)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP wait while a rollback or a commit point runs (see
    :func:`on_signal`); one that arrived meanwhile stops the process right after."""
    global _deferring, _pending
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and _pending:
        _pending = False
        raise KeyboardInterrupt


def _remove_empty_parents(root: Path, folder: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _current_bytes(path: Path | str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_old(path: str) -> bytes | None:
    """The bytes of ``path``, None when there is no file (one ``open`` either way)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _keep_old(path: str, slot: str) -> bytes | None:
    """The bytes of the file at ``path`` (None: there is none), kept at ``slot`` for a
    rollback. A regular file is kept as a hard link: publishing replaces it by rename or
    unlinks it, never writes into it, so the linked bytes stay as they were, and no copy is
    written (the file record alone is 1.26 MB at 1,000 clusters). The bytes are read back
    through the link, so they are the ones kept. Anything else, or a link refused (another
    file system), is copied."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(info.st_mode):
        try:
            os.link(path, slot, follow_symlinks=False)
        except OSError:
            pass
        else:
            with open(slot, "rb") as handle:
                return handle.read()
    old = _read_old(path)
    if old is not None:
        with open(slot, "wb") as handle:
            handle.write(old)
    return old


def _make_folders(root: str, folder: str, missing: set[str]) -> None:
    """Make ``folder`` and those of its parents in ``missing`` (relative to ``root``), parents
    first, and take them out of ``missing``."""
    parts = folder.split("/")
    for depth in range(1, len(parts) + 1):
        candidate = "/".join(parts[:depth])
        if candidate in missing:
            with contextlib.suppress(FileExistsError):
                os.mkdir(os.path.join(root, candidate))
            missing.discard(candidate)


_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _create(path: str, data: bytes) -> os.stat_result:
    """Write a new file at ``path`` (refused when anything is there: ``O_EXCL``); its ``fstat``
    once written, which is its ``lstat`` too."""
    fd = os.open(path, _CREATE_FLAGS, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return os.fstat(fd)
    finally:
        os.close(fd)


def _replace(source: Path | str, target: Path | str, made: set[str] | None = None) -> None:
    """Move ``source`` to ``target``, making its folder; ``made``: folders made (or found)
    already by this publish, not asked for again (thousands of files share a few)."""
    parent = os.path.dirname(target)
    if made is None or parent not in made:
        os.makedirs(parent, exist_ok=True)
        if made is not None:
            made.add(parent)
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # the Git folder is on another file system
            raise
        shutil.copyfile(source, target)
        os.unlink(source)


# -- forward ------------------------------------------------------------------------------


def _folders_to_make(root: Path, paths: Iterator[str] | Mapping[str, bytes]) -> list[str]:
    """The folders (relative, parents first) that writing ``paths`` needs and that do not
    exist; refuses, before anything changes, a file standing where a folder must go. Each
    folder is looked at once (thousands of files share a few hundred folders)."""
    base = str(root)
    state: dict[str, bool] = {}  # folder -> exists already
    missing: list[str] = []
    for path in paths:
        folder = path.rpartition("/")[0]
        if not folder or folder in state:
            continue
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            candidate = "/".join(parts[:depth])
            known = state.get(candidate)
            if known is None:
                try:
                    is_folder = stat.S_ISDIR(os.stat(os.path.join(base, candidate)).st_mode)
                except (FileNotFoundError, NotADirectoryError):
                    known = False
                else:
                    if not is_folder:
                        raise MeshgenError(
                            f"{candidate}: is a file where meshgen must write the folder of "
                            f"{path}; move it away, then run the command again (nothing was "
                            "changed)"
                        )
                    known = True
                state[candidate] = known
                if not known:
                    missing.append(candidate)
            if not known:  # so are the folders in it
                for deeper in range(depth + 1, len(parts) + 1):
                    inner = "/".join(parts[:deeper])
                    if inner not in state:
                        state[inner] = False
                        missing.append(inner)
                break
    return missing


class Transaction:
    """One change of ``root``; see the module documentation for the steps."""

    def __init__(self, root: Path, command: str, state_dir: Path | None = None) -> None:
        self.root = root
        self.command = command
        self.state_dir = state_dir or lock.state_dir(root)
        self.folder = self.state_dir / TXN_DIR
        self.journal: Journal | None = None
        self._writes: Mapping[str, bytes] = {}
        self._folders: list[str] = []
        # Files this transaction created: the stat key (tree_cache.stat_key) of their lstat
        # once written, and their SHA-256 (a string each: 11,000 stat results would add
        # megabytes to a large first render's peak memory).
        self.created: dict[str, tuple[str, str]] = {}

    def begin(
        self,
        writes: Mapping[str, bytes],
        removes: Sequence[str],
        commit: Commit | None = None,
        git_dir_created: bool = False,
        absent: Collection[str] = frozenset(),
    ) -> None:
        """Prepare: stage old and new bytes, copy the index, write the journal. ``absent``:
        paths of ``writes`` that the caller saw no file at, not looked at again (a file that
        appeared there since is refused when publishing, never replaced)."""
        if _stop is not None:
            raise KeyboardInterrupt
        started = time.time()
        self._writes = writes
        self._folders = _folders_to_make(self.root, writes)
        head_ref, head_sha = (None, None)
        if commit is not None:
            head_ref, head_sha = _head(self.state_dir)
            if head_ref is not None and not git_dir_created:  # a new repository has no commit
                head_sha = _rev(self.root, head_ref)
        try:
            self.folder.mkdir()
        except FileExistsError:
            raise MeshgenError(
                f"{self.folder}: an earlier meshgen command did not finish; run "
                "`meshgen recover` first"
            ) from None
        files = []
        try:
            (self.folder / "old").mkdir()
            (self.folder / "new").mkdir()
            # Plain strings and open(): thousands of files, pathlib's objects cost seconds.
            root = str(self.root)
            old_slots, new_slots = str(self.folder / "old"), str(self.folder / "new")
            with open(self.folder / BLOB, "wb") as blob:
                offset = 0  # counted here: the file's tell() asks the system each time
                for number, path in enumerate(sorted({*writes, *removes})):
                    entry: dict[str, Any] = {"path": path, "old": None, "new": None}
                    unseen = path in absent and path in writes
                    old_slot = os.path.join(old_slots, str(number))
                    old = None if unseen else _keep_old(os.path.join(root, path), old_slot)
                    if old is not None:
                        entry["old"] = digest(old)
                    if path in writes:
                        data = writes[path]
                        if old is None:  # created in place by publish; kept for recovery
                            entry["blob"] = [offset, len(data)]
                            blob.write(data)
                            offset += len(data)
                        else:
                            with open(os.path.join(new_slots, str(number)), "wb") as handle:
                                handle.write(data)
                        entry["new"] = digest(data)
                    entry["slot"] = str(number)
                    files.append(entry)
            if commit is not None and commit.new_branch and head_ref is not None:
                # HEAD as it is, ready to be linked back: a rollback on a full disk cannot
                # write a new file, but it can link one (see _restore_head).
                (self.folder / "HEAD").write_text(f"ref: {head_ref}\n", encoding="utf-8")
            index = self.state_dir / "index"
            has_index = commit is not None and index.is_file()
            if has_index:
                _keep_index(index, self.folder / "index")
            self.journal = Journal(
                data={
                    "version": JOURNAL_VERSION,
                    "command": self.command,
                    "root": str(self.root),
                    "pid": os.getpid(),
                    "started": started,
                    "files": files,
                    "folders": self._folders,
                    "commit": commit is not None,
                    "head_ref": head_ref,
                    "head_sha": head_sha,
                    "new_branch": f"refs/heads/{commit.new_branch}"
                    if commit is not None and commit.new_branch
                    else None,
                    "index": has_index,
                    "git_dir_created": git_dir_created,
                },
                folder=self.folder,
            )
            self.journal.write()
        except OSError as exc:
            self._discard()
            raise MeshgenError(
                f"{exc.filename or self.folder}: cannot be written ({exc.strerror}); check "
                "permissions and free space, then run the command again (nothing was changed)"
            ) from None
        except BaseException:
            self._discard()
            raise

    def publish(self, commit: Commit | None = None) -> str | None:
        """Move the files into place and commit; returns the new commit, if any."""
        assert self.journal is not None
        root, staged = str(self.root), str(self.folder / "new")
        missing = set(self._folders)  # made just before the first file that goes in them,
        made: set[str] = set()  # so a stop leaves no empty folders behind (see _undo)
        for entry in self.journal.files:
            if entry["new"] is None:
                continue
            path = entry["path"]
            target = os.path.join(root, path)
            folder = path.rpartition("/")[0]
            if folder in missing:
                _make_folders(root, folder, missing)
                made.add(os.path.dirname(target))
            if "blob" in entry:
                info = _create(target, self._writes[path])
                self.created[path] = (stat_key(info), entry["new"])
            else:
                _replace(os.path.join(staged, entry["slot"]), target, made)
        for entry in self.journal.files:
            if entry["new"] is None:
                target = self.root / entry["path"]
                target.unlink(missing_ok=True)
                _remove_empty_parents(self.root, target.parent)
        if commit is None:
            return None
        data = self.journal.data
        if data["new_branch"]:
            if data["head_sha"] is None:
                raise MeshgenError("HEAD has no commit yet to branch from; commit something first")
            git(self.root, "update-ref", data["new_branch"], data["head_sha"], "")
            git(self.root, "symbolic-ref", "HEAD", data["new_branch"])
        paths = [entry["path"] for entry in self.journal.files]
        if data["head_sha"] is not None:
            sha = _commit_by_plumbing(self.root, paths, commit, data["head_sha"], self.folder)
            if sha is not None:
                return sha
        options, stdin = _pathspec_args(paths)
        if commit.before_staging is not None:
            commit.before_staging()
        git(self.root, "add", "-A", *options, stdin=stdin)
        git(self.root, "commit", "-q", "-m", commit.message, *options, stdin=stdin)
        return git(self.root, "rev-parse", "HEAD")

    def finish(self) -> None:
        """The commit point: the journal goes, then the folder."""
        global _completed
        with signals_deferred():
            (self.folder / JOURNAL).unlink()
            _completed += 1
            self._discard()

    def move_state(self, state_dir: Path) -> None:
        """The Git folder holding the journal was renamed (``init`` creates it aside)."""
        self.state_dir = state_dir
        self.folder = state_dir / TXN_DIR
        if self.journal is not None:
            self.journal.folder = self.folder

    def roll_back(self) -> None:
        """Undo what the journal records; nothing once the journal is gone (committed)."""
        with signals_deferred():
            if (self.folder / JOURNAL).is_file():
                journal = self.journal or Journal.read(self.folder)
                if journal is not None:
                    _undo(self.root, self.state_dir, journal)
            self._discard()

    def _discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def apply(
    root: Path,
    writes: Mapping[str, bytes],
    removes: Sequence[str] = (),
    commit: Commit | None = None,
    command: str = "meshgen",
    created: dict[str, tuple[str, str]] | None = None,
    absent: Collection[str] = frozenset(),
) -> str | None:
    """Write ``writes``, remove ``removes`` and optionally commit, all or nothing.

    Needs the repository lock (:func:`meshgen.adapters.lock.acquire`), and takes it when this
    process does not hold it yet. ``created`` receives, for each file the change created
    (none was there), its ``lstat`` once written and the SHA-256 of its bytes. ``absent``: see
    :meth:`Transaction.begin`.
    """
    if not writes and not removes and commit is None:
        return None
    lock.acquire(root)
    transaction = Transaction(root, command)
    try:
        transaction.begin(writes, removes, commit, absent=absent)
        sha = transaction.publish(commit)
        transaction.finish()
        if created is not None:
            created.update(transaction.created)
    except OSError as exc:
        transaction.roll_back()
        raise MeshgenError(
            f"{exc.filename or root}: cannot be written ({exc.strerror}); check permissions "
            "and free space, then run the command again (nothing was changed)"
        ) from None
    except BaseException:
        transaction.roll_back()
        raise
    return sha


# -- backward -----------------------------------------------------------------------------


def _locks_left_by(root: Path, git_dir: Path, data: dict[str, Any]) -> list[Path]:
    """Lock files git left during this journal's transaction (at least as new as it)."""
    refs_root = lock.common_dir(git_dir)
    candidates = [git_dir / name for name in GIT_LOCKS]
    candidates += sorted(git_dir.glob(NEXT_INDEX_GLOB))
    candidates.append(refs_root / "packed-refs.lock")
    for ref in (data.get("head_ref"), data.get("new_branch")):
        if ref:
            candidates.append(refs_root / f"{ref}.lock")
    since = float(data.get("started", 0)) - MTIME_SLACK_SECONDS
    found = []
    for path in candidates:
        try:
            if path.stat().st_mtime >= since:
                found.append(path)
        except OSError:
            continue
    return found


def _divergence(root: Path, git_dir: Path, journal: Journal) -> list[str]:
    """What changed since the interrupted transaction, other than by it (by hand)."""
    changed = []
    for entry in journal.files:
        if not journal.is_ours(entry, _current_bytes(root / entry["path"])):
            changed.append(entry["path"])
    data = journal.data
    if data["commit"]:
        ref, _ = _head(git_dir)
        if ref not in (data["head_ref"], data["new_branch"]):
            changed.append(f"HEAD (now {ref or 'detached'})")
    return changed


def _undo(root: Path, git_dir: Path, journal: Journal) -> None:
    """Every step can run again; files first, as removing new ones frees space."""
    data = journal.data
    for path in _locks_left_by(root, git_dir, data):
        path.unlink(missing_ok=True)
    if data["commit"]:
        for name in GIT_LOCKS:
            if (git_dir / name).exists():  # older than the journal: another git's
                raise MeshgenError(
                    f"{git_dir / name}: exists and is not meshgen's, so git runs here or "
                    f"crashed; when no git runs, remove it (rm {git_dir / name}) and run "
                    "`meshgen recover`"
                )
    for entry in journal.files:
        target = root / entry["path"]
        current = _current_bytes(target)
        if (None if current is None else digest(current)) == entry["old"]:
            continue
        if entry["old"] is None:
            if not journal.is_ours(entry, current):
                continue  # not written by this change (O_EXCL refused it): not ours to remove
            target.unlink(missing_ok=True)
            _remove_empty_parents(root, target.parent)
        else:
            # Moved, not copied: a rollback must work on a full disk too.
            _replace(journal.folder / "old" / entry["slot"], target)
    # Folders the change made for its new files and left empty (stopped before the file).
    for folder in sorted(data.get("folders", []), key=lambda f: f.count("/"), reverse=True):
        with contextlib.suppress(OSError):  # not empty, or gone: not this rollback's to remove
            os.rmdir(root / folder)
    if data["commit"]:
        ref, _ = _head(git_dir)
        new_branch = data["new_branch"]
        if new_branch and ref == new_branch and data["head_ref"]:
            _restore_head(root, git_dir, journal)
        if new_branch:
            if _rev(root, new_branch) is not None:
                git(root, "update-ref", "-d", new_branch)
        elif data["head_ref"]:
            if data["head_sha"] is None:
                if _rev(root, data["head_ref"]) is not None:
                    git(root, "update-ref", "-d", data["head_ref"])
            elif _rev(root, data["head_ref"]) != data["head_sha"]:
                git(root, "update-ref", data["head_ref"], data["head_sha"])
        _restore_index(git_dir, journal)
    if data.get("git_dir_created"):
        shutil.rmtree(git_dir, ignore_errors=True)


def _restore_head(root: Path, git_dir: Path, journal: Journal) -> None:
    """HEAD back on its branch: by git, else (a full disk) by linking the copy made before."""
    try:
        git(root, "symbolic-ref", "HEAD", journal.data["head_ref"])
        return
    except MeshgenError:
        saved = journal.folder / "HEAD"
        if not saved.is_file() or not (git_dir / "HEAD").is_file():
            raise
    lock_file = git_dir / "HEAD.lock"
    os.link(saved, lock_file)  # fails if a git holds HEAD now
    os.replace(lock_file, git_dir / "HEAD")


def _keep_index(index: Path, kept: Path) -> None:
    """Keep the index as it is for a rollback: as a hard link, since git never writes an
    index in place (it renames a new file over it), else as a copy (1.6 MB at 1,000
    clusters)."""
    try:
        os.link(index, kept)
    except OSError:
        shutil.copyfile(index, kept)


def _restore_index(git_dir: Path, journal: Journal) -> None:
    """The index as it was, put in place the way git does (``index.lock``, then rename)."""
    index = git_dir / "index"
    if not journal.data["index"]:
        index.unlink(missing_ok=True)
        return
    saved = journal.folder / "index"
    if not saved.is_file():  # moved into place by a recovery that was interrupted after it
        return
    with contextlib.suppress(OSError):
        if os.path.samefile(saved, index):  # kept as a link, and not replaced since
            saved.unlink()
            return
    lock_file = git_dir / "index.lock"
    # A hard link is made atomically, fails when git holds the lock, and needs no free space.
    os.link(saved, lock_file)
    os.replace(lock_file, index)
    saved.unlink()


def pending(root: Path) -> str | None:
    """A description of the interrupted change waiting in ``root``'s journal, or None."""
    folder = lock.state_dir(root) / TXN_DIR
    if not (folder / JOURNAL).is_file() or not lock.is_free(root):
        return None
    journal = Journal.read(folder)
    if journal is None:
        return None
    return _describe(journal)


def _describe(journal: Journal) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(journal.data["started"]))
    return f"`{journal.data['command']}` (pid {journal.data['pid']}, started {started})"


def recover(root: Path, forget: bool = False) -> list[str]:
    """Roll back what an interrupted meshgen left (the caller holds the lock); what was done.

    With ``forget``, the journal is dropped and the work tree, index and branches stay as
    they are (after a person checked them); abandoned lock files go either way.
    """
    git_dir = lock.state_dir(root)
    done = []
    folder = git_dir / TXN_DIR
    with signals_deferred():
        journal = Journal.read(folder) if folder.is_dir() else None
        if journal is not None:
            what = _describe(journal)
            recorded = Path(journal.data.get("root", root))
            if recorded != root and recorded.is_dir():  # a mesh in a subfolder of the repo
                root = recorded
            if forget:
                for path in _locks_left_by(root, git_dir, journal.data):
                    path.unlink(missing_ok=True)
                done.append(f"dropped the journal of the interrupted {what}; nothing rolled back")
            else:
                changed = _divergence(root, git_dir, journal)
                if changed:
                    shown = ", ".join(changed[:5]) + (
                        f" and {len(changed) - 5} more" if len(changed) > 5 else ""
                    )
                    raise MeshgenError(
                        f"{root}: the interrupted {what} cannot be rolled back: {shown} changed "
                        "since; check them, then run `meshgen recover --forget` to keep the "
                        "work tree as it is"
                    )
                _undo(root, git_dir, journal)
                done.append(f"rolled back the interrupted {what}")
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        for stale in sorted(git_dir.glob(f"{OLD_STAGING_PREFIX}*")):
            shutil.rmtree(stale, ignore_errors=True)
            done.append(f"removed {stale.name}, left by an interrupted meshgen")
        for stale in sorted(git_dir.glob(NEXT_INDEX_GLOB)):
            pid = stale.name.removeprefix("next-index-").removesuffix(".lock")
            if pid.isdigit() and not process.alive(int(pid)):
                stale.unlink(missing_ok=True)
                done.append(f"removed {stale.name}, left by a git that was killed")
    return done
