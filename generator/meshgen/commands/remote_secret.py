"""``meshgen remote-secret``: the remote secret istioctl would print, without istioctl.

The result carries a bearer token, so it goes to stdout or to a file outside any Git work
tree (mode 0600); remarks go to stderr so stdout can be piped into a secret store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshgen import mesh_repo, output, spec
from meshgen.adapters import secret_files
from meshgen.commands import _trust
from meshgen.errors import MeshgenError
from meshgen.trust import remote_secret as rs


@dataclass(frozen=True)
class Options:
    cluster: str
    kubeconfig: Path
    context: str | None = None
    server: str | None = None
    token_file: Path | None = None
    output: Path | None = None
    repo: Path | None = None


def run(options: Options) -> int:
    _trust.check_cluster_name(options.cluster)
    if options.output is not None:
        secret_files.require_outside_git(options.output, "--output")
    root = mesh_repo.find_optional(options.repo, for_change=True)
    document = mesh_repo.load(root) if root is not None else None
    cluster = _trust.require_cluster(document, options.cluster) if document else None

    source = str(options.kubeconfig)
    text = secret_files.read_bytes(options.kubeconfig, "--kubeconfig").decode("utf-8", "replace")
    base = options.kubeconfig.parent

    def read_ca(path: str) -> bytes:
        return secret_files.read_bytes(base / Path(path).expanduser(), "certificate-authority")

    endpoint, user_token = rs.read_kubeconfig(text, source, options.context, read_ca)
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
    text = rs.secret_text(secret)
    if options.output is None:
        output.raw(text)
    else:
        written = secret_files.write_secret(options.output, text, "--output")
        output.note(f"  wrote    {written} (mode 0600)")
    moment = _trust.now()
    expires = rs.token_expiry(token)
    if expires is None:
        output.warn(
            "the token does not expire; rotate it by hand (see the Trust section of the "
            "mesh repository's README)"
        )
    if document is not None and root is not None:
        values = {"issued": _trust.timestamp(moment)}
        if expires is not None:
            values["expires"] = _trust.timestamp(expires)
        _trust.record(root, document, options.cluster, "remoteSecret", values)
        _deliver_hint(document, options.cluster)
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
