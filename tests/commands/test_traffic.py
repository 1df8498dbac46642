"""Traffic files through the real commands, on real repositories with a bare origin: init's
stub and example, render and its refusal of a broken file, new-cluster and remove-cluster,
diff, graph --service, and validate against the upstream charts and CRDs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from commands.test_validate import upstream_options
from helpers import MeshRepo, flux_bootstrap, git, run_cli, tree_bytes, upstream_root
from meshgen import traffic
from meshgen.commands import validate
from meshgen.validation import ERROR, UNCHECKED
from traffic_fixtures import REVIEWS, TWO_NETWORKS, policy

ISTIO = "1.30.3"
FLUX_CRDS = "flux/sc-v1.9.1_kc-v1.9.4_hc-v1.6.3/crds"
URL = "https://git.example.com/platform/mesh.git"


def cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str):
    return run_cli(capsys, *args, "--repo", str(root))


def with_policy(
    repo: MeshRepo,
    capsys: pytest.CaptureFixture[str],
    mesh_text: str = TWO_NETWORKS,
    files: dict[str, str] | None = None,
) -> Path:
    """The repository with this mesh and these traffic files, rendered, committed, pushed."""
    root = repo.root
    (root / "mesh.yaml").write_text(mesh_text)
    for path, text in (files if files is not None else {"traffic/reviews.yaml": REVIEWS}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    result = cli(capsys, root, "render")
    assert result.exit_code == 0, result.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "traffic")
    git(root, "push", "-q", "origin", "main")
    return root


def test_init_writes_the_owners_stub_and_an_example_that_holds_no_policy(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = mesh_repo.root
    owners = (root / "CODEOWNERS").read_text()
    assert "application" in owners and "/traffic/" in owners and "mesh.yaml" in owners
    example = (root / "traffic/example.yaml").read_text()
    assert example.startswith(traffic.schema_comment("traffic/example.yaml") + "\n")
    assert traffic.parse_file(example, "traffic/example.yaml") == []
    # Uncommented, it is the policy (the checks then need its clusters in the mesh).
    uncommented = "\n".join(
        line[2:]
        for line in example.splitlines()[7:]
        if line.startswith("# ") and "#   # " not in line
    )
    (reviews,) = traffic.parse_file(uncommented, "traffic/default/reviews.yaml")
    assert [d.weight for d in reviews.split] == [75, 15, 10]
    assert (root / ".meshgen/traffic.schema.json").is_file()
    assert cli(capsys, root, "render", "--check").exit_code == 0


def test_render_writes_the_policy_and_refuses_a_broken_one_whole(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = with_policy(mesh_repo, capsys)
    assert (root / "clusters/cluster1/traffic/default/reviews.yaml").is_file()
    assert cli(capsys, root, "render", "--check").exit_code == 0
    before = tree_bytes(root)
    (root / "traffic/reviews.yaml").write_text(REVIEWS.replace("weight: 10", "weight: 5"))
    result = cli(capsys, root, "render")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: traffic/reviews.yaml:6: spec.split: the weights sum to 95 (75 + 15 + 5), not "
        "100; Istio would refuse the VirtualService, so make them add up to 100"
    ]
    assert {p: b for p, b in tree_bytes(root).items() if p != "traffic/reviews.yaml"} == {
        p: b for p, b in before.items() if p != "traffic/reviews.yaml"
    }
    assert cli(capsys, root, "render", "--check").exit_code == 2


def test_new_cluster_keeps_the_traffic_and_serves_its_gateway(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = with_policy(mesh_repo, capsys)
    result = cli(
        capsys, root, "new-cluster", "cluster3", "--network", "network2", "--east-west-gateway"
    )
    assert result.exit_code == 0, result.stderr
    changed = git(root, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert "clusters/cluster1/traffic/default/reviews.yaml" not in changed
    assert (root / "clusters/cluster1/traffic/default/reviews.yaml").is_file()
    # cluster3's gateway also carries network2's v3 share: it gets the subset.
    assert "clusters/cluster3/traffic/default/reviews.yaml" in changed
    assert (
        "name: cluster2-v3" in (root / "clusters/cluster3/traffic/default/reviews.yaml").read_text()
    )
    # A policy for every cluster covers the next new one too, and the commit says so.
    git(root, "switch", "-q", "main")
    (root / "traffic/ratings.yaml").write_text(policy("  timeout: 3s\n", name="ratings"))
    assert cli(capsys, root, "render").exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "ratings")
    result = cli(capsys, root, "new-cluster", "cluster4", "--network", "network1")
    assert result.exit_code == 0, result.stderr
    message = git(root, "log", "-1", "--format=%B")
    assert "ratings.default from cluster4: now timeout 3s (traffic/ratings.yaml)" in message


def test_remove_cluster_refuses_a_named_cluster_unless_forced(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = with_policy(mesh_repo, capsys)
    before = tree_bytes(root)
    result = cli(capsys, root, "remove-cluster", "cluster2")
    assert result.exit_code == 2
    assert (
        "cluster2 is named by traffic policies: traffic/reviews.yaml (spec.split[0].cluster)"
        in (result.stderr)
    )
    assert "pass --force" in result.stderr
    assert tree_bytes(root) == before
    assert git(root, "branch", "--list", "meshgen/remove-cluster-cluster2") == ""

    result = cli(capsys, root, "remove-cluster", "cluster2", "--force")
    assert result.exit_code == 0, result.stderr
    message = git(root, "log", "-1", "--format=%B")
    assert (
        "Traffic: traffic/reviews.yaml (spec.split[0].cluster) names cluster2; its policy is "
        "left out until the file is changed." in message
    )
    assert "--force: Traffic: traffic/reviews.yaml" in result.stdout
    assert not (root / "clusters/cluster1/traffic").exists()
    assert (root / "traffic/reviews.yaml").read_text() == REVIEWS  # the team's file is theirs
    check = cli(capsys, root, "render", "--check")
    assert check.exit_code == 2 and "traffic/reviews.yaml:" in check.stderr


def test_diff_states_traffic_changes_at_mesh_level(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    fifty = REVIEWS.replace("weight: 75", "weight: 50").replace("weight: 15", "weight: 40")
    root = with_policy(mesh_repo, capsys, files={"traffic/reviews.yaml": fifty})
    (root / "traffic/reviews.yaml").write_text(REVIEWS)
    result = cli(capsys, root, "diff")
    assert result.exit_code == 0, result.stderr
    assert (
        "  reviews.default from cluster1: cluster2/v3 50% -> 75%; cluster1/v1 40% -> 15%\n"
        in result.stdout
    )
    assert "traffic/default: VirtualService default/reviews changed" in result.stdout
    assert "+++ b/traffic/reviews.yaml" in result.stdout  # the source file's own diff


def test_graph_draws_one_service(mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]) -> None:
    root = with_policy(mesh_repo, capsys)
    result = cli(capsys, root, "graph", "--service", "reviews.default")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart LR"
    assert '    c_cluster1["cluster1: client (failover priority topology.istio.io/network, ' in (
        "\n".join(lines)
    )
    assert '  c_cluster1 -->|"75% to cluster2/v3"| gw_network2' in lines
    assert "  gw_network2 -.-> s_cluster2_v3" in lines
    assert '  c_cluster1 -->|"15%"| s_cluster1_v1' in lines
    assert '    gw_network2{{"east-west gateway: cluster2"}}' in lines
    dot = cli(capsys, root, "graph", "--service", "reviews.default", "--format", "dot")
    assert 'c_cluster1 -> gw_network2 [label="75% to cluster2/v3"];' in dot.stdout
    missing = cli(capsys, root, "graph", "--service", "ratings.default")
    assert missing.exit_code == 2
    assert "no TrafficPolicy for ratings.default under traffic/ (services with one: " in (
        missing.stderr
    )


@pytest.fixture(scope="module")
def upstream() -> Path:
    root = upstream_root()
    needed = [
        root / "istio" / ISTIO / "charts",
        root / "istio" / ISTIO / "crds",
        root / "argocd" / "v3.5.1" / "crds",
        root / "external-secrets" / "v2.9.0" / "crds",
        root / FLUX_CRDS,
    ]
    missing = [str(p) for p in needed if not p.is_dir()]
    if missing:
        pytest.skip(f"upstream data not found ({', '.join(missing)}): needs ../shared/upstream")
    return root


def options(upstream: Path, root: Path) -> validate.Options:
    """validate's options with every chart and CRD, Flux's included."""
    base = upstream_options(upstream, root)
    return dataclasses.replace(base, crds=(*base.crds, upstream / FLUX_CRDS))


LOCAL = policy("  scope: cluster-local\n", name="cache", namespace="db")
RATINGS = policy("  clients: [cluster2]\n  timeout: 3s\n", name="ratings", namespace="bookinfo")


@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_validate_is_clean_with_traffic(
    engine: str,
    mesh_repo: MeshRepo,
    upstream: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    mesh_text = TWO_NETWORKS.replace("networks:", f"gitops: {{engine: {engine}}}\nnetworks:", 1)
    files = {
        "traffic/reviews.yaml": REVIEWS,
        "traffic/db/cache.yaml": LOCAL,
        "traffic/bookinfo/ratings.yaml": RATINGS,
    }
    root = with_policy(mesh_repo, capsys, mesh_text, files)
    if engine == "flux":
        for cluster in ("cluster1", "cluster2"):
            flux_bootstrap(root, cluster, URL, "main")
    findings = validate.collect(options(upstream, root))
    assert [f for f in findings if f.severity in (ERROR, UNCHECKED)] == [], "\n".join(
        f"{f.where()}: {f.message}" for f in findings
    )


def test_validate_reports_every_traffic_problem_and_skips_drift(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = with_policy(mesh_repo, capsys)
    (root / "traffic/reviews.yaml").write_text(
        REVIEWS.replace("cluster2, labels", "cluster9, labels")
    )
    (root / "traffic/ratings.yaml").write_text(policy("  timeout: soon\n", name="ratings"))
    findings = validate.collect(validate.Options(repo=root, jobs=2))
    found = [(f.file, f.line, f.message.split(":")[0]) for f in findings if f.check == "traffic"]
    assert found == [
        ("traffic/ratings.yaml", 5, "spec.timeout"),
        ("traffic/reviews.yaml", 7, "spec.split[0].cluster"),
    ]
    assert all(
        f.severity == ERROR and ".meshgen/traffic.schema.json" in f.fix
        for f in findings
        if f.check == "traffic"
    )
    drift = [f for f in findings if f.check == "drift"]
    assert [(f.severity, f.message) for f in drift] == [
        (UNCHECKED, "not run: the traffic files are not valid")
    ]
    result = cli(capsys, root, "validate")
    assert result.exit_code == 1
    assert "[traffic] traffic/reviews.yaml:7: spec.split[0].cluster: cluster 'cluster9'" in (
        result.stdout
    )
