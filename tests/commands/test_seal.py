"""`meshgen seal` and the sealed-secrets provider, with real kustomize and a real controller key.

The SealedSecret is opened in the test with the controller's private key, exactly as the
controller would; render must leave the hand-produced file alone while the overlay includes it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from helpers import MeshRepo, git, remote_secret_manifest, run_cli, tree_bytes
from meshgen import spec
from meshgen.adapters import kustomize
from meshgen.render.files import GENERATED_MARK
from meshgen.trust import ca
from trust_material import (
    CLUSTER_COMMENT,
    self_signed,
    service_account_token,
    unseal,
    write_kubeconfig,
)

SEALED = "clusters/cluster-1/istio-system/sealed"


def build(root: Path, cluster: str) -> list[dict]:  # type: ignore[type-arg]
    return [
        d
        for d in yaml.safe_load_all(kustomize.build(root / f"clusters/{cluster}/istio-system"))
        if d
    ]


@pytest.fixture
def material(secrets_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    """cluster-1's CA bundle and controller, cluster-2's remote secret: all outside Git."""
    root_ca, bundle = secrets_dir / "root", secrets_dir / "cluster-1"
    assert run_cli(capsys, "ca", "init", "--out", str(root_ca), "--key-size", "2048").exit_code == 0
    issued = run_cli(
        capsys, "ca", "issue", "cluster-1", "--ca", str(root_ca), "--out", str(bundle),
        "--key-size", "2048",
    )  # fmt: skip
    assert issued.exit_code == 0, issued.stderr
    _, api_ca = self_signed("api")
    kubeconfig = write_kubeconfig(secrets_dir / "kc", "https://203.0.113.10:6443", api_ca)
    (secrets_dir / "token").write_text(service_account_token(None))
    remote = secrets_dir / "cluster-2.yaml"
    made = run_cli(
        capsys, "remote-secret", "cluster-2", "--kubeconfig", str(kubeconfig), "--token-file",
        str(secrets_dir / "token"), "--output", str(remote),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    key, cert = self_signed("sealed-secret")
    (secrets_dir / "cluster-1.pem").write_bytes(cert)
    return {"bundle": bundle, "remote": remote, "key": key, "cert": secrets_dir / "cluster-1.pem"}


def test_sealed_secrets_open_with_the_controller_key_and_join_the_overlay(
    make_trust_mesh: Callable[[str], MeshRepo],
    material: dict[str, object],
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_trust_mesh("sealed-secrets")
    root = repo.root
    # Before anything is sealed the overlays build, with the namespace only.
    assert [d["kind"] for d in build(root, "cluster-1")] == ["Namespace"]
    readme = (root / "README.md").read_text()
    assert "| `cluster-1` | none | `cacerts`, `istio-remote-secret-cluster-2` |" in readme

    cert = str(material["cert"])
    for args in (
        ["--cacerts", str(material["bundle"])],
        ["--remote-secret", str(material["remote"])],
    ):
        result = run_cli(capsys, "seal", "cluster-1", "--cert", cert, *args, "--repo", str(root))
        assert result.exit_code == 0, result.stderr
    assert f"  wrote    {SEALED}/istio-remote-secret-cluster-2.yaml" in result.stdout

    files = sorted(p.name for p in (root / SEALED).iterdir())
    assert files == ["cacerts.yaml", "istio-remote-secret-cluster-2.yaml"]
    key = material["key"]
    assert isinstance(key, rsa.RSAPrivateKey)
    bundle = material["bundle"]
    assert isinstance(bundle, Path)

    cacerts_text = (root / SEALED / "cacerts.yaml").read_text()
    assert GENERATED_MARK not in cacerts_text.splitlines()[0]
    cacerts = yaml.safe_load(cacerts_text)
    encrypted = cacerts["spec"]["encryptedData"]
    assert sorted(encrypted) == sorted(ca.CACERTS_FILES)
    for name, value in encrypted.items():
        assert unseal(key, value, "istio-system", "cacerts") == (bundle / name).read_bytes()
    # No plaintext anywhere in the tree: not the CA key, not the token.
    everything = b"".join(tree_bytes(root).values())
    assert (bundle / "ca-key.pem").read_bytes() not in everything
    assert b"BEGIN PRIVATE KEY" not in everything and b"token:" not in everything

    remote = yaml.safe_load((root / SEALED / "istio-remote-secret-cluster-2.yaml").read_text())
    assert remote["spec"]["template"]["metadata"]["labels"] == {"istio/multiCluster": "true"}
    assert remote["spec"]["template"]["metadata"]["annotations"] == {
        "networking.istio.io/cluster": "cluster-2"
    }
    plain = unseal(
        key, remote["spec"]["encryptedData"]["cluster-2"], "istio-system",
        "istio-remote-secret-cluster-2",
    )  # fmt: skip
    source = next(yaml.safe_load_all(Path(str(material["remote"])).read_text()))
    assert plain.decode() == source["stringData"]["cluster-2"]

    # The real kustomize build of cluster-1's overlay carries both, with the mesh labels.
    built = build(root, "cluster-1")
    sealed = {d["metadata"]["name"]: d for d in built if d["kind"] == "SealedSecret"}
    assert sorted(sealed) == ["cacerts", "istio-remote-secret-cluster-2"]
    assert sealed["cacerts"]["metadata"]["labels"]["meshgen.io/cluster"] == "cluster-1"
    assert [d["kind"] for d in build(root, "cluster-2")] == ["Namespace"]

    # mesh.yaml records them (comments kept); render and render --check leave the files alone.
    text = (root / "mesh.yaml").read_text()
    assert CLUSTER_COMMENT in text
    assert sorted(spec.parse(text).mesh.cluster("cluster-1").trust.sealed) == [
        "cacerts",
        "istio-remote-secret-cluster-2",
    ]
    before = tree_bytes(root)
    assert run_cli(capsys, "render", "--check", "--repo", str(root)).exit_code == 0
    again = run_cli(capsys, "render", "--repo", str(root))
    assert again.exit_code == 0 and "Nothing to do" in again.stdout
    assert tree_bytes(root) == before
    assert (
        "| `cluster-1` | `cacerts`, `istio-remote-secret-cluster-2` | none |"
        in (root / "README.md").read_text()
    )

    # Sealing again replaces the ciphertext (a rotation), not the list.
    old = (root / SEALED / "cacerts.yaml").read_bytes()
    result = run_cli(
        capsys, "seal", "cluster-1", "--cert", cert, "--cacerts", str(bundle), "--repo", str(root)
    )
    assert result.exit_code == 0, result.stderr
    assert (root / SEALED / "cacerts.yaml").read_bytes() != old
    assert (root / "clusters/cluster-1/istio-system/kustomization.yaml").read_bytes() == before[
        "clusters/cluster-1/istio-system/kustomization.yaml"
    ]


WRONG_MATERIAL = [
    ("cluster-2", "bundle", "holds the intermediate CA of cluster cluster-1, not cluster-2"),
    ("cluster-2", "remote", "is cluster-2's own remote secret"),
    ("cluster-3", "bundle", "cluster 'cluster-3' is not in the mesh"),
]


def test_seal_refuses_material_of_the_wrong_cluster(
    make_trust_mesh: Callable[[str], MeshRepo],
    material: dict[str, object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_trust_mesh("sealed-secrets")
    before = tree_bytes(repo.root)
    for cluster, which, message in WRONG_MATERIAL:
        option = "--cacerts" if which == "bundle" else "--remote-secret"
        result = run_cli(
            capsys, "seal", cluster, "--cert", str(material["cert"]), option,
            str(material[which]), "--repo", str(repo.root),
        )  # fmt: skip
        assert result.exit_code == 2, (cluster, which)
        assert message in result.stderr and result.stderr.count("\n") == 1
        assert tree_bytes(repo.root) == before


def test_seal_needs_the_sealed_secrets_provider(
    make_trust_mesh: Callable[[str], MeshRepo],
    material: dict[str, object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_trust_mesh("external-secrets")
    result = run_cli(
        capsys, "seal", "cluster-1", "--cert", str(material["cert"]), "--cacerts",
        str(material["bundle"]), "--repo", str(repo.root),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "set secrets.provider: sealed-secrets" in result.stderr
    assert git(repo.root, "status", "--porcelain") == ""


def test_validate_reports_missing_cacerts_and_an_expiring_ca(
    make_trust_mesh: Callable[[str], MeshRepo],
    material: dict[str, object],
    secrets_dir: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """validate's trust check: a cluster whose cacerts is not sealed yet is an error (naming the
    command that fixes it); an intermediate near expiry, given its folder, only a warning."""
    from meshgen.commands import validate
    from meshgen.validation import ERROR, WARNING

    root = make_trust_mesh("sealed-secrets").root
    findings = [f for f in validate.collect(validate.Options(repo=root)) if f.check == "trust"]
    missing = {f.cluster: f for f in findings if f.severity == ERROR}
    assert set(missing) == {"cluster-1", "cluster-2"}
    assert missing["cluster-1"].file == f"{SEALED}/cacerts.yaml"
    assert "meshgen seal cluster-1 --cacerts" in missing["cluster-1"].fix

    sealed = run_cli(
        capsys, "seal", "cluster-1", "--cert", str(material["cert"]), "--cacerts",
        str(material["bundle"]), "--repo", str(root),
    )  # fmt: skip
    assert sealed.exit_code == 0, sealed.stderr
    short = secrets_dir / "short"
    issued = run_cli(
        capsys, "ca", "issue", "cluster-1", "--ca", str(secrets_dir / "root"), "--out",
        str(short), "--days", "10", "--key-size", "2048",
    )  # fmt: skip
    assert issued.exit_code == 0, issued.stderr
    options = validate.Options(repo=root, ca_dirs=(short, material["bundle"]))  # type: ignore[arg-type]
    findings = [f for f in validate.collect(options) if f.check == "trust"]
    assert {f.cluster for f in findings if f.severity == ERROR} == {"cluster-2"}
    (warning,) = [f for f in findings if f.severity == WARNING]
    assert warning.cluster == "cluster-1" and "in 9 days" in warning.message
    assert "meshgen ca issue cluster-1" in warning.fix


def test_remove_cluster_takes_its_sealed_secrets_and_records_along(
    make_trust_mesh: Callable[[str], MeshRepo],
    material: dict[str, object],
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Removing cluster-2 deletes cluster-1's sealed remote secret for it and its mesh.yaml
    record (files render does not own); cluster-1's own sealed cacerts stays."""
    root = make_trust_mesh("sealed-secrets").root
    cert = str(material["cert"])
    for args in (
        ["--cacerts", str(material["bundle"])],
        ["--remote-secret", str(material["remote"])],
    ):
        sealed = run_cli(capsys, "seal", "cluster-1", "--cert", cert, *args, "--repo", str(root))
        assert sealed.exit_code == 0, sealed.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "sealed")

    result = run_cli(capsys, "remove-cluster", "cluster-2", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (root / SEALED).iterdir()) == ["cacerts.yaml"]
    mesh = spec.parse((root / "mesh.yaml").read_text()).mesh
    assert sorted(mesh.cluster("cluster-1").trust.sealed) == ["cacerts"]
    assert CLUSTER_COMMENT not in (root / "mesh.yaml").read_text()  # it introduced cluster-2
    leftovers = [p for p, data in tree_bytes(root).items() if b"cluster-2" in data]
    assert leftovers == [], leftovers
    assert git(root, "status", "--porcelain") == ""  # all of it committed on the branch
    assert [d["kind"] for d in build(root, "cluster-1")] == ["Namespace", "SealedSecret"]
    assert run_cli(capsys, "render", "--check", "--repo", str(root)).exit_code == 0


def test_istioctl_output_piped_on_stdin_is_sealed(
    make_trust_mesh: Callable[[str], MeshRepo],
    material: dict[str, object],
) -> None:
    """`istioctl create-remote-secret ... | meshgen seal CLUSTER --cert C --remote-secret -`:
    istioctl's header and closing `---` included, nothing written to disk in clear."""
    root = make_trust_mesh("sealed-secrets").root
    piped = subprocess.run(
        [sys.executable, "-m", "meshgen", "seal", "cluster-1", "--cert", str(material["cert"]),
         "--remote-secret", "-", "--repo", str(root)],
        input=remote_secret_manifest("cluster-2"),
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    sealed = yaml.safe_load((root / SEALED / "istio-remote-secret-cluster-2.yaml").read_text())
    key = material["key"]
    assert isinstance(key, rsa.RSAPrivateKey)
    plain = unseal(
        key, sealed["spec"]["encryptedData"]["cluster-2"], "istio-system",
        "istio-remote-secret-cluster-2",
    )  # fmt: skip
    assert b"token: secret-token-of-cluster-2" in plain
    assert b"secret-token-of" not in b"".join(tree_bytes(root).values())
