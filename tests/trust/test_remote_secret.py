"""Remote secret building blocks: kubeconfig reading, token checks, reading a Secret back."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import pytest
import yaml

from meshgen.errors import MeshgenError
from meshgen.trust import remote_secret as rs
from trust_material import self_signed, service_account_token, write_kubeconfig


def test_reads_endpoint_and_user_token(tmp_path: Path) -> None:
    _, ca_pem = self_signed("api")
    path = write_kubeconfig(tmp_path / "kc", "https://10.0.0.1:6443", ca_pem, user_token="tok")
    endpoint, token = rs.read_kubeconfig(path.read_text(), str(path), None)
    assert endpoint.server == "https://10.0.0.1:6443"
    assert base64.b64decode(endpoint.ca_data) == ca_pem
    assert token == "tok"


def test_certificate_authority_file_is_embedded(tmp_path: Path) -> None:
    _, ca_pem = self_signed("api")
    path = write_kubeconfig(tmp_path / "kc", "https://h:6443", ca_pem, ca_as_file=True)
    endpoint, _ = rs.read_kubeconfig(
        path.read_text(), str(path), "other", lambda p: (tmp_path / p).read_bytes()
    )
    assert base64.b64decode(endpoint.ca_data) == ca_pem


@pytest.mark.parametrize(
    ("context", "text", "message"),
    [
        ("missing", None, "no context named 'missing'"),
        (None, "kind: Pod\n", "not a kubeconfig"),
        (None, "a: [\n", "not valid YAML"),
        (None, "kind: Config\nclusters: []\n", "no current-context"),
    ],
)
def test_bad_kubeconfigs_are_named(
    tmp_path: Path, context: str | None, text: str | None, message: str
) -> None:
    _, ca_pem = self_signed("api")
    path = write_kubeconfig(tmp_path / "kc", "https://h:6443", ca_pem)
    with pytest.raises(MeshgenError, match=message):
        rs.read_kubeconfig(text or path.read_text(), "kc", context)


def test_token_expiry_is_read_from_the_jwt() -> None:
    exp = int(datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc).timestamp())
    assert rs.token_expiry(service_account_token(exp)) == datetime.datetime(
        2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc
    )
    assert rs.token_expiry(service_account_token(None)) is None
    assert rs.token_expiry("opaque-token") is None
    # A JWT without exp never expires; an opaque token is not a JWT at all.
    assert rs.jwt_claims(service_account_token(None)) is not None
    assert rs.jwt_claims("opaque-token") is None
    assert rs.jwt_claims("a.b.c") is None
    with pytest.raises(MeshgenError, match="one bearer token"):
        rs.check_token("two words", "tok")


def test_secret_reads_back_from_data_or_string_data() -> None:
    kubeconfig = "apiVersion: v1\nkind: Config\n"
    secret = rs.remote_secret("c-2", yaml.safe_load(kubeconfig))
    text = rs.secret_text(secret)
    parsed = rs.parse_remote_secret(text, "f")
    assert (parsed.cluster, parsed.name) == ("c-2", "istio-remote-secret-c-2")
    assert yaml.safe_load(parsed.kubeconfig) == yaml.safe_load(kubeconfig)
    # The same Secret with base64 data (as kubectl get -o yaml shows it).
    as_data = dict(secret)
    as_data.pop("stringData")
    as_data["data"] = {"c-2": base64.b64encode(kubeconfig.encode()).decode()}
    assert rs.parse_remote_secret(yaml.safe_dump(as_data), "f").kubeconfig == kubeconfig
    no_label = next(yaml.safe_load_all(text))
    no_label["metadata"]["labels"] = {}
    with pytest.raises(MeshgenError, match="not a remote secret"):
        rs.parse_remote_secret(yaml.safe_dump(no_label), "f")
