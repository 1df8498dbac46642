"""What the commands that encrypt into Git with sops share: the mesh must use provider
``sops``, know the cluster, and hold the ``.sops.yaml`` that ``render`` writes today (an older
one may have no creation rule for the file, and sops would refuse it or encrypt it wrongly)."""

from __future__ import annotations

from pathlib import Path

from meshgen import mesh_repo, spec
from meshgen.errors import MeshgenError
from meshgen.render.files import yaml_file
from meshgen.render.secrets.sops import SOPS_CONFIG, sops_config


def open_mesh(
    repo: Path | None, cluster: str, what: str, dry_run: bool = False
) -> tuple[Path, spec.MeshDocument]:
    """The repository root and its mesh, for encrypting ``what`` of ``cluster`` into it
    (locked for the change, unless ``dry_run``)."""
    root = mesh_repo.find_root(repo) if dry_run else mesh_repo.open_for_change(repo)
    document = mesh_repo.load(root)
    mesh = document.mesh
    if mesh.secrets_provider != "sops":
        raise MeshgenError(
            f"{root / spec.MESH_FILE}: secrets.provider is {mesh.secrets_provider}; {what} "
            "is encrypted into Git only with provider sops (and engine flux)"
        )
    if cluster not in {c.name for c in mesh.clusters}:
        raise MeshgenError(
            f"{root / spec.MESH_FILE}: no cluster {cluster!r} in the mesh; add it with "
            "`meshgen new-cluster` first"
        )
    try:
        current = (root / SOPS_CONFIG).read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != yaml_file(sops_config(mesh)):
        state = "missing" if current is None else "not what mesh.yaml gives"
        raise MeshgenError(
            f"{root / SOPS_CONFIG}: {state}; run `meshgen render` first (it writes the "
            "creation rules sops encrypts with)"
        )
    return root, document
