"""One writer per repository: a real flock, real processes, a real git child that outlives
the meshgen that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import git
from meshgen.adapters import lock
from meshgen.errors import MeshgenError


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    return root


def hold(root: Path, seconds: float, command: str = "meshgen render") -> subprocess.Popen[str]:
    """Another process holding the lock for ``seconds`` (it prints 'held' once it does)."""
    script = (
        "import sys, time; from pathlib import Path; from meshgen.adapters import lock; "
        f"lock.describe({command!r}); lock.acquire(Path({str(root)!r})); "
        f"print('held', flush=True); time.sleep({seconds})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_the_lock_lives_in_the_git_folder_and_is_reentrant(repo: Path) -> None:
    try:
        first = lock.acquire(repo)
        assert first.state_dir == repo / ".git" and (repo / ".git/meshgen.lock").is_file()
        assert lock.acquire(repo) is first and lock.is_held(repo)
        assert git(repo, "status", "--porcelain", "--ignored") == ""  # nothing in the work tree
    finally:
        lock.release_all()
    assert not lock.is_held(repo) and lock.is_free(repo)


def test_a_second_writer_is_refused_naming_the_first(repo: Path) -> None:
    holder = hold(repo, 30, "meshgen new-cluster")
    try:
        assert not lock.is_free(repo)
        with pytest.raises(MeshgenError) as refused:
            lock.acquire(repo, wait=0.2)
        message = str(refused.value)
        assert "`meshgen new-cluster`" in message and f"pid {holder.pid}" in message
        assert "is changing this repository" in message
    finally:
        holder.kill()
        holder.wait()
    try:
        lock.acquire(repo, wait=5)  # released by the kernel when the holder died (SIGKILL)
    finally:
        lock.release_all()


def test_a_second_writer_waits_for_the_first(repo: Path) -> None:
    holder = hold(repo, 0.5)
    started = time.monotonic()
    try:
        lock.acquire(repo, wait=30)
        assert holder.poll() is not None  # got the lock only once the holder was done
        assert time.monotonic() - started < 30
    finally:
        lock.release_all()
        holder.wait()


def test_a_git_child_keeps_the_lock_after_meshgen_is_killed(repo: Path) -> None:
    """git started within a transaction inherits the lock: killing meshgen does not free the
    repository while its git still works there (a hook, say)."""
    script = (
        "from pathlib import Path; from meshgen.adapters import lock, transaction; "
        f"root = Path({str(repo)!r}); lock.acquire(root); print('held', flush=True); "
        "transaction.git(root, '-c', 'alias.nap=!sleep 3', 'nap')"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None and parent.stdout.readline().strip() == "held"
    time.sleep(0.5)
    os.kill(parent.pid, signal.SIGKILL)  # meshgen only; its git child runs on
    parent.wait()
    assert not lock.is_free(repo)
    deadline = time.monotonic() + 30
    while not lock.is_free(repo) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lock.is_free(repo)  # free once the git child is done


def test_a_folder_in_no_repository_locks_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    try:
        assert lock.acquire(folder).state_dir == tmp_path / ".plain.meshgen"
        assert list(folder.iterdir()) == []
    finally:
        lock.release_all()
