"""`meshgen encrypt-cacerts`: a real CA bundle, the real sops and age keys, the real kustomize.

The bundle comes from `meshgen ca init` / `ca issue` in a temporary folder outside Git; the
encrypted Secret is decrypted with sops and compared with it, in the file and as the cluster's
overlay builds it (what Flux's kustomize-controller decrypts).
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from helpers import AgeKey, git, remote_secret_manifest, run_cli, tree_bytes
from meshgen.adapters import kustomize, sops
from meshgen.commands import _trust
from meshgen.trust import ca

CACERTS = "clusters/{}/istio-system/cacerts.sops.yaml"


@pytest.fixture
def bundles(secrets_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """One root and the bundles of c1 and c2, made by the real commands outside Git."""
    root_ca = secrets_dir / "root"
    made = run_cli(capsys, "ca", "init", "--out", str(root_ca), "--key-size", "2048")
    assert made.exit_code == 0, made.stderr
    found = {}
    for cluster in ("c1", "c2"):
        found[cluster] = secrets_dir / cluster
        issued = run_cli(
            capsys, "ca", "issue", cluster, "--ca", str(root_ca), "--out", str(found[cluster]),
            "--key-size", "2048",
        )  # fmt: skip
        assert issued.exit_code == 0, issued.stderr
    return found


def trust_errors(capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, dict[str, str]]:
    """`meshgen validate`'s trust findings (errors), by cluster."""
    result = run_cli(capsys, "validate", "--format", "json", "--repo", str(root))
    findings = json.loads(result.stdout)["findings"]
    return {f["cluster"]: f for f in findings if f["check"] == "trust" and f["severity"] == "error"}


def decrypted_files(path: Path, key: AgeKey) -> tuple[dict[str, object], dict[str, bytes]]:
    secret = yaml.safe_load(sops.decrypt(path, key.key_file))
    return secret, {name: base64.b64decode(value) for name, value in secret["data"].items()}


def bundle_files(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in ca.CACERTS_FILES}


def test_cacerts_is_encrypted_decrypts_to_the_bundle_and_joins_the_overlay(
    sops_repo: Path,
    key: AgeKey,
    bundles: dict[str, Path],
    tmp_path: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = sops_repo
    # Before: validate's trust check and render name the missing file and the commands.
    before = trust_errors(capsys, root)
    # (mesh-wide: the encrypted remote secrets, missing too)
    assert set(before) == {"c1", "c2", None}
    assert before[None]["file"].startswith("overlays/remote-secrets/")
    assert before["c1"]["file"] == CACERTS.format("c1")
    assert "meshgen encrypt-cacerts c1 --cacerts DIR" in before["c1"]["fix"]
    assert "Flux installs no istiod" in before["c1"]["message"]
    warned = run_cli(capsys, "render", "--repo", str(root))
    assert f"warning: {CACERTS.format('c1')} is missing" in warned.stderr
    overlay = yaml.safe_load((root / "clusters/c1/istio-system/kustomization.yaml").read_text())
    assert overlay["resources"][1] == "cacerts.sops.yaml"

    result = run_cli(
        capsys, "encrypt-cacerts", "c1", "--cacerts", str(bundles["c1"]), "--repo", str(root)
    )
    assert result.exit_code == 0, result.stderr
    assert f"Wrote {CACERTS.format('c1')}" in result.stdout
    target = root / CACERTS.format("c1")
    text = target.read_text()
    original = bundle_files(bundles["c1"])
    # Ciphertext only: no PEM, no base64 of any file, four encrypted values for our recipient.
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    assert not [n for n, data in original.items() if base64.b64encode(data).decode() in text]
    assert text.count("ENC[AES256_GCM,") == 4 + 1  # the four files and the MAC
    assert key.recipient in text
    secret, files = decrypted_files(target, key)
    assert secret["metadata"] == {"name": "cacerts", "namespace": "istio-system"}
    assert files == original
    # No plaintext anywhere in the work tree, staged or not.
    assert not [p for p, data in tree_bytes(root).items() if b"PRIVATE KEY" in data]
    # trust.ca records the intermediate (ca issue ran without a mesh repository).
    cert = x509.load_pem_x509_certificate(original[ca.CA_CERT])
    mesh_text = (root / "mesh.yaml").read_text()
    assert f'expires: "{_trust.timestamp(cert.not_valid_after_utc)}"' in mesh_text

    # The overlay builds once the remote secrets are there too; Flux decrypts what it built.
    for cluster in ("c1", "c2"):
        source = tmp_path / f"{cluster}-remote.yaml"
        source.write_text(remote_secret_manifest(cluster), encoding="utf-8")
        args = ["encrypt-remote-secret", cluster, str(source), "--repo", str(root)]
        assert run_cli(capsys, *args).exit_code == 0
    built = yaml.safe_load_all(kustomize.build(root / "clusters/c1/istio-system"))
    (cacerts,) = [d for d in built if d and d["metadata"]["name"] == "cacerts"]
    assert cacerts["metadata"]["labels"]["meshgen.io/cluster"] == "c1"
    assert all(v.startswith("ENC[AES256_GCM,") for v in cacerts["data"].values())
    applied = tmp_path / "built-cacerts.json"
    applied.write_text(json.dumps(cacerts), encoding="utf-8")
    assert decrypted_files(applied, key)[1] == original

    # After: c1 is no longer reported; the file is the user's (render keeps it, --check passes).
    assert set(trust_errors(capsys, root)) == {"c2"}
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "c1's cacerts and the remote secrets")
    committed = tree_bytes(root)
    again = run_cli(capsys, "render", "--repo", str(root))
    assert CACERTS.format("c1") not in again.stderr and CACERTS.format("c2") in again.stderr
    assert tree_bytes(root) == committed
    assert run_cli(capsys, "render", "--check", "--repo", str(root)).exit_code == 0

    # Rotation: a second bundle replaces the file and the record.
    rotated = run_cli(
        capsys, "ca", "issue", "c1", "--ca", str(bundles["c1"].parent / "root"), "--out",
        str(tmp_path / "c1-new"), "--key-size", "2048", "--days", "100",
    )  # fmt: skip
    assert rotated.exit_code == 0, rotated.stderr
    args = ["encrypt-cacerts", "c1", "--cacerts", str(tmp_path / "c1-new"), "--repo", str(root)]
    replaced = run_cli(capsys, *args)
    assert replaced.exit_code == 0, replaced.stderr
    assert f"Replaced {CACERTS.format('c1')}" in replaced.stdout
    assert decrypted_files(target, key)[1] == bundle_files(tmp_path / "c1-new")
    assert (root / "mesh.yaml").read_text() != mesh_text


def _wrong_owner(bundles: dict[str, Path], root: Path, tmp_path: Path) -> Path:
    return bundles["c2"]


def _no_key(bundles: dict[str, Path], root: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "partial"
    shutil.copytree(bundles["c1"], folder)
    (folder / ca.CA_KEY).unlink()
    return folder


def _other_key(bundles: dict[str, Path], root: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    shutil.copytree(bundles["c1"], folder)
    shutil.copy(bundles["c2"] / ca.CA_KEY, folder / ca.CA_KEY)
    return folder


def _stale_sops_config(bundles: dict[str, Path], root: Path, tmp_path: Path) -> Path:
    config = root / ".sops.yaml"
    config.write_text(config.read_text().replace("cacerts", "ca"))
    git(root, "commit", "-q", "-am", "an older .sops.yaml")
    return bundles["c1"]


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (_wrong_owner, "holds the intermediate CA of cluster c2, not c1"),
        (_no_key, "ca-key.pem: no such file"),
        (_other_key, "ca-key.pem is not the key of ca-cert.pem"),
        (_stale_sops_config, "not what mesh.yaml gives; run `meshgen render` first"),
    ],
)
def test_bad_bundles_and_stale_config_are_one_line_and_write_nothing(
    sops_repo: Path,
    bundles: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_input: object,
    message: str,
) -> None:
    folder = make_input(bundles, sops_repo, tmp_path)  # type: ignore[operator]
    before = tree_bytes(sops_repo)
    args = ["encrypt-cacerts", "c1", "--cacerts", str(folder), "--repo", str(sops_repo)]
    result = run_cli(capsys, *args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert tree_bytes(sops_repo) == before


def test_a_remote_needs_no_cacerts_and_removal_takes_the_encrypted_file(
    sops_repo: Path, bundles: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = sops_repo
    added = run_cli(
        capsys, "new-cluster", "r1", "--network", "n1", "--role", "remote", "--control-plane",
        "c1", "--discovery-address", "203.0.113.9", "--repo", str(root),
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert CACERTS.format("c1") in added.stderr  # the primaries still lack theirs,
    assert "clusters/r1/" not in added.stderr  # but a remote needs none
    git(root, "switch", "-q", "main")
    git(root, "merge", "-q", "--ff-only", "meshgen/add-cluster-r1")
    refused = run_cli(
        capsys, "encrypt-cacerts", "r1", "--cacerts", str(bundles["c1"]), "--repo", str(root)
    )
    assert refused.exit_code == 2
    assert "r1 is a remote: it runs no istiod" in refused.stderr

    for cluster in ("c1", "c2"):
        args = ["encrypt-cacerts", cluster, "--cacerts", str(bundles[cluster])]
        assert run_cli(capsys, *args, "--repo", str(root)).exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "cacerts")
    removed = run_cli(capsys, "remove-cluster", "c2", "--repo", str(root))
    assert removed.exit_code == 0, removed.stderr
    files = git(root, "ls-files").splitlines()
    assert CACERTS.format("c2") not in files and not (root / "clusters/c2").exists()
    assert CACERTS.format("c1") in files
