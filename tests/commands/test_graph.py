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
        capsys, "graph", "--repo", str(meshed.root), "-o", "dot", "--output-file", str(target)
    )
    assert result.exit_code == 0, result.stderr
    assert target.read_text().startswith('digraph "mesh1" {\n')
    assert result.stderr == ""


def test_the_older_spellings_still_work(
    meshed: MeshRepo, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    """--format is -o's older name; --output FILE (now --output-file) works with a note."""
    target = tmp_path / "old.dot"
    args = ("graph", "--repo", str(meshed.root))
    result = run_cli(capsys, *args, "--format", "dot", "--output", str(target))
    assert result.exit_code == 0, result.stderr
    assert target.read_text().startswith('digraph "mesh1" {\n')
    assert result.stderr == (
        f"warning: --output {target}: --output FILE is deprecated; use --output-file {target} "
        "(--output now takes a format: mermaid, dot, svg, json, yaml)\n"
    )
    assert run_cli(capsys, *args, "--format", "dot").stdout == target.read_text()
    clash = run_cli(capsys, *args, "--format", "dot", "-o", "mermaid")
    assert clash.exit_code == 2
    assert "--format dot and --output mermaid disagree; pass one of them" in clash.stderr


def test_the_graph_as_data(meshed: MeshRepo, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import yaml

    as_json = json.loads(run_cli(capsys, "graph", "--repo", str(meshed.root), "-o", "json").stdout)
    assert as_json["meshID"] == "mesh1"
    groups = {g["id"]: g for g in as_json["groups"]}
    assert groups["net_n1"]["unreachable"] is True
    assert {n["id"] for n in groups["net_n2"]["nodes"]} == {"c_c2", "gw_c2"}
    assert {"source": "net_n1", "target": "gw_c2", "label": "15443 mTLS",
            "kind": "cross-network"} in as_json["edges"]  # fmt: skip
    as_yaml = yaml.safe_load(
        run_cli(capsys, "graph", "--repo", str(meshed.root), "-o", "yaml").stdout
    )
    assert as_yaml == as_json


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
        capsys, "graph", "--repo", str(meshed.root), "-o", "svg", "--output-file", str(target)
    )
    assert result.exit_code == 0, result.stderr
    svg = target.read_text()
    assert "<svg" in svg and "<title>c_c1</title>" in svg and "gateway of c2" in svg
