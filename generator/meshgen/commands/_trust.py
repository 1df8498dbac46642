"""What the secret-material commands share: timestamps and recording them in ``mesh.yaml``."""

from __future__ import annotations

import datetime
from pathlib import Path

from meshgen import output, spec
from meshgen.errors import MeshgenError

DNS_LABEL_MAX = 63


def timestamp(moment: datetime.datetime) -> str:
    """UTC, seconds, ``Z``: the format of ``trust`` fields in ``mesh.yaml``."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def check_cluster_name(name: str) -> None:
    import re

    if len(name) > DNS_LABEL_MAX or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name):
        raise MeshgenError(
            f"cluster {name!r}: not a DNS-1123 label (lower-case letters, digits, '-'); "
            "use the cluster's name from mesh.yaml"
        )


def require_cluster(document: spec.MeshDocument, name: str) -> spec.Cluster:
    try:
        return document.mesh.cluster(name)
    except KeyError:
        hint = document.mesh.clusters_hint(name, none="none yet")
        raise MeshgenError(
            f"{document.source}: cluster {name!r} is not in the mesh ({hint}); "
            "check the name or add it with `meshgen new-cluster`"
        ) from None


def record(
    root: Path,
    document: spec.MeshDocument,
    cluster: str,
    section: str,
    values: dict[str, str],
    dry_run: bool = False,
) -> None:
    """Write ``values`` into ``clusters[cluster].trust.<section>`` of ``mesh.yaml`` (with
    ``dry_run``, only say so)."""
    from meshgen.adapters import workspace

    updated = spec.record_trust(document, cluster, section, values)
    # Only mesh.yaml: these records change no generated file (sealed ones do; seal renders).
    changes = workspace.ChangeSet(write={spec.MESH_FILE: spec.to_text(updated)})
    fields = ", ".join(f"{k}={v}" for k, v in values.items())
    if dry_run:
        output.note(f"mesh.yaml: would record trust.{section} ({fields}) for {cluster}.")
        return
    workspace.apply_changes(root, changes)
    output.note(f"mesh.yaml: recorded trust.{section} ({fields}) for {cluster}; commit it.")


def read_cacerts(folder: Path, cluster: str) -> dict[str, bytes]:
    """The four ``cacerts`` files of ``cluster``'s bundle (``meshgen ca issue --out``), checked:
    the intermediate is signed by the root, its key is the certificate's, and it was issued for
    ``cluster`` (its ``L=``). For ``seal`` and ``encrypt-cacerts``."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    from meshgen.adapters import secret_files
    from meshgen.trust import ca

    data = {name: secret_files.read_bytes(folder / name, "--cacerts") for name in ca.CACERTS_FILES}
    try:
        intermediate = x509.load_pem_x509_certificate(data[ca.CA_CERT])
        root = x509.load_pem_x509_certificate(data[ca.ROOT_CERT])
        intermediate.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise MeshgenError(
            f"--cacerts {folder}: {ca.CA_CERT} is not signed by {ca.ROOT_CERT}; "
            "pass the folder `meshgen ca issue` wrote"
        ) from None
    try:
        key = serialization.load_pem_private_key(data[ca.CA_KEY], password=None)
        matches = key.public_key() == intermediate.public_key()
    except (ValueError, TypeError):
        matches = False
    if not matches:
        raise MeshgenError(
            f"--cacerts {folder}: {ca.CA_KEY} is not the key of {ca.CA_CERT} (or is "
            "encrypted); pass the folder `meshgen ca issue` wrote"
        )
    owner = ca.cluster_of(data[ca.CA_CERT])
    if owner is not None and owner != cluster:
        raise MeshgenError(
            f"--cacerts {folder}: holds the intermediate CA of cluster {owner}, not {cluster}; "
            f"pass {cluster}'s bundle (meshgen ca issue {cluster})"
        )
    return data
