"""``--dry-run`` on every command that writes: it prints the change and writes nothing.

"Nothing" is checked byte for byte: every file and folder under the test's temporary folder
(the repository with its ``.git``: objects, refs, index, branches; its ``origin``; the secret
material folders; the tools folder) is the same before and after. Where it matters, the
change printed is also compared with what the real run then does.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from helpers import MeshRepo, git, remote_secret_manifest, run_cli
from meshgen import spec
from trust_material import self_signed, service_account_token, write_kubeconfig

WRITING_COMMANDS = {
    ("init",),
    ("new-cluster",),
    ("set-cluster",),
    ("remove-cluster",),
    ("render",),
    ("encrypt-remote-secret",),
    ("encrypt-cacerts",),
    ("ca", "init"),
    ("ca", "issue"),
    ("remote-secret",),
    ("seal",),
    ("tools", "install"),
}
KEY = ("--key-size", "2048")


def everything(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """(mode, bytes) of every file and folder under ``root`` (``.git`` included)."""
    for repo in {p.parent for p in root.rglob(".git")}:
        # git status may refresh the index's stat data: do it before the snapshot, so that
        # only what the command itself does shows.
        subprocess.run(["git", "-C", str(repo), "status", "-s"], capture_output=True, check=False)
    found: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        found[path.relative_to(root).as_posix()] = (info.st_mode, data)
    return found


def dry_run(
    capsys: pytest.CaptureFixture[str], place: Path, *args: str, cwd: Path | None = None
) -> str:
    """Run ``meshgen ARGS --dry-run``: exit 0, nothing under ``place`` changed; its output."""
    before = everything(place)
    result = run_cli(capsys, *args, "--dry-run", cwd=cwd)
    assert result.exit_code == 0, (args, result.stderr)
    after = everything(place)
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert changed == [], (args, changed)
    output = result.stdout + result.stderr
    assert "Dry run: nothing was" in output, output
    return output


def _walk(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, (*path, name))


def test_every_writing_command_has_dry_run() -> None:
    from meshgen.cli import cli

    with_dry_run = {
        path
        for path, command in _walk(cli)
        if any("--dry-run" in getattr(p, "opts", ()) for p in command.params)
    }
    assert with_dry_run == WRITING_COMMANDS


def test_proposals_print_the_change_and_write_nothing(
    make_trust_mesh: Callable[[str], MeshRepo],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = make_trust_mesh("external-secrets")
    root = repo.root
    git(root, "push", "-q", "-u", "origin", "main")
    add = ("new-cluster", "cluster-3", "--network", "network2", "--repo", str(root))
    shown = dry_run(capsys, tmp_path, *add, "--push")
    assert "Added cluster cluster-3 to mesh mesh1 (dry run)" in shown
    assert "+  - name: cluster-3" in shown  # the mesh.yaml diff
    assert "Would commit on a new branch meshgen/add-cluster-cluster-3 (from main)" in shown
    assert "Would push meshgen/add-cluster-cluster-3 to origin." in shown
    announced = sorted(
        line.split()[2] for line in shown.splitlines() if line.startswith("  would write ")
    )
    assert "clusters/cluster-3/istio-system/kustomization.yaml" in announced
    assert "Would not commit (--no-commit)." in dry_run(capsys, tmp_path, *add, "--no-commit")

    # The real run writes exactly the files the dry run announced.
    assert run_cli(capsys, *add).exit_code == 0
    committed = git(root, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert sorted(committed) == announced

    git(root, "switch", "-q", "main")
    shown = dry_run(capsys, tmp_path, "remove-cluster", "cluster-2", "--repo", str(root))
    assert "would remove  clusters/cluster-2/istio-system/kustomization.yaml" in shown
    assert "Would commit on a new branch meshgen/remove-cluster-cluster-2 (from main)" in shown
    assert "After merge, clean up outside Git:" in shown
    shown = dry_run(
        capsys, tmp_path, "set-cluster", "cluster-2", "--region", "eu-west1", "--repo", str(root)
    )
    assert "+    region: eu-west1" in shown
    assert "Would commit on a new branch meshgen/set-cluster-cluster-2 (from main)" in shown

    # render after a hand edit of mesh.yaml (committed): the files it would rewrite.
    mesh = (root / "mesh.yaml").read_text()
    pinned = f'version: "{spec.DEFAULT_ISTIO_VERSION}"'
    assert pinned in mesh
    (root / "mesh.yaml").write_text(mesh.replace(pinned, 'version: "1.29.6"'))
    git(root, "commit", "-qam", "Istio 1.29.6")
    shown = dry_run(capsys, tmp_path, "render", "--repo", str(root))
    rewritten = sorted(
        line.split()[2] for line in shown.splitlines() if line.startswith("  would write ")
    )
    assert "clusters/cluster-1/istio-system/kustomization.yaml" not in rewritten
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    assert sorted(git(root, "diff", "--name-only").splitlines()) == rewritten


def test_secret_material_commands_write_nothing(
    make_trust_mesh: Callable[[str], MeshRepo],
    secrets_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_trust_mesh("external-secrets").root
    root_ca, bundle = secrets_dir / "root", secrets_dir / "cluster-1"
    shown = dry_run(capsys, tmp_path, "ca", "init", "--out", str(root_ca), *KEY)
    assert f"would write  {root_ca / 'root-key.pem'} (mode 0600)" in shown
    assert run_cli(capsys, "ca", "init", "--out", str(root_ca), *KEY).exit_code == 0

    issue = ("ca", "issue", "cluster-1", "--ca", str(root_ca), "--out", str(bundle), *KEY)
    shown = dry_run(capsys, tmp_path, *issue, "--repo", str(root))
    assert f"would write  {bundle / 'ca-key.pem'} (mode 0600)" in shown
    assert "mesh.yaml: would record trust.ca (issued=" in shown

    _, api_ca = self_signed("api")
    kubeconfig = write_kubeconfig(secrets_dir / "kc", "https://203.0.113.7:6443", api_ca)
    (secrets_dir / "token").write_text(service_account_token(None))
    remote = secrets_dir / "rs.yaml"
    shown = dry_run(
        capsys, tmp_path, "remote-secret", "cluster-2", "--kubeconfig", str(kubeconfig),
        "--token-file", str(secrets_dir / "token"), "--output-file", str(remote),
        "--repo", str(root),
    )  # fmt: skip
    assert f"would write  {remote} (mode 0600)" in shown
    assert "mesh.yaml: would record trust.remoteSecret (issued=" in shown


def test_sops_commands_encrypt_in_memory_and_write_nothing(
    sops_repo: Path, secrets_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = secrets_dir / "c2.yaml"
    source.write_text(remote_secret_manifest("c2"))
    shown = dry_run(capsys, tmp_path, "encrypt-remote-secret", "c2", str(source),
                    "--repo", str(sops_repo))  # fmt: skip
    assert "Would write overlays/remote-secrets/c2/remote-secret.sops.yaml" in shown

    root_ca, bundle = secrets_dir / "root", secrets_dir / "c1"
    assert run_cli(capsys, "ca", "init", "--out", str(root_ca), *KEY).exit_code == 0
    issued = run_cli(capsys, "ca", "issue", "c1", "--ca", str(root_ca), "--out", str(bundle), *KEY)
    assert issued.exit_code == 0, issued.stderr
    shown = dry_run(capsys, tmp_path, "encrypt-cacerts", "c1", "--cacerts", str(bundle),
                    "--repo", str(sops_repo))  # fmt: skip
    assert "would write   clusters/c1/istio-system/cacerts.sops.yaml (new)" in shown
    assert "+    trust:\n    +      ca:\n    +        issued:" in shown  # the mesh.yaml record


def test_seal_writes_nothing(
    make_trust_mesh: Callable[[str], MeshRepo],
    secrets_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_trust_mesh("sealed-secrets").root
    root_ca, bundle = secrets_dir / "root", secrets_dir / "cluster-1"
    assert run_cli(capsys, "ca", "init", "--out", str(root_ca), *KEY).exit_code == 0
    issue = ("ca", "issue", "cluster-1", "--ca", str(root_ca), "--out", str(bundle), *KEY)
    assert run_cli(capsys, *issue).exit_code == 0
    _, cert = self_signed("sealed-secrets")
    (secrets_dir / "controller.pem").write_bytes(cert)
    shown = dry_run(
        capsys, tmp_path, "seal", "cluster-1", "--cert", str(secrets_dir / "controller.pem"),
        "--cacerts", str(bundle), "--repo", str(root),
    )  # fmt: skip
    assert "would write   clusters/cluster-1/istio-system/sealed/cacerts.yaml (new)" in shown
    assert "would write   mesh.yaml" in shown


def test_init_and_tools_install_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new" / "mesh"
    shown = dry_run(capsys, tmp_path, "init", str(target), "--mesh-id", "m1",
                    "--repo-url", "https://git.example.com/m.git")  # fmt: skip
    assert f"Would create the folder {target}." in shown
    assert "Would run git init (branch main)." in shown
    assert "would write   mesh.yaml (new)" in shown
    assert "Would commit on main: Initialize Istio mesh m1 with meshgen" in shown
    assert not (tmp_path / "new").exists()

    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.setenv("PATH", os.defpath)
    shown = dry_run(capsys, tmp_path, "tools", "install")
    assert "would download helm and kubectl from " in shown
    assert f"and install into {tmp_path / 'tools'}" in shown
    assert not (tmp_path / "tools").exists()
