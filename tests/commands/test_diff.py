"""`meshgen diff` on real repositories: both sides rendered from their mesh.yaml."""

from __future__ import annotations

import json

import pytest
import yaml

from helpers import MeshRepo, git, run_cli

REMOTE_ENTRY = """\
  - name: remote-1
    network: network1
    role: remote
    controlPlane: cluster-1
"""


def cli(capsys: pytest.CaptureFixture[str], repo: MeshRepo, *args: str):
    return run_cli(capsys, *args, "--repo", str(repo.root))


@pytest.fixture
def two_clusters(mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]) -> MeshRepo:
    for name, network in (("cluster-1", "network1"), ("cluster-2", "network2")):
        args = ("--east-west-gateway",) if name == "cluster-1" else ()
        result = cli(capsys, mesh_repo, "new-cluster", name, "--network", network, *args)
        assert result.exit_code == 0, result.stderr
        git(mesh_repo.root, "switch", "-q", "main")
        git(mesh_repo.root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")
    git(mesh_repo.root, "push", "-q", "origin", "main")
    return mesh_repo


def test_a_hand_edited_branch_is_described(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only mesh.yaml is edited (nothing rendered): diff renders both sides itself."""
    root = two_clusters.root
    git(root, "switch", "-q", "-c", "hand-edit")
    path = root / "mesh.yaml"
    text = path.read_text().replace(
        "  - name: cluster-1\n    network: network1\n",
        "  - name: cluster-1\n    network: network1\n    discovery:\n      address: 192.0.2.50\n",
    )
    path.write_text(text + REMOTE_ENTRY)
    git(root, "commit", "-q", "-am", "Add remote-1 by hand")

    result = cli(capsys, two_clusters, "diff", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"] == [
        "remote-1 joins network network1 as a remote of cluster-1 without an east-west gateway.",
        "cluster-1 now manages remotes: its istiod runs with externalIstiod and exposes itself "
        "through its east-west gateway.",
        "Remote secrets: 1 cluster gains one for remote-1.",
        "cluster-1 changes: discovery (unset) -> 192.0.2.50.",
    ]
    clusters = {c["name"]: c for c in report["clusters"]}
    assert clusters["remote-1"]["status"] == "added"
    cluster_1 = clusters["cluster-1"]
    values = {(v["file"], v["key"]): (v["before"], v["after"]) for v in cluster_1["values"]}
    assert values[("istiod.yaml", "global.externalIstiod")] == ("(absent)", "true")
    objects = {(o["source"], o["object"]): o["change"] for o in cluster_1["objects"]}
    assert objects[
        ("istio-system", "ExternalSecret istio-system/istio-remote-secret-remote-1")
    ] == ("added")
    assert objects[("mesh-config", "Gateway istio-system/istiod-gateway")] == "added"
    # cluster-2 receives nothing new, so it is not listed.
    assert "cluster-2" not in clusters
    assert report["files"]["mesh.yaml"] == "changed"
    assert report["files"]["clusters/remote-1/values/istiod.yaml"] == "added"
    assert any(
        line.startswith("+++ b/clusters/remote-1/values/istiod.yaml") for line in report["diff"]
    )


def test_working_tree_changes_count_and_text_and_markdown_agree(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    path = two_clusters.root / "mesh.yaml"
    path.write_text(path.read_text().replace("1.31.1", "1.31.0"))
    text = cli(capsys, two_clusters, "diff", "--base", "main")
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith("meshgen diff against main (")
    assert "istio.version changes: 1.31.1 -> 1.31.0." in text.stdout
    markdown = cli(capsys, two_clusters, "diff", "--base", "main", "--format", "markdown")
    assert "- istio.version changes: 1.31.1 -> 1.31.0." in markdown.stdout
    assert "```mermaid\nflowchart LR\n" in markdown.stdout
    assert "<details><summary>cluster-1: changed" in markdown.stdout
    # Deterministic: the same report twice.
    again = cli(capsys, two_clusters, "diff", "--base", "main", "--format", "markdown")
    assert again.stdout == markdown.stdout


def test_no_change_is_an_empty_report(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads(cli(capsys, two_clusters, "diff", "--format", "json").stdout)
    assert report["summary"] == [] and report["clusters"] == [] and report["files"] == {}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--base", "no-such-ref"), "--base no-such-ref: not a commit of this repository"),
        (("--format", "xml"), "Invalid value for '--format'"),
    ],
)
def test_bad_input(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], expected: str
) -> None:
    result = cli(capsys, two_clusters, "diff", *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1


def test_base_without_mesh_yaml_and_without_history(
    tmp_path, capsys: pytest.CaptureFixture[str], mesh_repo: MeshRepo
) -> None:
    root = mesh_repo.root
    git(root, "switch", "-q", "--orphan", "empty")
    git(root, "commit", "-q", "--allow-empty", "-m", "nothing")
    empty = git(root, "rev-parse", "HEAD")
    git(root, "switch", "-q", "main")
    result = cli(capsys, mesh_repo, "diff", "--base", empty)
    assert result.exit_code == 2
    assert "has no mesh.yaml; pass a later --base" in result.stderr
    git(root, "switch", "-q", "-c", "lonely", "empty")
    git(root, "checkout", "-q", "main", "--", ".")
    git(root, "commit", "-q", "-m", "copy")
    git(root, "remote", "remove", "origin")
    git(root, "branch", "-q", "-D", "main")
    result = cli(capsys, mesh_repo, "diff")
    assert result.exit_code == 2
    assert "no base to compare with" in result.stderr


def test_renaming_the_mesh_id_warns_that_every_store_key_moves(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_clusters.root
    git(root, "switch", "-q", "-c", "rename")
    text = (root / "mesh.yaml").read_text()
    (root / "mesh.yaml").write_text(text.replace("meshID: mesh1", "meshID: prod"))
    expected = (
        "meshID mesh1 -> prod moves every secret-store key (meshgen/mesh1/remote-secrets/"
        "<cluster> -> meshgen/prod/remote-secrets/<cluster>; meshgen/mesh1/cacerts/<cluster> -> "
        "meshgen/prod/cacerts/<cluster>): copy the remote secrets and cacerts to the new keys "
        "before merging"
    )
    rendered = cli(capsys, two_clusters, "render")
    assert rendered.exit_code == 0, rendered.stderr
    assert f"warning: {expected}" in rendered.stderr
    described = cli(capsys, two_clusters, "diff")
    assert described.exit_code == 0, described.stderr
    assert expected in described.stdout
    # Once committed, render has nothing more to say; keeping the old keys needs no move.
    git(root, "commit", "-qam", "rename")
    assert "secret-store key" not in cli(capsys, two_clusters, "render").stderr
    (root / "mesh.yaml").write_text(
        (root / "mesh.yaml")
        .read_text()
        .replace(
            "  provider: external-secrets\n",
            "  provider: external-secrets\n  externalSecrets:\n"
            "    keyPrefix: meshgen/prod/remote-secrets\n"
            "    cacertsKeyPrefix: meshgen/prod/cacerts\n",
        )
        .replace("meshID: prod", "meshID: prod2")
    )
    assert "secret-store key" not in cli(capsys, two_clusters, "render").stderr


def test_nothing_changed_is_answered_with_one_render_and_no_build(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides have the same mesh: one render stands for both (for the notices about
    retired locations), nothing is built, mesh.yaml is parsed once. A comment-only edit is
    reported as such, the same way."""
    from meshgen import spec
    from meshgen.commands import diff

    calls = {"render": 0, "parse": 0}
    real_render, real_parse = diff.render_repository, spec.parse

    def counting_render(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["render"] += 1
        return real_render(*args, **kwargs)

    def counting_parse(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["parse"] += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(diff, "render_repository", counting_render)
    monkeypatch.setattr(spec, "parse", counting_parse)
    monkeypatch.setenv("MESHGEN_KUBECTL", "/nonexistent/kubectl")  # a build would fail
    report = json.loads(cli(capsys, two_clusters, "diff", "--base", "HEAD", "-o", "json").stdout)
    assert (report["files"], report["clusters"], report["diff"]) == ({}, [], [])
    assert calls == {"render": 1, "parse": 1}

    path = two_clusters.root / "mesh.yaml"
    path.write_text(path.read_text().replace("networks:", "# Two data centres.\nnetworks:"))
    result = cli(capsys, two_clusters, "diff", "--base", "HEAD", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    report = yaml.safe_load(result.stdout)
    assert report["files"] == {"mesh.yaml": "changed"} and report["clusters"] == []
    assert "+# Two data centres." in report["diff"]
    assert calls["render"] == 2  # one more for this run
