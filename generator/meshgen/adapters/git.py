"""Every git operation meshgen performs, through GitPython and the git CLI it drives."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from meshgen.adapters.process import error_summary
from meshgen.errors import MeshgenError, OperationFailed

if TYPE_CHECKING:
    from git import Repo


def _git_module():  # GitPython costs ~120 ms to import; only commands that use git pay it.
    import git

    return git


def open_repository(path: Path) -> Repo:
    """The repository containing ``path`` (searching parent folders)."""
    git = _git_module()
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise MeshgenError(
            f"{path}: not inside a Git repository; run the command inside the mesh repository "
            "or pass --repo DIR"
        ) from None


def repository_root(path: Path) -> Path:
    repo = open_repository(path)
    if repo.working_tree_dir is None:
        raise MeshgenError(f"{path}: is a bare repository; use a clone with a work tree")
    return Path(repo.working_tree_dir)


def require_repository_root(repo: Repo, folder: Path) -> None:
    """Generated paths (Argo CD sources, $values files) are relative to the repository root."""
    top = Path(repo.working_tree_dir or "").resolve()
    if top != folder.resolve():
        raise MeshgenError(
            f"{folder}: mesh.yaml must sit at the root of its Git repository ({top}), because "
            "Argo CD paths are relative to that root; move the mesh to its own repository"
        )


def init(path: Path, branch: str) -> Repo:
    git = _git_module()
    return git.Repo.init(path, initial_branch=branch)


def origin_url(repo: Repo) -> str | None:
    try:
        return repo.remote("origin").url
    except ValueError:
        return None


def dirty_paths(repo: Repo) -> list[str]:
    """Tracked files with changes (staged or not) and untracked, not ignored files."""
    output = repo.git.status("--porcelain", "--untracked-files=all")
    return [line[3:] for line in output.splitlines() if line.strip()]


def require_clean(repo: Repo, allow_dirty: bool) -> None:
    if allow_dirty:
        return
    dirty = dirty_paths(repo)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise MeshgenError(
            f"{repo.working_tree_dir}: the working tree has uncommitted changes ({shown}); "
            "commit or stash them first, or pass --allow-dirty"
        )


def require_identity(where: Repo | Path) -> None:
    """Fail early (before writing anything) when git has no user name and email to commit with.

    ``where`` is a repository, or a folder (not necessarily a repository yet) whose global
    and system configuration count.
    """
    git = _git_module()
    runner = git.Git(str(where)) if isinstance(where, Path) else where.git
    try:
        runner.var("GIT_COMMITTER_IDENT")
        runner.var("GIT_AUTHOR_IDENT")
    except git.GitCommandError:
        raise MeshgenError(
            "git has no identity to commit with; run `git config --global user.name NAME` and "
            "`git config --global user.email EMAIL`, or pass --no-commit"
        ) from None


def has_commits(repo: Repo) -> bool:
    try:
        repo.head.commit  # noqa: B018 - raises on an unborn branch
    except ValueError:
        return False
    return True


def current_branch(repo: Repo) -> str | None:
    try:
        return repo.active_branch.name
    except TypeError:  # detached HEAD
        return None


def branch_exists(repo: Repo, name: str) -> bool:
    return name in repo.heads


def validate_branch_name(repo: Repo, name: str) -> None:
    git = _git_module()
    try:
        repo.git.check_ref_format("--branch", name)
    except git.GitCommandError:
        raise MeshgenError(
            f"--branch {name!r}: not a valid Git branch name; choose another"
        ) from None


def create_branch(repo: Repo, name: str) -> None:
    """Create ``name`` at HEAD and switch to it."""
    if branch_exists(repo, name):
        raise MeshgenError(
            f"branch {name!r} already exists; delete it (git branch -D {name}) or pass --branch"
        )
    repo.git.switch("-c", name)


def switch_back(repo: Repo, branch: str, delete: str | None = None) -> None:
    repo.git.switch(branch)
    if delete:
        repo.git.branch("-D", delete)


def _run_git(repo: Repo, args: list[str], paths: list[str]) -> None:
    git = _git_module()
    executable = git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"
    stdin = "".join(f"{p}\0" for p in paths)
    result = subprocess.run(
        [
            executable,
            "-C",
            str(repo.working_tree_dir),
            *args,
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        ],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise MeshgenError(
            f"git {args[0]} failed: {error_summary(result.stderr or result.stdout)}; "
            "fix the cause and run the command again"
        )


def commit_paths(repo: Repo, paths: list[str], message: str) -> str:
    """Commit exactly ``paths`` (added, changed or deleted), nothing else that may be staged.

    When the commit fails (a hook refuses it, say), the paths are unstaged again, so the index
    is back to HEAD for them.
    """
    _run_git(repo, ["add", "-A"], paths)
    try:
        _run_git(repo, ["commit", "-q", "-m", message], paths)
    except MeshgenError:
        if has_commits(repo):
            _run_git(repo, ["reset", "-q"], paths)
        else:
            _run_git(repo, ["rm", "-q", "-r", "--cached", "--ignore-unmatch"], paths)
        raise
    return repo.head.commit.hexsha


def push(repo: Repo, branch: str) -> None:
    git = _git_module()
    try:
        remote = repo.remote("origin")
    except ValueError:
        raise MeshgenError(
            f"--push: the repository has no remote 'origin'; add one or push {branch} yourself"
        ) from None
    try:
        remote.push(
            refspec=f"refs/heads/{branch}:refs/heads/{branch}", set_upstream=True
        ).raise_if_error()
    except git.GitCommandError as exc:
        raise OperationFailed(
            f"push of {branch} to origin failed ({error_summary(str(exc.stderr or exc))}); "
            f"the commit is on the local branch, push it with: git push -u origin {branch}"
        ) from None


def _plain_git(root: Path, *args: str) -> bytes | None:
    """Output of a read-only git command in ``root``; None when ``root`` is not a work tree."""
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except OSError:
        return None
    return result.stdout if result.returncode == 0 else None


def work_tree_files(root: Path) -> list[str] | None:
    """Tracked plus untracked, not ignored files under ``root`` (None: not a Git work tree)."""
    out = _plain_git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if out is None:
        return None
    return sorted({p for p in out.decode("utf-8", "replace").split("\0") if p})


def staged_blobs(root: Path) -> dict[str, bytes]:
    """The staged content of every file added or changed in the index (the next commit)."""
    out = _plain_git(root, "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR")
    blobs = {}
    for path in (out or b"").decode("utf-8", "replace").split("\0"):
        if path:
            blob = _plain_git(root, "show", f":{path}")
            if blob is not None:
                blobs[path] = blob
    return blobs


def resolve(repo: Repo, ref: str) -> str | None:
    """The commit ``ref`` names, or ``None`` when it names none."""
    git = _git_module()
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
    except git.GitCommandError:
        return None


def merge_base(repo: Repo, first: str, second: str) -> str | None:
    git = _git_module()
    try:
        return repo.git.merge_base(first, second) or None
    except git.GitCommandError:
        return None


def show_file(repo: Repo, commit: str, path: str) -> str | None:
    """The text of ``path`` at ``commit`` (``git show``), ``None`` when it is not there."""
    git = _git_module()
    try:
        return repo.git.show(f"{commit}:{path}", strip_newline_in_stdout=False)
    except git.GitCommandError:
        return None


def read_files(repo: Repo, commit: str, paths: Iterable[str]) -> dict[str, str]:
    """The text of each of ``paths`` at ``commit`` (those it has), read by one
    ``git cat-file --batch`` rather than a process per file."""
    wanted = sorted(set(paths))
    if not wanted:
        return {}
    request = "".join(f"{commit}:{path}\n" for path in wanted).encode("utf-8")
    result = subprocess.run(
        ["git", "-C", str(repo.working_tree_dir), "cat-file", "--batch"],
        input=request,
        capture_output=True,
        check=False,
    )
    out, position, found = result.stdout, 0, {}
    for path in wanted:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        position = end + 1
        if len(header) != 3:  # "<name> missing" (or ambiguous): no content follows
            continue
        size = int(header[2])
        if header[1] == b"blob":
            found[path] = out[position : position + size].decode("utf-8", "replace")
        position += size + 1
    return found


def files_under(
    repo: Repo, commit: str, folder: str, suffixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """The text of every file under ``folder`` at ``commit`` (ending in one of ``suffixes``,
    when given), by path; empty when the folder is not there. Symbolic links are left out:
    their target is not the file's content."""
    git = _git_module()
    try:
        listing = repo.git.ls_tree("-r", "-z", commit, "--", f"{folder}/")
    except git.GitCommandError:
        return {}
    paths = []
    for entry in listing.split("\0"):
        meta, _, path = entry.partition("\t")
        if path and path.endswith(suffixes or ("",)) and meta.startswith("100"):
            paths.append(path)
    return read_files(repo, commit, paths)
