"""The journal: a change is rolled back from any point, by the process itself or by the next
one; recovery can run again; changes made by hand since stop it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import MeshRepo, git
from meshgen.adapters import lock, transaction, tree_cache
from meshgen.errors import MeshgenError
from repo_state import capture, fsck_errors, leftovers

WRITES = {"clusters/c9/a.yaml": b"a: 1\n", "README.md": b"# changed\n", "new/deep/b.txt": b"b\n"}


@pytest.fixture
def repo(mesh_repo: MeshRepo) -> Path:
    yield mesh_repo.root
    lock.release_all()


def interrupted(root: Path, step: int) -> transaction.Transaction:
    """A transaction stopped, as by SIGKILL, after ``step`` steps of its publication."""
    lock.acquire(root)
    change = transaction.Transaction(root, "meshgen test")
    commit = transaction.Commit("a change", new_branch="meshgen/test")
    change.begin(WRITES, ["bootstrap/argocd/project.yaml"], commit)
    if step == 1:  # one file moved into place, the rest not yet
        (entry,) = [e for e in change.journal.files if e["path"] == "README.md"]  # type: ignore[union-attr]
        os.replace(change.folder / "new" / entry["slot"], root / "README.md")
    if step == 2:  # everything published and committed, the journal not yet deleted
        change.publish(commit)
    return change


@pytest.mark.parametrize("step", [0, 1, 2])
def test_recovery_rolls_back_from_any_point(repo: Path, step: int) -> None:
    before = capture(repo)
    interrupted(repo, step)
    assert (repo / ".git/meshgen-txn/journal.json").is_file()
    # The index is kept as a link to itself until git replaces it (by rename).
    kept_as_link = os.path.samefile(repo / ".git/meshgen-txn/index", repo / ".git/index")
    assert kept_as_link == (step < 2)
    if step == 2:
        assert capture(repo).head == "refs/heads/meshgen/test"
    lock.release_all()  # the process "died"
    lock.acquire(repo)
    done = transaction.recover(repo)
    assert done and done[0].startswith("rolled back the interrupted `meshgen test`")
    assert capture(repo) == before
    assert not leftovers(repo) and not fsck_errors(repo)
    assert transaction.recover(repo) == []  # nothing left to do


def test_the_old_files_are_kept_as_links_and_come_back_as_they_were(repo: Path) -> None:
    """A replaced or removed file is kept in the journal as a hard link, not a copy: after
    publishing, the journal holds the very file (its inode), and a rollback puts it back."""
    paths = ["README.md", "bootstrap/argocd/project.yaml"]
    before = {path: (repo / path).stat().st_ino for path in paths}
    texts = {path: (repo / path).read_bytes() for path in paths}
    change = interrupted(repo, 2)
    assert change.journal is not None
    for entry in change.journal.files:
        if entry["path"] in paths:
            kept = change.folder / "old" / entry["slot"]
            assert kept.stat().st_ino == before[entry["path"]]
            assert kept.read_bytes() == texts[entry["path"]]
    assert (repo / "README.md").stat().st_ino != before["README.md"]  # replaced by rename
    lock.release_all()
    lock.acquire(repo)
    transaction.recover(repo)
    for path in paths:
        assert (repo / path).stat().st_ino == before[path]
        assert (repo / path).read_bytes() == texts[path]


def test_a_recovery_that_is_itself_interrupted_is_finished_by_the_next(repo: Path) -> None:
    before = capture(repo)
    change = interrupted(repo, 2)
    journal = transaction.Journal.read(change.folder)
    assert journal is not None
    # Half a rollback by hand: HEAD back, nothing else (as a recovery killed there).
    git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    transaction.recover(repo)
    assert capture(repo) == before and not leftovers(repo)


def test_lock_files_git_left_are_removed_only_when_they_are_new(repo: Path) -> None:
    before = capture(repo)
    interrupted(repo, 2)
    index_lock, head_lock = repo / ".git/index.lock", repo / ".git/HEAD.lock"
    index_lock.write_bytes(b"")  # left by the killed `git commit`: newer than the journal
    head_lock.write_text("ref: refs/heads/other\n")
    old = time.time() - 3600  # ... this one is older than the journal: not meshgen's
    os.utime(head_lock, (old, old))
    with pytest.raises(MeshgenError, match=r"HEAD\.lock: exists and is not meshgen's"):
        transaction.recover(repo)
    assert not index_lock.exists() and head_lock.exists()  # ours removed, the other kept
    head_lock.unlink()  # what the message says to do, then recover again
    transaction.recover(repo)
    assert capture(repo) == before and not leftovers(repo)


def test_changes_made_by_hand_since_stop_the_recovery(repo: Path) -> None:
    interrupted(repo, 2)
    (repo / "README.md").write_text("edited after the crash\n")
    with pytest.raises(MeshgenError) as stopped:
        transaction.recover(repo)
    assert "README.md changed since" in str(stopped.value)
    assert "meshgen recover --forget" in str(stopped.value)
    assert (repo / "README.md").read_text() == "edited after the crash\n"
    kept = capture(repo)
    assert transaction.recover(repo, forget=True)[0].startswith("dropped the journal")
    assert capture(repo) == kept and not leftovers(repo)


def test_an_error_while_publishing_rolls_back_in_process(repo: Path) -> None:
    before = capture(repo)
    hook = repo / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(MeshgenError, match="git commit failed"):
        transaction.apply(repo, WRITES, commit=transaction.Commit("x", new_branch="meshgen/test"))
    assert capture(repo) == before and not leftovers(repo)


def _commit_in_copy(
    source: Path, copy: Path, folder: str, message: str, with_hook: bool
) -> tuple[str, str]:
    """Apply WRITES (and a removal) under ``folder`` of a copy of ``source`` with a commit;
    (the commit, the index as ``git ls-files -s``). ``with_hook``: a pre-commit hook that
    lets every commit through, so ``git commit`` makes it."""
    shutil.copytree(source, copy, symlinks=True)
    if with_hook:
        hook = copy / ".git/hooks/pre-commit"
        hook.write_text("#!/bin/sh\nexit 0\n")
        hook.chmod(0o755)
    root = copy / folder
    removed = "bootstrap/argocd/project.yaml" if not folder else "gone.txt"
    sha = transaction.apply(
        root, WRITES, [removed], commit=transaction.Commit(message, new_branch="meshgen/test")
    )
    lock.release_all()
    assert sha == git(copy, "rev-parse", "HEAD")
    assert git(copy, "status", "--porcelain") == ""
    return sha, git(copy, "ls-files", "-s")


@pytest.mark.parametrize(("folder", "filemode"), [("", "true"), ("sub", "true"), ("", "false")])
def test_the_commit_is_the_one_git_commit_makes(
    repo: Path, tmp_path: Path, folder: str, filemode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without hooks the commit is made with plumbing; with them by `git commit`: the same
    commit object (tree, parent, message, author and committer) and the same index. With
    ``core.filemode false`` the plumbing writes the tree from the whole index."""
    lock.release_all()
    git(repo, "config", "core.filemode", filemode)
    if folder:  # a mesh in a subfolder of its repository
        (repo / folder).mkdir()
        (repo / folder / "gone.txt").write_text("x\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "sub")
    for variable in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(variable, "2026-01-02T03:04:05Z")
    message = "\n\nAdd it  \n\n\n  indented line\t\nlast\n\n"
    edited: list[tuple[str, str] | None] = []  # the trees made from the change's folders
    real = transaction._edited_tree

    def spied(*args: Any) -> tuple[str, str] | None:
        edited.append(real(*args))
        return edited[-1]

    monkeypatch.setattr(transaction, "_edited_tree", spied)
    plumbing = _commit_in_copy(repo, tmp_path / "a", folder, message, with_hook=False)
    porcelain = _commit_in_copy(repo, tmp_path / "b", folder, message, with_hook=True)
    assert plumbing == porcelain
    assert [tree is not None for tree in edited] == ([True] if filemode == "true" else [])
    # Only `git commit` leaves the message in COMMIT_EDITMSG: each way was the one expected.
    made_by_git_commit = [
        "Add it" in (tmp_path / copy / ".git/COMMIT_EDITMSG").read_text() for copy in "ab"
    ]
    assert made_by_git_commit == [False, True]
    body = git(tmp_path / "a", "log", "-1", "--format=%B")
    assert body == "Add it\n\n  indented line\nlast"
    reflog = git(tmp_path / "a", "reflog", "-1", "--format=%gs", "meshgen/test")
    assert reflog == "commit: Add it"


def test_the_tree_of_a_change_is_the_one_write_tree_makes(repo: Path, tmp_path: Path) -> None:
    """The commit's tree is made from the folders of the change's paths: new folders, a
    folder its last file leaves (gone from the tree, as git writes no empty folder), files
    at the top and deep down; it is the tree ``git write-tree`` makes of the whole index."""
    (repo / "lonely").mkdir()
    (repo / "lonely/only.txt").write_text("alone\n")
    (repo / "bootstrap/argocd/extra.yaml").write_text("extra: 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    parent = git(repo, "rev-parse", "HEAD")
    # Git sorts a folder's name as if it ended with "/": a-b, a/, a0.
    writes = {**WRITES, "order/a-b": b"1\n", "order/a/c": b"2\n", "order/a0": b"3\n"}
    for path, data in writes.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    removed = ["lonely/only.txt", "bootstrap/argocd/extra.yaml"]
    for path in removed:
        (repo / path).unlink()
    (repo / "lonely").rmdir()
    paths = sorted([*writes, *removed])
    git(repo, "update-index", "--add", "--remove", *paths)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    edited = transaction._edited_tree(repo, parent, paths, scratch)
    assert edited is not None
    listed = git(repo, "ls-tree", "-r", "--name-only", edited[0]).split()  # written by meshgen
    assert "new/deep/b.txt" in listed and "lonely/only.txt" not in listed
    assert edited == (git(repo, "write-tree"), git(repo, "rev-parse", f"{parent}^{{tree}}"))
    assert "lonely" not in git(repo, "ls-tree", "--name-only", edited[0])
    # A path that is a folder in the parent and no file in the index: the index keeps the
    # folder's files, write-tree decides.
    assert transaction._edited_tree(repo, parent, ["bootstrap/argocd"], scratch) is None
    # An executable file gets another mode: write-tree decides.
    (repo / "README.md").chmod(0o755)
    git(repo, "update-index", "README.md")
    assert transaction._edited_tree(repo, parent, paths, scratch) is None


def test_changes_staged_besides_the_change_stay_staged_and_uncommitted(repo: Path) -> None:
    (repo / "README.md").write_text("# staged by hand\n")
    (repo / "notes.txt").write_text("staged by hand\n")
    git(repo, "add", "README.md", "notes.txt")
    writes = {"clusters/c9/a.yaml": b"a: 1\n"}
    transaction.apply(repo, writes, commit=transaction.Commit("x", new_branch="meshgen/test"))
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "clusters/c9/a.yaml"
    assert git(repo, "diff", "--cached", "--name-only").split() == ["README.md", "notes.txt"]


def test_a_created_file_cut_short_by_a_kill_is_rolled_back(repo: Path) -> None:
    """Created files are written in place, not staged: a kill while one is written leaves it
    empty or with the start of its bytes; the recovery knows it as meshgen's and removes it."""
    before = capture(repo)
    lock.acquire(repo)
    change = transaction.Transaction(repo, "meshgen test")
    change.begin(WRITES, [])
    created = [e["path"] for e in change.journal.files if "blob" in e]  # type: ignore[union-attr]
    assert created == ["clusters/c9/a.yaml", "new/deep/b.txt"]
    (repo / "new/deep").mkdir(parents=True)
    (repo / "new/deep/b.txt").write_bytes(b"")  # opened, nothing written yet
    (repo / "clusters/c9").mkdir(parents=True)
    (repo / "clusters/c9/a.yaml").write_bytes(b"a: ")  # part of its bytes
    lock.release_all()  # the process "died"
    lock.acquire(repo)
    assert transaction.recover(repo)[0].startswith("rolled back")
    assert capture(repo) == before and not leftovers(repo)


def test_a_file_that_appears_where_one_is_created_is_never_replaced_or_removed(
    repo: Path,
) -> None:
    before = capture(repo)
    lock.acquire(repo)
    change = transaction.Transaction(repo, "meshgen test")
    change.begin(WRITES, [])
    (repo / "new/deep").mkdir(parents=True)
    (repo / "new/deep/b.txt").write_text("someone's\n")  # after the plan, before publishing
    with pytest.raises(FileExistsError):
        change.publish()
    change.roll_back()
    assert (repo / "new/deep/b.txt").read_text() == "someone's\n"
    (repo / "new/deep/b.txt").unlink()
    (repo / "new/deep").rmdir()
    (repo / "new").rmdir()
    assert capture(repo) == before and not leftovers(repo)


def test_a_recovery_stops_at_a_created_path_that_holds_something_else(repo: Path) -> None:
    lock.acquire(repo)
    transaction.Transaction(repo, "meshgen test").begin(WRITES, [])
    (repo / "new/deep").mkdir(parents=True)
    (repo / "new/deep/b.txt").write_text("not meshgen's\n")
    lock.release_all()
    lock.acquire(repo)
    with pytest.raises(MeshgenError, match=r"new/deep/b\.txt changed since"):
        transaction.recover(repo)
    assert (repo / "new/deep/b.txt").read_text() == "not meshgen's\n"


def test_apply_reports_the_stat_key_and_digest_of_each_created_file(repo: Path) -> None:
    created: dict[str, tuple[str, str]] = {}
    transaction.apply(repo, WRITES, created=created)
    assert sorted(created) == ["clusters/c9/a.yaml", "new/deep/b.txt"]  # README.md replaced
    for path, (key, sha) in created.items():
        assert sha == transaction.digest(WRITES[path])
        assert key == tree_cache.stat_key(os.lstat(repo / path))


def test_folders_made_for_created_files_go_with_a_rollback(repo: Path) -> None:
    folders_before = sorted(p for p in repo.rglob("*") if p.is_dir() and ".git" not in p.parts)
    lock.acquire(repo)
    transaction.Transaction(repo, "meshgen test").begin(WRITES, [])
    (repo / "new/deep").mkdir(parents=True)  # stopped after the folders, before the file
    (repo / "clusters/c9").mkdir(parents=True)
    lock.release_all()
    lock.acquire(repo)
    transaction.recover(repo)
    assert not (repo / "new").exists() and not (repo / "clusters/c9").exists()
    after = sorted(p for p in repo.rglob("*") if p.is_dir() and ".git" not in p.parts)
    assert after == folders_before


def test_a_file_that_appears_at_a_path_planned_as_absent_is_refused(repo: Path) -> None:
    """``absent`` paths are not read again before the change; one that holds a file by the
    time it is written stops the change, and the file stays as it is."""
    before = capture(repo)
    (repo / "new/deep").mkdir(parents=True)
    (repo / "new/deep/b.txt").write_text("someone's\n")  # after the plan saw nothing there
    with pytest.raises(MeshgenError, match="File exists"):
        transaction.apply(repo, WRITES, absent={"new/deep/b.txt", "clusters/c9/a.yaml"})
    assert (repo / "new/deep/b.txt").read_text() == "someone's\n"
    (repo / "new/deep/b.txt").unlink()
    (repo / "new/deep").rmdir()
    (repo / "new").rmdir()
    assert capture(repo) == before and not leftovers(repo)
