"""What a change to ``mesh.yaml`` does to the mesh, in sentences a reviewer reads first.

A pure comparison of two validated :class:`~meshgen.spec.Mesh` models. ``new-cluster`` and
``remove-cluster`` put it in their commit message, and ``diff`` starts its report with it, so
a hand edit of ``mesh.yaml`` is described the same way as a change made by a command.
"""

from __future__ import annotations

from meshgen import spec
from meshgen.render.secrets import peers_of

# Mesh-wide settings worth a sentence when they change, with the mesh.yaml field they come from.
MESH_FIELDS = (
    ("mesh_id", "meshID"),
    ("trust_domain", "trustDomain"),
    ("trust_domain_aliases", "trustDomainAliases"),
    ("istio_version", "istio.version"),
    ("istio_revision", "istio.revision"),
    ("chart_repository", "istio.chartRepository"),
    ("hub", "istio.hub"),
    ("dns_capture", "istio.dnsCapture"),
    ("kubernetes_version", "kubernetesVersion"),
    ("repo_url", "repository.url"),
    ("revision", "repository.revision"),
    ("engine", "gitops.engine"),
    ("argocd_namespace", "gitops.argocd.namespace"),
    ("argocd_project", "gitops.argocd.project"),
    ("secrets_provider", "secrets.provider"),
    ("secret_store_name", "secrets.externalSecrets.storeRef.name"),
    ("secret_store_kind", "secrets.externalSecrets.storeRef.kind"),
    ("secret_key_prefix", "secrets.externalSecrets.keyPrefix"),
    ("secret_refresh_interval", "secrets.externalSecrets.refreshInterval"),
)
CLUSTER_FIELDS = (
    ("network", "network"),
    ("role", "role"),
    ("control_plane", "controlPlane"),
    ("discovery", "discovery"),
    ("revision", "revision"),
    ("east_west_gateway", "eastWestGateway"),
    ("api_server", "apiServer"),
    ("pod_cidrs", "podCIDRs"),
    ("service_cidrs", "serviceCIDRs"),
    ("region", "region"),
    ("zone", "zone"),
    ("labels", "labels"),
)
NAMED_HOLDERS = 5  # name at most this many clusters in one sentence


def _show(value: object) -> str:
    if value is None or value == () or value == {}:
        return "(unset)"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    if isinstance(value, spec.Discovery):
        return value.address + (" (valid certificate)" if value.valid_certificate else "")
    if isinstance(value, spec.EastWestGateway):
        if not value.enabled:
            return "off"
        scale = (
            f"{value.min_replicas}-{value.max_replicas} autoscaled"
            if value.autoscaled
            else value.replicas
        )
        return f"on ({value.service_type}, replicas {scale})"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMED_HOLDERS])
    more = len(names) - NAMED_HOLDERS
    return f"{shown} and {more} more" if more > 0 else shown


def holders_of(mesh: spec.Mesh, cluster: spec.Cluster) -> set[str]:
    """Clusters that hold a remote-secret placeholder for ``cluster`` (see ``peers_of``)."""
    if cluster.role == spec.PRIMARY:
        return {c.name for c in mesh.primaries if c.name != cluster.name}
    control = mesh.control_plane_of(cluster)
    if cluster.role == spec.REMOTE and control is not None and control.role == spec.PRIMARY:
        return {control.name}
    return set()


def _joins(mesh: spec.Mesh, cluster: spec.Cluster) -> str:
    gateway = "with" if cluster.east_west_gateway.enabled else "without"
    role = {
        spec.PRIMARY: "",
        spec.REMOTE: f" as a remote of {cluster.control_plane}",
        spec.EXTERNAL_CONTROL_PLANE: " as an external control plane",
    }[cluster.role]
    return f"{cluster.name} joins network {cluster.network}{role} {gateway} an east-west gateway."


def _leaves(cluster: spec.Cluster) -> str:
    role = f", remote of {cluster.control_plane}" if cluster.control_plane else ""
    return f"{cluster.name} leaves the mesh (network {cluster.network}{role})."


def _control_planes(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    lines = []
    for cluster in after.primaries:
        had = bool(before.remotes_of(cluster.name))
        has = bool(after.remotes_of(cluster.name))
        if has and not had:
            via = (
                " and exposes itself through its east-west gateway."
                if cluster.east_west_gateway.enabled
                else "."
            )
            lines.append(
                f"{cluster.name} now manages remotes: its istiod runs with externalIstiod{via}"
            )
        elif had and not has:
            lines.append(f"{cluster.name} no longer manages remotes: externalIstiod is turned off.")
    return lines


def _secrets(
    before: spec.Mesh, after: spec.Mesh, added: list[spec.Cluster], removed: list[spec.Cluster]
) -> list[str]:
    manual = after.secrets_provider == "manual"
    new_names = {c.name for c in added}
    lines = []
    for cluster in added:
        own = len(peers_of(after, cluster))
        gaining = len(holders_of(after, cluster) - new_names)
        if after.secrets_provider == "sealed-secrets":
            parts = [f"{cluster.name}'s cacerts"] if cluster.runs_istiod else []
            if own:
                parts.append(f"{own} remote secret(s) for {cluster.name}")
            if gaining:
                parts.append(f"{cluster.name}'s remote secret for {gaining} cluster(s)")
            if parts:
                lines.append(
                    f"Secrets (sealed-secrets): seal {', '.join(parts)} with `meshgen seal`; "
                    "see README.md."
                )
            continue
        if not own and not gaining:
            continue
        if manual:
            lines.append(
                f"Remote secrets (manual provider): apply {own} remote secret(s) in "
                f"{cluster.name} and {cluster.name}'s remote secret in {gaining} cluster(s); "
                "see README.md."
            )
        else:
            gain = f"; {gaining} cluster(s) gain one for {cluster.name}" if gaining else ""
            lines.append(
                f"Remote secrets: {cluster.name} gets placeholders for {own} cluster(s){gain}."
            )
    gone = {c.name for c in removed}
    for cluster in removed:
        dropping = sorted(holders_of(before, cluster) - gone)
        if not dropping:
            continue
        if manual:
            lines.append(
                f"Remote secrets (manual provider): delete {cluster.name}'s remote secret "
                f"from {len(dropping)} cluster(s) by hand ({_names(dropping)})."
            )
        else:
            lines.append(
                f"Remote secrets: {len(dropping)} cluster(s) drop the placeholder for "
                f"{cluster.name} ({_names(dropping)})."
            )
    # Clusters in both meshes whose holders changed (a role or control plane edited by hand).
    for cluster in after.clusters:
        if cluster.name in new_names:
            continue
        old, new = holders_of(before, before.cluster(cluster.name)), holders_of(after, cluster)
        gained = sorted(new - old - new_names)
        lost = sorted(old - new - gone)
        if gained:
            lines.append(
                f"Remote secrets: {len(gained)} cluster(s) gain one for {cluster.name} "
                f"({_names(gained)})."
            )
        if lost:
            lines.append(
                f"Remote secrets: {len(lost)} cluster(s) drop the one for {cluster.name} "
                f"({_names(lost)})."
            )
    return lines


def _networks(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    used_before, used_after = set(before.networks_in_use()), set(after.networks_in_use())
    spanned = len(used_after)
    lines = []
    for network in sorted(used_after - used_before):
        if spanned > 1:
            lines.append(f"{network} is a new network: the mesh now spans {spanned} networks.")
    for network in sorted(used_before - used_after):
        lines.append(f"{network} has no clusters left: the mesh now spans {spanned} network(s).")
    declared = set(before.networks), set(after.networks)
    for network in sorted(declared[0] - declared[1]):
        lines.append(f"network {network} is no longer declared.")
    return lines


def _field_changes(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    lines = []
    for attribute, key in MESH_FIELDS:
        old, new = getattr(before, attribute), getattr(after, attribute)
        if old != new:
            lines.append(f"{key} changes: {_show(old)} -> {_show(new)}.")
    previous_of = {c.name: c for c in before.clusters}
    for cluster in after.clusters:
        previous = previous_of.get(cluster.name)
        if previous is None or previous == cluster:
            continue
        changes = [
            f"{key} {_show(getattr(previous, attribute))} -> {_show(getattr(cluster, attribute))}"
            for attribute, key in CLUSTER_FIELDS
            if getattr(previous, attribute) != getattr(cluster, attribute)
        ]
        if changes:
            lines.append(f"{cluster.name} changes: {'; '.join(changes)}.")
    return lines


def summarize(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    """What turning ``before`` into ``after`` does to the mesh; empty when nothing changes.

    Clusters joining come first (in file order), then clusters leaving, networks, control
    planes, remote secrets and edited settings. Linear in the number of clusters, apart from
    the clusters that join or leave.
    """
    names_before = {c.name for c in before.clusters}
    names_after = {c.name for c in after.clusters}
    added = [c for c in after.clusters if c.name not in names_before]
    removed = [c for c in before.clusters if c.name not in names_after]
    return [
        *(_joins(after, c) for c in added),
        *(_leaves(c) for c in removed),
        *_networks(before, after),
        *_control_planes(before, after),
        *_secrets(before, after, added, removed),
        *_field_changes(before, after),
    ]
