"""One meshgen writer per repository: an exclusive lock in the repository's Git folder.

The lock is ``flock`` on ``<git dir>/meshgen.lock``. The kernel releases it when the process
that holds it ends, however it ends (SIGKILL included), so it is never stale and never needs
cleaning up. The git programs meshgen runs while holding it inherit it (see
:func:`inherited_fds`): when meshgen is killed while its ``git commit`` still runs, the next
meshgen waits for that git as well, and every lock file git left behind is then certainly
abandoned.

A second command waits up to ``$MESHGEN_LOCK_WAIT`` seconds (default 10), then refuses
(exit 2) naming the command that holds the lock. Within one process the lock is re-entrant,
and :func:`release_all` (called by the CLI's error boundary) lets go of everything.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from meshgen.errors import MeshgenError

LOCK_FILE = "meshgen.lock"
WAIT_ENV = "MESHGEN_LOCK_WAIT"
DEFAULT_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05

# What the process is doing, written into the lock file for whoever has to wait for it.
_description = "meshgen"


@dataclass
class Lock:
    state_dir: Path
    fd: int


_held: dict[Path, Lock] = {}


def describe(command: str) -> None:
    """Name the running command (``meshgen new-cluster``) for messages of other processes."""
    global _description
    _description = command


def state_dir(root: Path) -> Path:
    """Where meshgen keeps its lock and journal for the work tree ``root``: its Git folder.

    ``.git`` may be a file (a linked worktree or a submodule) naming the real folder. A
    folder inside a work tree uses that work tree's Git folder; one in none gets a hidden
    sibling, ``.<name>.meshgen`` (never a folder inside it).
    """
    for folder in (root, *root.parents):
        found = _git_dir_at(folder)
        if found is not None:
            return found
    return root.parent / f".{root.name}.meshgen"


def _git_dir_at(folder: Path) -> Path | None:
    dot_git = folder / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        with contextlib.suppress(OSError, UnicodeDecodeError, IndexError):
            first = dot_git.read_text(encoding="utf-8").splitlines()[0]
            if first.startswith("gitdir:"):
                target = Path(first.removeprefix("gitdir:").strip())
                target = target if target.is_absolute() else folder / target
                if target.is_dir():
                    return target.resolve()
    return None


def common_dir(git_dir: Path) -> Path:
    """The folder holding refs and objects (differs from ``git_dir`` in a linked worktree)."""
    try:
        pointer = (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return git_dir
    path = Path(pointer)
    return (path if path.is_absolute() else git_dir / path).resolve()


def _wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, DEFAULT_WAIT_SECONDS)))
    except ValueError:
        return DEFAULT_WAIT_SECONDS


def _holder(path: Path) -> str:
    try:
        pid, command, since = path.read_text(encoding="utf-8").split("\n")[:3]
    except (OSError, ValueError, UnicodeDecodeError):
        return "another meshgen command"
    return f"another meshgen command (`{command}`, pid {pid}, since {since})"


def acquire(root: Path, wait: float | None = None) -> Lock:
    """Hold the lock of the repository at ``root``; re-entrant within this process."""
    folder = state_dir(root)
    key = folder.resolve() if folder.exists() else folder
    if key in _held:
        return _held[key]
    path = folder / LOCK_FILE
    try:
        folder.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise MeshgenError(
            f"{path}: cannot create the lock file ({exc.strerror}); meshgen needs to write "
            "into the Git folder: check its permissions and free space"
        ) from None
    deadline = time.monotonic() + (_wait_seconds() if wait is None else wait)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise MeshgenError(
                    f"{root}: {_holder(path)} is changing this repository; run this command "
                    "again when it is done"
                ) from None
            time.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
    since = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{_description}\n{since}\n".encode(), 0)
    lock = Lock(state_dir=folder, fd=fd)
    _held[folder.resolve()] = lock
    return lock


def is_held(root: Path) -> bool:
    """Whether this process holds the lock of the repository at ``root``."""
    folder = state_dir(root)
    return folder.exists() and folder.resolve() in _held


def is_free(root: Path) -> bool:
    """Whether no process holds the lock now (a check, not a reservation)."""
    if is_held(root):
        return False
    path = state_dir(root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def relocate(old_state_dir: Path, new_state_dir: Path) -> None:
    """The Git folder holding a lock was renamed (``init`` builds it aside, then moves it)."""
    lock = _held.pop(old_state_dir.resolve(), None)
    if lock is not None:
        lock.state_dir = new_state_dir
        _held[new_state_dir.resolve()] = lock


def inherited_fds() -> tuple[int, ...]:
    """File descriptors a child git must keep open so it holds the locks as long as it runs."""
    return tuple(lock.fd for lock in _held.values())


def release_all() -> None:
    """Let go of every lock this process holds (the end of a command)."""
    while _held:
        _, lock = _held.popitem()
        with contextlib.suppress(OSError):
            os.close(lock.fd)
