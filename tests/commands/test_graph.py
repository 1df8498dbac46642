"""`meshgen graph` as a user runs it."""

from __future__ import annotations

import shutil

import pytest

from helpers import MeshRepo, run_cli


@pytest.fixture
def meshed(mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]) -> MeshRepo:
    # c1's gateway, turned on when c2 brought n2, is turned off again: n1 is one-way.
    for args in (
        ("new-cluster", "c1", "--network", "n1"),
        ("new-cluster", "c2", "--network", "n2"),
        ("set-cluster", "c1", "--no-east-west-gateway"),
    ):
        result = run_cli(
            capsys, *args, "--no-commit", "--allow-dirty", "--repo", str(mesh_repo.root)
        )
        assert result.exit_code == 0, result.stderr
    return mesh_repo


def test_mermaid_to_stdout_and_dot_to_a_file(
    meshed: MeshRepo, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    result = run_cli(capsys, "graph", "--repo", str(meshed.root))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("flowchart LR\n")
    assert "c_c1" in result.stdout and "gw_c2" in result.stdout
    # c1 runs no gateway: its network carries the warning mark.
    assert "⚠ network n1" in result.stdout
    target = tmp_path / "mesh.dot"
    result = run_cli(
        capsys, "graph", "--repo", str(meshed.root), "--format", "dot", "--output", str(target)
    )
    assert result.exit_code == 0, result.stderr
    assert target.read_text().startswith('digraph "mesh1" {\n')


def test_svg_without_graphviz_is_one_clear_line(
    meshed: MeshRepo, capsys: pytest.CaptureFixture[str], tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    result = run_cli(capsys, "graph", "--repo", str(meshed.root), "--format", "svg")
    assert result.exit_code == 2
    assert "needs Graphviz's `dot`, which is not on PATH" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_svg_with_graphviz(meshed: MeshRepo, capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    target = tmp_path / "mesh.svg"
    result = run_cli(
        capsys, "graph", "--repo", str(meshed.root), "--format", "svg", "--output", str(target)
    )
    assert result.exit_code == 0, result.stderr
    svg = target.read_text()
    assert "<svg" in svg and "<title>c_c1</title>" in svg and "gateway of c2" in svg
