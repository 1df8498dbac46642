"""`meshgen new-cluster` on a real repository with a bare origin."""

from __future__ import annotations

import pytest

from helpers import MeshRepo, git, run_cli, tree_bytes
from meshgen import spec


def add(capsys: pytest.CaptureFixture[str], repo: MeshRepo, *args: str):
    return run_cli(capsys, "new-cluster", *args, "--repo", str(repo.root))


def merge(repo: MeshRepo, branch: str) -> None:
    """What merging the pull request does."""
    git(repo.root, "switch", "-q", "main")
    git(repo.root, "merge", "-q", "--ff-only", branch)


def test_scenario_two_clusters_two_networks(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    first = add(capsys, mesh_repo, "cluster-1", "--network", "network1")
    assert first.exit_code == 0, first.stderr
    assert (
        git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "meshgen/add-cluster-cluster-1"
    )
    merge(mesh_repo, "meshgen/add-cluster-cluster-1")

    second = add(capsys, mesh_repo, "cluster-2", "--network", "network2", "--push")
    assert second.exit_code == 0, second.stderr
    branch = "meshgen/add-cluster-cluster-2"
    # The branch starts at main's HEAD and holds exactly one commit, pushed to origin.
    assert git(mesh_repo.root, "rev-list", "--count", f"main..{branch}") == "1"
    assert git(mesh_repo.origin, "rev-parse", branch) == git(mesh_repo.root, "rev-parse", branch)
    assert git(mesh_repo.root, "status", "--porcelain") == ""
    message = git(mesh_repo.root, "log", "-1", "--format=%B")
    assert message.startswith("Add cluster cluster-2 to mesh mesh1\n")
    assert "cluster-2 joins network network2 with an east-west gateway." in message
    assert "network2 is a new network: the mesh now spans 2 networks." in message
    assert "cluster-2 gets placeholders for 1 cluster; 1 cluster gains one" in message
    assert f"open a pull request from {branch} into main" in second.stdout
    # cluster-1 joined alone, without a gateway; the change that brings network2 gives it
    # one, so network1 is reachable from network2 too, and says so.
    assert (
        "cluster-1 gets an east-west gateway: the other networks reach network1 through it."
    ) in message
    assert "has no east-west gateway" not in second.stderr
    # The file list says what happened to each file.
    assert "  wrote    clusters/cluster-1/values/gateway.yaml\n" in second.stdout
    assert "  wrote    mesh.yaml\n" in second.stdout

    changed = set(git(mesh_repo.root, "diff", "--name-only", "main", branch).splitlines())
    assert "mesh.yaml" in changed
    assert "clusters/cluster-2/values/gateway.yaml" in changed
    assert "overlays/remote-secrets/kustomization.yaml" in changed
    # cluster-1 gains the placeholder for cluster-2 and its own east-west gateway.
    assert "clusters/cluster-1/istio-system/kustomization.yaml" in changed
    assert "clusters/cluster-1/values/gateway.yaml" in changed
    mesh = spec.parse((mesh_repo.root / "mesh.yaml").read_text()).mesh
    assert [(c.name, c.network, c.east_west_gateway.enabled) for c in mesh.clusters] == [
        ("cluster-1", "network1", True),
        ("cluster-2", "network2", True),
    ]


def test_no_east_west_gateway_leaves_the_first_network_and_says_what_that_means(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(capsys, mesh_repo, "cluster-1", "--network", "network1").exit_code == 0
    merge(mesh_repo, "meshgen/add-cluster-cluster-1")
    result = add(capsys, mesh_repo, "cluster-2", "--network", "network2", "--no-east-west-gateway")
    assert result.exit_code == 0, result.stderr
    mesh = spec.parse((mesh_repo.root / "mesh.yaml").read_text()).mesh
    assert [c.east_west_gateway.enabled for c in mesh.clusters] == [False, False]
    for network, cluster in (("network1", "cluster-1"), ("network2", "cluster-2")):
        assert (
            f"warning: network {network} has no east-west gateway: the other networks cannot "
            f"reach the services of its clusters ({cluster}); give it one with `meshgen "
            f"set-cluster {cluster} --east-west-gateway`"
        ) in result.stderr


def test_options_land_in_mesh_yaml(mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]) -> None:
    result = add(
        capsys, mesh_repo, "eu-1", "--network", "eu", "--east-west-gateway",
        "--api-server", "https://10.0.0.1:6443", "--pod-cidr", "10.10.0.0/16",
        "--pod-cidr", "fd00:10::/56", "--service-cidr", "10.96.0.0/12",
        "--region", "europe-west1", "--zone", "europe-west1-b", "--branch", "feature/eu",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "feature/eu"
    cluster = spec.parse((mesh_repo.root / "mesh.yaml").read_text()).mesh.cluster("eu-1")
    assert cluster.east_west_gateway.enabled is True
    assert cluster.api_server == "https://10.0.0.1:6443"
    assert cluster.pod_cidrs == ("10.10.0.0/16", "fd00:10::/56")
    assert cluster.service_cidrs == ("10.96.0.0/12",)
    assert (cluster.region, cluster.zone) == ("europe-west1", "europe-west1-b")


def test_no_commit_only_writes_files(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git(mesh_repo.root, "rev-parse", "HEAD")
    result = add(capsys, mesh_repo, "c1", "--network", "n1", "--no-commit")
    assert result.exit_code == 0, result.stderr
    assert git(mesh_repo.root, "rev-parse", "HEAD") == head
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    status = git(mesh_repo.root, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert " M mesh.yaml" in status
    assert "?? clusters/c1/values/istiod.yaml" in status


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # Values of options are named by the option: mesh.yaml has no line for them yet.
        (("Bad_Name", "--network", "n1"), "error: NAME: 'Bad_Name' is not allowed"),
        (("East-3", "--network", "n1"), "error: NAME: 'East-3' is not allowed: A DNS-1123"),
        (("c1", "--network", "NET"), "error: --network: 'NET' is not allowed"),
        (("c1", "--network", "n1", "--pod-cidr", "10.0.0.0/33"), "--pod-cidr: '10.0.0.0/33' is"),
        (("c1", "--network", "n1", "--api-server", "10.0.0.3:6443"), "must start with https://"),
        (("c1", "--network", "n1", "--api-server", "http://plain"), "error: --api-server: "),
        (("c1", "--network", "n1", "--branch", "bad..name"), "not a valid Git branch name"),
        (("c1", "--network", "n1", "--no-commit", "--push"), "--push needs a commit"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    before = tree_bytes(mesh_repo.root)
    branches = git(mesh_repo.root, "branch", "--list")
    result = add(capsys, mesh_repo, *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "branch", "--list") == branches


def test_duplicate_cluster_and_existing_branch_are_refused(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(capsys, mesh_repo, "c1", "--network", "n1").exit_code == 0
    merge(mesh_repo, "meshgen/add-cluster-c1")
    again = add(capsys, mesh_repo, "c1", "--network", "n1")
    assert again.exit_code == 2 and "'c1' is already in the mesh" in again.stderr
    git(mesh_repo.root, "branch", "meshgen/add-cluster-c2")
    before = tree_bytes(mesh_repo.root)
    taken = add(capsys, mesh_repo, "c2", "--network", "n1")
    assert taken.exit_code == 2 and "branch 'meshgen/add-cluster-c2' already exists" in taken.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_dirty_tree_is_refused_unless_allowed(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    (mesh_repo.root / "scratch.txt").write_text("mine\n")
    refused = add(capsys, mesh_repo, "c1", "--network", "n1")
    assert refused.exit_code == 2 and "scratch.txt" in refused.stderr
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    allowed = add(capsys, mesh_repo, "c1", "--network", "n1", "--allow-dirty")
    assert allowed.exit_code == 0, allowed.stderr
    # The user's file is neither committed nor touched.
    assert "scratch.txt" not in git(mesh_repo.root, "show", "--name-only", "--format=", "HEAD")
    assert (mesh_repo.root / "scratch.txt").read_text() == "mine\n"


def test_a_dirty_tree_and_a_bad_request_name_the_request_and_leave_no_git_behind(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dirty-tree check runs beside the edit and the planning: an error in the request is
    reported first, git status is waited for all the same, and nothing is written."""
    assert add(capsys, mesh_repo, "c1", "--network", "n1").exit_code == 0
    merge(mesh_repo, "meshgen/add-cluster-c1")
    (mesh_repo.root / "scratch.txt").write_text("mine\n")
    before = tree_bytes(mesh_repo.root)
    named = add(capsys, mesh_repo, "c1", "--network", "n1")
    assert named.exit_code == 2 and "cluster 'c1' is already in the mesh" in named.stderr
    assert not (mesh_repo.root / ".git/index.lock").exists()  # git status was waited for
    for args in (("c2", "--network", "n1"), ("c2", "--network", "n1", "--dry-run")):
        dirty = add(capsys, mesh_repo, *args)
        assert dirty.exit_code == 2 and "uncommitted changes (scratch.txt)" in dirty.stderr
        assert not (mesh_repo.root / ".git/index.lock").exists()
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_failed_commit_rolls_everything_back(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = mesh_repo.root / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'policy: no commits today' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = tree_bytes(mesh_repo.root)
    result = add(capsys, mesh_repo, "c1", "--network", "n1")
    assert result.exit_code == 2
    assert "git commit failed: policy: no commits today" in result.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert "meshgen/add-cluster-c1" not in git(mesh_repo.root, "branch", "--list")
    assert git(mesh_repo.root, "status", "--porcelain") == ""


def test_push_without_origin_is_refused_before_anything_is_written(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12.7: `--push` without `origin` used to be found only after the commit."""
    git(mesh_repo.root, "remote", "remove", "origin")
    before = tree_bytes(mesh_repo.root)
    result = add(capsys, mesh_repo, "c1", "--network", "n1", "--push")
    assert result.exit_code == 2 and "no remote 'origin'" in result.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "branch", "--list") == "* main"


def test_a_push_that_fails_on_the_network_exits_1_and_keeps_the_commit(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing was wrong with the input: exit 1 (like a failed check), not 2 (bad usage)."""
    git(mesh_repo.root, "remote", "set-url", "origin", "https://127.0.0.1:9/mesh.git")
    result = add(capsys, mesh_repo, "c1", "--network", "n1", "--push")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith("error: push of meshgen/add-cluster-c1 to origin failed")
    assert "push it with: git push -u origin meshgen/add-cluster-c1" in result.stderr
    assert git(mesh_repo.root, "log", "-1", "--format=%s") == "Add cluster c1 to mesh mesh1"
    assert git(mesh_repo.root, "status", "--porcelain") == ""


def test_a_mesh_in_a_subfolder_of_another_repository_is_refused(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    outer = tmp_path / "monorepo"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    (outer / "mesh").mkdir()
    (outer / "mesh/mesh.yaml").write_text(
        "apiVersion: meshgen.io/v1alpha1\nkind: Mesh\nmeshID: m\n"
        "repository: {url: /srv/git/m.git}\nnetworks: []\nclusters: []\n"
    )
    git(outer, "add", "-A")
    git(outer, "commit", "-qm", "mesh in a subfolder")
    result = run_cli(capsys, "new-cluster", "c1", "--network", "n1", "--repo", str(outer / "mesh"))
    assert result.exit_code == 2
    assert "must sit at the root of its Git repository" in result.stderr
    assert git(outer, "status", "--porcelain") == ""


def test_primary_remote_flow_across_networks(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A primary first; once its east-west gateway has an address, a remote on another network."""
    first = add(capsys, mesh_repo, "primary-1", "--network", "net1", "--east-west-gateway")
    assert first.exit_code == 0, first.stderr
    merge(mesh_repo, "meshgen/add-cluster-primary-1")
    # Without the address there is nothing for the remote's webhooks and proxies to call.
    before = tree_bytes(mesh_repo.root)
    missing = add(
        capsys, mesh_repo, "remote-1", "--network", "net2", "--role", "remote",
        "--control-plane", "primary-1",
    )  # fmt: skip
    assert missing.exit_code == 2
    assert "primary-1 of remote-1 has no discovery address yet" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "branch", "--list", "meshgen/add-cluster-remote-1") == ""

    result = add(
        capsys, mesh_repo, "remote-1", "--network", "net2", "--role", "remote",
        "--control-plane", "primary-1", "--discovery-address", "203.0.113.20",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    mesh = spec.parse((mesh_repo.root / "mesh.yaml").read_text()).mesh
    assert mesh.cluster("primary-1").discovery == spec.Discovery("203.0.113.20")
    remote = mesh.cluster("remote-1")
    assert (remote.role, remote.control_plane) == ("remote", "primary-1")
    assert remote.east_west_gateway.enabled  # a second network: reachable both ways
    message = git(mesh_repo.root, "log", "-1", "--format=%B")
    assert "remote-1 joins network net2 as a remote of primary-1 with an east-west gateway." in (
        message
    )
    assert "primary-1 now manages remotes" in message
    assert "Remote secrets: 1 cluster gains one for remote-1." in message
    changed = git(mesh_repo.root, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert "clusters/primary-1/mesh-config/expose-istiod.yaml" in changed
    assert "clusters/primary-1/values/istiod.yaml" in changed  # externalIstiod: true
    assert run_cli(capsys, "render", "--check", "--repo", str(mesh_repo.root)).exit_code == 0

    # A second remote with a different address for the same primary is a conflict, not an edit.
    clash = add(
        capsys, mesh_repo, "remote-2", "--network", "net2", "--role", "remote",
        "--control-plane", "primary-1", "--discovery-address", "203.0.113.99",
    )  # fmt: skip
    assert clash.exit_code == 2 and "already has discovery address 203.0.113.20" in clash.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["r", "--network", "n", "--role", "remote", "--control-plane", "ghost",
             "--discovery-address", "192.0.2.1"],
            "control plane 'ghost' is not a cluster of the mesh",
        ),
        (
            ["b", "--network", "n", "--pod-cidr", "10.0.1.0/24"],
            "b podCIDRs 10.0.1.0/24 overlaps a podCIDRs 10.0.0.0/16 on network n",
        ),
        (
            ["r", "--network", "n", "--role", "remote", "--control-plane", "a",
             "--discovery-address", "istiod.example.com"],
            "'istiod.example.com' is a hostname",
        ),
        (["b", "--network", "n2", "--no-east-west-gateway", "--role", "remote"], "no controlPlane"),
    ],
)  # fmt: skip
def test_bad_topology_input_exits_2_and_changes_nothing(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    first = add(capsys, mesh_repo, "a", "--network", "n", "--pod-cidr", "10.0.0.0/16")
    assert first.exit_code == 0, first.stderr
    merge(mesh_repo, "meshgen/add-cluster-a")
    before = tree_bytes(mesh_repo.root)
    result = add(capsys, mesh_repo, *args)
    assert result.exit_code == 2
    assert fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert tree_bytes(mesh_repo.root) == before
    assert git(mesh_repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_istio_revision_lands_in_mesh_yaml_and_values(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    result = add(capsys, mesh_repo, "c1", "--network", "n", "--istio-revision", "canary")
    assert result.exit_code == 0, result.stderr
    assert spec.parse((mesh_repo.root / "mesh.yaml").read_text()).mesh.cluster("c1").revision == (
        "canary"
    )
    values = (mesh_repo.root / "clusters/c1/values/istiod.yaml").read_text()
    assert "\nrevision: canary\n" in values
    assert "istio.io/rev=canary" in (mesh_repo.root / "README.md").read_text()
