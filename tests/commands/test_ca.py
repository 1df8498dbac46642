"""`meshgen ca init` / `ca issue` on real folders and a real mesh repository."""

from __future__ import annotations

import datetime
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509

from helpers import MeshRepo, git, run_cli, tree_bytes
from meshgen import spec
from meshgen.trust import ca
from trust_material import CLUSTER_COMMENT

KEY = ("--key-size", "2048")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_then_issue_writes_cacerts_outside_git_and_records_it(
    make_trust_mesh: Callable[[str], MeshRepo],
    secrets_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_trust_mesh("external-secrets")
    root_dir = secrets_dir / "root"
    init = run_cli(capsys, "ca", "init", "--out", str(root_dir), *KEY)
    assert init.exit_code == 0, init.stderr
    assert sorted(p.name for p in root_dir.iterdir()) == ["root-cert.pem", "root-key.pem"]
    assert mode(root_dir / "root-key.pem") == 0o600
    assert mode(root_dir / "root-cert.pem") == 0o644

    bundle = secrets_dir / "cluster-2"
    issue = run_cli(
        capsys, "ca", "issue", "cluster-2", "--ca", str(root_dir), "--out", str(bundle), *KEY,
        "--repo", str(repo.root),
    )  # fmt: skip
    assert issue.exit_code == 0, issue.stderr
    assert sorted(p.name for p in bundle.iterdir()) == sorted(ca.CACERTS_FILES)
    assert mode(bundle / "ca-key.pem") == 0o600
    cert = x509.load_pem_x509_certificate((bundle / "ca-cert.pem").read_bytes())
    root_cert = x509.load_pem_x509_certificate((root_dir / "root-cert.pem").read_bytes())
    cert.verify_directly_issued_by(root_cert)
    assert ca.cluster_of((bundle / "ca-cert.pem").read_bytes()) == "cluster-2"
    # Where the External Secrets placeholder reads it from.
    assert "meshgen/mesh1/cacerts/cluster-2" in issue.stdout

    # mesh.yaml records the validity, with comments kept; nothing else changed.
    text = (repo.root / "mesh.yaml").read_text()
    assert CLUSTER_COMMENT in text
    record = spec.parse(text).mesh.cluster("cluster-2").trust
    assert record.ca_expires == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    issued = datetime.datetime.strptime(record.ca_issued or "", "%Y-%m-%dT%H:%M:%SZ")
    assert cert.not_valid_after_utc.replace(tzinfo=None) - issued == datetime.timedelta(days=730)
    assert git(repo.root, "status", "--porcelain") == "M mesh.yaml"
    check = run_cli(capsys, "render", "--check", "--repo", str(repo.root))
    assert check.exit_code == 0, check.stdout


def test_issue_refuses_a_cluster_outside_the_mesh_and_writes_nothing(
    make_trust_mesh: Callable[[str], MeshRepo],
    secrets_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_trust_mesh("external-secrets")
    assert run_cli(capsys, "ca", "init", "--out", str(secrets_dir / "r"), *KEY).exit_code == 0
    before = tree_bytes(repo.root)
    result = run_cli(
        capsys, "ca", "issue", "cluster-9", "--ca", str(secrets_dir / "r"),
        "--out", str(secrets_dir / "c9"), *KEY, "--repo", str(repo.root),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cluster 'cluster-9' is not in the mesh" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (secrets_dir / "c9").exists()
    assert tree_bytes(repo.root) == before


def test_init_never_replaces_a_root(secrets_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "ca", "init", "--out", str(secrets_dir), *KEY).exit_code == 0
    before = (secrets_dir / "root-key.pem").read_bytes()
    again = run_cli(capsys, "ca", "init", "--out", str(secrets_dir), *KEY)
    assert again.exit_code == 2 and "already holds root-cert.pem" in again.stderr
    assert (secrets_dir / "root-key.pem").read_bytes() == before


def test_issue_without_a_mesh_still_works(
    tmp_path: Path, secrets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside any repository (a CA workstation) the bundle is made; recording is left to you."""
    assert run_cli(capsys, "ca", "init", "--out", str(secrets_dir), *KEY).exit_code == 0
    result = run_cli(
        capsys, "ca", "issue", "edge-1", "--ca", str(secrets_dir), "--out",
        str(secrets_dir / "edge-1"), *KEY, "--days", "30", cwd=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "record the issue date in mesh.yaml" in result.stderr
    # 30 days: validate's expiry check already warns.
    findings = ca.expiry_findings(secrets_dir, datetime.datetime.now(datetime.timezone.utc))
    assert [f.cluster for f in findings] == ["edge-1"]


def test_issue_with_a_bad_root_folder_is_one_clear_line(
    secrets_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = run_cli(
        capsys, "ca", "issue", "c1", "--ca", str(secrets_dir), "--out",
        str(secrets_dir / "c1"), cwd=tmp_path,
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --ca {secrets_dir / 'root-cert.pem'}: no such file")
    bad = run_cli(capsys, "ca", "issue", "Not_A_Name", "--ca", str(secrets_dir), "--out", "x")
    assert bad.exit_code == 2 and "not a DNS-1123 label" in bad.stderr
