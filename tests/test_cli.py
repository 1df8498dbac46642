"""The CLI as a user runs it: a separate process, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

from pathlib import Path

from helpers import run_meshgen_process


def test_help_lists_every_verb(tmp_path: Path) -> None:
    result = run_meshgen_process("--help", cwd=tmp_path)
    assert result.returncode == 0
    for verb in ("init", "new-cluster", "render", "tools"):
        assert verb in result.stdout


def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    for args, needle in (
        (("init",), "Missing option '--mesh-id'"),
        (("new-cluster", "c1"), "Missing option '--network'"),
        (("render", "--bogus"), "--bogus"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("init", "--engine", "spinnaker", "--mesh-id", "m"), "Invalid value for '--engine'"),
    ):
        result = run_meshgen_process(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert result.stderr.count("\n") == 1, result.stderr
        assert needle in result.stderr and result.stderr.startswith("error: ")
        assert "Traceback" not in result.stderr


def test_bad_mesh_yaml_in_a_real_process(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text("apiVersion: meshgen.io/v1alpha1\nkind: Mesh\nmeshID: [\n")
    result = run_meshgen_process("render", "--repo", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: mesh.yaml:")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_version(tmp_path: Path) -> None:
    result = run_meshgen_process("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("meshgen, version ")
