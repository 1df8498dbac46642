"""The CI workflow of a generated repository: every pull request runs ``meshgen render
--check`` (the repository is what mesh.yaml gives) and ``meshgen validate`` (it will sync and
work). GitHub Actions; the file is generated, so ``render`` keeps it current."""

from __future__ import annotations

from typing import Any

from meshgen import DISTRIBUTION, __version__
from meshgen.render.files import yaml_file
from meshgen.spec import Mesh

WORKFLOW = ".github/workflows/meshgen.yaml"
PYTHON_VERSION = "3.12"


def install_requirement(mesh: Mesh) -> str:
    """What CI installs: exactly the meshgen that rendered the repository (``meshgenVersion``
    in mesh.yaml), so that ``render --check`` there compares like with like. A mesh.yaml of
    before 0.2.0 records none: this meshgen then."""
    return f"{DISTRIBUTION}=={mesh.meshgen_version or __version__}"


def workflow(mesh: Mesh) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {"uses": "actions/setup-python@v5", "with": {"python-version": PYTHON_VERSION}},
        {"name": "Install meshgen", "run": f"pip install {install_requirement(mesh)}"},
        {"name": "Install the pinned helm and kubectl", "run": "meshgen tools install"},
        {"name": "Generated files match mesh.yaml", "run": "meshgen render --check"},
        {"name": "Validate every cluster's config", "run": "meshgen validate --pull"},
    ]
    return {
        "name": "meshgen",
        "on": {"pull_request": {}, "push": {"branches": [mesh.revision]}},
        "permissions": {"contents": "read"},
        "jobs": {"validate": {"runs-on": "ubuntu-latest", "steps": steps}},
    }


def files(mesh: Mesh) -> dict[str, str]:
    return {WORKFLOW: yaml_file(workflow(mesh))}
