"""Shared fixtures: real git repositories (with a bare origin), real helm and kubectl.

Every test runs with its own git configuration (identity from the environment, no system or
user config), so results do not depend on the machine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import GIT_ENV, MeshRepo, git, run_cli
from meshgen.adapters import toolchain


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path_factory.mktemp("gitconfig") / "config"
    config.write_text("[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def validate_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One validate cache for the session: tests replay each other's results (so the cache
    keys are exercised everywhere), and nothing is written to the user's cache."""
    return tmp_path_factory.mktemp("validate-cache")


@pytest.fixture(autouse=True)
def isolated_validate_cache(validate_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHGEN_CACHE_DIR", str(validate_cache_dir))


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    """The pinned helm and kubectl, installed once per session (downloads on first use)."""
    toolchain.install()
    return {"helm": toolchain.find("helm"), "kubectl": toolchain.find("kubectl")}


@pytest.fixture
def mesh_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> MeshRepo:
    """A fresh mesh repository made by `meshgen init`, pushed to a bare origin."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    root = tmp_path / "mesh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", str(origin))
    result = run_cli(capsys, "init", str(root), "--mesh-id", "mesh1")
    assert result.exit_code == 0, result.stderr
    git(root, "push", "-q", "-u", "origin", "main")
    return MeshRepo(root=root, origin=origin)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the exhaustive variants marked slow (e.g. every topology x Istio "
        "version x engine)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="exhaustive variant: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
