"""`validate` against the release catalogue: an unknown Istio version fails the run unless
allowed; defects, end of support, pre-releases and Kubernetes ranges are warnings with a fix
and the line in mesh.yaml. Real repositories, real git and kustomize."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from helpers import commit_rendered, git, pin_istio, run_cli, two_network_mesh
from meshgen import mesh_repo, spec
from meshgen.commands import validate
from meshgen.validation import ERROR, UNCHECKED, WARNING, release


def repository(root: Path, version: str, kubernetes: str | None = None) -> Path:
    document = pin_istio(two_network_mesh(), version)
    if kubernetes is not None:
        tree = document.tree
        tree["kubernetesVersion"] = kubernetes
        document = spec.from_tree(tree)
    return commit_rendered(root, document)


def mesh_findings(root: Path, today: datetime.date, allow: bool = False) -> list:
    return release.check(root, mesh_repo.load(root), today, allow)


def line_of(root: Path, prefix: str) -> int:
    lines = (root / spec.MESH_FILE).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith(prefix))


def test_an_unknown_version_fails_validate_unless_allowed(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = repository(tmp_path / "mesh", "1.30.9")
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    assert result.exit_code == 1
    errors = [f for f in json.loads(result.stdout)["findings"] if f["severity"] == ERROR]
    (error,) = errors  # the version is the only problem
    assert error["check"] == "mesh" and error["file"] == "mesh.yaml"
    assert error["line"] == line_of(root, "version:")
    assert "1.30.9 is not in meshgen's release catalogue" in error["message"]
    assert "--allow-unknown-version" in error["fix"]

    allowed = run_cli(
        capsys, "validate", "--repo", str(root), "--format", "json", "--allow-unknown-version"
    )
    assert allowed.exit_code == 0, allowed.stdout
    notes = [f for f in json.loads(allowed.stdout)["findings"] if f["check"] == "mesh"]
    assert [f["severity"] for f in notes] == [UNCHECKED]
    # render and new-cluster render it anyway: validate is the gate.
    rendered = run_cli(capsys, "render", "--repo", str(root))
    assert rendered.exit_code == 0 and "--allow-unknown-version" in rendered.stderr


def test_end_of_support_follows_the_injected_date(tmp_path: Path) -> None:
    root = repository(tmp_path / "mesh", "1.29.6")
    assert mesh_findings(root, datetime.date(2026, 10, 1)) == []
    (ended,) = mesh_findings(root, datetime.date(2026, 10, 2))
    assert ended.severity == WARNING and ended.line == line_of(root, "version:")
    assert "Istio 1.29 reached its end of support on 2026-10-01" in ended.message
    assert "1.30, 1.31" in ended.fix and "1.31.1" in ended.fix


def test_defects_pre_releases_and_kubernetes_ranges_are_warnings(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = repository(tmp_path / "mesh", "1.31.0-rc.0", kubernetes="1.37")
    found = mesh_findings(root, datetime.date(2026, 12, 1))
    assert [f.severity for f in found] == [WARNING, WARNING, WARNING]
    pre, defect, kubernetes = found
    assert "pre-release" in pre.message and pre.fix.endswith("(1.31.1)")
    assert "#61043" in defect.message and defect.fix.startswith("upgrade istio.version to 1.31.0")
    assert "kubernetesVersion 1.37 is outside" in kubernetes.message
    assert kubernetes.line == line_of(root, "kubernetesVersion:")
    # The exit code stays 0: only warnings (and what could not be checked offline).
    result = run_cli(capsys, "validate", "--repo", str(root))
    assert result.exit_code == 0, result.stdout
    assert result.stdout.count("[warning] mesh.yaml:") == 3
    # Charts not given: the fix says where to pull them from.
    pull = (
        "helm pull istiod --repo https://blob.istio.io/istio-release/charts --version 1.31.0-rc.0"
    )
    assert pull in result.stdout


def test_validate_takes_today_from_its_options(tmp_path: Path, tools: dict[str, Path]) -> None:
    root = repository(tmp_path / "mesh", "1.28.10")
    before = validate.collect(validate.Options(repo=root, today=datetime.date(2026, 6, 29)))
    after = validate.collect(validate.Options(repo=root, today=datetime.date(2026, 6, 30)))
    ended = "reached its end of support"
    assert not [f for f in before if ended in f.message]
    assert [f.check for f in after if ended in f.message] == ["mesh"]
    assert git(root, "status", "--porcelain") == ""  # validate writes nothing
