"""Helpers shared by the tests (imported as ``helpers``; see pytest's pythonpath setting)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Mesh Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Mesh Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str, cwd: Path | None = None) -> CliResult:
    """Run the real CLI entry point in-process (through its error boundary)."""
    from meshgen.cli import main

    capsys.readouterr()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    code = exit_info.value.code
    return CliResult(
        exit_code=code if isinstance(code, int) else 1, stdout=captured.out, stderr=captured.err
    )


def run_meshgen_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run meshgen as a separate process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "meshgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class MeshRepo:
    root: Path
    origin: Path


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except .git, by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


MINIMAL_MESH = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: mesh1
repository:
  url: https://git.example.com/mesh.git
networks: []
clusters: []
"""


def two_network_mesh(text: str = MINIMAL_MESH):
    """The README scenario: cluster-1 on network1 (no gateway), cluster-2 on network2 (gateway)."""
    from meshgen import spec

    document = spec.parse(text)
    document, _ = spec.add_cluster(document, spec.NewCluster("cluster-1", "network1"))
    document, _ = spec.add_cluster(document, spec.NewCluster("cluster-2", "network2"))
    return document


def mesh_text(networks: str, clusters: str, header: str = MINIMAL_MESH) -> str:
    """``header`` (MINIMAL_MESH) with these ``networks:`` and ``clusters:`` list items."""
    return header.replace(
        "networks: []\nclusters: []\n", f"networks:\n{networks}clusters:\n{clusters}"
    )
