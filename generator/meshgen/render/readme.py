"""The generated repository's README: layout, clusters, bootstrap, adding clusters, secrets.

It is rendered from the mesh like every other file, so it always describes what is there.
Its size grows linearly with the number of clusters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshgen import __version__
from meshgen.render.ci import install_requirement
from meshgen.render.plan import TRAFFIC_PREFIX, ClusterPlan
from meshgen.spec import DEFAULT_TAG, Cluster, unreachable_networks

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


TRAFFIC_ROWS = [
    (
        "traffic/",
        "one TrafficPolicy per service, edited by hand by the service's team (see `CODEOWNERS`)",
    ),
    (
        "clusters/<cluster>/traffic/<namespace>/",
        "overlay synced after the mesh config: the DestinationRules and VirtualServices "
        "rendered from `traffic/`",
    ),
]


def _traffic_namespaces(plans: list[ClusterPlan]) -> dict[str, list[str]]:
    found = {}
    for plan in plans:
        namespaces = [c.namespace for c in plan.components if c.name.startswith(TRAFFIC_PREFIX)]
        if namespaces:
            found[plan.cluster.name] = namespaces
    return found


def traffic_section(plans: list[ClusterPlan]) -> str:
    """Which clusters hold traffic configuration, when the repository has any."""
    holders = _traffic_namespaces(plans)
    if not holders:
        return ""
    rows = "".join(
        f"| `{cluster}` | {', '.join(f'`{n}`' for n in namespaces)} |\n"
        for cluster, namespaces in holders.items()
    )
    return f"""## Traffic between clusters

Each file under `traffic/` is a TrafficPolicy for one service: where its clients' traffic goes
(weights per cluster and version, locality failover or distribution, retries, timeouts).
`meshgen render` writes its DestinationRule and VirtualService into the configuration of
every client cluster's control plane (a remote's primary, never the remote), and the subsets
into the clusters whose east-west gateways the traffic crosses:

| cluster | namespaces |
| --- | --- |
{rows}
"""


def _layout_table(engine: Engine, with_traffic: bool = False) -> str:
    """The common rows with the engine's rows before ``overlays/``."""
    rows = [*LAYOUT[:-2], *engine.layout_rows(), *LAYOUT[-2:]]
    if with_traffic:
        edited = {
            "mesh.yaml": "the mesh: networks, clusters, versions (edited by hand, like `traffic/`)",
            "clusters/<cluster>/mesh-config/": "overlay synced after the charts: Istio config "
            "such as the cross-network Gateway",
        }
        rows = [(path, edited.get(path, text)) for path, text in rows]
        rows[1:1] = TRAFFIC_ROWS
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
    (``eastWestGateway.enabled: false`` on each of their clusters; leaving it out is an error).

    Shown by ``render`` (and ``--check``), ``validate``, the commands that change the mesh,
    and the generated README."""
    warnings = []
    for network, members in unreachable_networks(mesh).items():
        names = ", ".join(c.name for c in members)
        candidate = next((c for c in members if c.role == "primary"), members[0]).name
        warnings.append(
            f"network {network} has no east-west gateway: the other networks cannot reach "
            f"the services of its clusters ({names}); give it one with `meshgen set-cluster "
            f"{candidate} --east-west-gateway`, or keep it so if only its own network is to "
            "reach them"
        )
    return warnings


def injection_section(mesh: Mesh) -> str:
    """Which label puts a workload namespace into the mesh, per revision in use."""
    by_label: dict[str, list[str]] = {}
    for cluster in sorted(mesh.clusters, key=lambda c: c.name):
        if cluster.role == "external-control-plane":
            continue
        tags = sorted(tag for tag, _ in cluster.istio.tags)
        if tags:  # revision tags (an upgrade): namespaces follow a tag, not a revision
            labels = ["istio-injection=enabled"] if DEFAULT_TAG in tags else []
            labels += [f"istio.io/rev={tag}" for tag in tags if tag != DEFAULT_TAG]
            label = "` or `".join(labels)
        else:
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


def versions_section(mesh: Mesh) -> str:
    """Which Istio each cluster runs, once a cluster has its own (``meshgen upgrade``)."""
    if not any(cluster.istio for cluster in mesh.clusters):
        return ""
    rows = []
    for cluster in sorted(mesh.clusters, key=lambda c: c.name):
        planes = ", ".join(
            f"{p.version} (`{p.release}`{', tags ' + ', '.join(p.tags) if p.tags else ''})"
            for p in mesh.control_planes_of(cluster)
        )
        rows.append(f"| `{cluster.name}` | {planes} |\n")
    return f"""## Istio versions

Clusters being upgraded run their own versions (`clusters[].istio` in `mesh.yaml`, written by
`meshgen upgrade`); two releases in a cluster are two control planes side by side, and a
namespace labelled `istio.io/rev=<tag>` (or `istio-injection=enabled`, the tag `default`) is
injected by the one its tag points at. `meshgen upgrade --status` says what comes next.

| cluster | Istio (Helm release, revision tags) |
| --- | --- |
{"".join(rows)}
"""


def _cross_network_paragraph(mesh: Mesh, engine: Engine) -> str:
    if mesh.ambient:
        return f"""Ambient workloads reach services on another network through that network's
east-west gateway: a Gateway of class `istio-east-west` that istiod deploys, taking HBONE
(mTLS) on port 15008; only services labelled `istio.io/global=true` are reached across
clusters (see Ambient workloads). Each gateway must be reachable from the other networks; a
`LoadBalancer` gateway stays *Progressing* in {engine.display_name} until it has an address:
on clusters without a load-balancer controller, set `eastWestGateway.serviceType: NodePort`.
"""
    return f"""Pods reach services on another network through that network's east-west gateway (the
`cross-network-gateway` Gateway, port 15443, `AUTO_PASSTHROUGH`). Clusters on the same network
reach each other's pods directly. Each gateway must be reachable from the other networks; a
`LoadBalancer` gateway stays *Progressing* in {engine.display_name} until it has an address,
which holds back the cluster's mesh config (last step): on clusters without a load-balancer
controller, set `eastWestGateway.serviceType: NodePort`.
"""


def ambient_section(mesh: Mesh) -> str:
    """What people do in the clusters of an ambient mesh: namespaces join with a label, the
    exported services carry the global label, workloads opt into their waypoints."""
    services = "".join(
        f"| `{s.namespace}` | `{s.name}` | `kubectl label service {s.name} -n {s.namespace} "
        "istio.io/global=true` |\n"
        for s in sorted(mesh.global_services, key=lambda s: (s.namespace, s.name))
    )
    exported = (
        "| namespace | service | in every cluster that runs it |\n| --- | --- | --- |\n" + services
        if services
        else "No service is exported yet (`globalServices:` in `mesh.yaml` lists them).\n"
    )
    waypoints = "".join(
        f"| `{w.namespace}` | `{w.name}` | {w.traffic_for} | "
        f"{', '.join(f'`{c}`' for c in w.clusters) or 'every cluster'} |\n"
        for w in sorted(mesh.waypoints, key=lambda w: (w.namespace, w.name))
    )
    waypoint_table = (
        "| namespace | waypoint | for | clusters |\n| --- | --- | --- | --- |\n" + waypoints
        if waypoints
        else "No waypoints yet (`waypoints:` in `mesh.yaml`).\n"
    )
    return f"""## Ambient workloads

The mesh runs Istio's ambient data plane: no sidecars; istio-cni and ztunnel on every node
carry pods' traffic (mTLS, L4), and waypoints add L7 where a namespace asks for one. A
namespace joins the mesh with `kubectl label namespace <ns> istio.io/dataplane-mode=ambient`.

Services are local to their cluster unless labelled `istio.io/global=true`: every cluster's
istiod selects that label (`meshConfig.serviceScopeConfigs`, the same everywhere, as upstream
requires). meshgen does not own your Services, so set the label on each one `mesh.yaml`
exports, in every cluster that runs it:

{exported}
Waypoints are rendered in every cluster that runs their namespace, under the same name (as
upstream requires); workloads use them with `kubectl label namespace <ns>
istio.io/use-waypoint=<waypoint>`. A namespace with exported services gets global waypoints,
and a global waypoint makes every service behind it global too.

{waypoint_table}
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
    engine_section = engine.readme_section(mesh, plans)
    traffic = traffic_section(plans)
    return f"""# Istio mesh `{mesh.mesh_id}`

This repository is the desired state of a multi-cluster Istio mesh (Istio {mesh.istio_version},
trust domain `{mesh.trust_domain}`), synced by {engine.display_name} from `{mesh.repo_url}`
(revision `{mesh.revision}`). **Edit only `mesh.yaml`**; everything else is generated by
meshgen and says so in its first line. The charts come from `{mesh.chart_repository}` and the
images from `{mesh.hub}` (`istio.chartRepository` and `istio.hub` in `mesh.yaml`: point them at
a mirror there). It was rendered by meshgen {mesh.meshgen_version or __version__}
(`meshgenVersion` in `mesh.yaml`), which CI installs too: `pip install {install_requirement(mesh)}`
(or `pipx install {install_requirement(mesh)}`).

## Clusters

{clusters}
## Networks

| network | clusters | east-west gateways |
| --- | --- | --- |
{_network_rows(mesh)}
{warnings}
{_cross_network_paragraph(mesh, engine)}
{control_plane_section(mesh)}## Layout

{_layout_table(engine, bool(traffic))}
{ambient_section(mesh) if mesh.ambient else injection_section(mesh)}{versions_section(mesh)}\
{traffic}{engine_section}
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

## Change a cluster

```sh
meshgen set-cluster <name> --east-west-gateway --push    # or --api-server, --region, ...
```

This changes the cluster's entry in `mesh.yaml`, renders, and commits on the branch
`meshgen/set-cluster-<name>` with a summary of what the change does to the mesh.

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

Rotate an intermediate CA well before it expires (`meshgen validate`, in CI too, warns 30
days ahead from the expiry `mesh.yaml` records, or from the bundles given with `--ca DIR`):

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
