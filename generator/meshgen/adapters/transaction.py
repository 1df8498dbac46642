"""A change to a repository that happens completely or not at all, even when killed.

A meshgen change touches up to four things: files of the work tree, the index, a new branch
and HEAD. None of them can change atomically together, so every change runs as a
transaction with a journal in the Git folder (``.git/meshgen-txn/``):

1. **Prepare** (nothing visible changes): the old bytes of every file the change touches and
   the new ones are copied into the transaction folder, with a copy of the index; then
   ``journal.json`` is written (atomically, by rename). It records the files with the
   SHA-256 of their old and new bytes, the branch HEAD is on and its commit, and the branch
   the change creates.
2. **Publish**: each new file is moved into place with ``os.replace`` (atomic per file), files
   are removed; with a commit, the branch is created at HEAD (``git update-ref`` with the
   empty old value: it must not exist), HEAD switches to it (``git symbolic-ref``) and
   exactly the change's paths are committed, as ``git commit`` would, hooks included (by
   plumbing when no hook or setting of ``git commit``'s is there: see
   :func:`_commit_by_plumbing`).
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
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshgen.adapters import lock, process
from meshgen.adapters.process import error_summary
from meshgen.errors import MeshgenError

TXN_DIR = "meshgen-txn"
JOURNAL = "journal.json"
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
    """Commit the change: on a new branch made at HEAD (``new_branch``), or on HEAD's."""

    message: str
    new_branch: str | None = None


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
    return hashlib.sha256(data).hexdigest()


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
COMMIT_SETTINGS = r"^(commit\.(gpgsign|cleanup)|i18n\.commitencoding|hook\..*)$"


def _commit_by_plumbing(root: Path, paths: Sequence[str], message: str, parent: str) -> str | None:
    """Commit ``paths`` (relative to ``root``) as they are in the work tree on top of
    ``parent``, which HEAD's branch points to, like ``git add -A`` and ``git commit -m``
    with those paths would, without the work of the latter (a temporary index of the whole
    tree, a refresh of every file's stat). Returns the commit, or None (having written
    nothing but, perhaps, the same index entries ``git add`` writes) when ``git commit``
    must make it: hooks or settings of its are present, or the index holds staged changes
    other than ``paths`` (with ``--allow-dirty``), or there is nothing to commit.
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
    if git(root, "config", "--get-regexp", COMMIT_SETTINGS, check=False):
        return None
    top_paths = [f"{prefix}{path}" for path in paths]
    listed = "".join(f"{path}\0" for path in top_paths)
    git(top, "update-index", "--add", "--remove", "-z", "--stdin", stdin=listed)
    tree = git(top, "write-tree")
    changed = git(top, "diff-tree", "-r", "-z", "--name-only", "--no-renames", parent, tree)
    changed_paths = {path for path in changed.split("\0") if path}
    if not changed_paths or not changed_paths <= set(top_paths):
        return None
    cleaned = _stripspace(message)
    title = cleaned.split("\n", 1)[0]
    sha = git(top, "commit-tree", tree, "-p", parent, "-F", "-", stdin=cleaned)
    git(top, "update-ref", "-m", f"commit: {title}", "HEAD", sha, parent)
    return sha


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
        temporary.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.folder / JOURNAL)

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


def _current_digest(path: Path) -> str | None:
    try:
        return digest(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None


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


def _require_folders_possible(root: Path, paths: Iterator[str] | Mapping[str, bytes]) -> None:
    """Refuse, before anything changes, a file standing where a folder must go."""
    checked: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder in checked:
                continue
            checked.add(folder)
            candidate = root / folder
            if candidate.exists() and not candidate.is_dir():
                raise MeshgenError(
                    f"{folder}: is a file where meshgen must write the folder of {path}; "
                    "move it away, then run the command again (nothing was changed)"
                )
            if not candidate.exists():
                break


class Transaction:
    """One change of ``root``; see the module documentation for the steps."""

    def __init__(self, root: Path, command: str, state_dir: Path | None = None) -> None:
        self.root = root
        self.command = command
        self.state_dir = state_dir or lock.state_dir(root)
        self.folder = self.state_dir / TXN_DIR
        self.journal: Journal | None = None

    def begin(
        self,
        writes: Mapping[str, bytes],
        removes: Sequence[str],
        commit: Commit | None = None,
        git_dir_created: bool = False,
    ) -> None:
        """Prepare: stage old and new bytes, copy the index, write the journal."""
        if _stop is not None:
            raise KeyboardInterrupt
        started = time.time()
        _require_folders_possible(self.root, writes)
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
            for number, path in enumerate(sorted({*writes, *removes})):
                entry: dict[str, Any] = {"path": path, "old": None, "new": None}
                try:
                    with open(os.path.join(root, path), "rb") as handle:
                        old = handle.read()
                except (FileNotFoundError, NotADirectoryError):
                    old = None
                if old is not None:
                    with open(os.path.join(old_slots, str(number)), "wb") as handle:
                        handle.write(old)
                    entry["old"] = digest(old)
                if path in writes:
                    data = writes[path]
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
                shutil.copyfile(index, self.folder / "index")
            self.journal = Journal(
                data={
                    "version": JOURNAL_VERSION,
                    "command": self.command,
                    "root": str(self.root),
                    "pid": os.getpid(),
                    "started": started,
                    "files": files,
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
        made: set[str] = set()
        root, staged = str(self.root), str(self.folder / "new")
        for entry in self.journal.files:
            if entry["new"] is None:
                continue
            target = os.path.join(root, entry["path"])
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
            sha = _commit_by_plumbing(self.root, paths, commit.message, data["head_sha"])
            if sha is not None:
                return sha
        options, stdin = _pathspec_args(paths)
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
) -> str | None:
    """Write ``writes``, remove ``removes`` and optionally commit, all or nothing.

    Needs the repository lock (:func:`meshgen.adapters.lock.acquire`), and takes it when this
    process does not hold it yet.
    """
    if not writes and not removes and commit is None:
        return None
    lock.acquire(root)
    transaction = Transaction(root, command)
    try:
        transaction.begin(writes, removes, commit)
        sha = transaction.publish(commit)
        transaction.finish()
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
        if _current_digest(root / entry["path"]) not in (entry["old"], entry["new"]):
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
        if _current_digest(target) == entry["old"]:
            continue
        if entry["old"] is None:
            target.unlink(missing_ok=True)
            _remove_empty_parents(root, target.parent)
        else:
            # Moved, not copied: a rollback must work on a full disk too.
            _replace(journal.folder / "old" / entry["slot"], target)
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


def _restore_index(git_dir: Path, journal: Journal) -> None:
    """The index as it was, put in place the way git does (``index.lock``, then rename)."""
    index = git_dir / "index"
    if not journal.data["index"]:
        index.unlink(missing_ok=True)
        return
    saved = journal.folder / "index"
    if not saved.is_file():  # moved into place by a recovery that was interrupted after it
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
