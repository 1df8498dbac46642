"""The pre-commit hook definitions name real meshgen commands and options."""

from __future__ import annotations

import shlex

import pytest
from ruamel.yaml import YAML

from helpers import REPO_ROOT, run_cli


def test_hooks_run_real_meshgen_commands(capsys: pytest.CaptureFixture[str]) -> None:
    hooks = YAML(typ="safe", pure=True).load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"meshgen-render-check", "meshgen-validate"}
    for hook in hooks:
        # Whole-repository checks: pre-commit must not append file names to the command.
        assert hook["pass_filenames"] is False and hook["always_run"] is True
        assert hook["language"] == "python"
        program, *args = shlex.split(hook["entry"])
        assert program == "meshgen"
        # click rejects unknown commands and options with exit code 2 before running anything.
        result = run_cli(capsys, *args, "--help")
        assert result.exit_code == 0, (hook["id"], result.stderr)
