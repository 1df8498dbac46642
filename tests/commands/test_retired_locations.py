"""Repositories made before Istio moved its charts and images: `render`, `validate`,
`new-cluster` and `diff` say so once, with the fix, and `render` moves what meshgen defaulted.

The old repository is the README's two-network mesh as an earlier meshgen committed it: the
Applications take the charts from https://istio-release.storage.googleapis.com/charts (its
default for an unset istio.chartRepository) and istiod's values set no hub (so Istio 1.30's
charts pull from registry.istio.io/release). Real git, real kustomize.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import commit_rendered, edit, git, pin_istio, run_cli, two_network_mesh
from meshgen import manifest

OLD_CHARTS = "https://istio-release.storage.googleapis.com/charts"
NEW_CHARTS = "https://blob.istio.io/istio-release/charts"
CHARTS_WARNING = f"the generated files take the charts from {OLD_CHARTS}, meshgen's old default"
IMAGES_WARNING = "istiod's generated values set no image hub (meshgen's old default)"


def old_repository(root: Path) -> Path:
    """Committed as meshgen rendered it before: the old chart URL, no hub in istiod's values."""
    commit_rendered(root, pin_istio(two_network_mesh(), "1.30.3"))
    for path in sorted(root.rglob("*.yaml")):
        if ".git" in path.parts or path.name == "mesh.yaml":
            continue
        text = path.read_text()
        aged = text.replace(NEW_CHARTS, OLD_CHARTS)
        if path.parent.name == "values" and path.name == "istiod.yaml":
            aged = aged.replace("hub: docker.io/istio\n", "").replace(
                "  hub: docker.io/istio\n", ""
            )
        path.write_text(aged)
    (root / manifest.PATH).unlink()  # an earlier meshgen kept no record of what it wrote
    git(root, "commit", "-qam", "as an earlier meshgen rendered it")
    assert OLD_CHARTS in (root / "clusters/cluster-1/applications/istiod.yaml").read_text()
    assert "hub:" not in (root / "clusters/cluster-1/values/istiod.yaml").read_text()
    return root


def test_render_warns_and_moves_unset_locations_to_the_new_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = old_repository(tmp_path / "mesh")
    check = run_cli(capsys, "render", "--repo", str(root), "--check")
    assert check.exit_code == 1
    assert check.stderr.count(CHARTS_WARNING) == 1 and check.stderr.count(IMAGES_WARNING) == 1

    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    charts, images = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert (
        CHARTS_WARNING in charts and f"fix: `meshgen render` moves them to {NEW_CHARTS}" in charts
    )
    assert "registry.istio.io/release, which Istio retires in December 2026" in images
    assert "fix: `meshgen render` sets hub and global.hub to docker.io/istio" in images
    # The pull request shows the move: every chart source and istiod's values, and the version
    # of meshgen that rendered them.
    changed = git(root, "diff", "--name-only").splitlines()
    assert changed == [
        "bootstrap/argocd/project.yaml",
        "clusters/cluster-1/applications/istio-base.yaml",
        "clusters/cluster-1/applications/istio-eastwestgateway.yaml",
        "clusters/cluster-1/applications/istiod.yaml",
        "clusters/cluster-1/values/istiod.yaml",
        "clusters/cluster-2/applications/istio-base.yaml",
        "clusters/cluster-2/applications/istio-eastwestgateway.yaml",
        "clusters/cluster-2/applications/istiod.yaml",
        "clusters/cluster-2/values/istiod.yaml",
        "mesh.yaml",  # meshgenVersion recorded: an earlier meshgen rendered it
    ]
    lines = git(root, "diff", "-U0", "--", "bootstrap", "clusters").splitlines()
    removed = [line for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line for line in lines if line.startswith("+") and not line.startswith("+++")]
    # the project's source repositories (re-sorted) and the six chart Applications
    assert sum(OLD_CHARTS in line for line in removed) == 7
    assert sum(NEW_CHARTS in line for line in added) == 7
    assert OLD_CHARTS not in "".join(added)
    assert sum("hub: docker.io/istio" in line for line in added) == 4  # hub, global.hub x2
    assert "hub: docker.io/istio" in (root / "clusters/cluster-1/values/istiod.yaml").read_text()
    # diff's mesh-level summary names the move (both sides render the same from mesh.yaml).
    summary = run_cli(capsys, "diff", "--repo", str(root), "--base", "HEAD")
    assert f"Charts move from {OLD_CHARTS} (meshgen's old default" in summary.stdout
    assert "Images move from registry.istio.io/release" in summary.stdout
    # Once moved, nothing more to say.
    git(root, "commit", "-qam", "move to the live locations")
    again = run_cli(capsys, "render", "--repo", str(root), "--check")
    assert again.exit_code == 0 and "warning" not in again.stderr


def test_validate_warns_once_with_the_fix(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = old_repository(tmp_path / "mesh")
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    findings = json.loads(result.stdout)["findings"]
    warnings = [f for f in findings if f["check"] == "mesh" and f["severity"] == "warning"]
    located = [(f["message"][:60], f["file"]) for f in warnings]
    assert sum(CHARTS_WARNING in f["message"] for f in warnings) == 1, located
    assert sum(IMAGES_WARNING in f["message"] for f in warnings) == 1, located
    charts = next(f for f in warnings if CHARTS_WARNING in f["message"])
    assert charts["fix"] == f"`meshgen render` moves them to {NEW_CHARTS}; commit the result"
    # The generated files differ from a render, too: that is what fails the run.
    assert result.exit_code == 1
    assert {f["check"] for f in findings if f["severity"] == "error"} == {"drift"}


def test_new_cluster_warns_and_its_commit_says_what_moves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = old_repository(tmp_path / "mesh")
    result = run_cli(
        capsys, "new-cluster", "cluster-3", "--network", "network2", "--repo", str(root)
    )
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count(CHARTS_WARNING) == 1 and result.stderr.count(IMAGES_WARNING) == 1
    message = git(root, "log", "-1", "--format=%B")
    moved = f"Charts move from {OLD_CHARTS} (meshgen's old default, retired in December 2026)"
    assert f"{moved} to {NEW_CHARTS}." in message
    assert "Images move from registry.istio.io/release" in message
    assert OLD_CHARTS not in (root / "clusters/cluster-1/applications/istiod.yaml").read_text()


def test_a_retired_location_named_in_mesh_yaml_is_kept_and_warned_about(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = commit_rendered(tmp_path / "mesh", pin_istio(two_network_mesh(), "1.31.1"))
    edit(
        root,
        "mesh.yaml",
        "istio:\n",
        f"istio:\n  chartRepository: {OLD_CHARTS}\n  hub: gcr.io/istio-release\n",
    )
    render = run_cli(capsys, "render", "--repo", str(root))
    assert render.exit_code == 0, render.stderr
    warnings = [line for line in render.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "Istio 1.31 was never published there" in warnings[0]
    assert warnings[0].endswith(f"fix: set istio.chartRepository: {NEW_CHARTS} in mesh.yaml (or a "
                                "mirror of it)")  # fmt: skip
    assert "fix: set istio.hub: docker.io/istio in mesh.yaml" in warnings[1]
    # What mesh.yaml names is rendered: the warning is the whole intervention.
    assert OLD_CHARTS in (root / "clusters/cluster-1/applications/istiod.yaml").read_text()
    assert "gcr.io/istio-release" in (root / "clusters/cluster-1/values/istiod.yaml").read_text()
    git(root, "commit", "-qam", "explicit")
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    assert result.exit_code == 0, result.stdout  # warnings do not fail the run
    found = {
        f["message"].split(" is ")[0]: f["line"]
        for f in json.loads(result.stdout)["findings"]
        if f["check"] == "mesh"
    }
    mesh_lines = (root / "mesh.yaml").read_text().splitlines()
    assert (
        mesh_lines[found[f"istio.chartRepository {OLD_CHARTS}"] - 1]
        .strip()
        .startswith("chartRepository:")
    )
    assert mesh_lines[found["istio.hub gcr.io/istio-release"] - 1].strip().startswith("hub:")
