"""What the secrets check flags, and what it leaves alone (placeholders)."""

from __future__ import annotations

import re

import pytest

from meshgen.validation.secrets import PATTERN_WORDS, PATTERNS, scan_text

SEALED = """\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata: {name: istio-remote-secret-c2, namespace: istio-system}
spec:
  encryptedData:
    c2: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq0x1DTSPGArxHkZTXrhdu4F5eHcpqLCcr8dvdE8fBn1GbHGcMGVHl
"""
EXTERNAL = """\
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: istio-remote-secret-c2, namespace: istio-system}
spec:
  secretStoreRef: {kind: ClusterSecretStore, name: vault}
  data:
    - secretKey: c2
      remoteRef: {key: meshgen/mesh1/remote-secrets/c2}
"""
PLACEHOLDER = """\
apiVersion: v1
kind: Secret
metadata: {name: cacerts, namespace: istio-system}
type: Opaque
"""
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: c2
    cluster: {server: "https://203.0.113.10:6443"}
users:
  - name: c2
    user:
      token: not-a-jwt-but-still-a-token
"""
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize("text", [SEALED, EXTERNAL, PLACEHOLDER], ids=["sealed", "eso", "empty"])
def test_placeholders_are_fine(text: str) -> None:
    assert scan_text("clusters/c1/x.yaml", text) == []


def test_secret_with_data_is_one_finding_at_its_document() -> None:
    text = EXTERNAL + "---\n" + PLACEHOLDER.replace("type: Opaque", f"data:\n  token: {JWT}")
    assert scan_text("a.yaml", text) == [
        (10, "Secret istio-system/cacerts", "Secret with data (token)")
    ]


def test_kubeconfig_token_and_private_key() -> None:
    assert scan_text("kubeconfig.yaml", KUBECONFIG) == [
        (1, "kubeconfig", "a kubeconfig with user credentials")
    ]
    notes = f"curl -H 'Authorization: Bearer {JWT}' https://x\n\n-----BEGIN EC PRIVATE KEY-----\n"
    found = scan_text("notes.md", notes)
    assert [(line, what) for line, _, what in found] == [
        (3, "a private key"),
        (1, "a bearer token (JWT)"),
    ]


SOPS_SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: istio-remote-secret-c2, namespace: istio-system}
stringData:
  c2: ENC[AES256_GCM,data:bm90IHJlYWRhYmxl,iv:aXY=,tag:dGFn,type:str]
sops:
  age:
    - recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  mac_only_encrypted: true
"""


def test_sops_encrypted_secrets_are_fine_unless_a_value_is_plain() -> None:
    assert scan_text("overlays/x/remote-secret.sops.yaml", SOPS_SECRET) == []
    leaked = SOPS_SECRET.replace("  c2: ENC[", "  c3: plain-kubeconfig\n  c2: ENC[")
    (finding,) = scan_text("overlays/x/remote-secret.sops.yaml", leaked)
    assert finding[2] == "Secret with data (c2, c3)"
    # Without the sops block the ENC[...] text is just data.
    bare = SOPS_SECRET.split("sops:")[0]
    assert scan_text("x.yaml", bare)[0][2] == "Secret with data (c2)"


@pytest.mark.parametrize(
    "kind",
    [
        '"Secr\\x65t"',
        '"Sec\\u0072et"',
        '"Secr\\\n  et"',
        "!!str Secret",
        "&k Secret",
        "|-\n  Secret",
    ],
    ids=["hex-escape", "unicode-escape", "escaped-line-break", "tagged", "anchored", "block"],
)
def test_a_secret_is_found_however_its_kind_is_spelled(kind: str) -> None:
    text = f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: s}}\nstringData:\n  a: b\n"
    assert scan_text("a.yaml", text) == [(1, "Secret s", "Secret with data (a)")]
    json_text = '{"apiVersion": "v1", "kind": "Secr\\u0065t", "metadata": {"name": "s"},'
    assert scan_text("a.json", json_text + ' "data": {"a": "Yg=="}}') == [
        (1, "Secret s", "Secret with data (a)")
    ]


def test_each_pattern_runs_only_on_a_text_with_its_word() -> None:
    """The words that let a text skip a pattern: every match holds the word, so a text
    without it has no match (folded: every character ``re`` matches ignoring case for one of
    the word's letters lower-cases to that letter)."""
    for (pattern, _), (word, fold) in zip(PATTERNS, PATTERN_WORDS, strict=True):
        source = pattern.pattern.lower() if fold else pattern.pattern
        assert word in source
        for letter in set(word) if fold else ():
            matched = re.compile(f"(?i){re.escape(letter)}")
            assert all(
                c.lower() == letter
                for c in map(chr, range(0x110000))
                if not 0xD800 <= ord(c) <= 0xDFFF and matched.fullmatch(c)
            )


@pytest.mark.parametrize(
    "line",
    [
        "TOKEN: " + "x" * 24,
        "to\u212aen: " + "y" * 24,  # a Kelvin sign, which re matches as k
        "Authorization: BEARER " + "z" * 20,
    ],
    ids=["upper-case", "kelvin-sign", "upper-case-bearer"],
)
def test_patterns_ignoring_case_still_match(line: str) -> None:
    assert [what for _, _, what in scan_text("notes.md", f"# notes\n{line}\n")] in (
        ["a token"],
        ["a bearer token"],
    )
