"""kubeseal's hybrid scheme, proved by decrypting as the Sealed Secrets controller would."""

from __future__ import annotations

import base64
import datetime
import struct

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from meshgen.errors import MeshgenError
from meshgen.trust import kubeseal
from trust_material import self_signed, unseal


def controller_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A controller key and its self-signed certificate, as the controller generates them."""
    return self_signed("sealed-secret")


@pytest.fixture(scope="module")
def controller() -> tuple[rsa.RSAPrivateKey, bytes]:
    return controller_pair()


def test_every_value_decrypts_with_the_controller_key(
    controller: tuple[rsa.RSAPrivateKey, bytes],
) -> None:
    key, cert = controller
    public = kubeseal.load_public_key(cert, "cert.pem")
    values = {
        "cluster-2": b"apiVersion: v1\nkind: Config\n",
        "empty": b"",
        "bin": bytes(range(256)),
    }
    obj = kubeseal.sealed_secret(
        public,
        "istio-remote-secret-cluster-2",
        "istio-system",
        values,
        labels={"istio/multiCluster": "true"},
        annotations={"networking.istio.io/cluster": "cluster-2"},
    )
    assert obj["apiVersion"] == "bitnami.com/v1alpha1" and obj["kind"] == "SealedSecret"
    assert obj["metadata"] == {"name": "istio-remote-secret-cluster-2", "namespace": "istio-system"}
    encrypted = obj["spec"]["encryptedData"]
    assert sorted(encrypted) == sorted(values)
    for field, plain in values.items():
        assert plain == b"" or plain not in base64.b64decode(encrypted[field])
        assert (
            unseal(key, encrypted[field], "istio-system", "istio-remote-secret-cluster-2") == plain
        )
    template = obj["spec"]["template"]
    assert template["type"] == "Opaque"
    assert template["metadata"]["labels"] == {"istio/multiCluster": "true"}
    assert template["metadata"]["annotations"] == {"networking.istio.io/cluster": "cluster-2"}


def test_layout_is_length_rsa_part_then_gcm(controller: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, cert = controller
    raw = kubeseal.hybrid_encrypt(kubeseal.load_public_key(cert, "c"), b"hello", b"ns/name")
    (rsa_len,) = struct.unpack(">H", raw[:2])
    assert rsa_len == key.key_size // 8  # the RSA part is one modulus long
    assert len(raw) == 2 + rsa_len + len(b"hello") + 16  # GCM adds a 16-byte tag
    # A fresh session key each time: same input, different ciphertext.
    again = kubeseal.hybrid_encrypt(kubeseal.load_public_key(cert, "c"), b"hello", b"ns/name")
    assert again != raw


def test_strict_scope_binds_name_and_namespace(controller: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, cert = controller
    obj = kubeseal.sealed_secret(
        kubeseal.load_public_key(cert, "c"), "cacerts", "istio-system", {"ca-key.pem": b"k"}
    )
    value = obj["spec"]["encryptedData"]["ca-key.pem"]
    assert unseal(key, value, "istio-system", "cacerts") == b"k"
    for namespace, name in (("default", "cacerts"), ("istio-system", "other")):
        with pytest.raises(ValueError):
            unseal(key, value, namespace, name)
    # Another controller cannot open it either.
    other, _ = controller_pair()
    with pytest.raises(ValueError):
        unseal(other, value, "istio-system", "cacerts")


def test_tampered_ciphertext_is_rejected(controller: tuple[rsa.RSAPrivateKey, bytes]) -> None:
    key, cert = controller
    raw = bytearray(kubeseal.hybrid_encrypt(kubeseal.load_public_key(cert, "c"), b"x" * 20, b"a/b"))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        unseal(key, base64.b64encode(bytes(raw)).decode(), "a", "b")


def test_certificate_must_be_an_rsa_pem() -> None:
    with pytest.raises(MeshgenError, match="not a PEM certificate"):
        kubeseal.load_public_key(b"nope", "cert.pem")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
    )
    with pytest.raises(MeshgenError, match="not RSA"):
        kubeseal.load_public_key(cert.public_bytes(serialization.Encoding.PEM), "cert.pem")
