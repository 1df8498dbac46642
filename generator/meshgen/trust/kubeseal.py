"""Sealing for the Bitnami Sealed Secrets controller, as ``kubeseal`` does it (strict scope).

Each value is encrypted on its own (``pkg/crypto/crypto.go`` ``HybridEncrypt``): a random
32-byte AES-256-GCM session key encrypts the value with an all-zero 12-byte nonce (safe: the
key is used once); the session key is wrapped with RSA-OAEP (SHA-256) under the controller's
public key, with the label ``<namespace>/<name>`` so the ciphertext only opens as that very
Secret. The stored bytes are: 2-byte big-endian length of the RSA part, the RSA part, then the
GCM ciphertext with its tag, base64-encoded in ``spec.encryptedData``.
"""

from __future__ import annotations

import base64
import os
import struct
from typing import TYPE_CHECKING, Any

from meshgen.errors import MeshgenError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
SESSION_KEY_BYTES = 32
NONCE = bytes(12)


def load_public_key(cert_pem: bytes, source: str) -> RSAPublicKey:
    """The controller's RSA public key from its certificate (``kubeseal --fetch-cert``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise MeshgenError(
            f"{source}: not a PEM certificate; fetch the controller's with "
            "`kubeseal --fetch-cert > cert.pem` (on that cluster)"
        ) from None
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise MeshgenError(f"{source}: the certificate's key is not RSA; Sealed Secrets uses RSA")
    return key


def strict_label(namespace: str, name: str) -> bytes:
    """The OAEP label of strict scope: the ciphertext opens only as ``namespace/name``."""
    return f"{namespace}/{name}".encode()


def hybrid_encrypt(public_key: RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    session_key = os.urandom(SESSION_KEY_BYTES)
    wrapped = public_key.encrypt(
        session_key,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label),
    )
    sealed = AESGCM(session_key).encrypt(NONCE, plaintext, None)
    return struct.pack(">H", len(wrapped)) + wrapped + sealed


def sealed_secret(
    public_key: RSAPublicKey,
    name: str,
    namespace: str,
    data: dict[str, bytes],
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    secret_type: str = "Opaque",
) -> dict[str, Any]:
    """The SealedSecret object (strict scope) that the controller turns into the Secret."""
    label = strict_label(namespace, name)
    encrypted = {
        key: base64.b64encode(hybrid_encrypt(public_key, data[key], label)).decode("ascii")
        for key in sorted(data)
    }
    template_metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        template_metadata["labels"] = dict(sorted(labels.items()))
    if annotations:
        template_metadata["annotations"] = dict(sorted(annotations.items()))
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "encryptedData": encrypted,
            "template": {"metadata": template_metadata, "type": secret_type},
        },
    }
