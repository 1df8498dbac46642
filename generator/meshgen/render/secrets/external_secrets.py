"""Provider ``external-secrets``: one ExternalSecret placeholder per remote secret.

Each cluster's placeholder lives once, under ``overlays/remote-secrets/<cluster>/``; an
aggregate kustomization lists them all, and every cluster's ``istio-system`` overlay includes
the aggregate and deletes its own entry. Adding a cluster therefore changes one line in the
aggregate instead of one file per other cluster, and the repository grows linearly.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from meshgen.render.files import kustomization, yaml_file
from meshgen.render.overlays import OVERLAYS, relative_to_cluster_overlay
from meshgen.render.plan import ISTIO_NAMESPACE, cluster_folder, system_namespace
from meshgen.render.secrets import (
    CACERTS,
    ISTIO_KUBECONFIG,
    REMOTE_SECRETS,
    Placeholder,
    chosen,
    discovered_clusters,
    own_placeholder_patch,
    placeholder_resources,
    placeholder_tree,
    remote_secret_name,
    runs_istiod,
)
from meshgen.spec import EXTERNAL_CONTROL_PLANE, EXTERNAL_ISTIOD_NAMESPACE, Cluster, Mesh

PLACEHOLDER = "external-secret.yaml"
CONFIG_KUBECONFIGS = f"{OVERLAYS}/istio-kubeconfigs"
API_VERSION = "external-secrets.io/v1"


def store_key(mesh: Mesh, cluster: str) -> str:
    """Where the secret store must hold the kubeconfig of ``cluster``'s reader account."""
    return f"{mesh.secret_key_prefix}/{cluster}"


def config_store_key(mesh: Mesh, cluster: str) -> str:
    """Where the store holds the kubeconfig an external istiod uses for its config ``cluster``
    (``istioctl create-remote-secret --type=config``). Cluster names have no dots, so this key
    never collides with a reader kubeconfig's."""
    return f"{mesh.secret_key_prefix}/{cluster}.{ISTIO_KUBECONFIG}"


def _external_secret(
    mesh: Mesh,
    name: str,
    namespace: str,
    labels: dict[str, str],
    data: tuple[str, str],
    template: dict[str, Any],
) -> dict[str, Any]:
    """An ExternalSecret creating Secret ``name`` with one key, ``data`` = (key, store key)."""
    key, remote_key = data
    target: dict[str, Any] = {"name": name, "creationPolicy": "Owner"}
    if template:
        # Metadata only: ESO then keeps the fetched keys as they are.
        target["template"] = {"metadata": template}
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "refreshInterval": mesh.secret_refresh_interval,
            "secretStoreRef": {"kind": mesh.secret_store_kind, "name": mesh.secret_store_name},
            "target": target,
            "data": [{"secretKey": key, "remoteRef": {"key": remote_key}}],
        },
    }


def external_secret(mesh: Mesh, cluster: str) -> dict[str, Any]:
    return _external_secret(
        mesh,
        remote_secret_name(cluster),
        ISTIO_NAMESPACE,
        {"meshgen.io/remote-cluster": cluster},
        (cluster, store_key(mesh, cluster)),
        {
            "labels": {"istio/multiCluster": "true"},
            "annotations": {"networking.istio.io/cluster": cluster},
        },
    )


def config_kubeconfig(mesh: Mesh, config: str) -> dict[str, Any]:
    """``istio-kubeconfig`` (key ``config``) in ``external-istiod``: the external istiod's
    credentials for its config cluster; the istiod chart mounts it at /var/run/secrets/remote."""
    return _external_secret(
        mesh,
        ISTIO_KUBECONFIG,
        EXTERNAL_ISTIOD_NAMESPACE,
        {"meshgen.io/config-cluster": config},
        ("config", config_store_key(mesh, config)),
        {},
    )


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


def cacerts_external_secret(mesh: Mesh, cluster: Cluster) -> dict[str, Any]:
    """``cacerts`` in the namespace of the cluster's istiod (``external-istiod`` on an external
    control plane), from the store entry of the cluster's intermediate CA."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {"name": CACERTS, "namespace": system_namespace(mesh, cluster)},
        "spec": {
            "refreshInterval": mesh.secret_refresh_interval,
            "secretStoreRef": {"kind": mesh.secret_store_kind, "name": mesh.secret_store_name},
            "target": {"name": CACERTS, "creationPolicy": "Owner"},
            "data": [
                {
                    "secretKey": key,
                    "remoteRef": {"key": cacerts_store_key(mesh, cluster.name), "property": prop},
                }
                for key, prop in CACERTS_PROPERTIES.items()
            ],
        },
    }


def cacerts_path(mesh: Mesh, cluster: Cluster) -> str:
    return f"{cluster_folder(cluster.name)}/{system_namespace(mesh, cluster)}/{CACERTS_FILE}"


class ExternalSecretsProvider:
    name = "external-secrets"

    def cacerts_placeholder(self, mesh: Mesh, cluster: Cluster) -> Placeholder | None:
        if not runs_istiod(cluster):
            return None
        return Placeholder(cacerts_path(mesh, cluster), "run `meshgen render`")

    def shared_files(self, mesh: Mesh, only: Collection[str] | None = None) -> dict[str, str]:
        files = {
            cacerts_path(mesh, c): yaml_file(cacerts_external_secret(mesh, c))
            for c in chosen(mesh.clusters, only)
            if runs_istiod(c)
        }
        files.update(placeholder_tree(mesh, [PLACEHOLDER], only))
        for cluster in chosen(discovered_clusters(mesh), only):
            files[f"{REMOTE_SECRETS}/{cluster.name}/{PLACEHOLDER}"] = yaml_file(
                external_secret(mesh, cluster.name)
            )
        for cluster in chosen(mesh.clusters, only):
            if cluster.role == EXTERNAL_CONTROL_PLANE and mesh.remotes_of(cluster.name):
                config = mesh.remotes_of(cluster.name)[0].name
                folder = f"{CONFIG_KUBECONFIGS}/{config}"
                files[f"{folder}/kustomization.yaml"] = yaml_file(
                    kustomization(resources=[PLACEHOLDER])
                )
                files[f"{folder}/{PLACEHOLDER}"] = yaml_file(config_kubeconfig(mesh, config))
        return files

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]:
        resources = [CACERTS_FILE] if runs_istiod(cluster) else []
        if cluster.role == EXTERNAL_CONTROL_PLANE:
            remotes = mesh.remotes_of(cluster.name)
            if remotes:
                config = f"{CONFIG_KUBECONFIGS}/{remotes[0].name}"
                resources.append(relative_to_cluster_overlay(config))
            return resources
        return resources + placeholder_resources(mesh, cluster)

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]:
        return own_placeholder_patch(mesh, cluster, API_VERSION, "ExternalSecret")

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
        for c in discovered_clusters(mesh)
    )
