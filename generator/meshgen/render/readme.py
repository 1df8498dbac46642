"""The generated repository's README: layout, clusters, bootstrap, adding clusters, secrets.

It is rendered from the mesh like every other file, so it always describes what is there.
Its size grows linearly with the number of clusters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshgen.render.plan import ClusterPlan
from meshgen.spec import Cluster, unreachable_networks

if TYPE_CHECKING:
    from meshgen.render.engines import Engine
    from meshgen.render.secrets import SecretProvider
    from meshgen.spec import Mesh


LAYOUT = [
    ("mesh.yaml", "the mesh: networks, clusters, versions (the only file edited by hand)"),
    (
        "clusters/<cluster>/values/",
        "Helm values for the upstream Istio charts `base`, `istiod` and `gateway`",
    ),
    (
        "clusters/<cluster>/istio-system/",
        "overlay synced first: the `istio-system` Namespace (network label), the `cacerts` and "
        "remote-secret placeholders",
    ),
    (
        "clusters/<cluster>/mesh-config/",
        "overlay synced last: Istio config such as the cross-network Gateway",
    ),
    ("overlays/", "shared kustomize bases and components (networks, east-west gateway, secrets)"),
    (".meshgen/mesh.schema.json", "the JSON Schema of `mesh.yaml`, for editors"),
    (
        ".github/workflows/meshgen.yaml",
        "CI: `meshgen render --check` and `meshgen validate` on every pull request",
    ),
]


def _layout_table(engine: Engine) -> str:
    """The common rows with the engine's rows before ``overlays/``."""
    rows = [*LAYOUT[:-2], *engine.layout_rows(), *LAYOUT[-2:]]
    return "| path | what it holds |\n| --- | --- |\n" + "".join(
        f"| `{path}` | {text} |\n" for path, text in rows
    )


def _cluster_rows(plans: list[ClusterPlan]) -> str:
    rows = []
    for plan in plans:
        c = plan.cluster
        gateway = "yes" if c.east_west_gateway.enabled else "no"
        location = "/".join(x for x in (c.region, c.zone) if x) or "-"
        rows.append(
            f"| `{c.name}` | `{c.network}` | {_role(c)} | {gateway} | "
            f"{c.api_server or '-'} | {location} |\n"
        )
    return "".join(rows)


def _role(cluster: Cluster) -> str:
    if cluster.control_plane:
        return f"remote of `{cluster.control_plane}`"
    return cluster.role


def control_plane_section(mesh: Mesh) -> str:
    """How remotes reach their control plane, when the mesh has any."""
    lines = []
    for cluster in sorted(mesh.clusters, key=lambda c: c.name):
        remotes = mesh.remotes_of(cluster.name)
        if not remotes or cluster.discovery is None:
            continue
        names = ", ".join(f"`{r.name}`" for r in remotes)
        address = cluster.discovery.address
        if cluster.role == "external-control-plane":
            how = (
                f"`{cluster.name}` runs, in namespace `external-istiod`, the istiod of {names}. "
                f"Expose it at `{address}` (ports 15012 and 15017, for example through an "
                "ingress gateway of that cluster); its credentials for the config cluster come "
                "from the `istio-kubeconfig` Secret (key `config`)."
            )
        else:
            via = (
                "through its east-west gateway (`istiod-gateway` and `istiod-vs` in its "
                "`mesh-config`)"
                if cluster.east_west_gateway.enabled
                else "at an address you expose on its network"
            )
            how = (
                f"`{cluster.name}` (istiod with `externalIstiod: true`) manages {names}, which "
                f"reach it at `{address}` {via}."
            )
        lines.append(f"- {how}\n")
    if not lines:
        return ""
    return (
        "## Control planes\n\n"
        "Remote clusters run no istiod of their own: webhooks and xDS go to their control\n"
        "plane, whose address is `discovery.address` in `mesh.yaml`: an IP address, because a\n"
        "hostname would make the remote's `istiod` Service an ExternalName that webhooks\n"
        "cannot call (unless `validCertificate: true` switches the remotes to `injectionURL`).\n"
        "When that address changes, edit it in `mesh.yaml` and run `meshgen render`.\n\n"
        + "".join(lines)
        + "\n"
    )


def network_reachability(mesh: Mesh) -> list[str]:
    """Warnings for networks that other networks cannot reach, by the choice in mesh.yaml
    (``eastWestGateway.enabled: false`` on each of their clusters; leaving it out is an error)."""
    return [
        f"network {network} has no east-west gateway: its services cannot be reached from "
        "the other networks (one-way on purpose; set eastWestGateway.enabled: true on one of "
        "its clusters to change that)"
        for network in unreachable_networks(mesh)
    ]


def injection_section(mesh: Mesh) -> str:
    """Which label puts a workload namespace into the mesh, per revision in use."""
    by_label: dict[str, list[str]] = {}
    for cluster in sorted(mesh.clusters, key=lambda c: c.name):
        if cluster.role == "external-control-plane":
            continue
        revision = mesh.revision_of(cluster)
        label = f"istio.io/rev={revision}" if revision else "istio-injection=enabled"
        by_label.setdefault(label, []).append(cluster.name)
    if not by_label:
        return ""
    rows = "".join(
        f"| `{label}` | {', '.join(f'`{c}`' for c in clusters)} |\n"
        for label, clusters in sorted(by_label.items())
    )
    return f"""## Workload namespaces

Sidecars are injected into namespaces that carry the label of their cluster's control plane
revision (`kubectl label namespace <ns> <label>`); a namespace with the wrong label gets no
sidecar, or one from another revision.

| label | clusters |
| --- | --- |
{rows}
"""


def _network_rows(mesh: Mesh) -> str:
    rows = []
    for network, clusters in mesh.clusters_by_network().items():
        gateways = sorted(c.name for c in clusters if c.east_west_gateway.enabled)
        rows.append(
            f"| `{network}` | {len(clusters)} | "
            f"{', '.join(f'`{g}`' for g in gateways) or 'none'} |\n"
        )
    return "".join(rows)


def _secret_cleanup(mesh: Mesh) -> str:
    if mesh.secrets_provider == "external-secrets":
        return (
            f"delete its entries under `{mesh.secret_key_prefix}/<name>` (and its `cacerts`) "
            "from the secret store (the engine prunes the ExternalSecrets, and with them the "
            "Secrets)"
        )
    if mesh.secrets_provider in ("sops", "sealed-secrets"):
        return (
            "nothing more for its secrets: `remove-cluster` deletes its encrypted or sealed "
            "files with the rest, and the engine prunes the Secrets"
        )
    return (
        "delete `istio-remote-secret-<name>` from `istio-system` of every primary that had "
        "it, by hand (nothing in Git created it)"
    )


def render(mesh: Mesh, plans: list[ClusterPlan], provider: SecretProvider, engine: Engine) -> str:
    warnings = "\n>\n".join(f"> **Warning:** {w}." for w in network_reachability(mesh))
    warnings = f"{warnings}\n" if warnings else ""
    clusters = (
        "| cluster | network | role | east-west gateway | API server | region/zone |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + _cluster_rows(plans)
        if plans
        else "No clusters yet: add the first one with `meshgen new-cluster` (below).\n"
    )
    return f"""# Istio mesh `{mesh.mesh_id}`

This repository is the desired state of a multi-cluster Istio mesh (Istio {mesh.istio_version},
trust domain `{mesh.trust_domain}`), synced by {engine.display_name} from `{mesh.repo_url}`
(revision `{mesh.revision}`). **Edit only `mesh.yaml`**; everything else is generated by
meshgen and says so in its first line.

## Clusters

{clusters}
## Networks

| network | clusters | east-west gateways |
| --- | --- | --- |
{_network_rows(mesh)}
{warnings}
Pods reach services on another network through that network's east-west gateway (the
`cross-network-gateway` Gateway, port 15443, `AUTO_PASSTHROUGH`). Clusters on the same network
reach each other's pods directly. Each gateway must be reachable from the other networks; a
`LoadBalancer` gateway stays *Progressing* in {engine.display_name} until it has an address,
which holds back the cluster's mesh config (last step): on clusters without a load-balancer
controller, set `eastWestGateway.serviceType: NodePort`.

{control_plane_section(mesh)}## Layout

{_layout_table(engine)}
{injection_section(mesh)}{engine.readme_section(mesh, plans)}
## Add a cluster

```sh
meshgen new-cluster <name> --network <network> [--api-server https://...] --push
```

This adds the cluster to `mesh.yaml`, renders its files and the placeholders the other clusters
need, and commits on the branch `meshgen/add-cluster-<name>`. Open a pull request;
{engine.after_merge()}

## Remove a cluster

```sh
meshgen remove-cluster <name> --push
```

This removes the cluster from `mesh.yaml` with its folder, its root Application and its
remote-secret placeholder in every other cluster, and commits on the branch
`meshgen/remove-cluster-<name>` (a control plane with remotes is refused; `--force` removes
its remotes too). {engine.after_removal()}; and, as the command lists,
{_secret_cleanup(mesh)}.

## Change anything else

Edit `mesh.yaml`, run `meshgen render`, review and commit. In CI, `meshgen render --check`
fails when generated files do not match `mesh.yaml` (for example after a hand edit).

Generated files are meshgen's: `.meshgen/generated.sha256` records what it last wrote
(`sha256sum -c .meshgen/generated.sha256` lists the files edited since), and a command that
would overwrite an edited file stops and names it (`--overwrite-edits` discards the edit).
Put changes in `mesh.yaml`, or in files of your own (without the generated mark on their first
line), which meshgen never reads, writes or removes.

{provider.readme_section(mesh)}
## Trust

All clusters must share one root CA, or mTLS between clusters fails: each cluster that runs
istiod gets its own intermediate CA, signed by the root, as the `cacerts` Secret in
`istio-system`, created before istiod starts (the `istio-system` overlay syncs first). CA keys
and remote-secret tokens never enter this repository; meshgen refuses to write them into a Git
work tree and writes key files readable by their owner only.

```sh
meshgen ca init --out ~/mesh-ca                                  # once: the shared root
meshgen ca issue <cluster> --ca ~/mesh-ca --out ~/mesh-ca/<cluster>
meshgen remote-secret <cluster> --kubeconfig reader.kubeconfig --token-file reader.token \\
  --output ~/mesh-secrets/<cluster>.yaml
```

`ca issue` and `remote-secret` record in `mesh.yaml`, under the cluster's `trust`, when the
material was issued and when it expires. Keep the root key offline.

### Rotation

Rotate an intermediate CA well before it expires (`meshgen validate` warns 30 days ahead):

1. `meshgen ca issue <cluster> --ca ~/mesh-ca --out ~/mesh-ca/<cluster>-<date>`: a new
   intermediate under the same root, so other clusters keep trusting it.
2. Deliver the new bundle the way this mesh's secrets provider does (above) and commit the
   `mesh.yaml` change.
3. Restart istiod in that cluster (`kubectl -n istio-system rollout restart deployment/istiod`)
   so it signs with the new intermediate.
4. Restart the workloads (`kubectl rollout restart deployment -n <namespace>`) so their
   certificates chain to the new intermediate; old certificates stay valid until they expire
   (24 hours by default).

Rotate a remote secret by creating a new reader token, then running `meshgen remote-secret`
again and delivering the result; istiod picks up the changed Secret without a restart. Replace
the root only with a plan for a period of two trusted roots.
"""
