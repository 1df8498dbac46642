"""Provider ``sealed-secrets``: ciphertext in Git, sealed per cluster by ``meshgen seal``.

A SealedSecret file is made by a person running ``meshgen seal`` (it needs the secret and the
cluster's controller certificate), not by ``render``: it carries no generated mark, so render
never rewrites or removes it. It lives inside the cluster's ``istio-system`` overlay, at
``clusters/<c>/istio-system/sealed/<name>.yaml`` (kustomize loads files only from within an
overlay's folder). kustomize fails on a listed file that does not exist, so the overlay lists
exactly the SealedSecrets that ``mesh.yaml`` records as sealed for that cluster
(``clusters[].trust.sealed``, which ``meshgen seal`` writes): render stays a pure function of
``mesh.yaml``, and an overlay builds before anything is sealed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from meshgen.render.plan import cluster_folder
from meshgen.render.secrets import (
    CACERTS,
    Placeholder,
    expected_secrets,
    remote_secret_name,
    runs_istiod,
)
from meshgen.spec import Cluster, Mesh

SEALED_FOLDER = "sealed"
# Above this many clusters the README counts SealedSecrets instead of naming them.
EXPLICIT_NAMES_LIMIT = 25


def sealed_path(cluster: str, name: str) -> str:
    """Where ``meshgen seal`` writes the SealedSecret ``name`` for ``cluster``."""
    return f"{cluster_folder(cluster)}/istio-system/{SEALED_FOLDER}/{name}.yaml"


def sealed_in_overlay(mesh: Mesh, cluster: Cluster) -> list[str]:
    """The recorded SealedSecrets the cluster still needs (a removed peer's is left out).

    Free for a cluster with nothing sealed. A fully sealed multi-primary mesh holds one
    SealedSecret per ordered pair of clusters, so the work is as large as the data itself.
    """
    recorded = cluster.trust.sealed
    if not recorded:
        return []
    return [name for name in expected_secrets(mesh, cluster) if name in recorded]


def still_to_seal(mesh: Mesh, cluster: Cluster) -> list[str]:
    return [name for name in expected_secrets(mesh, cluster) if name not in cluster.trust.sealed]


class SealedSecretsProvider:
    name = "sealed-secrets"

    def shared_files(self, mesh: Mesh, only: Collection[str] | None = None) -> dict[str, str]:
        return {}

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]:
        return [f"{SEALED_FOLDER}/{name}.yaml" for name in sealed_in_overlay(mesh, cluster)]

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]:
        return []

    def decryption_secret(self, mesh: Mesh) -> str | None:
        return None  # the Sealed Secrets controller decrypts in the cluster, not the engine

    def cacerts_placeholder(self, mesh: Mesh, cluster: Cluster) -> Placeholder | None:
        if not runs_istiod(cluster):
            return None
        return Placeholder(
            sealed_path(cluster.name, CACERTS),
            f"run `meshgen seal {cluster.name} --cacerts DIR --cert CERT`",
        )

    def readme_section(self, mesh: Mesh) -> str:
        rows = "".join(
            f"| `{c.name}` | {len(sealed_in_overlay(mesh, c))} sealed | see `meshgen validate` |\n"
            for c in sorted(mesh.clusters, key=lambda c: c.name)
        )
        if len(mesh.clusters) <= EXPLICIT_NAMES_LIMIT:
            rows = "".join(
                f"| `{c.name}` | "
                + (", ".join(f"`{n}`" for n in sealed_in_overlay(mesh, c)) or "none")
                + " | "
                + (", ".join(f"`{n}`" for n in still_to_seal(mesh, c)) or "none")
                + " |\n"
                for c in sorted(mesh.clusters, key=lambda c: c.name)
            )
        example = remote_secret_name("<other>")
        return f"""## Secrets (Sealed Secrets)

This mesh uses the `sealed-secrets` provider: each cluster's `istio-system` overlay includes
SealedSecrets (`bitnami.com/v1alpha1`) committed under `clusters/<cluster>/istio-system/sealed/`.
They are ciphertext for that cluster's Sealed Secrets controller only (strict scope: each opens
only as its own name in `istio-system`), so they are safe in Git. They are made by hand with
`meshgen seal`, never by `meshgen render`, which leaves them alone. Each cluster needs its
`cacerts` and the remote secret (`{example}`) of every other cluster:

```sh
kubeseal --context "$CLUSTER" --fetch-cert > "$CLUSTER.pem"     # once per cluster
meshgen seal "$CLUSTER" --cert "$CLUSTER.pem" --cacerts ~/mesh-ca/"$CLUSTER"
istioctl create-remote-secret --context "$OTHER" --name "$OTHER" \\
  | meshgen seal "$CLUSTER" --cert "$CLUSTER.pem" --remote-secret -   # for each other cluster
```

`meshgen seal` writes the file, records it in `mesh.yaml` (`trust.sealed`) and renders, so the
overlay lists it; commit all three. Install the Sealed Secrets controller in every cluster
before the first sync.

| cluster | sealed | still to seal |
| --- | --- | --- |
{rows}"""
