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
from meshgen.render.plan import ISTIO_NAMESPACE, cluster_folder
from meshgen.render.secrets import (
    CACERTS,
    Placeholder,
    has_peers,
    remote_secret_name,
    runs_istiod,
)
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


# The store entry of a cluster's CA holds these properties (no dots: several ESO providers
# read a property as a gjson path); each becomes the cacerts key istiod reads.
CACERTS_PROPERTIES = {
    "ca-cert.pem": "ca-cert",
    "ca-key.pem": "ca-key",
    "root-cert.pem": "root-cert",
    "cert-chain.pem": "cert-chain",
}
CACERTS_FILE = "cacerts.yaml"


def cacerts_store_key(mesh: Mesh, cluster: str) -> str:
    """Where the secret store must hold ``cluster``'s intermediate CA bundle."""
    return f"{mesh.secret_cacerts_prefix}/{cluster}"


def cacerts_external_secret(mesh: Mesh, cluster: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": CACERTS, "namespace": ISTIO_NAMESPACE},
        "spec": {
            "refreshInterval": mesh.secret_refresh_interval,
            "secretStoreRef": {"kind": mesh.secret_store_kind, "name": mesh.secret_store_name},
            "target": {"name": CACERTS, "creationPolicy": "Owner"},
            "data": [
                {
                    "secretKey": key,
                    "remoteRef": {"key": cacerts_store_key(mesh, cluster), "property": prop},
                }
                for key, prop in CACERTS_PROPERTIES.items()
            ],
        },
    }


def cacerts_path(cluster: str) -> str:
    return f"{cluster_folder(cluster)}/istio-system/{CACERTS_FILE}"


class ExternalSecretsProvider:
    name = "external-secrets"

    def cacerts_placeholder(self, mesh: Mesh, cluster: Cluster) -> Placeholder | None:
        if not runs_istiod(cluster):
            return None
        return Placeholder(cacerts_path(cluster.name), "run `meshgen render`")

    def shared_files(self, mesh: Mesh) -> dict[str, str]:
        files = {
            cacerts_path(c.name): yaml_file(cacerts_external_secret(mesh, c.name))
            for c in mesh.clusters
            if runs_istiod(c)
        }
        if len(mesh.clusters) < 2:
            return files
        names = sorted(c.name for c in mesh.clusters)
        files[f"{REMOTE_SECRETS}/kustomization.yaml"] = yaml_file(kustomization(resources=names))
        for name in names:
            folder = f"{REMOTE_SECRETS}/{name}"
            files[f"{folder}/kustomization.yaml"] = yaml_file(
                kustomization(resources=["external-secret.yaml"])
            )
            files[f"{folder}/external-secret.yaml"] = yaml_file(external_secret(mesh, name))
        return files

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]:
        resources = [CACERTS_FILE] if runs_istiod(cluster) else []
        if has_peers(mesh, cluster):
            resources.append(relative_to_cluster_overlay(REMOTE_SECRETS))
        return resources

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

    def readme_section(self, mesh: Mesh) -> str:
        store = f"{mesh.secret_store_kind} `{mesh.secret_store_name}`"
        return f"""## Remote secrets (External Secrets Operator)

istiod in each cluster watches the other clusters through *remote secrets*: a kubeconfig with a
token of that cluster's `istio-reader-service-account`. They never enter this repository.
Every cluster's `istio-system` overlay holds an `ExternalSecret` per other cluster (from
`overlays/remote-secrets/`); the External Secrets Operator fills it from the {store}.

For each cluster, store once in the secret store, under the key below, that cluster's reader
kubeconfig as the whole value (the YAML that `meshgen remote-secret <cluster>`, like
`istioctl create-remote-secret --name <cluster>`, puts under `stringData.<cluster>`):

| cluster | secret store key | Secret created in the other clusters |
| --- | --- | --- |
{_rows(mesh)}
Each cluster also gets its own `cacerts` (its intermediate CA, signed by the mesh's shared
root) from an `ExternalSecret` in `clusters/<cluster>/istio-system/cacerts.yaml`, synced with
the namespace, before istiod. Make the bundle with `meshgen ca issue <cluster>` and store its
four files as the properties `ca-cert`, `ca-key`, `root-cert` and `cert-chain` of one entry:

| cluster | secret store key of its `cacerts` |
| --- | --- |
{_cacerts_rows(mesh)}
Before the first sync, every cluster needs the External Secrets Operator and the {store}
that can read those keys.
"""


def _cacerts_rows(mesh: Mesh) -> str:
    return "".join(
        f"| `{c.name}` | `{cacerts_store_key(mesh, c.name)}` |\n"
        for c in sorted(mesh.clusters, key=lambda c: c.name)
        if runs_istiod(c)
    )


def _rows(mesh: Mesh) -> str:
    return "".join(
        f"| `{c.name}` | `{store_key(mesh, c.name)}` | `{remote_secret_name(c.name)}` |\n"
        for c in sorted(mesh.clusters, key=lambda c: c.name)
    )
