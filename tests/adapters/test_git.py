"""The dirty-tree check: cheap (untracked folders not listed, git's untracked cache), and it
still sees every kind of change the full ``git status`` lists."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import MeshRepo, git
from meshgen.adapters import git as gitops
from meshgen.errors import MeshgenError


def _untracked_in_a_folder_seen_before(root: Path) -> None:
    # The folder was walked (and cached) when clean; a new file changes its mtime only.
    (root / "bootstrap" / "argocd" / "notes.txt").write_text("mine\n")


def _untracked_in_a_new_folder(root: Path) -> None:
    (root / "scratch" / "deep").mkdir(parents=True)
    (root / "scratch" / "deep" / "notes.txt").write_text("mine\n")


def _tracked_edited_same_size(root: Path) -> None:
    path = root / "mesh.yaml"
    info = path.stat()
    text = path.read_text()
    path.write_text(text.replace("mesh1", "mesh2"))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # the same size and mtime


def _tracked_removed(root: Path) -> None:
    (root / "README.md").unlink()


def _staged_only(root: Path) -> None:
    (root / "notes.txt").write_text("mine\n")
    git(root, "add", "notes.txt")
    (root / "notes.txt").unlink()  # staged, then gone from the work tree


CHANGES: dict[str, Callable[[Path], None]] = {
    "untracked in a folder seen before": _untracked_in_a_folder_seen_before,
    "untracked in a new folder": _untracked_in_a_new_folder,
    "tracked edited, same size and mtime": _tracked_edited_same_size,
    "tracked removed": _tracked_removed,
    "staged only": _staged_only,
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_cheap_check_sees_what_git_status_lists(mesh_repo: MeshRepo, change: str) -> None:
    root = mesh_repo.root
    assert not gitops.is_dirty(root)  # clean; the untracked cache is primed
    assert not gitops.is_dirty(root)
    CHANGES[change](root)
    assert gitops.dirty_paths(gitops.open_repository(root))  # what the full status lists
    assert gitops.is_dirty(root)


def test_the_refusal_names_files_in_untracked_folders(mesh_repo: MeshRepo) -> None:
    _untracked_in_a_new_folder(mesh_repo.root)
    repo = gitops.open_repository(mesh_repo.root)
    with pytest.raises(MeshgenError, match=r"uncommitted changes \(scratch/deep/notes\.txt\)"):
        gitops.require_clean(repo, allow_dirty=False)
    gitops.require_clean(repo, allow_dirty=True)


def test_a_configured_untracked_cache_false_is_kept(mesh_repo: MeshRepo) -> None:
    root = mesh_repo.root
    git(root, "config", "core.untrackedCache", "false")
    assert not gitops.is_dirty(root)
    # No untracked cache was added to the index (git would warn on every status otherwise).
    assert b"UNTR" not in (root / ".git/index").read_bytes()
    _untracked_in_a_folder_seen_before(root)
    assert gitops.is_dirty(root)


def test_a_read_only_check_writes_nothing(mesh_repo: MeshRepo) -> None:
    root = mesh_repo.root
    git(root, "status", "-s")  # the index's stat data fresh, as a dry run finds it
    index = (root / ".git/index").read_bytes()
    assert not gitops.is_dirty(root, read_only=True)
    _untracked_in_a_new_folder(root)
    assert gitops.is_dirty(root, read_only=True)
    assert (root / ".git/index").read_bytes() == index
