"""The git adapter: the work tree is found without GitPython in the plain case, and the same
as GitPython finds it in every case."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import git
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
