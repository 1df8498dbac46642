"""The shared root CA and per-cluster intermediate CAs, laid out as Istio's ``cacerts`` wants.

Mirrors ``tools/certs/Makefile.selfsigned.mk`` of Istio: a self-signed root (``root-cert.pem``,
``root-key.pem``) and, per cluster, an intermediate signed by it with CA:true, path length 0 and
the SAN ``DNS:istiod.istio-system.svc``, its key, the root, and ``cert-chain.pem`` (the
intermediate followed by the root). The cluster's name is the intermediate's ``L=`` (locality),
as the Makefile does, so a bundle says which cluster it belongs to.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshgen.errors import MeshgenError

if TYPE_CHECKING:  # cryptography is imported where it is used (it costs ~40 ms)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

ROOT_CERT = "root-cert.pem"
ROOT_KEY = "root-key.pem"
CA_CERT = "ca-cert.pem"
CA_KEY = "ca-key.pem"
CERT_CHAIN = "cert-chain.pem"
# The four keys of the cacerts Secret, in the order istio's docs list them.
CACERTS_FILES = (CA_CERT, CA_KEY, ROOT_CERT, CERT_CHAIN)
SECRET_FILES = (ROOT_KEY, CA_KEY)  # written with mode 0600

ISTIOD_SAN = "istiod.istio-system.svc"
ORGANIZATION = "Istio"
ROOT_CN = "Root CA"
INTERMEDIATE_CN = "Intermediate CA"
DEFAULT_ROOT_DAYS = 3650  # Makefile.selfsigned.mk ROOTCA_DAYS
DEFAULT_INTERMEDIATE_DAYS = 730  # Makefile.selfsigned.mk INTERMEDIATE_DAYS
DEFAULT_KEY_SIZE = 4096  # Makefile.selfsigned.mk ROOTCA_KEYSZ / INTERMEDIATE_KEYSZ
KEY_SIZES = (2048, 3072, 4096)
EXPIRY_WARNING_DAYS = 30
# Backdate notBefore a little so clocks that lag behind do not reject a fresh certificate.
CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class RootCA:
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Intermediate:
    """One cluster's ``cacerts`` bundle: file name -> PEM bytes, plus its validity."""

    cluster: str
    files: dict[str, bytes]
    not_before: datetime.datetime
    not_after: datetime.datetime


def _utc(moment: datetime.datetime) -> datetime.datetime:
    return (
        moment.astimezone(datetime.timezone.utc)
        if moment.tzinfo
        else moment.replace(tzinfo=datetime.timezone.utc)
    )


def _new_key(key_size: int) -> rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import rsa

    if key_size not in KEY_SIZES:
        raise MeshgenError(
            f"--key-size {key_size}: not supported; use one of {', '.join(map(str, KEY_SIZES))}"
        )
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca_key_usage() -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def create_root(
    now: datetime.datetime, days: int = DEFAULT_ROOT_DAYS, key_size: int = DEFAULT_KEY_SIZE
) -> RootCA:
    """A self-signed root CA valid for ``days`` from ``now``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    if days < 1:
        raise MeshgenError(f"--root-days {days}: must be at least 1")
    now = _utc(now)
    key = _new_key(key_size)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return RootCA(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def load_root(
    cert_pem: bytes, key_pem: bytes, source: str
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The root certificate and key, checked to belong together and to be a CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise MeshgenError(
            f"{source}/{ROOT_CERT}: not a PEM certificate; pass the folder `meshgen ca init` wrote"
        ) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise MeshgenError(
            f"{source}/{ROOT_KEY}: not an unencrypted PEM private key; "
            "pass the folder `meshgen ca init` wrote"
        ) from None
    from cryptography.hazmat.primitives.asymmetric import rsa

    cert_key = cert.public_key()
    if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(cert_key, rsa.RSAPublicKey):
        raise MeshgenError(f"{source}: the root CA must use an RSA key, as `meshgen ca init` makes")
    if key.public_key().public_numbers() != cert_key.public_numbers():
        raise MeshgenError(
            f"{source}: {ROOT_KEY} does not belong to {ROOT_CERT}; keep the pair `ca init` wrote"
        )
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise MeshgenError(f"{source}/{ROOT_CERT}: not a CA certificate (no CA:true)")
    return cert, key


def issue_intermediate(
    cluster: str,
    root_cert_pem: bytes,
    root_key_pem: bytes,
    now: datetime.datetime,
    days: int = DEFAULT_INTERMEDIATE_DAYS,
    key_size: int = DEFAULT_KEY_SIZE,
    source: str = "root CA",
) -> Intermediate:
    """``cluster``'s intermediate CA signed by the root, as the four ``cacerts`` files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    if days < 1:
        raise MeshgenError(f"--days {days}: must be at least 1")
    now = _utc(now)
    root_cert, root_key = load_root(root_cert_pem, root_key_pem, source)
    root_end = root_cert.not_valid_after_utc
    if root_end <= now:
        raise MeshgenError(
            f"{source}/{ROOT_CERT}: the root CA expired on {root_end:%Y-%m-%d}; "
            "create a new root with `meshgen ca init` and re-issue every cluster"
        )
    not_after = now + datetime.timedelta(days=days)
    if not_after > root_end:
        raise MeshgenError(
            f"--days {days}: the intermediate would outlive the root CA "
            f"(root expires {root_end:%Y-%m-%d}); use --days {(root_end - now).days} or less"
        )
    key = _new_key(key_size)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, INTERMEDIATE_CN),
            x509.NameAttribute(NameOID.LOCALITY_NAME, cluster),
        ]
    )
    not_before = max(now - CLOCK_SKEW, root_cert.not_valid_before_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(ISTIOD_SAN)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    root_pem = root_cert.public_bytes(serialization.Encoding.PEM)
    files = {
        CA_CERT: cert_pem,
        CA_KEY: _key_pem(key),
        ROOT_CERT: root_pem,
        CERT_CHAIN: cert_pem + root_pem,
    }
    return Intermediate(cluster=cluster, files=files, not_before=not_before, not_after=not_after)


def cluster_of(cert_pem: bytes) -> str | None:
    """The cluster an intermediate was issued for (its ``L=``), or None."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(cert_pem)
    values = cert.subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)
    return str(values[0].value) if values else None


@dataclass(frozen=True)
class ExpiryFinding:
    """A certificate that expires soon (or already did): what, where, and what to do."""

    path: str
    cluster: str | None
    not_after: datetime.datetime
    days_left: int
    problem: str | None = None  # set when the file could not be read as a certificate

    def __str__(self) -> str:
        if self.problem:
            return f"{self.path}: {self.problem}; issue the bundle again with `meshgen ca issue`"
        who = f"cluster {self.cluster}'s intermediate CA" if self.cluster else "certificate"
        if self.days_left < 0:
            state = f"expired on {self.not_after:%Y-%m-%d}"
        else:
            state = f"expires on {self.not_after:%Y-%m-%d} (in {self.days_left} days)"
        fix = (
            f"issue a new one with `meshgen ca issue {self.cluster}`, "
            "then roll istiod and the workloads"
            if self.cluster
            else "replace it"
        )
        return f"{self.path}: {who} {state}; {fix}"


def _bundles(ca_dir: Path) -> list[Path]:
    """Every ``ca-cert.pem`` in ``ca_dir`` itself or one folder below it (one per cluster)."""
    found = [ca_dir / CA_CERT] if (ca_dir / CA_CERT).is_file() else []
    if ca_dir.is_dir():
        found += sorted(p / CA_CERT for p in ca_dir.iterdir() if (p / CA_CERT).is_file())
    return found


def expiry_findings(
    ca_dir: Path, now: datetime.datetime, within_days: int = EXPIRY_WARNING_DAYS
) -> list[ExpiryFinding]:
    """Intermediate CAs under ``ca_dir`` that expire within ``within_days`` of ``now``.

    ``ca_dir`` is one cluster's bundle (as ``meshgen ca issue --out`` wrote it) or a folder of
    such bundles, one per sub-folder. Reads only public certificates; never fails on a file it
    cannot parse (it reports it instead). For ``meshgen validate``.
    """
    from cryptography import x509

    now = _utc(now)
    findings = []
    for path in _bundles(ca_dir):
        try:
            data = path.read_bytes()
            cert = x509.load_pem_x509_certificate(data)
        except (OSError, ValueError) as exc:
            problem = "not a PEM certificate" if isinstance(exc, ValueError) else exc.strerror
            findings.append(ExpiryFinding(str(path), None, now, -1, problem=str(problem)))
            continue
        left = cert.not_valid_after_utc - now
        if left <= datetime.timedelta(days=within_days):
            findings.append(
                ExpiryFinding(
                    path=str(path),
                    cluster=cluster_of(data),
                    not_after=cert.not_valid_after_utc,
                    days_left=left.days,
                )
            )
    return findings
