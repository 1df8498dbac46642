"""``meshgen encrypt-remote-secret``: put a cluster's remote secret into Git, SOPS-encrypted.

The input is what ``istioctl create-remote-secret --name <cluster>`` prints (from a file, or
piped on stdin with ``-``): a header comment, one Secret named ``istio-remote-secret-<cluster>``
and a closing ``---``. meshgen rebuilds that Secret from the fields istiod reads, and the real
``sops`` encrypts it, on stdin, with the creation rule of the repository's ``.sops.yaml`` (age
recipients from mesh.yaml, only data/stringData) to the fixed place the generated
kustomizations include. The plaintext is never written anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshgen import output
from meshgen.adapters import secret_files, sops, workspace
from meshgen.commands import _sops
from meshgen.errors import MeshgenError
from meshgen.render import yamltext
from meshgen.render.secrets import discovered_clusters, remote_secret_name, runs_istiod
from meshgen.render.secrets.sops import SOPS_CONFIG, cacerts_path, encrypted_path, make_cacerts
from meshgen.spec import Mesh
from meshgen.trust import remote_secret as rs


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
            f"`istioctl create-remote-secret --name {c.name} | "
            f"meshgen encrypt-remote-secret {c.name} -`",
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


STDIN = secret_files.STDIN


def read_input(file: Path) -> tuple[str, str]:
    """(text, how errors name it) of FILE, or of stdin for ``-``; bounded in size."""
    source = "stdin" if str(file) == STDIN else str(file)
    return secret_files.read_bytes(file, "FILE").decode("utf-8", "replace"), source


def normalized_secret(text: str, cluster: str, source: str) -> dict[str, Any]:
    """The one Secret of ``istioctl create-remote-secret --name CLUSTER`` output, rebuilt from
    what istiod reads: name, namespace, the multi-cluster label, the cluster annotation and
    the kubeconfig. Everything else is dropped (comments, other annotations such as
    ``kubectl.kubernetes.io/last-applied-configuration``, which would carry the token into Git
    unencrypted), and so is the empty document after istioctl's closing ``---``, which sops
    would encrypt into a second document of its own."""
    parsed = rs.parse_remote_secret(text, source)
    expected = remote_secret_name(cluster)
    if parsed.name != expected:
        raise MeshgenError(
            f"{source}: the Secret is named {parsed.name!r}, not {expected!r}; create it with "
            f"`istioctl create-remote-secret --name {cluster}`"
        )
    if parsed.cluster != cluster:
        raise MeshgenError(
            f"{source}: holds the kubeconfig of cluster {parsed.cluster!r}, not {cluster!r}; "
            f"create it with `istioctl create-remote-secret --name {cluster}`"
        )
    if not parsed.kubeconfig.strip():
        raise MeshgenError(f"{source}: the Secret {expected} has no data; nothing to encrypt")
    if "sops:" in text and "ENC[" in text:
        raise MeshgenError(f"{source}: is already encrypted with sops; pass the plaintext Secret")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "annotations": {rs.CLUSTER_ANNOTATION: cluster},
            "labels": {rs.MULTICLUSTER_LABEL: "true"},
            "name": expected,
            "namespace": rs.ISTIO_NAMESPACE,
        },
        "stringData": {cluster: parsed.kubeconfig},
    }


def encrypted_remote_secret(text: str, cluster: str, root: Path, source: str = "FILE") -> str:
    """The file ``encrypt-remote-secret`` writes: the normalised Secret, encrypted by the real
    sops (on stdin, so the plaintext never touches a disk) with the rules of ``.sops.yaml``."""
    secret = normalized_secret(text, cluster, source)
    target = encrypted_path(cluster)
    encrypted = sops.encrypt_text(yamltext.dump(secret), target, root)
    plaintext = secret["stringData"][cluster]
    if "sops:" not in encrypted or plaintext.strip() in encrypted or encrypted.count("\n---") > 0:
        raise MeshgenError(
            f"sops did not encrypt {target} into one document; check the creation rules in "
            f"{SOPS_CONFIG}"
        )
    return encrypted


def run(cluster: str, file: Path, repo: Path | None, dry_run: bool = False) -> int:
    root, document = _sops.open_mesh(repo, cluster, "a remote secret", dry_run)
    mesh = document.mesh
    text, source = read_input(file)
    target = encrypted_path(cluster)
    existed = (root / target).exists()
    encrypted = encrypted_remote_secret(text, cluster, root, source)
    if dry_run:
        from meshgen.commands._change import DRY_RUN_DONE

        output.info(
            f"Would {'replace' if existed else 'write'} {target} (sops encrypted it to "
            f"{len(mesh.sops_age_recipients)} age recipients). {DRY_RUN_DONE}"
        )
        return 0
    workspace.apply_changes(
        root,
        workspace.ChangeSet(write={target: encrypted}),
        command="meshgen encrypt-remote-secret",
    )
    leftover = "" if source == "stdin" else f"; delete {file}"
    output.info(
        f"{'Replaced' if existed else 'Wrote'} {target} (encrypted with sops to "
        f"{len(mesh.sops_age_recipients)} age recipients). Commit it{leftover}."
    )
    return 0
