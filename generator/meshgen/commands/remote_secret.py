"""``meshgen remote-secret``: the remote secret istioctl would print, without istioctl.

The result carries a bearer token, so it goes to stdout or to a file outside any Git work
tree (mode 0600); remarks go to stderr so stdout can be piped into a secret store. The
kubeconfig is found as kubectl finds it: ``--kubeconfig``, else ``$KUBECONFIG`` (several
files, merged), else ``~/.kube/config``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshgen import mesh_repo, output, spec
from meshgen.adapters import secret_files
from meshgen.commands import _trust
from meshgen.errors import MeshgenError
from meshgen.trust import kubeconfig
from meshgen.trust import remote_secret as rs


@dataclass(frozen=True)
class Options:
    cluster: str
    kubeconfig: Path | None = None
    context: str | None = None
    server: str | None = None
    token_file: Path | None = None
    output_file: Path | None = None
    repo: Path | None = None
    output_format: str = "yaml"
    dry_run: bool = False


def _user_kubeconfig(option: Path | None) -> tuple[dict[str, Any], str]:
    """The kubeconfig to read (merged, as kubectl would) and a label for messages."""
    import os

    if option is not None:
        text = secret_files.read_bytes(option, "--kubeconfig").decode("utf-8", "replace")
        config = rs.parse_kubeconfig(text, str(option))
        return kubeconfig.merge([(option.absolute(), config)]), str(option)
    env = os.environ.get("KUBECONFIG")
    paths = kubeconfig.default_paths(env, Path.home())

    def read_text(path: Path) -> str | None:
        try:
            return secret_files.read_bytes(path, "$KUBECONFIG").decode("utf-8", "replace")
        except MeshgenError:
            if path.exists():
                raise
            return None  # kubectl skips a listed file that does not exist

    files = [p.expanduser().absolute() for p in paths]
    config, label = kubeconfig.load(files, read_text, rs.parse_kubeconfig)
    if not config["contexts"]:
        where = f"$KUBECONFIG={env}" if env else str(paths[0])
        raise MeshgenError(
            f"{where}: no kubeconfig with a context there (as kubectl reads it); pass "
            "--kubeconfig FILE"
        )
    return config, label


def run(options: Options) -> int:
    _trust.check_cluster_name(options.cluster)
    if options.output_file is not None:
        secret_files.require_outside_git(options.output_file, "--output-file")
    root = mesh_repo.find_optional(options.repo, for_change=not options.dry_run)
    document = mesh_repo.load(root) if root is not None else None
    cluster = _trust.require_cluster(document, options.cluster) if document else None

    config, source = _user_kubeconfig(options.kubeconfig)

    def read_ca(path: str) -> bytes:
        return secret_files.read_bytes(Path(path).expanduser(), "certificate-authority")

    endpoint, user_token = rs.endpoint_of(config, source, options.context, read_ca)
    if options.token_file is not None:
        raw = secret_files.read_bytes(options.token_file, "--token-file").decode("utf-8", "replace")
        token = rs.check_token(raw, f"--token-file {options.token_file}")
    elif user_token:
        token = rs.check_token(user_token, source)
    else:
        raise MeshgenError(
            f"{source}: the context's user has no token; pass --token-file with the token of "
            f"{rs.READER_ACCOUNT} (istiod accepts only bearer tokens)"
        )
    server = options.server or (cluster.api_server if cluster else None) or endpoint.server
    if not server.startswith("https://"):
        raise MeshgenError(f"server {server!r}: must be an https:// URL; pass --server")
    if rs.is_loopback(server):
        output.warn(
            f"server {server} is a loopback address: istiod in other clusters cannot reach it; "
            "pass --server or set apiServer for the cluster in mesh.yaml"
        )
    endpoint = rs.ApiEndpoint(server, endpoint.ca_data, endpoint.tls_server_name)
    secret = rs.remote_secret(
        options.cluster, rs.reader_kubeconfig(options.cluster, endpoint, token)
    )
    if options.output_format == "json":
        text = json.dumps(secret, indent=2) + "\n"
    else:
        text = rs.secret_text(secret)
    if options.output_file is None:
        output.raw(text)
    elif options.dry_run:
        output.note(f"  would write  {options.output_file} (mode 0600)")
    else:
        written = secret_files.write_secret(options.output_file, text, "--output-file")
        output.note(f"  wrote    {written} (mode 0600)")
    moment = _trust.now()
    expires = rs.token_expiry(token)
    if expires is None and rs.jwt_claims(token) is not None:
        output.warn(
            "the token (a JWT without exp) does not expire; rotate it by hand (see the Trust "
            "section of the mesh repository's README)"
        )
    elif expires is None:
        output.warn(
            "the token is not a JWT, so meshgen cannot tell when it expires and records no "
            "expiry; find out from whoever issued it, and rotate it by then (see the Trust "
            "section of the mesh repository's README)"
        )
    if document is not None and root is not None:
        values = {"issued": _trust.timestamp(moment)}
        if expires is not None:
            values["expires"] = _trust.timestamp(expires)
        _trust.record(
            root, document, options.cluster, "remoteSecret", values, dry_run=options.dry_run
        )
        _deliver_hint(document, options.cluster)
    if options.dry_run:
        from meshgen.commands._change import DRY_RUN_DONE

        output.note(DRY_RUN_DONE)
    return 0


def _deliver_hint(document: spec.MeshDocument, cluster: str) -> None:
    mesh = document.mesh
    if mesh.secrets_provider == "external-secrets":
        from meshgen.render.secrets.external_secrets import store_key

        output.note(
            f"For the ExternalSecret placeholders: store the kubeconfig (stringData.{cluster}) "
            f"as the whole value of the secret store key {store_key(mesh, cluster)}"
        )
    elif mesh.secrets_provider == "sealed-secrets":
        output.note(
            "Seal it for every other cluster: meshgen seal OTHER --cert OTHER.pem "
            "--remote-secret FILE"
        )
