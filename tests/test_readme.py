"""The README's path for a new user: after the two commands, "Using it" works as written.

The two commands themselves (`bash scripts/run ...`) need the package index; what can be
checked offline is checked here: the README says how meshgen gets on PATH, that matches where
`scripts/run` installs it, and the "Using it" block, run by bash exactly as written in this
checkout (whose `.venv` the two commands made), builds a two-network mesh that passes
`render --check` and `validate`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import REPO_ROOT, git
from meshgen import spec
from meshgen.adapters import toolchain

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def first_shell_block(text: str) -> str:
    match = re.search(r"```sh\n(.*?)```", text, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_says_how_meshgen_gets_on_path() -> None:
    two_commands = section("Two commands")
    assert "source .venv/bin/activate" in two_commands
    assert "pipx install istio-meshgen" in two_commands
    assert "pip install --user 'istio-meshgen[sops]'" in two_commands
    # .venv is where the two commands put meshgen.
    run = (REPO_ROOT / "scripts" / "run").read_text(encoding="utf-8")
    assert "venv=${MESHGEN_VENV:-$here/.venv}" in run
    assert 'pip install --quiet --disable-pip-version-check "$here[test]"' in run
    # And the package they install is the one the README names.
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "istio-meshgen"' in pyproject
    assert 'meshgen = "meshgen.entrypoint:main"' in pyproject
    using = first_shell_block(section("Using it"))
    assert using.splitlines()[0].startswith("source .venv/bin/activate")


def _path_without_meshgen() -> str:
    """The system PATH, minus any folder that holds a meshgen (as on a fresh machine)."""
    folders = [f for f in ("/usr/local/bin", "/usr/bin", "/bin") if Path(f).is_dir()]
    return os.pathsep.join(f for f in folders if not (Path(f) / "meshgen").exists())


def test_using_it_runs_as_written(tmp_path: Path, tools: dict[str, Path]) -> None:
    activate = REPO_ROOT / ".venv" / "bin" / "activate"
    if not activate.is_file():
        pytest.skip(f"{activate} is missing: run `bash scripts/run test` (the two commands)")
    if shutil.which("git", path=_path_without_meshgen()) is None:
        pytest.skip("git is not in /usr/bin or /bin")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": _path_without_meshgen(),
        "MESHGEN_TOOLS_DIR": str(toolchain.tools_dir()),  # what `tools install` put in ~/.cache
    }
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "MESHGEN_HELM", "MESHGEN_KUBECTL"):
        env.pop(name, None)
    block = first_shell_block(section("Using it"))
    script = "set -eo pipefail\n! command -v meshgen\n" + block  # not on PATH before
    result = subprocess.run(
        ["bash", "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    mesh_root = home / "mesh"
    mesh = spec.parse((mesh_root / "mesh.yaml").read_text()).mesh
    assert [(c.name, c.network, c.east_west_gateway.enabled) for c in mesh.clusters] == [
        ("cluster-1", "network1", True),
        ("cluster-2", "network2", True),
    ]
    assert git(mesh_root, "rev-parse", "--abbrev-ref", "HEAD") == "meshgen/add-cluster-cluster-2"
    assert git(mesh_root, "status", "--porcelain") == ""
    assert f"{mesh_root}: up to date with mesh.yaml" in result.stdout
    assert f"{mesh_root}: no problems found" in result.stdout
    assert "error" not in result.stderr.lower()
