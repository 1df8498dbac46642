"""The CLI as a user runs it: a separate process, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from helpers import run_cli, run_meshgen_process
from meshgen.adapters import toolchain


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


def test_version_names_meshgen_istio_and_the_pinned_tools(tmp_path: Path) -> None:
    from meshgen import __version__, spec

    result = run_meshgen_process("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["meshgen", __version__]
    assert lines[1].split()[:2] == ["istio", spec.DEFAULT_ISTIO_VERSION]
    assert lines[2].split()[:2] == ["helm", "v4.1.4"]
    assert lines[3].split()[:2] == ["kubectl", "v1.33.9"] and "kustomize v5.6.0" in lines[3]
    assert run_meshgen_process("version", cwd=tmp_path).stdout == result.stdout
    for fmt, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        shown = run_meshgen_process("version", "-o", fmt, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert load(shown.stdout) == {
            "meshgenVersion": __version__,
            "defaultIstioVersion": spec.DEFAULT_ISTIO_VERSION,
            "pinnedTools": {"helm": "v4.1.4", "kubectl": "v1.33.9", "kustomize": "v5.6.0"},
            "platform": toolchain.platform_key(),
        }


def test_version_reads_the_default_istio_version_through_one_function(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshgen.commands import version

    monkeypatch.setattr(version, "default_istio_version", lambda: "1.31.0")
    result = run_cli(capsys, "version", "-o", "json")
    assert json.loads(result.stdout)["defaultIstioVersion"] == "1.31.0"


def test_completion_scripts(tmp_path: Path) -> None:
    expected = {
        "bash": "complete -o nosort -F _meshgen_completion meshgen",
        "zsh": "compdef _meshgen_completion meshgen",
        "fish": "complete --no-files --command meshgen",
    }
    for shell, line in expected.items():
        result = run_meshgen_process("completion", shell, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert line in result.stdout and "_MESHGEN_COMPLETE" in result.stdout
    bad = run_meshgen_process("completion", "tcsh", cwd=tmp_path)
    assert bad.returncode == 2 and "Invalid value for '{bash|zsh|fish}'" in bad.stderr


def _bash_complete(tmp_path: Path, line: str) -> list[str]:
    """What bash completes after ``line`` with the script of `meshgen completion bash`
    sourced: the real bash runs the completion function, which calls meshgen back."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "meshgen").is_file():
        pytest.skip("meshgen is not installed as a command next to this Python")
    script = run_meshgen_process("completion", "bash", cwd=tmp_path).stdout
    (tmp_path / "meshgen.bash").write_text(script)
    words = line.split(" ")
    program = f"""
source {tmp_path / "meshgen.bash"}
COMP_WORDS=({" ".join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words) - 1}
_meshgen_completion meshgen
printf '%s\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(
        ["bash", "-c", program],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        check=True,
    )
    return result.stdout.split()


def test_bash_completes_subcommands_options_and_choices(tmp_path: Path) -> None:
    assert "new-cluster" in _bash_complete(tmp_path, "meshgen new")
    assert sorted(_bash_complete(tmp_path, "meshgen ca ")) == ["init", "issue"]
    assert "--dry-run" in _bash_complete(tmp_path, "meshgen render --")
    assert _bash_complete(tmp_path, "meshgen validate -o y") == ["yaml"]
    assert _bash_complete(tmp_path, "meshgen init --engine f") == ["flux"]


def test_zsh_and_fish_completion_answer_through_the_same_protocol(tmp_path: Path) -> None:
    for shell, words, cword in (("zsh", "meshgen new", "1"), ("fish", "meshgen new", "")):
        env = {"_MESHGEN_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
        result = run_meshgen_process(cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "new-cluster" in result.stdout, (shell, result.stdout)


def _walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, (*path, name))


def test_every_option_of_every_command_has_help() -> None:
    from meshgen.cli import cli

    missing = []
    commands = 0
    for path, command in _walk(cli):
        commands += 1
        assert (command.help or "").strip(), f"meshgen {' '.join(path)} has no help"
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"meshgen {' '.join(path)} {param.opts[0]}")
    assert commands > 15
    assert missing == []


def test_usage_errors_with_json_output_are_json_objects(tmp_path: Path) -> None:
    for args in (
        ("validate", "-o", "json", "--bogus"),
        ("validate", "--format", "json", "--repo", str(tmp_path / "missing")),
        ("diff", "--format=json", "--base"),
        ("version", "-ojson", "extra"),
        ("tools", "list", "--output", "json", "--nope"),
    ):
        result = run_meshgen_process(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        document = json.loads(result.stdout)
        assert document["exitCode"] == 2 and document["error"]
        assert result.stderr == f"error: {document['error']}\n", args
    shown = run_meshgen_process("validate", "-o", "yaml", "--bogus", cwd=tmp_path)
    assert yaml.safe_load(shown.stdout)["exitCode"] == 2
    # Without -o json|yaml stdout stays empty.
    plain = run_meshgen_process("validate", "--bogus", cwd=tmp_path)
    assert plain.returncode == 2 and plain.stdout == ""


def test_requested_format_reads_every_spelling() -> None:
    from meshgen.cli_options import requested_format

    assert requested_format(["validate", "-o", "json"]) == "json"
    assert requested_format(["validate", "-ojson"]) == "json"
    assert requested_format(["validate", "-o=yaml"]) == "yaml"
    assert requested_format(["diff", "--output=json"]) == "json"
    assert requested_format(["diff", "--format", "yaml"]) == "yaml"
    assert requested_format(["diff", "--format", "markdown"]) is None
    assert requested_format(["graph", "--output", "g.svg"]) is None
    assert requested_format(["render", "--", "-o", "json"]) is None
