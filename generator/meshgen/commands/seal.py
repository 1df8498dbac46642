"""``meshgen seal``: a SealedSecret for one cluster's controller, committed in its folder.

Seals a remote secret (from ``meshgen remote-secret`` or istioctl) or a cacerts bundle (from
``meshgen ca issue``) with the cluster's Sealed Secrets certificate, writes it under
``clusters/<c>/istio-system/sealed/``, records it in ``mesh.yaml`` and renders, so the
cluster's overlay includes it. The file carries no generated mark: render leaves it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshgen import mesh_repo, output, spec
from meshgen.adapters import secret_files
from meshgen.commands import _trust
from meshgen.errors import MeshgenError
from meshgen.render import yamltext
from meshgen.render.secrets import CACERTS, expected_secrets, remote_secret_name
from meshgen.render.secrets.sealed_secrets import sealed_path
from meshgen.trust import kubeseal
from meshgen.trust import remote_secret as rs

SEALED_HEADER = (
    "# Sealed by `meshgen seal` for the Sealed Secrets controller of cluster {cluster}: "
    "ciphertext, safe in Git. Not generated: `meshgen render` leaves it alone; seal again to "
    "change it.\n"
)


@dataclass(frozen=True)
class Options:
    cluster: str
    cert: Path
    remote_secret: Path | None = None
    cacerts: Path | None = None
    repo: Path | None = None
    dry_run: bool = False
    overwrite_edits: bool = False


@dataclass(frozen=True)
class Plain:
    """The Secret to seal: name, values, and the metadata the controller puts on it."""

    name: str
    data: dict[str, bytes]
    labels: dict[str, str]
    annotations: dict[str, str]


def _remote_secret(path: Path) -> tuple[str, Plain]:
    text = secret_files.read_bytes(path, "--remote-secret").decode("utf-8", "replace")
    parsed = rs.parse_remote_secret(text, f"--remote-secret {path}")
    plain = Plain(
        name=remote_secret_name(parsed.cluster),
        data={parsed.cluster: parsed.kubeconfig.encode()},
        labels={rs.MULTICLUSTER_LABEL: "true"},
        annotations={rs.CLUSTER_ANNOTATION: parsed.cluster},
    )
    return parsed.cluster, plain


def _cacerts(folder: Path, cluster: str) -> Plain:
    return Plain(name=CACERTS, data=_trust.read_cacerts(folder, cluster), labels={}, annotations={})


def run(options: Options) -> int:
    if (options.remote_secret is None) == (options.cacerts is None):
        raise MeshgenError(
            "seal: pass exactly one of --remote-secret FILE or --cacerts DIR (one Secret per run)"
        )
    root = (
        mesh_repo.find_root(options.repo)
        if options.dry_run
        else mesh_repo.open_for_change(options.repo)
    )
    document = mesh_repo.load(root)
    mesh = document.mesh
    cluster = _trust.require_cluster(document, options.cluster)
    if mesh.secrets_provider != "sealed-secrets":
        raise MeshgenError(
            f"{document.source}: secrets.provider is {mesh.secrets_provider}, so no overlay would "
            "include a SealedSecret; set secrets.provider: sealed-secrets and run `meshgen render`"
        )
    if options.remote_secret is not None:
        peer, plain = _remote_secret(options.remote_secret)
        if peer == cluster.name:
            raise MeshgenError(
                f"--remote-secret {options.remote_secret}: is {peer}'s own remote secret; "
                "a cluster needs the other clusters' (seal it for each of them)"
            )
    else:
        assert options.cacerts is not None
        plain = _cacerts(options.cacerts, cluster.name)
    if plain.name not in expected_secrets(mesh, cluster):
        raise MeshgenError(
            f"{plain.name}: cluster {cluster.name} does not need it "
            f"(it needs: {', '.join(expected_secrets(mesh, cluster)) or 'nothing'}); "
            "check the cluster names"
        )
    cert_pem = secret_files.read_bytes(options.cert, "--cert")
    public_key = kubeseal.load_public_key(cert_pem, f"--cert {options.cert}")
    sealed = kubeseal.sealed_secret(
        public_key,
        plain.name,
        rs.ISTIO_NAMESPACE,
        plain.data,
        labels=plain.labels,
        annotations=plain.annotations,
    )
    path = sealed_path(cluster.name, plain.name)
    text = SEALED_HEADER.format(cluster=cluster.name) + yamltext.dump(sealed)
    updated = spec.record_trust(
        document, cluster.name, "sealed", {plain.name: _trust.timestamp(_trust.now())}
    )
    if options.dry_run:
        from meshgen.commands._change import DRY_RUN_DONE, preview

        output.info(f"Sealed {plain.name} for {cluster.name} (in memory).")
        preview(root, mesh_repo.plan_mesh_file(root, updated, extra={path: text}))
        output.info(DRY_RUN_DONE)
        return 0
    changed = mesh_repo.write_mesh_file(
        root, updated, extra={path: text}, overwrite_edits=options.overwrite_edits
    )
    for changed_path in changed:
        output.info(f"  wrote    {changed_path}")
    output.info(f"Sealed {plain.name} for {cluster.name}; review and commit (ciphertext only).")
    return 0
