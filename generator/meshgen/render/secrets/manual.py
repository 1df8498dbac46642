"""Provider ``manual``: no placeholder objects; the README says which Secret goes where."""

from __future__ import annotations

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

    def shared_files(self, mesh: Mesh) -> dict[str, str]:
        return {}

    def cacerts_placeholder(self, mesh: Mesh, cluster: Cluster) -> Placeholder | None:
        return None  # applied by hand; the README says how

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]:
        return []

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]:
        return []

    def readme_section(self, mesh: Mesh) -> str:
        clusters = sorted(mesh.clusters, key=lambda c: c.name)
        text = """## Remote secrets (applied by hand)

This mesh uses the `manual` secrets provider: nothing in this repository creates remote
secrets. Every cluster needs, in `istio-system`, the remote secret of every other cluster,
created from that cluster with `istioctl create-remote-secret --name <cluster>` and applied
out of band (never committed):

```sh
# for every ordered pair (FROM, TO) of different clusters:
istioctl create-remote-secret --context "$FROM" --name "$FROM" --namespace istio-system \\
  | kubectl apply --context "$TO" -f -
```
"""
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
                f"\nWith {len(clusters)} clusters that is {len(clusters) - 1} remote secrets in "
                "each cluster: `istio-remote-secret-<other cluster>` for every other cluster.\n"
            )
        return text + CACERTS_BY_HAND
