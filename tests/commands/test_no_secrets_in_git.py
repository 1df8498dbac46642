"""No command writes secret material into the mesh's Git work tree, by any path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import MeshRepo, git, run_cli, tree_bytes
from trust_material import self_signed, write_kubeconfig

KEY = ("--key-size", "2048")


def test_every_writing_command_refuses_the_work_tree(
    make_trust_mesh: Callable[[str], MeshRepo],
    secrets_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_trust_mesh("external-secrets").root
    root_ca = secrets_dir / "root"
    assert run_cli(capsys, "ca", "init", "--out", str(root_ca), *KEY).exit_code == 0
    _, api_ca = self_signed("api")
    kubeconfig = write_kubeconfig(secrets_dir / "kc", "https://h.example.com:6443", api_ca)
    (secrets_dir / "looks-outside").symlink_to(root / "clusters", target_is_directory=True)
    # (folder, working directory): the root, a new nested folder, a symlink from outside
    # that leads inside, and a relative path from inside the repository.
    places: list[tuple[str, Path | None]] = [
        (str(root), None),
        (str(root / "deep" / "er"), None),
        (str(secrets_dir / "looks-outside"), None),
        ("keys", root),
    ]
    before = tree_bytes(root)
    for base, cwd in places:
        for args in (
            ["ca", "init", "--out", f"{base}/root-ca", *KEY],
            ["ca", "issue", "cluster-1", "--ca", str(root_ca), "--out", f"{base}/c1", *KEY],
            [
                *("remote-secret", "cluster-1", "--kubeconfig", str(kubeconfig)),
                *("--output-file", f"{base}/rs.yaml"),
            ],
        ):
            result = run_cli(capsys, *args, cwd=cwd)
            assert result.exit_code == 2, (args, result.stderr)
            assert "is inside the Git work tree" in result.stderr
            assert "secret material never goes into Git" in result.stderr
            assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert tree_bytes(root) == before
    assert git(root, "status", "--porcelain", "--ignored") == ""
