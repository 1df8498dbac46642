"""`meshgen remove-cluster` on real repositories with a bare origin, after real merges."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers import MeshRepo, git, mesh_text, run_cli, tree_bytes
from meshgen import spec


def cli(capsys: pytest.CaptureFixture[str], repo: MeshRepo, *args: str):
    return run_cli(capsys, *args, "--repo", str(repo.root))


def add_and_merge(capsys: pytest.CaptureFixture[str], repo: MeshRepo, name: str, *args: str):
    """new-cluster on its own branch, then what merging its pull request does."""
    result = cli(capsys, repo, "new-cluster", name, *args)
    assert result.exit_code == 0, result.stderr
    git(repo.root, "switch", "-q", "main")
    git(repo.root, "merge", "-q", "--no-ff", "-m", f"Merge {name}", f"meshgen/add-cluster-{name}")
    git(repo.root, "push", "-q", "origin", "main")
    return result


def files_mentioning(root, word: str) -> list[str]:
    return sorted(
        path for path, data in tree_bytes(root).items() if word.encode() in data or word in path
    )


def test_full_flow_leaves_no_trace_of_the_removed_cluster(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    add_and_merge(capsys, mesh_repo, "cluster-1", "--network", "network1", "--east-west-gateway")
    add_and_merge(capsys, mesh_repo, "cluster-2", "--network", "network2")
    add_and_merge(capsys, mesh_repo, "cluster-3", "--network", "network3")
    assert files_mentioning(mesh_repo.root, "cluster-3")  # it is everywhere before
    # Pull requests are opened on GitHub; pushes go to the bare origin.
    git(mesh_repo.root, "remote", "set-url", "origin", "git@github.com:acme/mesh.git")
    git(mesh_repo.root, "remote", "set-url", "--push", "origin", str(mesh_repo.origin))

    result = cli(capsys, mesh_repo, "remove-cluster", "cluster-3", "--push")
    assert result.exit_code == 0, result.stderr
    branch = "meshgen/remove-cluster-cluster-3"
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == branch
    assert git(mesh_repo.origin, "rev-parse", branch) == git(mesh_repo.root, "rev-parse", branch)
    assert git(mesh_repo.root, "rev-list", "--count", f"main..{branch}") == "1"
    assert git(mesh_repo.root, "status", "--porcelain") == ""
    expected = [
        "cluster-3 leaves the mesh (network network3).",
        "network3 has no clusters left: the mesh now spans 2 networks.",
        "network network3 is no longer declared.",
        "Remote secrets: 2 clusters drop the placeholder for cluster-3 (cluster-1, cluster-2).",
    ]
    message = git(mesh_repo.root, "log", "-1", "--format=%B")
    assert message.startswith("Remove cluster cluster-3 from mesh mesh1\n\n" + "\n".join(expected))
    assert "argocd cluster rm cluster-3" in message
    for line in expected:
        assert line in result.stdout
    assert "delete meshgen/mesh1/remote-secrets/cluster-3" in result.stdout
    assert f"https://github.com/acme/mesh/compare/main...{branch}?expand=1" in result.stdout
    # The file list says what happened to each file.
    assert "  removed  clusters/cluster-3/values/istiod.yaml\n" in result.stdout
    assert "  removed  bootstrap/argocd/roots/cluster-3.yaml\n" in result.stdout
    assert "  wrote    mesh.yaml\n" in result.stdout

    # Nothing generated, no placeholder and no reference is left, in any file or path.
    assert files_mentioning(mesh_repo.root, "cluster-3") == []
    assert files_mentioning(mesh_repo.root, "network3") == []
    assert not (mesh_repo.root / "clusters" / "cluster-3").exists()
    assert not (mesh_repo.root / "overlays" / "remote-secrets" / "cluster-3").exists()
    assert cli(capsys, mesh_repo, "render", "--check").exit_code == 0
    validated = cli(capsys, mesh_repo, "validate", "--format", "json")
    assert validated.exit_code == 0, validated.stdout
    assert json.loads(validated.stdout)["errors"] == 0

    diff = cli(capsys, mesh_repo, "diff", "--format", "json")
    assert diff.exit_code == 0, diff.stderr
    report = json.loads(diff.stdout)
    assert report["summary"] == expected
    assert report["base"].startswith("merge base with origin/main")
    by_name = {c["name"]: c for c in report["clusters"]}
    assert by_name["cluster-3"]["status"] == "removed"
    for other in ("cluster-1", "cluster-2"):
        assert by_name[other]["objects"] == [
            {
                "change": "removed",
                "diff": [],
                "object": "ExternalSecret istio-system/istio-remote-secret-cluster-3",
                "source": "istio-system",
            }
        ]
        assert by_name[other]["values"] == []


def test_a_control_plane_with_remotes_is_refused_unless_forced(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    add_and_merge(capsys, mesh_repo, "p1", "--network", "n1", "--east-west-gateway")
    add_and_merge(capsys, mesh_repo, "p2", "--network", "n1")
    add_and_merge(
        capsys, mesh_repo, "r1", "--network", "n1", "--role", "remote",
        "--control-plane", "p1", "--discovery-address", "192.0.2.10",
    )  # fmt: skip
    add_and_merge(
        capsys, mesh_repo, "r2", "--network", "n1", "--role", "remote", "--control-plane", "p1"
    )
    before = tree_bytes(mesh_repo.root)
    branches = git(mesh_repo.root, "branch", "--list")

    refused = cli(capsys, mesh_repo, "remove-cluster", "p1")
    assert refused.exit_code == 2
    assert "p1 is the control plane of r1, r2" in refused.stderr
    assert "--force" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "branch", "--list") == branches

    forced = cli(capsys, mesh_repo, "remove-cluster", "p1", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "--force: r1, r2 removed too (remotes of p1)." in forced.stdout
    mesh = spec.parse((mesh_repo.root / "mesh.yaml").read_text()).mesh
    assert [c.name for c in mesh.clusters] == ["p2"]
    for name in ("p1", "r1", "r2"):
        assert files_mentioning(mesh_repo.root, f"-{name}") == [], name
        assert not (mesh_repo.root / "clusters" / name).exists()
    assert cli(capsys, mesh_repo, "render", "--check").exit_code == 0


def test_removing_a_remote_keeps_its_primary(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    add_and_merge(capsys, mesh_repo, "p1", "--network", "n1", "--east-west-gateway")
    add_and_merge(
        capsys, mesh_repo, "r1", "--network", "n1", "--role", "remote",
        "--control-plane", "p1", "--discovery-address", "192.0.2.10",
    )  # fmt: skip
    result = cli(capsys, mesh_repo, "remove-cluster", "r1", "--no-commit")
    assert result.exit_code == 0, result.stderr
    assert "p1 no longer manages remotes: externalIstiod is turned off." in result.stdout
    assert "Not committed (--no-commit)" in result.stdout
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    values = (mesh_repo.root / "clusters/p1/values/istiod.yaml").read_text()
    assert "externalIstiod" not in values
    assert files_mentioning(mesh_repo.root, "r1") == []


def test_comments_in_mesh_yaml_survive(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    add_and_merge(capsys, mesh_repo, "c1", "--network", "n1")
    add_and_merge(capsys, mesh_repo, "c2", "--network", "n1")
    add_and_merge(capsys, mesh_repo, "c3", "--network", "n1")
    path = mesh_repo.root / "mesh.yaml"
    text = path.read_text()
    text = text.replace("  - name: c2\n", "  # c2 is going away\n  - name: c2\n")
    text = text.replace("  - name: c3\n", "  # c3 runs the payments team\n  - name: c3\n")
    text = text.replace("meshID: mesh1", "meshID: mesh1  # never change this")
    path.write_text(text)
    git(mesh_repo.root, "commit", "-q", "-am", "Comment the mesh")

    assert cli(capsys, mesh_repo, "remove-cluster", "c2").exit_code == 0
    after = path.read_text()
    assert "meshID: mesh1  # never change this" in after
    assert "# c3 runs the payments team\n  - name: c3" in after
    assert "c2" not in after


HAND_WRITTEN = mesh_text(
    "  - name: n1\n  - name: n2\n",
    """\
  - name: c1
    network: n1
  - name: c2
    network: n2
    eastWestGateway: {enabled: true}
  - name: c3
    network: n1
    eastWestGateway: {enabled: true}
""",
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("nope",), "cluster 'nope' is not in the mesh (clusters: c1, c2, c3); check the name"),
        (("c1", "--no-commit", "--push"), "--push needs a commit"),
        (("c1", "--branch", "bad..name"), "not a valid Git branch name"),
        # c3 runs n1's only gateway, and c1 never said it goes without one.
        (("c3",), "network n1 has no east-west gateway, so its clusters (c1) would be"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    (mesh_repo.root / "mesh.yaml").write_text(HAND_WRITTEN)
    assert cli(capsys, mesh_repo, "render").exit_code == 0
    git(mesh_repo.root, "add", "-A")
    git(mesh_repo.root, "commit", "-q", "-m", "Hand-written mesh")
    before = tree_bytes(mesh_repo.root)
    branches = git(mesh_repo.root, "branch", "--list")
    result = cli(capsys, mesh_repo, "remove-cluster", *args)
    assert result.exit_code == 2, result.stdout
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "branch", "--list") == branches


def test_a_failing_commit_rolls_everything_back(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    add_and_merge(capsys, mesh_repo, "c1", "--network", "n1")
    add_and_merge(capsys, mesh_repo, "c2", "--network", "n1")
    hook = mesh_repo.root / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'error: policy says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = tree_bytes(mesh_repo.root)
    result = cli(capsys, mesh_repo, "remove-cluster", "c2")
    assert result.exit_code == 2
    assert "git commit failed: error: policy says no" in result.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert "remove-cluster" not in git(mesh_repo.root, "branch", "--list")
    assert (
        subprocess.run(
            ["git", "-C", str(mesh_repo.root), "diff", "--quiet", "HEAD"], check=False
        ).returncode
        == 0
    )
