"""Real secret material for tests: kubeconfigs, service-account-like tokens, controller keys."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed(common_name: str, key_size: int = 2048) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A key and its self-signed certificate (PEM): an API server CA or a sealing controller."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def service_account_token(exp: int | None, key: rsa.RSAPrivateKey | None = None) -> str:
    """A signed JWT shaped like a Kubernetes service-account token of the reader account."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def part(data: dict[str, object]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims: dict[str, object] = {
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:istio-system:istio-reader-service-account",
    }
    if exp is not None:
        claims["exp"] = exp
    signing_input = f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}"
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def unseal(key: rsa.RSAPrivateKey, value: str, namespace: str, name: str) -> bytes:
    """The Sealed Secrets controller's HybridDecrypt (strict scope label ``namespace/name``).

    2-byte big-endian length of the RSA part, RSA-OAEP(SHA-256) session key, then AES-256-GCM
    with an all-zero nonce. Raises ValueError (or InvalidTag) when it does not open.
    """
    import struct

    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = base64.b64decode(value)
    (rsa_len,) = struct.unpack(">H", data[:2])
    wrapped, sealed = data[2 : 2 + rsa_len], data[2 + rsa_len :]
    session_key = key.decrypt(
        wrapped,
        padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=f"{namespace}/{name}".encode(),
        ),
    )
    assert len(session_key) == 32
    return AESGCM(session_key).decrypt(bytes(12), sealed, None)


def write_kubeconfig(
    path: Path,
    server: str,
    ca_pem: bytes,
    namespace: str | None = "default",
    user_token: str | None = "admin-token-do-not-export",
    ca_as_file: bool = False,
) -> Path:
    """A kubeconfig like a cloud CLI writes: context ``admin@cluster``, an admin user."""
    if ca_as_file:
        (path.parent / "api-ca.crt").write_bytes(ca_pem)
        ca_line = "    certificate-authority: api-ca.crt"
    else:
        ca_line = f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}"
    user = f"    token: {user_token}" if user_token else "    client-certificate: admin.crt"
    namespace_line = f"\n    namespace: {namespace}" if namespace else ""
    path.write_text(
        f"""apiVersion: v1
kind: Config
current-context: admin@cluster
preferences: {{}}
clusters:
- name: the-cluster
  cluster:
    server: {server}
{ca_line}
contexts:
- name: admin@cluster
  context:
    cluster: the-cluster
    user: admin{namespace_line}
- name: other
  context:
    cluster: the-cluster
    user: admin
users:
- name: admin
  user:
{user}
"""
    )
    return path


# The two-cluster mesh of tests/commands/conftest.py (make_trust_mesh).
API_SERVER_2 = "https://203.0.113.10:6443"
CLUSTER_COMMENT = "    # cluster-2 runs in the second data centre\n"
