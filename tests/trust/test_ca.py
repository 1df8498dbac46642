"""The root and intermediate CAs: Istio's cacerts layout, a chain that verifies, expiry findings."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from meshgen.errors import MeshgenError
from meshgen.trust import ca

NOW = datetime.datetime(2026, 11, 21, 12, 0, tzinfo=datetime.timezone.utc)
KEY_SIZE = 2048  # the smallest size meshgen offers keeps the tests fast


@pytest.fixture(scope="module")
def root() -> ca.RootCA:
    return ca.create_root(NOW, days=3650, key_size=KEY_SIZE)


@pytest.fixture(scope="module")
def bundle(root: ca.RootCA) -> ca.Intermediate:
    return ca.issue_intermediate("cluster-1", root.cert_pem, root.key_pem, NOW, key_size=KEY_SIZE)


def _cert(data: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data)


def test_root_is_a_self_signed_ca(root: ca.RootCA) -> None:
    cert = _cert(root.cert_pem)
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert cert.not_valid_after_utc - NOW == datetime.timedelta(days=3650)
    key = serialization.load_pem_private_key(root.key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == KEY_SIZE
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_intermediate_is_what_istio_expects(root: ca.RootCA, bundle: ca.Intermediate) -> None:
    assert sorted(bundle.files) == sorted(
        ["ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"]
    )
    cert = _cert(bundle.files["ca-cert.pem"])
    root_cert = _cert(root.cert_pem)
    cert.verify_directly_issued_by(root_cert)
    assert cert.issuer == root_cert.subject
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True and constraints.value.path_length == 0
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert san.get_values_for_type(x509.DNSName) == ["istiod.istio-system.svc"]
    assert cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "cluster-1"
    assert ca.cluster_of(bundle.files["ca-cert.pem"]) == "cluster-1"
    # Two years, within the root's lifetime.
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(days=730)
    assert cert.not_valid_before_utc <= NOW <= cert.not_valid_after_utc
    assert bundle.files["root-cert.pem"] == root.cert_pem
    assert bundle.files["cert-chain.pem"] == bundle.files["ca-cert.pem"] + root.cert_pem
    key = serialization.load_pem_private_key(bundle.files["ca-key.pem"], password=None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]


def test_a_leaf_signed_by_the_intermediate_verifies_up_to_the_root(
    root: ca.RootCA, bundle: ca.Intermediate, tmp_path: Path
) -> None:
    """What istiod does with cacerts: sign workload certificates that chain to the root."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.verification import PolicyBuilder, Store

    ca_key = serialization.load_pem_private_key(bundle.files["ca-key.pem"], password=None)
    ca_cert = _cert(bundle.files["ca-cert.pem"])
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    spiffe = "spiffe://cluster.local/ns/default/sa/sleep"
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(hours=24))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(spiffe), x509.DNSName("sleep.default.svc")]
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    verifier = (
        PolicyBuilder()
        .store(Store([_cert(root.cert_pem)]))
        .time(NOW + datetime.timedelta(hours=1))
        .build_server_verifier(x509.DNSName("sleep.default.svc"))
    )
    chain = verifier.verify(leaf, [ca_cert])
    assert [c.subject for c in chain] == [
        leaf.subject,
        ca_cert.subject,
        _cert(root.cert_pem).subject,
    ]

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: the chain was verified with cryptography only")
    for name, data in bundle.files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    attime = str(int((NOW + datetime.timedelta(hours=1)).timestamp()))
    for args in (
        ["-CAfile", "root-cert.pem", "ca-cert.pem"],
        ["-CAfile", "root-cert.pem", "-untrusted", "cert-chain.pem", "leaf.pem"],
    ):
        result = subprocess.run(
            ["openssl", "verify", "-attime", attime, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0 and result.stdout.rstrip().endswith(": OK"), result
    # pathlen:0: a certificate issued by a CA below the intermediate must be rejected.
    sub_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    sub = _signed(
        ca_key,
        ca_cert.subject,
        sub_key,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sub")]),
        ca=True,
    )
    below = _signed(sub_key, sub.subject, leaf_key, x509.Name([]), ca=False)
    (tmp_path / "untrusted.pem").write_bytes(
        bundle.files["cert-chain.pem"] + sub.public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "below.pem").write_bytes(below.public_bytes(serialization.Encoding.PEM))
    rejected = subprocess.run(
        [
            *("openssl", "verify", "-attime", attime, "-CAfile", "root-cert.pem"),
            *("-untrusted", "untrusted.pem", "below.pem"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rejected.returncode != 0
    assert "path length constraint exceeded" in rejected.stdout + rejected.stderr, rejected


def _signed(issuer_key, issuer_name, key, subject, ca):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import hashes

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def test_intermediate_may_not_outlive_the_root(root: ca.RootCA) -> None:
    with pytest.raises(MeshgenError, match="would outlive the root CA"):
        ca.issue_intermediate("c", root.cert_pem, root.key_pem, NOW, days=4000, key_size=KEY_SIZE)
    later = NOW + datetime.timedelta(days=3651)
    with pytest.raises(MeshgenError, match="root CA expired"):
        ca.issue_intermediate("c", root.cert_pem, root.key_pem, later, key_size=KEY_SIZE)


def test_a_key_of_another_root_is_refused(root: ca.RootCA) -> None:
    other = ca.create_root(NOW, key_size=KEY_SIZE)
    with pytest.raises(MeshgenError, match=r"does not belong to root-cert\.pem"):
        ca.issue_intermediate("c", root.cert_pem, other.key_pem, NOW, key_size=KEY_SIZE)
    with pytest.raises(MeshgenError, match="not a PEM certificate"):
        ca.issue_intermediate("c", b"junk", root.key_pem, NOW, key_size=KEY_SIZE)


def _write(folder: Path, bundle: ca.Intermediate) -> Path:
    folder.mkdir(parents=True)
    for name, data in bundle.files.items():
        (folder / name).write_bytes(data)
    return folder


def test_expiry_findings_warn_within_30_days_only(
    root: ca.RootCA, bundle: ca.Intermediate, tmp_path: Path
) -> None:
    _write(tmp_path / "cluster-1", bundle)
    short = ca.issue_intermediate(
        "cluster-2", root.cert_pem, root.key_pem, NOW, days=40, key_size=KEY_SIZE
    )
    _write(tmp_path / "cluster-2", short)
    (tmp_path / "notes").mkdir()

    assert ca.expiry_findings(tmp_path, NOW) == []
    # 11 days later cluster-2 has 29 days left; cluster-1 still has two years.
    findings = ca.expiry_findings(tmp_path, NOW + datetime.timedelta(days=11))
    assert [(f.cluster, f.days_left) for f in findings] == [("cluster-2", 29)]
    assert str(findings[0]).startswith(
        f"{tmp_path / 'cluster-2' / 'ca-cert.pem'}: cluster cluster-2"
    )
    assert "meshgen ca issue cluster-2" in str(findings[0])
    # A bundle folder itself works too; past expiry the finding says so.
    expired = ca.expiry_findings(tmp_path / "cluster-2", NOW + datetime.timedelta(days=41))
    assert len(expired) == 1 and expired[0].days_left < 0 and "expired on" in str(expired[0])


def test_expiry_findings_report_an_unreadable_certificate(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "ca-cert.pem").write_text("not a certificate\n")
    findings = ca.expiry_findings(tmp_path, NOW)
    assert len(findings) == 1 and "not a PEM certificate" in str(findings[0])
    assert ca.expiry_findings(tmp_path / "missing", NOW) == []
