"""`meshgen render` and `render --check`: idempotent, exact, and careful with hand-written files."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import MeshRepo, git, run_cli, tree_bytes


def add_and_merge(
    capsys: pytest.CaptureFixture[str], repo: MeshRepo, name: str, network: str
) -> None:
    result = run_cli(capsys, "new-cluster", name, "--network", network, "--repo", str(repo.root))
    assert result.exit_code == 0, result.stderr
    git(repo.root, "switch", "-q", "main")
    git(repo.root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")


@pytest.fixture
def two_clusters(mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]) -> MeshRepo:
    add_and_merge(capsys, mesh_repo, "cluster-1", "network1")
    add_and_merge(capsys, mesh_repo, "cluster-2", "network2")
    return mesh_repo


def test_render_is_idempotent_byte_for_byte(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_bytes(two_clusters.root)
    result = run_cli(capsys, "render", "--repo", str(two_clusters.root))
    assert result.exit_code == 0 and "Nothing to do" in result.stdout
    assert tree_bytes(two_clusters.root) == before
    check = run_cli(capsys, "render", "--check", "--repo", str(two_clusters.root))
    assert check.exit_code == 0 and "up to date" in check.stdout


def test_render_finds_the_repository_from_the_current_directory(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "render", "--check", cwd=two_clusters.root / "clusters" / "cluster-1")
    assert result.exit_code == 0, result.stderr


def test_check_reports_hand_edits_and_render_force_repairs_them(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    values = two_clusters.root / "clusters/cluster-1/values/istiod.yaml"
    original = values.read_text()
    values.write_text(original.replace("meshID: mesh1", "meshID: other"))
    (two_clusters.root / "clusters/cluster-2/values/base.yaml").unlink()
    check = run_cli(capsys, "render", "--check", "--repo", str(two_clusters.root))
    assert check.exit_code == 1
    assert "clusters/cluster-1/values/istiod.yaml: differs from mesh.yaml" in check.stdout
    assert "-  meshID: other" in check.stdout and "+  meshID: mesh1" in check.stdout
    assert "clusters/cluster-2/values/base.yaml: is missing" in check.stdout
    assert "2 generated files do not match mesh.yaml" in check.stderr
    assert values.read_text() != original  # --check wrote nothing
    refused = run_cli(capsys, "render", "--repo", str(two_clusters.root))
    assert refused.exit_code == 2
    assert "clusters/cluster-1/values/istiod.yaml: changed by hand" in refused.stderr
    assert "meshID: other" in values.read_text()  # the edit is not lost
    fix = run_cli(capsys, "render", "--force", "--repo", str(two_clusters.root))
    assert fix.exit_code == 0
    assert values.read_text() == original
    assert git(two_clusters.root, "status", "--porcelain") == ""


def test_removing_a_cluster_from_mesh_yaml_removes_its_files_only(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_clusters.root
    (root / "clusters/cluster-2/NOTES.md").write_text("hand-written notes\n")
    (root / "overlays/custom.yaml").write_text("kind: ConfigMap\n")
    mesh = (root / "mesh.yaml").read_text()
    start = mesh.index("  - name: cluster-2")
    (root / "mesh.yaml").write_text(mesh[:start].replace("  - name: network2\n", ""))
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    assert "removed  clusters/cluster-2/values/gateway.yaml" in result.stdout
    folder = root / "clusters/cluster-2"
    remaining = [p.relative_to(folder).as_posix() for p in folder.rglob("*")]
    assert remaining == ["NOTES.md"]
    assert (root / "overlays/custom.yaml").read_text() == "kind: ConfigMap\n"
    assert not (root / "bootstrap/argocd/roots/cluster-2.yaml").exists()
    assert not (root / "overlays/remote-secrets").exists()  # one cluster: no peers left
    assert not (root / "overlays/networks/network2").exists()
    for path in root.rglob("*.yaml"):
        if ".git" not in path.parts and path.name != "mesh.yaml":
            assert "cluster-2" not in path.read_text(), path


def test_hand_written_file_at_a_generated_path_is_an_error(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    target = two_clusters.root / "clusters/cluster-1/values/istiod.yaml"
    target.write_text("# my own values\nglobal: {}\n")
    before = tree_bytes(two_clusters.root)
    result = run_cli(capsys, "render", "--repo", str(two_clusters.root))
    assert result.exit_code == 2
    assert "clusters/cluster-1/values/istiod.yaml: exists but was not generated" in result.stderr
    assert tree_bytes(two_clusters.root) == before


def test_broken_mesh_yaml_is_reported_with_its_line_and_nothing_changes(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh = two_clusters.root / "mesh.yaml"
    mesh.write_text(mesh.read_text().replace("network: network2", "network: network3"))
    before = tree_bytes(two_clusters.root)
    result = run_cli(capsys, "render", "--repo", str(two_clusters.root))
    assert result.exit_code == 2
    line = next(
        n for n, text in enumerate(mesh.read_text().splitlines(), 1) if "network: network3" in text
    )
    assert result.stderr.startswith(
        f"error: mesh.yaml:{line}: clusters[1].network: network 'network3'"
    )
    assert tree_bytes(two_clusters.root) == before


def test_render_outside_a_repository_says_how_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "render", cwd=tmp_path)
    assert result.exit_code == 2 and "not inside a Git repository" in result.stderr
    missing = run_cli(capsys, "render", "--repo", str(tmp_path))
    assert missing.exit_code == 2 and "run `meshgen init`" in missing.stderr


def test_render_writes_back_a_migrated_mesh_yaml(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshgen import spec

    def rename(tree):
        spec.rename_key(tree, "meshId", "meshID")
        return tree

    monkeypatch.setitem(spec.MIGRATIONS, "meshgen.io/v1alpha0", ("meshgen.io/v1alpha1", rename))
    mesh = mesh_repo.root / "mesh.yaml"
    current = mesh.read_text()
    mesh.write_text(
        current.replace(
            "apiVersion: meshgen.io/v1alpha1", "apiVersion: meshgen.io/v1alpha0"
        ).replace("meshID: mesh1", "meshId: mesh1")
    )
    check = run_cli(capsys, "render", "--check", "--repo", str(mesh_repo.root))
    assert check.exit_code == 1 and "mesh.yaml: differs from mesh.yaml" in check.stdout
    result = run_cli(capsys, "render", "--repo", str(mesh_repo.root))
    assert result.exit_code == 0
    assert "migrated from apiVersion meshgen.io/v1alpha0" in result.stdout
    assert mesh.read_text() == current


def test_render_rejects_overlapping_ranges_on_one_network(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hand edit that makes two clusters of one network overlap is refused before writing."""
    add_and_merge(capsys, two_clusters, "cluster-3", "network1")
    mesh_file = two_clusters.root / "mesh.yaml"
    text = mesh_file.read_text()
    text = text.replace(
        "  - name: cluster-1\n", "  - name: cluster-1\n    podCIDRs: [10.0.0.0/16]\n"
    ).replace("  - name: cluster-3\n", "  - name: cluster-3\n    podCIDRs: [10.0.255.0/24]\n")
    assert text.count("podCIDRs") == 2
    mesh_file.write_text(text)
    before = tree_bytes(two_clusters.root)
    result = run_cli(capsys, "render", "--repo", str(two_clusters.root))
    assert result.exit_code == 2
    assert "cluster-3 podCIDRs 10.0.255.0/24 overlaps cluster-1 podCIDRs 10.0.0.0/16" in (
        result.stderr
    )
    assert tree_bytes(two_clusters.root) == before
