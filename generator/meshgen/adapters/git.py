"""Every git operation meshgen performs, through GitPython and the git CLI it drives."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from meshgen.adapters import lock
from meshgen.adapters.process import error_summary
from meshgen.errors import MeshgenError, OperationFailed, excerpt

if TYPE_CHECKING:
    from git import Repo


GIT_MISSING = "git was not found on PATH; install git (or put it on PATH) and run again"


def require_git() -> None:
    """Fail with one clear line when there is no git to run."""
    configured = os.environ.get("GIT_PYTHON_GIT_EXECUTABLE")
    if not (shutil.which(configured) if configured else shutil.which("git")):
        raise MeshgenError(GIT_MISSING)


def _git_module():  # GitPython costs ~120 ms to import; only commands that use git pay it.
    require_git()
    try:
        import git
    except ImportError:  # GitPython checks for the git executable when it is imported
        raise MeshgenError(GIT_MISSING) from None
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


def _is_git_dir(folder: str) -> bool:
    return (
        os.path.isdir(os.path.join(folder, "objects"))
        and os.path.isdir(os.path.join(folder, "refs"))
        and os.path.isfile(os.path.join(folder, "HEAD"))
    )


_UNUSUAL_CONFIG = re.compile(r"^\s*(?:worktree\s*=|bare\s*=\s*true)", re.IGNORECASE | re.MULTILINE)


def _plain_repository_root(path: Path) -> Path | None:
    """The work tree holding ``path`` in the plain case, found without GitPython (which costs
    a tenth of a second to import, on every command): the nearest folder with a ``.git``
    folder, neither bare nor with ``core.worktree``, no ``GIT_*`` location in the
    environment. None for anything else (a ``.git`` file of a linked worktree or submodule,
    a Git folder itself, no repository): GitPython decides, as before."""
    if any(name in os.environ for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY")):
        return None
    folder = os.path.normpath(os.path.abspath(path))
    while True:
        dot_git = os.path.join(folder, ".git")
        if os.path.isdir(dot_git) and _is_git_dir(dot_git):
            try:
                with open(os.path.join(dot_git, "config"), encoding="utf-8") as handle:
                    if _UNUSUAL_CONFIG.search(handle.read()):
                        return None
            except (OSError, UnicodeDecodeError):
                return None
            return Path(folder)
        if os.path.lexists(dot_git) or _is_git_dir(folder):
            return None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def repository_root(path: Path) -> Path:
    require_git()  # as GitPython would: meshgen works on Git repositories
    plain = _plain_repository_root(path)
    if plain is not None:
        return plain
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


class DirtyCheck:
    """:func:`dirty_paths` asked the cheap way, in the background: ``git status`` starts at
    once and runs beside meshgen's own work (reading mesh.yaml, planning), which needs no
    answer from it until :meth:`dirty`. On a repository of 11,000 files it takes as long as
    that work. Untracked folders are not listed file by file, and git's untracked cache (an
    index extension that remembers which folders held no untracked file as of their mtime)
    spares the walk of the folders that did not change: ``git status`` adds it to the index
    as ``core.untrackedCache=true`` would; a configured ``false`` still wins. It runs on one
    thread (``core.preloadIndex=false``): git's preload would start twenty threads to
    ``lstat`` 11,000 files, which on two cores takes more time and CPU than one thread, and
    takes it from meshgen's own work. ``read_only`` (``--dry-run``): git writes nothing, not
    even its index (``GIT_OPTIONAL_LOCKS=0``).

    Use it as a context manager, so git never outlives an error: leaving waits for it."""

    def __init__(self, root: Path, read_only: bool = False) -> None:
        cache, env = ["-c", "core.preloadIndex=false"], None
        if read_only:
            env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
        else:
            configured = subprocess.run(
                ["git", "-C", str(root), "config", "--type=bool", "--get", "core.untrackedCache"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if configured != "false":
                cache += ["-c", "core.untrackedCache=true"]
        try:
            self._process = subprocess.Popen(
                ["git", "-C", str(root), *cache, "status", "--porcelain", "-z", "-unormal"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                pass_fds=lock.inherited_fds(),
            )
        except FileNotFoundError:
            raise MeshgenError(GIT_MISSING) from None
        self._answer: bool | None = None

    def dirty(self) -> bool:
        """Whether git found anything (or failed: then :func:`dirty_paths` says what)."""
        if self._answer is None:
            out, _ = self._process.communicate()
            self._answer = self._process.returncode != 0 or bool(out)
        return self._answer

    def __enter__(self) -> DirtyCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._answer is None:
            self._process.communicate()


@contextlib.contextmanager
def status_caches_built(root: Path) -> Iterator[None]:
    """``git status`` of ``root`` run beside the caller's work, for what git keeps from it:
    the index's stat data refreshed (racily clean files hashed again) and its untracked cache
    built, as :class:`DirtyCheck` runs it (``core.untrackedCache`` as configured, else on).
    The first ``git status`` of a fresh clone pays for both (0.17 s at 1,000 clusters, 0.03 s
    after). Its answer is not used; without git nothing runs."""
    try:
        check = DirtyCheck(root)
    except (OSError, MeshgenError):
        yield
        return
    with check:
        yield


# A file of a commit at least this large gets its object written in the background.
LARGE_BLOB_CHARACTERS = 64 * 1024


class BlobWriter:
    """The Git objects of a commit's large files (the file record and the README of a large
    mesh: 1.26 MB and 240 KB at 1,000 clusters), written by ``git hash-object -w`` in the
    background, beside meshgen's own writing of the files: ``git update-index`` then finds
    each object and neither compresses nor writes it again, which is most of its work.
    Each text is hashed as the file at its path (``--path``: the same attributes and
    filters); an object update-index does not use after all is left, unreferenced, to
    git's gc. :meth:`wait` before staging, so git compresses each file once.

    Use it as a context manager, so git never outlives an error: leaving waits for it."""

    def __init__(self, root: Path, texts: Mapping[str, str]) -> None:
        self._processes: list[tuple[subprocess.Popen[bytes], str]] = []
        for path, text in texts.items():
            if len(text) < LARGE_BLOB_CHARACTERS:
                continue
            try:
                process = subprocess.Popen(
                    ["git", "-C", str(root), "hash-object", "-w", "--stdin", f"--path={path}"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    pass_fds=lock.inherited_fds(),
                )
            except OSError:
                break  # git decides when it stages the files
            self._processes.append((process, text))
        # Fed from a thread: a pipe takes the bytes only as fast as git, once started, reads.
        self._feeding = threading.Thread(target=self._feed, daemon=True)
        if self._processes:
            self._feeding.start()

    def _feed(self) -> None:
        for process, text in self._processes:
            assert process.stdin is not None
            # A git that stopped early (broken pipe) writes nothing: update-index does.
            with contextlib.suppress(OSError), process.stdin:
                process.stdin.write(text.encode("utf-8"))

    def wait(self) -> None:
        if self._processes:
            self._feeding.join()
        for process, _ in self._processes:
            process.wait()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait()


def is_dirty(root: Path, read_only: bool = False) -> bool:
    """Whether :func:`dirty_paths` finds anything (see :class:`DirtyCheck`)."""
    with DirtyCheck(root, read_only) as check:
        return check.dirty()


def require_clean(
    repo: Repo, allow_dirty: bool, read_only: bool = False, started: DirtyCheck | None = None
) -> None:
    """Refuse uncommitted changes (unless ``allow_dirty``), naming a few; ``started``: the
    check already running."""
    if allow_dirty:
        return
    root = Path(repo.working_tree_dir or ".")
    if not (started.dirty() if started is not None else is_dirty(root, read_only)):
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


def current_branch(repo: Repo) -> str | None:
    try:
        return repo.active_branch.name
    except TypeError:  # detached HEAD
        return None


def branch_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a branch meshgen creates (None: it can).

    ``git check-ref-format --branch`` would expand ``@{-1}`` to the previous branch; the full
    ref name is checked instead, so such shorthands are refused like any invalid name.
    """
    if not name or name.startswith("-") or name == "HEAD" or "@{" in name:
        return "not a valid Git branch name"
    try:
        result = subprocess.run(
            ["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True, check=False
        )
    except FileNotFoundError:
        raise MeshgenError(GIT_MISSING) from None
    return None if result.returncode == 0 else "not a valid Git branch name"


def validate_branch_name(repo: Repo, name: str, option: str = "--branch") -> None:
    problem = branch_name_problem(name)
    if problem is not None:
        raise MeshgenError(f"{option} {excerpt(name)}: {problem}; choose another")


# Files of git's that say an operation is under way (and that a commit would be its part).
OPERATIONS_IN_PROGRESS = {
    "MERGE_HEAD": ("a merge", "git merge --continue or git merge --abort"),
    "CHERRY_PICK_HEAD": ("a cherry-pick", "git cherry-pick --continue or --abort"),
    "REVERT_HEAD": ("a revert", "git revert --continue or --abort"),
    "rebase-merge": ("a rebase", "git rebase --continue or --abort"),
    "rebase-apply": ("a rebase or git am", "git rebase --continue or --abort"),
    "sequencer": ("a cherry-pick or revert", "git cherry-pick --continue or --abort"),
}
LOCK_FILES = ("index.lock", "HEAD.lock")


def require_ready(root: Path, branch: str | None) -> None:
    """Check, before anything is written, what would stop a commit half-way: an operation in
    progress, git's lock files, a detached HEAD, an existing ``branch``."""
    git_dir = lock.state_dir(root)
    for name, (what, how) in OPERATIONS_IN_PROGRESS.items():
        if (git_dir / name).exists():
            raise MeshgenError(
                f"{root}: {what} is in progress; finish it ({how}) before meshgen commits"
            )
    for name in LOCK_FILES:
        if (git_dir / name).exists():
            raise MeshgenError(
                f"{git_dir / name}: exists, so git is running here or crashed; when no git "
                f"runs, remove it (rm {git_dir / name}) and run the command again"
            )
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MeshgenError(f"{git_dir / 'HEAD'}: cannot be read ({exc.strerror})") from None
    if branch is not None:
        if not head.startswith("ref:"):
            raise MeshgenError("HEAD is detached; switch to a branch first (git switch main)")
        exists = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            check=False,
        )
        if exists.returncode == 0:
            current = head.removeprefix("ref:").strip() == f"refs/heads/{branch}"
            how = (
                "switch to another branch and delete it (git branch -D " + branch + ")"
                if current
                else f"delete it (git branch -D {branch})"
            )
            raise MeshgenError(f"branch {branch!r} already exists; {how}, or pass --branch")


def require_origin(repo: Repo, option: str = "--push") -> None:
    if origin_url(repo) is None:
        raise MeshgenError(
            f"{option}: the repository has no remote 'origin'; add one "
            "(git remote add origin URL) or drop --push"
        )


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


def committed_text(root: Path, path: str, commit: str = "HEAD") -> str | None:
    """The text of ``path`` at ``commit`` (``git show``, without GitPython); None when it is
    not there, or ``root`` is no repository."""
    out = _plain_git(root, "show", f"{commit}:{path}")
    return None if out is None else out.decode("utf-8", "replace")


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
