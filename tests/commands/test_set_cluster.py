"""`meshgen set-cluster` on a real repository with a bare origin: change a cluster in place."""

from __future__ import annotations

import re

import pytest

from helpers import MeshRepo, git, run_cli, tree_bytes
from meshgen import spec


def meshgen(capsys: pytest.CaptureFixture[str], repo: MeshRepo, *args: str):
    return run_cli(capsys, *args, "--repo", str(repo.root))


def merged(capsys: pytest.CaptureFixture[str], repo: MeshRepo, *args: str) -> None:
    """Run a command that proposes a change, then merge it as the pull request would be."""
    result = meshgen(capsys, repo, *args)
    assert result.exit_code == 0, result.stderr
    branch = git(repo.root, "rev-parse", "--abbrev-ref", "HEAD")
    git(repo.root, "switch", "-q", "main")
    git(repo.root, "merge", "-q", "--ff-only", branch)


def mesh_of(repo: MeshRepo) -> spec.Mesh:
    return spec.parse((repo.root / "mesh.yaml").read_text()).mesh


@pytest.fixture
def one_way(mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]) -> MeshRepo:
    """Two networks, neither with a gateway: what --no-east-west-gateway leaves."""
    merged(capsys, mesh_repo, "new-cluster", "cluster-1", "--network", "network1")
    merged(
        capsys, mesh_repo, "new-cluster", "cluster-2", "--network", "network2",
        "--no-east-west-gateway", "--api-server", "https://198.51.100.2:6443",
    )  # fmt: skip
    return mesh_repo


def test_turning_a_gateway_on_is_a_reviewed_change_that_ends_the_warning(
    one_way: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    check = meshgen(capsys, one_way, "render", "--check")
    assert check.exit_code == 0
    assert "warning: network network1 has no east-west gateway" in check.stderr
    assert "`meshgen set-cluster cluster-1 --east-west-gateway`" in check.stderr

    result = meshgen(capsys, one_way, "set-cluster", "cluster-1", "--east-west-gateway", "--push")
    assert result.exit_code == 0, result.stderr
    branch = "meshgen/set-cluster-cluster-1"
    assert git(one_way.root, "rev-parse", "--abbrev-ref", "HEAD") == branch
    assert git(one_way.origin, "rev-parse", branch) == git(one_way.root, "rev-parse", branch)
    message = git(one_way.root, "log", "-1", "--format=%B")
    assert message.startswith("Change cluster cluster-1 in mesh mesh1\n")
    assert (
        "cluster-1 gets an east-west gateway: the other networks reach network1 through it."
    ) in message
    assert "  wrote    clusters/cluster-1/values/gateway.yaml\n" in result.stdout
    assert "network network1 has no east-west gateway" not in result.stderr
    assert [c.east_west_gateway.enabled for c in mesh_of(one_way).clusters] == [True, False]

    after = meshgen(capsys, one_way, "render", "--check")
    assert after.exit_code == 0, after.stdout
    assert "network network1" not in after.stderr
    assert "warning: network network2 has no east-west gateway" in after.stderr


def test_settings_land_in_mesh_yaml_with_comments_kept(
    one_way: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (one_way.root / "mesh.yaml").read_text()
    text = text.replace("  - name: cluster-2\n", "  - name: cluster-2  # the US cluster\n")
    (one_way.root / "mesh.yaml").write_text(text)
    git(one_way.root, "commit", "-qam", "comment")
    result = meshgen(
        capsys, one_way, "set-cluster", "cluster-2", "--api-server", "https://203.0.113.20:6443",
        "--pod-cidr", "10.20.0.0/16", "--pod-cidr", "fd00:20::/56", "--service-cidr",
        "10.96.0.0/12", "--region", "us-east1", "--zone", "us-east1-b", "--no-commit",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    text = (one_way.root / "mesh.yaml").read_text()
    assert "  - name: cluster-2  # the US cluster\n" in text
    assert (
        '    apiServer: https://203.0.113.20:6443\n    podCIDRs:\n      - "10.20.0.0/16"\n'
        '      - "fd00:20::/56"\n    serviceCIDRs:\n      - "10.96.0.0/12"\n'
        "    region: us-east1\n    zone: us-east1-b\n"
    ) in text
    assert (
        "cluster-2 changes: apiServer https://198.51.100.2:6443 -> https://203.0.113.20:6443"
        in result.stdout
    )
    app = (one_way.root / "bootstrap/argocd/roots/cluster-2.yaml").read_text()
    assert "meshgen.io/region: us-east1" in app and "meshgen.io/zone: us-east1-b" in app

    git(one_way.root, "commit", "-qam", "settings")
    unset = meshgen(
        capsys, one_way, "set-cluster", "cluster-2", "--unset", "region", "--unset", "zone",
        "--unset", "pod-cidrs", "--no-commit",
    )  # fmt: skip
    assert unset.exit_code == 0, unset.stderr
    cluster = mesh_of(one_way).cluster("cluster-2")
    assert (cluster.region, cluster.zone, cluster.pod_cidrs) == (None, None, ())
    assert cluster.service_cidrs == ("10.96.0.0/12",)
    assert (
        "meshgen.io/region"
        not in (one_way.root / "bootstrap/argocd/roots/cluster-2.yaml").read_text()
    )


REFUSED_REMOTE = "role primary -> remote is refused: the change would delete cluster-2's own"
REFUSED_EXTERNAL = "role primary -> external-control-plane is refused: an external control"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("cluster-2", "--api-server", "10.0.0.3:6443"), "error: --api-server: '10.0.0.3:6443'"),
        (("cluster-2", "--pod-cidr", "10.0.0.0/33"), "error: --pod-cidr: '10.0.0.0/33' is not"),
        (("cluster-9", "--zone", "a"), "'cluster-9' is not in the mesh (clusters: cluster-1, "),
        (("cluster-2",), "nothing to change; pass at least one of"),
        (("cluster-2", "--zone", "a", "--unset", "zone"), "--unset zone: the same command also"),
        (("cluster-2", "--role", "remote"), REFUSED_REMOTE),
        (("cluster-2", "--role", "external-control-plane"), REFUSED_EXTERNAL),
    ],
)
def test_bad_requests_are_one_line_exit_2_and_change_nothing(
    one_way: MeshRepo, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    before = tree_bytes(one_way.root)
    branches = git(one_way.root, "branch", "--list")
    result = meshgen(capsys, one_way, "set-cluster", *args)
    assert result.exit_code == 2, result.stdout
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and not re.search(r"mesh\.yaml:\d", result.stderr)
    assert tree_bytes(one_way.root) == before
    assert git(one_way.root, "branch", "--list") == branches


def test_asking_for_what_is_already_set_changes_nothing(
    one_way: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    result = meshgen(capsys, one_way, "set-cluster", "cluster-1", "--no-east-west-gateway")
    assert result.exit_code == 0, result.stderr
    assert "Nothing to change: cluster-1 already has these settings." in result.stdout
    assert git(one_way.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert "set-cluster" not in git(one_way.root, "branch", "--list")


def test_a_dirty_tree_is_refused_even_with_nothing_to_change(
    one_way: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    (one_way.root / "scratch.txt").write_text("mine\n")
    result = meshgen(capsys, one_way, "set-cluster", "cluster-1", "--no-east-west-gateway")
    assert result.exit_code == 2 and "uncommitted changes (scratch.txt)" in result.stderr
    assert "Nothing to change" not in result.stdout
    assert not (one_way.root / ".git/index.lock").exists()  # git status is not left running


def test_a_remote_becomes_a_primary(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    merged(capsys, mesh_repo, "new-cluster", "primary-1", "--network", "n1", "--east-west-gateway")
    merged(
        capsys, mesh_repo, "new-cluster", "remote-1", "--network", "n1", "--role", "remote",
        "--control-plane", "primary-1", "--discovery-address", "192.0.2.10",
    )  # fmt: skip
    assert (mesh_repo.root / "clusters/primary-1/mesh-config/expose-istiod.yaml").is_file()
    result = meshgen(capsys, mesh_repo, "set-cluster", "remote-1", "--role", "primary")
    assert result.exit_code == 0, result.stderr
    message = git(mesh_repo.root, "log", "-1", "--format=%B")
    assert "remote-1 becomes a primary: it runs its own istiod instead of primary-1's." in message
    assert "primary-1 no longer manages remotes: externalIstiod is turned off." in message
    cluster = mesh_of(mesh_repo).cluster("remote-1")
    assert (cluster.role, cluster.control_plane) == ("primary", None)
    assert "controlPlane" not in (mesh_repo.root / "mesh.yaml").read_text()
    istiod = (mesh_repo.root / "clusters/remote-1/values/istiod.yaml").read_text()
    assert "profile: remote" not in istiod
    assert "  removed  clusters/primary-1/mesh-config/expose-istiod.yaml\n" in result.stdout
    check = meshgen(capsys, mesh_repo, "render", "--check")
    assert check.exit_code == 0, check.stdout


def test_turning_off_a_networks_last_gateway_says_what_that_means(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    merged(capsys, mesh_repo, "new-cluster", "cluster-1", "--network", "network1")
    merged(capsys, mesh_repo, "new-cluster", "cluster-2", "--network", "network2")
    result = meshgen(capsys, mesh_repo, "set-cluster", "cluster-2", "--no-east-west-gateway")
    assert result.exit_code == 0, result.stderr
    assert (
        "cluster-2 stops running its east-west gateway: network network2 can no longer be "
        "reached from the other networks."
    ) in result.stdout
    assert "warning: network network2 has no east-west gateway" in result.stderr
    assert "  removed  clusters/cluster-2/values/gateway.yaml\n" in result.stdout
