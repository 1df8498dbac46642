"""`meshgen upgrade` on real repositories with a bare origin, each step merged as a pull request
would be, and checked as CI would: `render --check` and `validate` with the real charts of both
versions (../shared/upstream/istio, `--charts` pointing there) and the CRDs.

The issue's mesh: cluster-1 (primary, network1) with its remote cluster-2 (network2), and
cluster-3 (primary, network2), from Istio 1.30.3 to 1.31.0-rc.0. One flow per engine and
strategy; the repositories are reused across the steps of a flow.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import MeshRepo, git, require_upstream, run_cli, tree_bytes
from meshgen import spec
from meshgen.commands import validate
from meshgen.validation import ERROR, UNCHECKED
from upgrade_fixtures import (
    NETWORKS,
    NEW,
    NEW_REVISION,
    OLD,
    PRIMARY_1,
    PRIMARY_3,
    REMOTE_2,
    canary_state,
)

FLUX_CRDS = "flux/sc-v1.9.1_kc-v1.9.4_hc-v1.6.3/crds"


@pytest.fixture(scope="module")
def upstream() -> Path:
    return require_upstream(
        *(f"istio/{v}/charts" for v in (OLD, NEW)),
        f"istio/{NEW}/crds",
        "argocd/v3.5.1/crds",
        "external-secrets/v2.9.0/crds",
        FLUX_CRDS,
    )


def make_mesh(root: Path, capsys: pytest.CaptureFixture[str], engine: str = "argocd") -> MeshRepo:
    """`meshgen init` at 1.30.3 with the three clusters, rendered, committed and pushed."""
    origin = root.parent / f"{root.name}-origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", str(origin))
    args = ["init", str(root), "--mesh-id", "mesh1", "--istio-version", OLD, "--engine", engine]
    # Flux pulls over http(s) or ssh only; git pushes go to the bare origin all the same.
    args += ["--repo-url", "https://git.example.com/platform/mesh.git"] if engine == "flux" else []
    result = run_cli(capsys, *args)
    assert result.exit_code == 0, result.stderr
    mesh = root / "mesh.yaml"
    clusters = f"networks:\n{NETWORKS}clusters:\n{PRIMARY_1}{REMOTE_2}{PRIMARY_3}"
    mesh.write_text(mesh.read_text().replace("networks: []\nclusters: []\n", clusters))
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Three clusters")
    git(root, "push", "-q", "-u", "origin", "main")
    return MeshRepo(root=root, origin=origin)


def merge(repo: MeshRepo, branch: str) -> None:
    """What merging the pull request does: a merge commit on main, pushed."""
    git(repo.root, "switch", "-q", "main")
    git(repo.root, "merge", "-q", "--no-ff", branch, "-m", f"Merge {branch}")
    git(repo.root, "push", "-q", "origin", "main")


def assert_ci_passes(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str], upstream: Path, engine: str
) -> None:
    """`render --check`, then `validate` with both versions' charts and every CRD: no problem,
    nothing unchecked."""
    check = run_cli(capsys, "render", "--check", "--repo", str(repo.root))
    assert check.exit_code == 0, check.stdout + check.stderr
    crds = [upstream / "istio" / NEW / "crds", upstream / "external-secrets" / "v2.9.0" / "crds"]
    if engine == "flux":
        crds.append(upstream / FLUX_CRDS)
    else:
        argocd = upstream / "argocd" / "v3.5.1" / "crds"
        crds += [argocd / "application-crd.yaml", argocd / "appproject-crd.yaml"]
    options = validate.Options(repo=repo.root, crds=tuple(crds), charts=upstream / "istio", jobs=2)
    findings = validate.collect(options)
    bad = [f for f in findings if f.severity in (ERROR, UNCHECKED)]
    assert bad == [], "\n".join(f"{f.where()}: {f.message}" for f in bad)


@dataclass
class Step:
    args: tuple[str, ...]
    branch: str


def upgrade(capsys: pytest.CaptureFixture[str], repo: MeshRepo, *args: str):
    return run_cli(capsys, "upgrade", *args, "--repo", str(repo.root))


def mesh_of(repo: MeshRepo) -> spec.Mesh:
    return spec.parse((repo.root / "mesh.yaml").read_text()).mesh


def run_flow(
    repo: MeshRepo,
    capsys: pytest.CaptureFixture[str],
    upstream: Path,
    engine: str,
    steps: list[Step],
    after_each: Callable[[int], None] = lambda _index: None,
) -> None:
    for index, step in enumerate(steps):
        result = upgrade(capsys, repo, *step.args, "--push")
        assert result.exit_code == 0, result.stderr
        assert git(repo.root, "rev-parse", "--abbrev-ref", "HEAD") == step.branch
        assert git(repo.origin, "rev-parse", step.branch) == git(repo.root, "rev-parse", "HEAD")
        assert git(repo.root, "rev-list", "--count", f"main..{step.branch}") == "1"
        merge(repo, step.branch)
        # The step's "Next:" names what --status names once it is merged.
        status = upgrade(capsys, repo, "--status", "-o", "json")
        following = (json.loads(status.stdout)["upgrade"] or {}).get("next")
        if following is None:
            assert "Nothing follows" in result.stdout
        else:
            assert f"Next: {following}" in result.stdout, result.stdout
        after_each(index)
        assert_ci_passes(repo, capsys, upstream, engine)


REVISION_STEPS = [
    Step(
        ("--istio-version", NEW, "--canary", "cluster-3"),
        f"meshgen/upgrade-istio-{NEW}-canary-cluster-3",
    ),
    Step(("--istio-version", NEW), f"meshgen/upgrade-istio-{NEW}"),
    Step(("--promote",), f"meshgen/upgrade-istio-{NEW}-promote"),
    Step(("--finish",), f"meshgen/upgrade-istio-{NEW}-finish"),
]


def test_a_revision_based_upgrade_with_argocd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], upstream: Path, tools: object
) -> None:
    """The canary, then the primary with a remote first and the remote after it (the Flux flow
    moves them together), then the promotion and the finish."""
    repo = make_mesh(tmp_path / "mesh", capsys)
    seen: list[spec.Mesh] = []

    def check(index: int) -> None:
        mesh = mesh_of(repo)
        seen.append(mesh)
        c1, c3 = mesh.cluster("cluster-1"), mesh.cluster("cluster-3")
        apps = repo.root / "clusters" / "cluster-3" / "applications"
        message = git(repo.root, "log", "-1", "--format=%B", "HEAD^2")
        if index == 0:  # the canary: only cluster-3 has the new revision
            assert mesh.versions_of(c3) == (OLD, NEW) and mesh.versions_of(c1) == (OLD,)
            app = (apps / f"istiod-{NEW_REVISION}.yaml").read_text()
            assert (
                f'targetRevision: "{NEW}"' in app and f"releaseName: istiod-{NEW_REVISION}" in app
            )
            assert (
                f"cluster-3 istiod {OLD} -> {NEW} (revision {NEW_REVISION} added, tags default, "
                "stable still on the unrevisioned istiod, tag canary on revision "
                f"{NEW_REVISION})." in message
            )
            assert f"- cluster-3: istio-base (wave 1): {OLD} -> {NEW}; then istiod" in message
        if index == 1:  # the primary first: its remote keeps using the old revision
            assert mesh.versions_of(c1) == (OLD, NEW)
            assert mesh.versions_of(mesh.cluster("cluster-2")) == (OLD,)
            expose = (repo.root / "clusters/cluster-1/mesh-config/expose-istiod.yaml").read_text()
            assert f"istiod-vs-{NEW_REVISION}" in expose and "name: istiod-vs\n" in expose
        if index == 2:  # then the remote follows
            assert mesh.versions_of(mesh.cluster("cluster-2")) == (OLD, NEW)
        if index == 3:  # promoted: the tags and the gateway on the new revision
            assert mesh.default_revision_of(c3) == NEW_REVISION
            gateway = (repo.root / "clusters/cluster-3/values/gateway.yaml").read_text()
            assert f'revision: "{NEW_REVISION}"' in gateway
            assert "its east-west gateway rolls to it" in message
        if index == 4:  # finished: the old istiod is gone, the mesh is at the new version
            assert mesh.istio_version == NEW
            assert not (apps / "istiod.yaml").exists()
            assert all(mesh.versions_of(c) == (NEW,) for c in mesh.clusters)
            status = upgrade(capsys, repo, "--status")
            assert f"No upgrade in progress; the mesh runs Istio {NEW}." in status.stdout

    primary_first = [
        REVISION_STEPS[0],
        Step(
            ("--istio-version", NEW, "--clusters", "cluster-1"),
            f"meshgen/upgrade-istio-{NEW}-cluster-1",
        ),
        Step(
            ("--istio-version", NEW, "--clusters", "cluster-2"),
            f"meshgen/upgrade-istio-{NEW}-cluster-2",
        ),
        *REVISION_STEPS[2:],
    ]
    run_flow(repo, capsys, upstream, "argocd", primary_first, check)
    assert len(seen) == 5


def test_a_revision_based_upgrade_with_flux(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], upstream: Path, tools: object
) -> None:
    """With Flux the releases are HelmReleases chained with dependsOn, the new revision's
    after the old one (a tag moves from the old release to the new one: Helm must let go of
    its webhook configuration before the other release takes it)."""
    repo = make_mesh(tmp_path / "mesh", capsys, engine="flux")

    def check(index: int) -> None:
        charts = repo.root / "clusters" / "cluster-1" / "charts"
        if index == 2:
            release = (charts / f"istiod-{NEW_REVISION}.yaml").read_text()
            assert f"releaseName: istiod-{NEW_REVISION}" in release
            assert f'version: "{NEW}"' in release
            assert "dependsOn:\n    - name: istiod\n" in release  # after the old release
        if index == 3:
            assert not (charts / "istiod.yaml").exists()
            release = (charts / f"istiod-{NEW_REVISION}.yaml").read_text()
            assert "dependsOn:\n    - name: istio-base\n" in release

    run_flow(repo, capsys, upstream, "flux", REVISION_STEPS, check)


def test_an_in_place_upgrade_with_flux(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], upstream: Path, tools: object
) -> None:
    repo = make_mesh(tmp_path / "mesh", capsys, engine="flux")
    steps = [
        Step(
            ("--istio-version", NEW, "--strategy", "in-place", "--canary", "cluster-3"),
            f"meshgen/upgrade-istio-{NEW}-canary-cluster-3",
        ),
        Step(("--istio-version", NEW, "--strategy", "in-place"), f"meshgen/upgrade-istio-{NEW}"),
    ]

    def check(index: int) -> None:
        mesh = mesh_of(repo)
        release = (repo.root / "clusters/cluster-3/charts/istiod.yaml").read_text()
        assert f'version: "{NEW}"' in release
        if index == 0:
            assert mesh.cluster("cluster-3").istio == spec.IstioState(version=NEW)
            assert mesh.versions_of(mesh.cluster("cluster-1")) == (OLD,)
        else:  # every cluster there: mesh.yaml reads as if made at the new version
            assert mesh.istio_version == NEW and not any(c.istio for c in mesh.clusters)

    run_flow(repo, capsys, upstream, "flux", steps, check)


# ---------------------------------------------------------------------------- one repository


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> MeshRepo:
    """A committed mesh, copied for each test below (each leaves its copy as it likes)."""
    return make_mesh(tmp_path_factory.mktemp("shared") / "mesh", _Quiet())  # type: ignore[arg-type]


class _Quiet:
    """What run_cli needs of capsys, for a module fixture (its output is not read)."""

    def readouterr(self) -> SimpleNamespace:
        return SimpleNamespace(out="", err="")


@pytest.fixture
def repo(shared: MeshRepo, tmp_path: Path) -> MeshRepo:
    """A copy of the shared repository (a clone keeps origin and history)."""
    root = tmp_path / "mesh"
    shutil.copytree(shared.root, root, symlinks=True)
    return MeshRepo(root=root, origin=shared.origin)


def assert_refused(
    capsys: pytest.CaptureFixture[str], repo: MeshRepo, args: tuple[str, ...], expected: str
) -> str:
    """Exit 2, one line naming the problem, and the repository exactly as it was."""
    before = tree_bytes(repo.root)
    branches = git(repo.root, "branch", "--list")
    result = upgrade(capsys, repo, *args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr, result.stderr
    assert tree_bytes(repo.root) == before
    assert git(repo.root, "branch", "--list") == branches
    assert git(repo.root, "status", "--porcelain") == ""
    return result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--istio-version", "1.32.0"), "Istio 1.32.0 is not in meshgen's release catalogue"),
        (("--istio-version", "1.28.10"), "meshgen does not downgrade"),
        (("--istio-version", NEW, "--canary", "cluster-2"), "a remote never moves alone"),
        (
            ("--istio-version", NEW, "--strategy", "in-place", "--clusters", "cluster-2"),
            "a remote never moves alone",
        ),
        (("--promote",), "no revision-based upgrade is in progress"),
        (("--finish",), "no revision-based upgrade is in progress"),
        (("--istio-version", NEW, "--canary", "ghost"), "cluster 'ghost' is not in the mesh"),
        (("--promote", "--finish"), "--promote and --finish are separate steps"),
        ((), "say what to do: --istio-version V"),
        (
            ("--istio-version", NEW, "--canary", "cluster-3", "--clusters", "cluster-1"),
            "drop --clusters",
        ),
        (("--promote", "--strategy", "in-place"), "--strategy is chosen when the upgrade starts"),
    ],
)
def test_refusals_change_nothing(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    assert_refused(capsys, repo, args, expected)


def hand_edit(repo: MeshRepo, name: str, state: str, message: str) -> None:
    """Give cluster ``name`` an ``istio:`` state by hand, as a person would, and commit."""
    mesh = repo.root / "mesh.yaml"
    marker = f"  - name: {name}\n"
    head, tail = mesh.read_text().split(marker)
    entry, found, rest = tail.partition("  - name: ")
    mesh.write_text(head + marker + entry + state + found + rest)
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-q", "-m", message)


def test_skew_refusals_from_the_repository(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A supported path only, and never a third minor version in the mesh."""
    hand_edit(repo, "cluster-3", '    istio: {version: "1.29.6"}\n', "cluster-3 at 1.29")
    assert run_cli(capsys, "render", "--repo", str(repo.root)).exit_code == 0
    git(repo.root, "commit", "-q", "-am", "render")
    assert_refused(
        capsys,
        repo,
        ("--istio-version", NEW, "--clusters", "cluster-1,cluster-2"),
        "upgrade refused: the mesh would run Istio 1.29 (cluster-3), 1.30 (cluster-1), 1.31",
    )
    assert_refused(
        capsys,
        repo,
        ("--istio-version", NEW, "--strategy", "in-place", "--canary", "cluster-3"),
        "1.29.6 -> 1.31.0-rc.0 skips 1 minor version(s)",
    )


def test_promote_refuses_a_revision_that_is_not_rendered(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """mesh.yaml has the new revision, but nobody ran render: its istiod is not deployed."""
    hand_edit(repo, "cluster-3", canary_state(), "canary by hand, not rendered")
    assert_refused(
        capsys,
        repo,
        ("--promote", "--clusters", "cluster-3"),
        f"promote refused: cluster-3 has not been rendered at the new revision "
        f"(clusters/cluster-3/applications/istiod-{NEW_REVISION}.yaml is missing)",
    )


def test_finish_refuses_while_a_tag_points_at_the_old_revision(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    result = upgrade(capsys, repo, "--istio-version", NEW, "--canary", "cluster-3")
    assert result.exit_code == 0, result.stderr
    assert_refused(
        capsys,
        repo,
        ("--finish",),
        "cluster-3: tags default, stable still point at revision default (1.30.3); promote first",
    )


def test_the_command_and_a_hand_edit_give_the_same_repository(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`render` stays the single source of the files: writing the command's mesh.yaml by hand
    and running render gives exactly what the command committed."""
    by_hand = tmp_path / "by-hand"
    shutil.copytree(repo.root, by_hand, symlinks=True)
    result = upgrade(capsys, repo, "--istio-version", NEW, "--canary", "cluster-3", "--no-commit")
    assert result.exit_code == 0, result.stderr
    assert git(repo.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"  # --no-commit
    (by_hand / "mesh.yaml").write_bytes((repo.root / "mesh.yaml").read_bytes())
    assert run_cli(capsys, "render", "--repo", str(by_hand)).exit_code == 0
    assert tree_bytes(by_hand) == tree_bytes(repo.root)


def test_status_diff_and_graph_during_an_upgrade(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    result = upgrade(capsys, repo, "--istio-version", NEW, "--canary", "cluster-3")
    assert result.exit_code == 0, result.stderr
    status = upgrade(capsys, repo, "--status")
    assert status.exit_code == 0
    assert (
        f"cluster-3  primary: {OLD} (unrevisioned; tags default, stable) + {NEW} (revision "
        f"{NEW_REVISION}; tags canary)" in status.stdout
    )
    assert f"next: meshgen upgrade --istio-version {NEW} (for cluster-1, cluster-2)" in (
        status.stdout
    )
    data = json.loads(upgrade(capsys, repo, "--status", "-o", "json").stdout)
    assert data["upgrade"] == {
        "target": NEW,
        "behind": ["cluster-1", "cluster-2"],
        "next": f"meshgen upgrade --istio-version {NEW}",
    }
    (cluster_3,) = [c for c in data["clusters"] if c["name"] == "cluster-3"]
    assert cluster_3["defaultRevision"] == "default"
    assert [(p["release"], p["version"], p["tags"]) for p in cluster_3["controlPlanes"]] == [
        ("istiod", OLD, ["default", "stable"]),
        (f"istiod-{NEW_REVISION}", NEW, ["canary"]),
    ]
    diff = run_cli(capsys, "diff", "--repo", str(repo.root), "--base", "main")
    assert diff.exit_code == 0, diff.stderr
    assert f"cluster-3 istiod {OLD} -> {NEW} (revision {NEW_REVISION} added" in diff.stdout
    graph = run_cli(capsys, "graph", "--repo", str(repo.root))
    assert f"cluster-3 (primary, Istio {OLD} + {NEW}, default on {OLD})" in graph.stdout
    assert f"cluster-1 (primary, Istio {OLD})" in graph.stdout
    assert "cluster-2 (remote of cluster-1, Istio 1.30.3)" in graph.stdout


def test_validate_applies_the_skew_rules_to_a_hand_edit(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    hand_edit(repo, "cluster-2", f'    istio: {{version: "{NEW}"}}\n', "remote first, by hand")
    result = run_cli(capsys, "validate", "--repo", str(repo.root), "--format", "json")
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    mesh = [f for f in findings if f["check"] == "mesh" and f["severity"] == "error"]
    assert len(mesh) == 1
    assert "data plane newer than its control plane" in mesh[0]["message"]
    line = (
        (repo.root / "mesh.yaml").read_text().splitlines().index(f'    istio: {{version: "{NEW}"}}')
    )
    assert mesh[0]["line"] == line + 1


def test_dry_run_says_what_it_would_do_and_writes_nothing(
    repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_bytes(repo.root)
    result = upgrade(capsys, repo, "--istio-version", NEW, "--canary", "cluster-3", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert tree_bytes(repo.root) == before
    assert git(repo.root, "branch", "--list") == "* main"
    new_values = f"clusters/cluster-3/values/istiod-{NEW_REVISION}.yaml (new)"
    assert any(
        line.split() == ["would", "write", *new_values.split()]
        for line in result.stdout.splitlines()
    ), result.stdout
    assert f"Would commit on a new branch meshgen/upgrade-istio-{NEW}-canary-cluster-3" in (
        result.stdout
    )
    assert f"cluster-3 istiod {OLD} -> {NEW} (revision {NEW_REVISION} added" in result.stdout
    assert "Dry run: nothing was written" in result.stdout
