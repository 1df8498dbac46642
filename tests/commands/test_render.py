"""`meshgen render` and `render --check`: idempotent, exact, and careful with hand-written files."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import MeshRepo, git, record_as_written, run_cli, tree_bytes


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


# --------------------------------------------------------------------------------------------
# meshgenVersion: the meshgen that rendered the repository, which CI installs.


def rendered_by(repo: MeshRepo, version: str | None) -> None:
    """Make the repository look rendered by meshgen ``version`` (None: before 0.2.0, no
    record) whose output is this meshgen's, and commit it."""
    from helpers import write_files
    from meshgen import mesh_repo, spec

    text = (repo.root / "mesh.yaml").read_text()
    current = spec.parse(text).mesh.meshgen_version
    line = f'meshgenVersion: "{current}"\n'
    text = text.replace(line, f'meshgenVersion: "{version}"\n' if version else "")
    (repo.root / "mesh.yaml").write_text(text)
    write_files(repo.root, mesh_repo.desired_files(spec.parse(text)))
    git(repo.root, "commit", "-qam", f"rendered by {version}")


def rendered_differently_by(repo: MeshRepo, version: str) -> None:
    """As :func:`rendered_by`, where that meshgen wrote one generated file (README.md)
    otherwise than this one does."""
    rendered_by(repo, version)
    readme = repo.root / "README.md"
    readme.write_text(readme.read_text().replace("## Layout", "## Files"))
    record_as_written(repo.root)  # that meshgen recorded what it wrote
    git(repo.root, "commit", "-qam", f"as {version} rendered it")


def workflow_pin(repo: MeshRepo) -> str:
    text = (repo.root / ".github/workflows/meshgen.yaml").read_text()
    return text.split("pip install ", 1)[1].split('"', 1)[0].strip()


def test_init_records_this_meshgen_and_ci_installs_exactly_it(mesh_repo: MeshRepo) -> None:
    from meshgen import DISTRIBUTION, __version__, spec

    assert DISTRIBUTION == "istio-meshgen"
    mesh = spec.parse((mesh_repo.root / "mesh.yaml").read_text()).mesh
    assert mesh.meshgen_version == __version__
    assert workflow_pin(mesh_repo) == f"istio-meshgen=={__version__}"
    diff_workflow = (mesh_repo.root / ".github/workflows/meshgen-diff.yaml").read_text()
    assert f'pip install "istio-meshgen=={__version__}"' in diff_workflow


def test_another_version_that_renders_the_same_passes_and_keeps_the_record(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshgen import __version__

    rendered_by(two_clusters, "0.1.9")
    assert workflow_pin(two_clusters) == "istio-meshgen==0.1.9"  # CI keeps using 0.1.9
    check = run_cli(capsys, "render", "--check", "--repo", str(two_clusters.root))
    assert check.exit_code == 0, check.stderr
    assert f"Rendered by meshgen 0.1.9; this meshgen ({__version__}) renders it the same." in (
        check.stdout
    )
    before = tree_bytes(two_clusters.root)
    again = run_cli(capsys, "render", "--repo", str(two_clusters.root))
    assert again.exit_code == 0 and "Nothing to do" in again.stdout
    # The record is an input, not output: equal output leaves it (and CI's pin) alone.
    assert tree_bytes(two_clusters.root) == before


def test_another_version_that_renders_differently_says_which_to_install(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshgen import __version__

    rendered_differently_by(two_clusters, "0.1.9")
    check = run_cli(capsys, "render", "--check", "--repo", str(two_clusters.root))
    assert check.exit_code == 1
    assert (
        # README.md, and the record of what that meshgen wrote (.meshgen/generated.sha256)
        f"error: {two_clusters.root}: 2 generated files differ from what this meshgen renders; "
        f"rendered by meshgen 0.1.9, this is {__version__}: install istio-meshgen==0.1.9, or run "
        f"`meshgen render` to re-render with {__version__} and commit the result\n"
    ) == check.stderr

    result = run_cli(capsys, "render", "--repo", str(two_clusters.root))
    assert result.exit_code == 0, result.stderr
    assert f"mesh.yaml: meshgenVersion 0.1.9 -> {__version__}." in result.stdout
    assert workflow_pin(two_clusters) == f"istio-meshgen=={__version__}"
    written = {line.split()[-1] for line in result.stdout.splitlines() if "wrote" in line}
    assert {"README.md", "mesh.yaml", ".github/workflows/meshgen.yaml"} <= written
    after = run_cli(capsys, "render", "--check", "--repo", str(two_clusters.root))
    assert after.exit_code == 0, after.stdout


def test_an_older_meshgen_does_not_undo_a_newer_ones_output(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshgen import __version__

    rendered_differently_by(two_clusters, "9.0.0")
    before = tree_bytes(two_clusters.root)
    for args in (("render",), ("new-cluster", "cluster-3", "--network", "network3")):
        refused = run_cli(capsys, *args, "--repo", str(two_clusters.root))
        assert refused.exit_code == 2, refused.stdout
        assert (
            f"this repository was rendered by meshgen 9.0.0, newer than this one ({__version__})"
        ) in refused.stderr
        assert "install istio-meshgen==9.0.0" in refused.stderr
        assert tree_bytes(two_clusters.root) == before
    assert git(two_clusters.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    check = run_cli(capsys, "render", "--check", "--repo", str(two_clusters.root))
    assert check.exit_code == 1 and "install istio-meshgen==9.0.0" in check.stderr


def test_a_repository_from_before_the_record_gets_one(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshgen import __version__

    rendered_by(two_clusters, None)
    workflow = two_clusters.root / ".github/workflows/meshgen.yaml"
    workflow.write_text(workflow.read_text().replace("istio-meshgen==", "meshgen=="))
    (two_clusters.root / ".meshgen/generated.sha256").unlink()  # 0.1.0 kept no record
    git(two_clusters.root, "commit", "-qam", "as 0.1.0 rendered it")
    check = run_cli(capsys, "render", "--check", "--repo", str(two_clusters.root))
    assert check.exit_code == 1
    assert "mesh.yaml records no meshgenVersion (rendered by meshgen before 0.2.0)" in (
        check.stderr
    )
    assert run_cli(capsys, "render", "--repo", str(two_clusters.root)).exit_code == 0
    text = (two_clusters.root / "mesh.yaml").read_text()
    assert f'kind: Mesh\nmeshgenVersion: "{__version__}"\n' in text
    assert workflow_pin(two_clusters) == f"istio-meshgen=={__version__}"


# -- the quiet path: nothing to write, nothing to say, mesh.yaml not parsed -----------------


def settled_renders(capsys: pytest.CaptureFixture[str], root: Path) -> None:
    """Render, let the files age until the tree cache trusts them, render again (which notes
    the text as quiet when it is)."""
    import time

    from meshgen.adapters import tree_cache

    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    time.sleep(tree_cache.COARSE_SLACK_NS / 1e9 + 0.1)
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0


def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from meshgen import mesh_repo

    loads: list[int] = []
    original = mesh_repo.load
    monkeypatch.setattr(mesh_repo, "load", lambda root: loads.append(1) or original(root))
    return loads


def outputs_without_quiet_note(
    capsys: pytest.CaptureFixture[str], root: Path, *args: str
) -> tuple[int, str, str]:
    """What the command says when the render memo holds no quiet note (the usual path)."""
    from meshgen.adapters import lock, tree_cache

    memo = lock.state_dir(root) / tree_cache.RENDER_MEMO_FILE
    kept = memo.read_text()
    memo.write_text("".join(line for line in kept.splitlines(True) if "quiet:" not in line))
    try:
        result = run_cli(capsys, *args, "--repo", str(root))
    finally:
        memo.write_text(kept)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("args", [("render",), ("render", "--check"), ("render", "--dry-run")])
def test_a_repository_with_nothing_to_do_is_checked_without_parsing_mesh_yaml(
    two_clusters: MeshRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
) -> None:
    root = two_clusters.root
    settled_renders(capsys, root)
    usual = outputs_without_quiet_note(capsys, root, *args)
    loads = count_loads(monkeypatch)
    result = run_cli(capsys, *args, "--repo", str(root))
    assert loads == []
    assert (result.exit_code, result.stdout, result.stderr) == usual
    assert usual[0] == 0 and ("up to date" in usual[1] or "Nothing to do" in usual[1])


def test_the_quiet_path_still_sees_a_hand_edit(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_clusters.root
    settled_renders(capsys, root)
    values = root / "clusters/cluster-1/values/istiod.yaml"
    values.write_text(values.read_text() + "edited: true\n")
    check = run_cli(capsys, "render", "--check", "--repo", str(root))
    assert check.exit_code != 0 and "clusters/cluster-1/values/istiod.yaml" in check.stdout


def test_a_text_with_something_to_say_is_never_quiet(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = two_clusters.root
    mesh = root / "mesh.yaml"
    mesh.write_text(mesh.read_text().replace('version: "1.31.1"', 'version: "1.99.0"'))
    settled_renders(capsys, root)
    loads = count_loads(monkeypatch)
    result = run_cli(capsys, "render", "--check", "--repo", str(root))
    assert result.exit_code == 0 and "1.99.0 is not in meshgen's release catalogue" in result.stderr
    assert loads == [1]


def test_moved_store_keys_are_said_on_the_quiet_path_too(
    two_clusters: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = two_clusters.root
    mesh = root / "mesh.yaml"
    mesh.write_text(mesh.read_text().replace("meshID: mesh1", "meshID: mesh2"))
    settled_renders(capsys, root)  # rendered, not committed: HEAD has mesh1
    check = run_cli(capsys, "render", "--check", "--repo", str(root))
    assert check.exit_code == 0 and "meshID mesh1 -> mesh2 moves every secret-store key" in (
        check.stderr
    )


def untracked_cache_in_index(root: Path) -> bool:
    """Whether git's index of ``root`` holds the untracked cache (its UNTR extension)."""
    return b"UNTR" in (root / ".git/index").read_bytes()


def test_the_first_render_in_a_clone_has_git_refresh_its_index(
    two_clusters: MeshRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone's first git status builds the untracked cache over every folder, which
    the next change command's dirty-tree check would wait for: the clone's first render
    has git do it beside its own reading. render --check writes nothing to git's index."""
    git(two_clusters.root, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(two_clusters.origin), str(clone))
    index = (clone / ".git/index").read_bytes()
    assert not untracked_cache_in_index(clone)
    assert run_cli(capsys, "render", "--check", "--repo", str(clone)).exit_code == 0
    assert (clone / ".git/index").read_bytes() == index
    result = run_cli(capsys, "render", "--repo", str(clone))
    assert result.exit_code == 0, result.stderr
    assert "Nothing to do" in result.stdout
    assert untracked_cache_in_index(clone)
    assert git(clone, "status", "--porcelain") == ""
    # Not the first meshgen command any more: the index is left to git from now on.
    (clone / ".git/index").write_bytes(index)
    assert run_cli(capsys, "render", "--repo", str(clone)).exit_code == 0
    assert (clone / ".git/index").read_bytes() == index


def test_a_clone_configured_without_the_untracked_cache_keeps_it_off(
    two_clusters: MeshRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(two_clusters.origin), str(clone))
    git(clone, "config", "core.untrackedCache", "false")
    assert run_cli(capsys, "render", "--repo", str(clone)).exit_code == 0
    assert not untracked_cache_in_index(clone)
