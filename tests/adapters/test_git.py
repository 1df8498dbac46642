"""The git adapter: the work tree is found without GitPython in the plain case, and the same
as GitPython finds it in every case. The dirty-tree check: cheap (untracked folders not
listed, git's untracked cache), and it still sees every kind of change ``git status`` lists."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import MeshRepo, git
from meshgen.adapters import git as gitops
from meshgen.errors import MeshgenError


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A repository with a subfolder, a link to it, a linked worktree and a bare one."""
    git(tmp_path, "init", "-q", "-b", "main", "repo")
    repo = tmp_path / "repo"
    (repo / "deep/er").mkdir(parents=True)
    (repo / "file.txt").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    git(repo, "worktree", "add", "-q", str(tmp_path / "linked"), "-b", "other")
    (tmp_path / "link").symlink_to(repo)
    git(tmp_path, "init", "-q", "--bare", "bare.git")
    git(tmp_path, "init", "-q", "-b", "main", "moved")
    git(tmp_path / "moved", "config", "core.worktree", str(repo))
    return tmp_path


@pytest.mark.parametrize(
    ("start", "plain"),
    [
        ("repo", "repo"),
        ("repo/deep/er", "repo"),
        ("link/deep", "link"),  # as given, links not resolved: as GitPython does
        ("repo/.git/refs", None),  # inside the Git folder: GitPython decides
        ("linked", None),  # a .git file
        ("moved", None),  # core.worktree
    ],
)
def test_the_plain_case_is_found_without_gitpython_as_gitpython_finds_it(
    layout: Path, start: str, plain: str | None
) -> None:
    found = gitops._plain_repository_root(layout / start)
    assert found == (layout / plain if plain else None)
    assert gitops.repository_root(layout / start) == Path(
        gitops.open_repository(layout / start).working_tree_dir or ""
    )


def test_git_locations_in_the_environment_are_left_to_gitpython(
    layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_WORK_TREE", str(layout / "repo"))
    assert gitops._plain_repository_root(layout / "repo") is None


def test_a_bare_repository_and_no_repository_are_refused(layout: Path) -> None:
    with pytest.raises(MeshgenError, match="bare repository"):
        gitops.repository_root(layout / "bare.git")
    outside = layout / "outside"
    outside.mkdir()
    if any((folder / ".git").exists() for folder in outside.parents):
        pytest.skip("the temporary folder is inside a Git repository")
    with pytest.raises(MeshgenError, match="not inside a Git repository"):
        gitops.repository_root(outside)


def test_committed_text_reads_head_and_says_none_when_absent(layout: Path) -> None:
    repo = layout / "repo"
    (repo / "file.txt").write_text("changed, not committed\n")
    assert gitops.committed_text(repo, "file.txt") == "x\n"
    assert gitops.committed_text(repo, "missing.txt") is None
    assert gitops.committed_text(layout / "bare.git" / "nothing", "file.txt") is None


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


def test_a_check_left_by_an_error_does_not_leave_git_running(mesh_repo: MeshRepo) -> None:
    root = mesh_repo.root
    with pytest.raises(MeshgenError), gitops.DirtyCheck(root) as check:
        raise MeshgenError("mesh.yaml: refused while git status ran")
    assert check._process.returncode is not None  # waited for, so its index.lock is gone
    assert not (root / ".git/index.lock").exists()
    _untracked_in_a_new_folder(root)
    with gitops.DirtyCheck(root) as check:
        assert check.dirty() and check.dirty()  # asked twice, answered once


def test_large_files_get_their_objects_written_in_the_background(layout: Path) -> None:
    """The objects of a commit's large files are written ahead of staging, each as git
    hashes the file at its path (its attributes' filters applied); small ones are not."""
    repo = layout / "repo"
    (repo / ".gitattributes").write_text("*.up filter=upper\n")
    git(repo, "config", "filter.upper.clean", "tr a-f A-F")
    large = "".join(f"{n:064x}  clusters/c{n}/values.yaml\n" for n in range(2000))
    small = "a: 1\n"
    texts = {"big.txt": large, "big.up": large, "small.txt": small}
    with gitops.BlobWriter(repo, texts) as writer:
        writer.wait()
    for path, text in texts.items():
        (repo / path).write_text(text)
        oid = git(repo, "hash-object", path)  # what update-index stores for the file
        written = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", oid], check=False)
        assert (written.returncode == 0) == (path != "small.txt"), path
    assert git(repo, "hash-object", "big.txt") != git(repo, "hash-object", "big.up")
