"""The review flow a generated repository starts with: PR template and diff workflow."""

from __future__ import annotations

import pytest
import yaml

from helpers import MeshRepo, git, run_cli
from meshgen.adapters import workspace
from meshgen.render import review


def test_init_commits_the_template_and_the_workflow(mesh_repo: MeshRepo) -> None:
    tracked = git(mesh_repo.root, "ls-files").splitlines()
    assert review.PR_TEMPLATE in tracked
    assert review.DIFF_WORKFLOW in tracked
    # Both carry the generated mark, so render keeps them up to date.
    generated = workspace.generated_files(mesh_repo.root)
    assert {review.PR_TEMPLATE, review.DIFF_WORKFLOW} <= generated


def test_the_workflow_posts_the_markdown_diff_on_pull_requests(mesh_repo: MeshRepo) -> None:
    workflow = yaml.safe_load((mesh_repo.root / review.DIFF_WORKFLOW).read_text())
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert workflow[True] == {"pull_request": {"branches": ["main"]}}
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    steps = workflow["jobs"]["diff"]["steps"]
    assert steps[0]["with"] == {"fetch-depth": 0}  # the base must be in the clone
    describe = next(s for s in steps if "meshgen diff" in s.get("run", ""))
    assert "--format markdown" in describe["run"]
    assert describe["env"]["BASE"] == "origin/${{ github.base_ref }}"
    post = steps[-1]
    assert "gh pr comment" in post["run"] and "--body-file" in post["run"]


def test_the_workflow_follows_the_tracked_branch(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mesh_repo.root / "mesh.yaml"
    path.write_text(path.read_text().replace("revision: main", "revision: production"))
    assert run_cli(capsys, "render", "--repo", str(mesh_repo.root)).exit_code == 0
    workflow = yaml.safe_load((mesh_repo.root / review.DIFF_WORKFLOW).read_text())
    assert workflow[True]["pull_request"]["branches"] == ["production"]
