"""``meshgen encrypt-remote-secret``: put a cluster's remote secret into Git, SOPS-encrypted.

The input is what ``istioctl create-remote-secret --name <cluster>`` prints: one Secret named
``istio-remote-secret-<cluster>``. The real ``sops`` encrypts it with the creation rule of the
repository's ``.sops.yaml`` (age recipients from mesh.yaml, only data/stringData) to the fixed
place the generated kustomizations include. The plaintext is never written anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshgen import output
from meshgen.adapters import sops, workspace
from meshgen.commands import _sops
from meshgen.errors import MeshgenError
from meshgen.render.secrets import discovered_clusters, remote_secret_name, runs_istiod
from meshgen.render.secrets.sops import SOPS_CONFIG, cacerts_path, encrypted_path, make_cacerts
from meshgen.spec import Mesh


def missing_secrets(root: Path, mesh: Mesh) -> list[str]:
    """Warnings for encrypted files the overlays include but that are not in the work tree
    yet: remote secrets (the other clusters' ``istio-system`` Kustomization cannot build without
    them) and each cluster's ``cacerts`` (its own cannot, so Flux installs no istiod there)."""
    if mesh.secrets_provider != "sops":
        return []
    missing = [
        (
            encrypted_path(c.name),
            "the other clusters cannot apply their remote secrets until it exists; run "
            f"`istioctl create-remote-secret --name {c.name} > FILE` and "
            f"`meshgen encrypt-remote-secret {c.name} FILE`",
        )
        for c in discovered_clusters(mesh)
    ]
    missing += [
        (
            cacerts_path(mesh, c),
            f"Flux installs no istiod in {c.name} until it exists; {make_cacerts(c.name)}",
        )
        for c in sorted(mesh.clusters, key=lambda c: c.name)
        if runs_istiod(c)
    ]
    return [f"{path} is missing: {why}" for path, why in missing if not (root / path).is_file()]


def _read_secret(file: Path, cluster: str) -> dict[str, Any]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise MeshgenError(f"{file}: cannot be read ({exc.strerror}); check the path") from None
    try:
        documents = [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]
    except YAMLError:
        raise MeshgenError(
            f"{file}: not valid YAML; pass the output of "
            f"`istioctl create-remote-secret --name {cluster}`"
        ) from None
    expected = remote_secret_name(cluster)
    secrets = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Secret"]
    if len(documents) != 1 or len(secrets) != 1:
        raise MeshgenError(
            f"{file}: expected exactly one Secret, found {len(documents)} documents; pass the "
            f"output of `istioctl create-remote-secret --name {cluster}`"
        )
    (secret,) = secrets
    name = (secret.get("metadata") or {}).get("name")
    if name != expected:
        raise MeshgenError(
            f"{file}: the Secret is named {name!r}, not {expected!r}; create it with "
            f"`istioctl create-remote-secret --name {cluster}`"
        )
    if not secret.get("data") and not secret.get("stringData"):
        raise MeshgenError(f"{file}: the Secret {name} has no data; nothing to encrypt")
    if "sops" in secret:
        raise MeshgenError(f"{file}: is already encrypted with sops; pass the plaintext Secret")
    return secret


def run(cluster: str, file: Path, repo: Path | None, dry_run: bool = False) -> int:
    root, document = _sops.open_mesh(repo, cluster, "a remote secret")
    mesh = document.mesh
    _read_secret(file, cluster)
    target = encrypted_path(cluster)
    existed = (root / target).exists()
    encrypted = sops.encrypt(file, target, root)
    if "sops:" not in encrypted:
        raise MeshgenError(f"sops returned no encrypted document for {file}; check {SOPS_CONFIG}")
    if dry_run:
        from meshgen.commands._change import DRY_RUN_DONE

        output.info(
            f"Would {'replace' if existed else 'write'} {target} (sops encrypted it to "
            f"{len(mesh.sops_age_recipients)} age recipients). {DRY_RUN_DONE}"
        )
        return 0
    workspace.apply_changes(root, workspace.ChangeSet(write={target: encrypted}))
    output.info(
        f"{'Replaced' if existed else 'Wrote'} {target} (encrypted with sops to "
        f"{len(mesh.sops_age_recipients)} age recipients). Commit it; delete {file}."
    )
    return 0
