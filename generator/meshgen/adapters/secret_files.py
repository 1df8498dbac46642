"""Writing secret material: never inside a Git work tree, keys readable by the owner only.

Every file is written to a temporary name in its target folder and renamed into place, so a
reader never sees half a key and a failure leaves nothing behind; the temporary files of a
meshgen that was killed are removed by the next write into that folder. Existing files are never
overwritten unless asked, so a second ``ca init`` cannot silently replace a root CA.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from meshgen.adapters import process
from meshgen.errors import MeshgenError

SECRET_MODE = 0o600
MAX_BYTES = 16 * 1024 * 1024
STDIN = "-"
PUBLIC_MODE = 0o644
FOLDER_MODE = 0o700


def git_work_tree_of(path: Path) -> Path | None:
    """The Git work tree that contains ``path`` (which need not exist yet), or None."""
    current = path.expanduser().absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    current = current.resolve()
    for folder in (current, *current.parents):
        if (folder / ".git").exists():
            return folder
    return None


def require_outside_git(path: Path, option: str) -> None:
    """Refuse ``path`` when it lies in a Git work tree (secrets must never reach a commit)."""
    tree = git_work_tree_of(path)
    if tree is not None:
        raise MeshgenError(
            f"{option} {path}: is inside the Git work tree {tree}; secret material never goes "
            "into Git: choose a folder outside it (e.g. under ~/.meshgen or a vault mount)"
        )


TEMPORARY_MARK = ".meshgen-tmp-"


def _remove_abandoned(folder: Path) -> None:
    """Temporary files of meshgen processes that were killed while writing here: they may
    hold key material, and nobody will rename them into place any more."""
    for stale in folder.glob(f".*{TEMPORARY_MARK}*"):
        pid = stale.name.rpartition(TEMPORARY_MARK)[2]
        if pid.isdigit() and not process.alive(int(pid)):
            stale.unlink(missing_ok=True)


def _write_one(target: Path, data: bytes, mode: int) -> Path:
    temporary = target.with_name(f".{target.name}{TEMPORARY_MARK}{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # the umask may have taken bits away
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def write_files(
    folder: Path,
    files: dict[str, bytes],
    secret: frozenset[str] | set[str] | tuple[str, ...],
    option: str,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``files`` into ``folder`` all or nothing; names in ``secret`` get mode 0600."""
    check_writable(folder, list(files), option, overwrite)
    staged: list[tuple[Path, Path]] = []
    try:
        folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        _remove_abandoned(folder)
        for name in sorted(files):
            mode = SECRET_MODE if name in secret else PUBLIC_MODE
            staged.append((_write_one(folder / name, files[name], mode), folder / name))
        for temporary, target in staged:
            os.replace(temporary, target)
    except OSError as exc:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise MeshgenError(
            f"{option} {exc.filename or folder}: cannot be written ({exc.strerror}); "
            "check the folder's permissions and free space"
        ) from None
    return [folder / name for name in sorted(files)]


def check_writable(folder: Path, names: list[str], option: str, overwrite: bool = False) -> None:
    """What :func:`write_files` checks before writing (also for ``--dry-run``): ``folder`` is
    outside Git and, unless ``overwrite``, holds none of ``names`` yet."""
    require_outside_git(folder, option)
    if not overwrite:
        existing = sorted(name for name in names if (folder / name).exists())
        if existing:
            raise MeshgenError(
                f"{option} {folder}: already holds {', '.join(existing)}; nothing was written. "
                "Choose an empty folder, or move the old files away first"
            )


def write_secret(path: Path, text: str, option: str, overwrite: bool = True) -> Path:
    """One file of secret material (mode 0600), e.g. a remote secret for a secret store."""
    if path.is_dir():
        raise MeshgenError(f"{option} {path}: is a folder; pass a file name")
    return write_files(path.parent, {path.name: text.encode()}, {path.name}, option, overwrite)[0]


def read_bytes(path: Path, option: str) -> bytes:
    """The file's bytes (``-``: stdin), at most MAX_BYTES: a named pipe or ``/dev/zero`` is
    read only that far, never forever."""
    try:
        if str(path) == STDIN:
            data = sys.stdin.buffer.read(MAX_BYTES + 1)
        else:
            with path.open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise MeshgenError(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise MeshgenError(f"{option} {path}: is a folder; pass a file") from None
    except OSError as exc:
        raise MeshgenError(f"{option} {path}: cannot be read ({exc.strerror})") from None
    if len(data) > MAX_BYTES:
        raise MeshgenError(
            f"{option} {'stdin' if str(path) == STDIN else path}: larger than {MAX_BYTES} bytes; "
            "secret material (keys, certificates, kubeconfigs, remote secrets) is far smaller"
        )
    return data
