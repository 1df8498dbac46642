"""``meshgen encrypt-cacerts``: put a cluster's ``cacerts`` into Git, SOPS-encrypted.

The input is the bundle folder ``meshgen ca issue CLUSTER --out DIR`` wrote (Istio's four
files). The Secret ``cacerts`` is built in memory, in the namespace of the cluster's istiod,
and handed to the real ``sops`` on stdin, which encrypts it with the creation rule of the
repository's ``.sops.yaml`` to the fixed place the cluster's overlay includes. The plaintext
never touches a disk. The intermediate's dates go into ``trust.ca`` of ``mesh.yaml`` (unless
``ca issue --repo`` already recorded this bundle), in the same write.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path
from typing import Any

from meshgen import output, spec
from meshgen.adapters import sops, workspace
from meshgen.commands import _sops, _trust
from meshgen.errors import MeshgenError
from meshgen.render import yamltext
from meshgen.render.plan import system_namespace
from meshgen.render.secrets import CACERTS
from meshgen.render.secrets.sops import SOPS_CONFIG, cacerts_path
from meshgen.trust import ca


def cacerts_secret(files: dict[str, bytes], namespace: str) -> dict[str, Any]:
    """The Secret istiod reads its plug-in CA from, as ``kubectl create secret generic cacerts
    --from-file=...`` makes it: the four files as base64 ``data``, keys sorted.

    Sorted because kustomize sorts map keys when it builds the overlay, and sops' MAC covers
    the encrypted values in document order: in any other order the Secret Flux builds would
    no longer decrypt ("MAC mismatch"; found by the tests)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CACERTS, "namespace": namespace},
        "type": "Opaque",
        "data": {
            name: base64.b64encode(files[name]).decode("ascii") for name in sorted(ca.CACERTS_FILES)
        },
    }


def _validity(cert_pem: bytes) -> tuple[datetime.datetime, datetime.datetime]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def run(cluster_name: str, cacerts: Path, repo: Path | None, dry_run: bool = False) -> int:
    root, document = _sops.open_mesh(repo, cluster_name, "cacerts", dry_run)
    mesh = document.mesh
    cluster = mesh.cluster(cluster_name)
    if not cluster.runs_istiod:
        raise MeshgenError(
            f"{root / spec.MESH_FILE}: cluster {cluster_name} is a remote: it runs no istiod, "
            "so it needs no cacerts (its control plane's CA signs its workloads)"
        )
    files = _trust.read_cacerts(cacerts, cluster_name)
    secret = cacerts_secret(files, system_namespace(mesh, cluster))
    target = cacerts_path(mesh, cluster)
    encrypted = sops.encrypt_text(yamltext.dump(secret), target, root)
    if "sops:" not in encrypted or any(value in encrypted for value in secret["data"].values()):
        raise MeshgenError(
            f"sops did not encrypt {target}'s data; check the creation rules in {SOPS_CONFIG}"
        )

    write = {target: encrypted}
    not_before, not_after = _validity(files[ca.CA_CERT])
    expires = _trust.timestamp(not_after)
    if cluster.trust.ca_expires != expires:  # not recorded yet (or an older bundle)
        values = {"issued": _trust.timestamp(not_before), "expires": expires}
        updated = spec.record_trust(document, cluster_name, "ca", values)
        write[spec.MESH_FILE] = spec.to_text(updated)
    existed = (root / target).exists()
    if dry_run:
        from meshgen.commands._change import DRY_RUN_DONE, preview

        output.info(
            f"cacerts of {cluster_name}: sops encrypted it to {len(mesh.sops_age_recipients)} "
            "age recipients."
        )
        preview(root, workspace.ChangeSet(write=write))
        output.info(DRY_RUN_DONE)
        return 0
    workspace.apply_changes(root, workspace.ChangeSet(write=write))
    output.info(
        f"{'Replaced' if existed else 'Wrote'} {target} (cacerts of {cluster_name}, encrypted "
        f"with sops to {len(mesh.sops_age_recipients)} age recipients)."
    )
    if spec.MESH_FILE in write:
        output.info(f"mesh.yaml: recorded trust.ca (expires={expires}) for {cluster_name}.")
    output.info("Commit the change; keep the bundle outside Git (its ca-key.pem is secret).")
    return 0
