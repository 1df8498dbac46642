"""Fixtures for the secret-material commands: a two-cluster mesh, material in temp dirs."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import AgeKey, MeshRepo, age_key, git, run_cli
from trust_material import API_SERVER_2, CLUSTER_COMMENT


@pytest.fixture
def make_trust_mesh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[[str], MeshRepo]:
    """A committed mesh with cluster-1 (no apiServer) and cluster-2 (apiServer, a comment)."""

    def make(provider: str = "external-secrets") -> MeshRepo:
        origin = tmp_path / "origin.git"
        subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
        root = tmp_path / "mesh"
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        git(root, "remote", "add", "origin", str(origin))
        result = run_cli(capsys, "init", str(root), "--mesh-id", "mesh1", "--secrets", provider)
        assert result.exit_code == 0, result.stderr
        for name, network, extra in (
            ("cluster-1", "network1", []),
            ("cluster-2", "network2", ["--api-server", API_SERVER_2]),
        ):
            args = ["new-cluster", name, "--network", network, *extra, "--repo", str(root)]
            result = run_cli(capsys, *args, "--no-commit", "--allow-dirty")
            assert result.exit_code == 0, result.stderr
        mesh = (root / "mesh.yaml").read_text()
        mesh = mesh.replace("  - name: cluster-2\n", "  - name: cluster-2\n" + CLUSTER_COMMENT)
        (root / "mesh.yaml").write_text(mesh)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "two clusters")
        return MeshRepo(root=root, origin=origin)

    return make


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """Where a person keeps secret material: outside any Git work tree."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    return folder


@pytest.fixture
def key(tmp_path: Path) -> AgeKey:
    """An age identity; its public key is the sops mesh's recipient."""
    return age_key(tmp_path / "keys")


@pytest.fixture
def sops_repo(tmp_path: Path, key: AgeKey, capsys: pytest.CaptureFixture[str]) -> Path:
    """A Flux mesh with provider sops and clusters c1 (network n1) and c2 (network n2)."""
    root, url = tmp_path / "mesh", "https://git.example.com/m.git"
    result = run_cli(
        capsys, "init", str(root), "--mesh-id", "m", "--repo-url", url, "--engine", "flux",
        "--secrets", "sops", "--age-recipient", key.recipient,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    for name, network in (("c1", "n1"), ("c2", "n2")):
        result = run_cli(capsys, "new-cluster", name, "--network", network, "--repo", str(root))
        assert result.exit_code == 0, result.stderr
        git(root, "switch", "-q", "main")
        git(root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")
    return root
