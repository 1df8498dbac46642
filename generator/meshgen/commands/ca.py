"""``meshgen ca init`` / ``ca issue``: the shared root CA and per-cluster intermediates.

Keys are written with mode 0600 and never into a Git work tree. ``ca issue`` records the
intermediate's validity in ``mesh.yaml`` when it runs against a mesh repository.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from meshgen import mesh_repo, output, spec
from meshgen.adapters import secret_files
from meshgen.commands import _trust
from meshgen.commands._change import DRY_RUN_DONE
from meshgen.errors import MeshgenError
from meshgen.trust import ca


@dataclass(frozen=True)
class InitOptions:
    out: Path
    root_days: int = ca.DEFAULT_ROOT_DAYS
    key_size: int = ca.DEFAULT_KEY_SIZE
    dry_run: bool = False


@dataclass(frozen=True)
class IssueOptions:
    cluster: str
    ca_dir: Path
    out: Path
    days: int = ca.DEFAULT_INTERMEDIATE_DAYS
    key_size: int = ca.DEFAULT_KEY_SIZE
    repo: Path | None = None
    dry_run: bool = False


def run_init(options: InitOptions) -> int:
    secret_files.require_outside_git(options.out, "--out")
    for name in (ca.ROOT_CERT, ca.ROOT_KEY):
        if (options.out / name).exists():
            raise MeshgenError(
                f"--out {options.out}: already holds {name}; nothing was written. A new root "
                "means re-issuing every cluster: choose another folder, or move the old one away"
            )
    moment = _trust.now()
    root = ca.create_root(moment, days=options.root_days, key_size=options.key_size)
    root_end = moment + datetime.timedelta(days=options.root_days)
    files = {ca.ROOT_CERT: root.cert_pem, ca.ROOT_KEY: root.key_pem}
    if options.dry_run:
        secret_files.check_writable(options.out, list(files), "--out")
        _preview_secret_files(options.out, list(files))
        output.info(f"The root CA would be valid until {_trust.timestamp(root_end)}.")
        output.info(DRY_RUN_DONE)
        return 0
    written = secret_files.write_files(options.out, files, ca.SECRET_FILES, "--out")
    for path in written:
        output.info(f"  wrote    {path}")
    output.info(
        f"Root CA valid until {_trust.timestamp(root_end)}. Keep "
        f"{ca.ROOT_KEY} offline; issue each cluster's CA with "
        f"`meshgen ca issue CLUSTER --ca {options.out} --out DIR`."
    )
    return 0


def run_issue(options: IssueOptions) -> int:
    _trust.check_cluster_name(options.cluster)
    secret_files.require_outside_git(options.out, "--out")
    root_dir = mesh_repo.find_optional(options.repo, for_change=not options.dry_run)
    document = mesh_repo.load(root_dir) if root_dir is not None else None
    if document is not None:
        _trust.require_cluster(document, options.cluster)
    cert_pem = secret_files.read_bytes(options.ca_dir / ca.ROOT_CERT, "--ca")
    key_pem = secret_files.read_bytes(options.ca_dir / ca.ROOT_KEY, "--ca")
    moment = _trust.now()
    bundle = ca.issue_intermediate(
        options.cluster,
        cert_pem,
        key_pem,
        moment,
        days=options.days,
        key_size=options.key_size,
        source=str(options.ca_dir),
    )
    if options.dry_run:
        return _preview_issue(options, bundle, moment, document, root_dir)
    written = secret_files.write_files(options.out, bundle.files, ca.SECRET_FILES, "--out")
    for path in written:
        output.info(f"  wrote    {path}")
    output.info(
        f"Intermediate CA of {options.cluster} valid until {_trust.timestamp(bundle.not_after)}."
    )
    if document is not None and root_dir is not None:
        _trust.record(
            root_dir,
            document,
            options.cluster,
            "ca",
            {"issued": _trust.timestamp(moment), "expires": _trust.timestamp(bundle.not_after)},
        )
        _deliver_hint(document, options)
    else:
        output.note(
            "No mesh repository here (pass --repo DIR): record the issue date in mesh.yaml "
            "under the cluster's trust.ca by hand."
        )
    return 0


def _preview_secret_files(folder: Path, names: list[str]) -> None:
    for name in sorted(names):
        mode = "0600" if name in ca.SECRET_FILES else "0644"
        output.info(f"  would write  {folder / name} (mode {mode})")


def _preview_issue(
    options: IssueOptions,
    bundle: ca.Intermediate,
    moment: datetime.datetime,
    document: spec.MeshDocument | None,
    root_dir: Path | None,
) -> int:
    """``ca issue --dry-run``: the files and the mesh.yaml record it would write."""
    secret_files.check_writable(options.out, list(bundle.files), "--out")
    _preview_secret_files(options.out, list(bundle.files))
    expires = _trust.timestamp(bundle.not_after)
    output.info(f"The intermediate CA of {options.cluster} would be valid until {expires}.")
    if document is not None and root_dir is not None:
        values = {"issued": _trust.timestamp(moment), "expires": expires}
        _trust.record(root_dir, document, options.cluster, "ca", values, dry_run=True)
    output.info(DRY_RUN_DONE)
    return 0


def _deliver_hint(document: spec.MeshDocument, options: IssueOptions) -> None:
    mesh = document.mesh
    if mesh.secrets_provider == "external-secrets":
        from meshgen.render.secrets.external_secrets import CACERTS_PROPERTIES, cacerts_store_key

        props = ", ".join(f"{p} <- {f}" for f, p in CACERTS_PROPERTIES.items())
        output.info(
            f"Store it under the secret store key {cacerts_store_key(mesh, options.cluster)} "
            f"with the properties {props}."
        )
    elif mesh.secrets_provider == "sops":
        output.info(
            f"Encrypt it into Git: meshgen encrypt-cacerts {options.cluster} "
            f"--cacerts {options.out}"
        )
    elif mesh.secrets_provider == "sealed-secrets":
        output.info(
            f"Seal it: meshgen seal {options.cluster} --cert CONTROLLER.pem --cacerts {options.out}"
        )
