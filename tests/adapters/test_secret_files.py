"""Writing secret material: refused in Git work trees, private modes, all or nothing."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import git
from meshgen.adapters import secret_files
from meshgen.errors import MeshgenError


def test_git_work_trees_are_found_from_paths_that_do_not_exist_yet(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert secret_files.git_work_tree_of(repo / "a" / "b" / "key.pem") == repo.resolve()
    assert secret_files.git_work_tree_of(tmp_path / "elsewhere" / "key.pem") is None
    # A linked worktree has a .git *file*; a symlink from outside leads inside.
    git(repo, "commit", "-q", "--allow-empty", "-m", "start")
    git(repo, "worktree", "add", "-q", str(tmp_path / "linked"))
    assert (
        secret_files.git_work_tree_of(tmp_path / "linked" / "x") == (tmp_path / "linked").resolve()
    )
    (tmp_path / "shortcut").symlink_to(repo / "sub", target_is_directory=True)
    (repo / "sub").mkdir()
    assert secret_files.git_work_tree_of(tmp_path / "shortcut" / "key.pem") == repo.resolve()


def test_files_are_written_with_private_modes_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        written = secret_files.write_files(
            tmp_path / "out", {"ca-key.pem": b"k", "ca-cert.pem": b"c"}, {"ca-key.pem"}, "--out"
        )
    finally:
        os.umask(old)
    assert [p.name for p in written] == ["ca-cert.pem", "ca-key.pem"]
    assert stat.S_IMODE((tmp_path / "out" / "ca-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "out" / "ca-cert.pem").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ca-cert.pem", "ca-key.pem"]


def test_nothing_is_written_when_one_file_exists(tmp_path: Path) -> None:
    (tmp_path / "b.pem").write_text("old")
    with pytest.raises(MeshgenError, match=r"already holds b\.pem; nothing was written"):
        secret_files.write_files(tmp_path, {"a.pem": b"a", "b.pem": b"b"}, set(), "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.pem"]
    assert (tmp_path / "b.pem").read_text() == "old"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_an_unwritable_folder_leaves_no_temporary_files(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(MeshgenError, match="cannot be written"):
            secret_files.write_files(folder, {"a.pem": b"a"}, set(), "--out")
    finally:
        folder.chmod(0o700)
    assert list(folder.iterdir()) == []


def test_refused_inside_git(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(MeshgenError, match="is inside the Git work tree"):
        secret_files.write_secret(tmp_path / "secret.yaml", "x", "--output")
    assert not (tmp_path / "secret.yaml").exists()


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next(tmp_path: Path) -> None:
    """A meshgen killed while writing a key leaves `.<name>.meshgen-tmp-<pid>` (mode 0600):
    the next write into the folder removes it; a running writer's file stays."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    abandoned = folder / f".ca-key.pem.meshgen-tmp-{gone.stdout.strip()}"
    abandoned.write_bytes(b"-----BEGIN PRIVATE KEY-----\n")
    running = folder / f".other.pem.meshgen-tmp-{os.getpid()}"
    running.write_bytes(b"in progress\n")
    secret_files.write_files(folder, {"root-cert.pem": b"cert\n"}, set(), "--out")
    assert not abandoned.exists() and running.exists()
    assert (folder / "root-cert.pem").read_bytes() == b"cert\n"
