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
        known = ", ".join(c.name for c in document.mesh.clusters) or "none yet"
        raise MeshgenError(
            f"{document.source}: cluster {name!r} is not in the mesh (clusters: {known}); "
            "check the name or add it with `meshgen new-cluster`"
        ) from None


def record(
    root: Path, document: spec.MeshDocument, cluster: str, section: str, values: dict[str, str]
) -> None:
    """Write ``values`` into ``clusters[cluster].trust.<section>`` of ``mesh.yaml``."""
    from meshgen.adapters import workspace

    updated = spec.record_trust(document, cluster, section, values)
    # Only mesh.yaml: these records change no generated file (sealed ones do; seal renders).
    changes = workspace.ChangeSet(write={spec.MESH_FILE: spec.to_text(updated)})
    workspace.apply_changes(root, changes)
    fields = ", ".join(f"{k}={v}" for k, v in values.items())
    output.note(f"mesh.yaml: recorded trust.{section} ({fields}) for {cluster}; commit it.")
