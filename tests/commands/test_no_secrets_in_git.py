"""No command writes secret material into the mesh's Git work tree, by any path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import MeshRepo, git, run_cli, tree_bytes
from trust_material import self_signed, write_kubeconfig


@pytest.mark.parametrize("where", ["inside", "nested", "symlink", "relative"])
def test_every_writing_command_refuses_the_work_tree(
    make_trust_mesh: Callable[[str], MeshRepo],
    secrets_dir: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    repo = make_trust_mesh("external-secrets")
    root = repo.root
    assert (
        run_cli(
            capsys, "ca", "init", "--out", str(secrets_dir / "root"), "--key-size", "2048"
        ).exit_code
        == 0
    )
    _, api_ca = self_signed("api")
    kubeconfig = write_kubeconfig(secrets_dir / "kc", "https://h.example.com:6443", api_ca)
    if where == "symlink":
        (secrets_dir / "looks-outside").symlink_to(root / "clusters", target_is_directory=True)
        base, cwd = str(secrets_dir / "looks-outside"), None
    elif where == "relative":
        base, cwd = "keys", root
    else:
        base, cwd = str(root / ("deep/er" if where == "nested" else "")).rstrip("/"), None
    before = tree_bytes(root)
    commands = [
        ["ca", "init", "--out", f"{base}/root-ca"],
        ["ca", "issue", "cluster-1", "--ca", str(secrets_dir / "root"), "--out", f"{base}/c1"],
        [
            "remote-secret",
            "cluster-1",
            "--kubeconfig",
            str(kubeconfig),
            "--output",
            f"{base}/rs.yaml",
        ],
    ]
    for args in commands:
        result = (
            run_cli(capsys, *args, "--key-size", "2048", cwd=cwd)
            if args[0] == "ca"
            else run_cli(capsys, *args, cwd=cwd)
        )
        assert result.exit_code == 2, (args, result.stderr)
        assert "is inside the Git work tree" in result.stderr
        assert "secret material never goes into Git" in result.stderr
        assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert tree_bytes(root) == before
    assert git(root, "status", "--porcelain", "--ignored") == ""
