"""Provider ``external-secrets``: one ExternalSecret placeholder per remote secret.

Each cluster's placeholder lives once, under ``overlays/remote-secrets/<cluster>/``; an
aggregate kustomization lists them all, and every cluster's ``istio-system`` overlay includes
the aggregate and deletes its own entry. Adding a cluster therefore changes one line in the
aggregate instead of one file per other cluster, and the repository grows linearly.
"""

from __future__ import annotations

from typing import Any

from meshgen.render import yamltext
from meshgen.render.files import kustomization, yaml_file
from meshgen.render.overlays import OVERLAYS, relative_to_cluster_overlay
from meshgen.render.plan import ISTIO_NAMESPACE
from meshgen.render.secrets import has_peers, remote_secret_name
from meshgen.spec import Cluster, Mesh

REMOTE_SECRETS = f"{OVERLAYS}/remote-secrets"
API_VERSION = "external-secrets.io/v1"


def store_key(mesh: Mesh, cluster: str) -> str:
    """Where the secret store must hold the kubeconfig of ``cluster``'s reader account."""
    return f"{mesh.secret_key_prefix}/{cluster}"


def external_secret(mesh: Mesh, cluster: str) -> dict[str, Any]:
    name = remote_secret_name(cluster)
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {
            "name": name,
            "namespace": ISTIO_NAMESPACE,
            "labels": {"meshgen.io/remote-cluster": cluster},
        },
        "spec": {
            "refreshInterval": mesh.secret_refresh_interval,
            "secretStoreRef": {"kind": mesh.secret_store_kind, "name": mesh.secret_store_name},
            "target": {
                "name": name,
                "creationPolicy": "Owner",
                # Metadata only: ESO then keeps the fetched keys as they are.
                "template": {
                    "metadata": {
                        "labels": {"istio/multiCluster": "true"},
                        "annotations": {"networking.istio.io/cluster": cluster},
                    }
                },
            },
            "data": [{"secretKey": cluster, "remoteRef": {"key": store_key(mesh, cluster)}}],
        },
    }


class ExternalSecretsProvider:
    name = "external-secrets"

    def shared_files(self, mesh: Mesh) -> dict[str, str]:
        if len(mesh.clusters) < 2:
            return {}
        names = sorted(c.name for c in mesh.clusters)
        files = {f"{REMOTE_SECRETS}/kustomization.yaml": yaml_file(kustomization(resources=names))}
        for name in names:
            folder = f"{REMOTE_SECRETS}/{name}"
            files[f"{folder}/kustomization.yaml"] = yaml_file(
                kustomization(resources=["external-secret.yaml"])
            )
            files[f"{folder}/external-secret.yaml"] = yaml_file(external_secret(mesh, name))
        return files

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]:
        return [relative_to_cluster_overlay(REMOTE_SECRETS)] if has_peers(mesh, cluster) else []

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]:
        if not has_peers(mesh, cluster):
            return []
        own = {
            "$patch": "delete",
            "apiVersion": API_VERSION,
            "kind": "ExternalSecret",
            "metadata": {"name": remote_secret_name(cluster.name), "namespace": ISTIO_NAMESPACE},
        }
        return [{"patch": yamltext.dump(own)}]

    def decryption_secret(self, mesh: Mesh) -> str | None:
        return None

    def readme_section(self, mesh: Mesh) -> str:
        store = f"{mesh.secret_store_kind} `{mesh.secret_store_name}`"
        return f"""## Remote secrets (External Secrets Operator)

istiod in each cluster watches the other clusters through *remote secrets*: a kubeconfig with a
token of that cluster's `istio-reader-service-account`. They never enter this repository.
Every cluster's `istio-system` overlay holds an `ExternalSecret` per other cluster (from
`overlays/remote-secrets/`); the External Secrets Operator fills it from the {store}.

For each cluster, store once in the secret store, under the key below, that cluster's reader
kubeconfig as the whole value (the YAML that `istioctl create-remote-secret --name <cluster>`
puts under `stringData.<cluster>`):

| cluster | secret store key | Secret created in the other clusters |
| --- | --- | --- |
{_rows(mesh)}
Before the first sync, every cluster needs the External Secrets Operator and the {store}
that can read those keys.
"""


def _rows(mesh: Mesh) -> str:
    return "".join(
        f"| `{c.name}` | `{store_key(mesh, c.name)}` | `{remote_secret_name(c.name)}` |\n"
        for c in sorted(mesh.clusters, key=lambda c: c.name)
    )
