"""Provider ``manual``: no placeholder objects; the README says which Secret goes where."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from meshgen.render.secrets import Placeholder, peers_of, remote_secret_name
from meshgen.spec import Cluster, Mesh

# Above this many clusters the README gives the rule and a loop instead of every pair.
EXPLICIT_PAIRS_LIMIT = 25


CACERTS_BY_HAND = """
Each cluster also needs its own `cacerts` Secret in `istio-system` before istiod starts (see
Trust below), applied by hand from the bundle `meshgen ca issue <cluster>` wrote:

```sh
kubectl --context "$CLUSTER" -n istio-system create secret generic cacerts \\
  --from-file="$BUNDLE/ca-cert.pem" --from-file="$BUNDLE/ca-key.pem" \\
  --from-file="$BUNDLE/root-cert.pem" --from-file="$BUNDLE/cert-chain.pem"
```
"""


class ManualProvider:
    name = "manual"

    def shared_files(self, mesh: Mesh, only: Collection[str] | None = None) -> dict[str, str]:
        return {}

    def cacerts_placeholder(self, mesh: Mesh, cluster: Cluster) -> Placeholder | None:
        return None  # applied by hand; the README says how

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]:
        return []

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]:
        return []

    def decryption_secret(self, mesh: Mesh) -> str | None:
        return None

    def readme_section(self, mesh: Mesh) -> str:
        clusters = sorted(mesh.clusters, key=lambda c: c.name)
        text = """## Remote secrets (applied by hand)

This mesh uses the `manual` secrets provider: nothing in this repository creates remote
secrets. Every primary needs, in `istio-system`, the remote secret of every other primary and
of each of its own remotes (remotes need none), created from that cluster with
`istioctl create-remote-secret --name <cluster>` and applied out of band (never committed):

```sh
# for every pair (FROM, TO) in the table below:
istioctl create-remote-secret --context "$FROM" --name "$FROM" --namespace istio-system \\
  | kubectl apply --context "$TO" -f -
```
"""
        external = [c for c in clusters if c.role == "external-control-plane"]
        for cluster in external:
            for config in mesh.remotes_of(cluster.name):
                text += (
                    f"\nThe external istiod in `{cluster.name}` reads its config cluster "
                    f"`{config.name}` through Secret `istio-kubeconfig` (key `config`) in "
                    f"`external-istiod` of `{cluster.name}`: `istioctl create-remote-secret "
                    f"--context <{config.name}> --name {config.name} --type=config "
                    "--namespace=external-istiod --service-account=istiod "
                    "--create-service-account=false`.\n"
                )
        if len(clusters) <= EXPLICIT_PAIRS_LIMIT:
            rows = "".join(
                f"| `{c.name}` | "
                + (", ".join(f"`{remote_secret_name(p)}`" for p in peers_of(mesh, c)) or "none")
                + " |\n"
                for c in clusters
            )
            text += (
                "\n| cluster | remote secrets it needs in `istio-system` |\n| --- | --- |\n" + rows
            )
        else:
            text += (
                f"\nWith {len(clusters)} clusters the table is left out: each primary needs "
                "`istio-remote-secret-<cluster>` for every other primary and for each of its "
                "remotes (the `clusters` list of `mesh.yaml` names them).\n"
            )
        return text + CACERTS_BY_HAND
