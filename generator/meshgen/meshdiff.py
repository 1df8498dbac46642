"""What a change to ``mesh.yaml`` does to the mesh, in sentences a reviewer reads first.

A pure comparison of two validated :class:`~meshgen.spec.Mesh` models. ``new-cluster`` and
``remove-cluster`` put it in their commit message, and ``diff`` starts its report with it, so
a hand edit of ``mesh.yaml`` is described the same way as a change made by a command.
"""

from __future__ import annotations

import dataclasses

from meshgen import spec
from meshgen.output import counted
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


def _verb(number: int, singular: str, plural: str) -> str:
    return singular if number == 1 else plural


def name_list(names: list[str] | tuple[str, ...]) -> str:
    """``a, b, c, d, e and 995 more``: at most NAMED_HOLDERS names in a sentence."""
    shown = ", ".join(names[:NAMED_HOLDERS])
    more = len(names) - NAMED_HOLDERS
    return f"{shown} and {more} more" if more > 0 else shown


_names = name_list


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
                parts.append(f"{counted(own, 'remote secret')} for {cluster.name}")
            if gaining:
                parts.append(f"{cluster.name}'s remote secret for {counted(gaining, 'cluster')}")
            if parts:
                lines.append(
                    f"Secrets (sealed-secrets): seal {', '.join(parts)} with `meshgen seal`; "
                    f"see {after.readme}."
                )
            continue
        if not own and not gaining:
            continue
        if manual:
            parts = [f"apply {counted(own, 'remote secret')} in {cluster.name}"] if own else []
            if gaining:
                parts.append(
                    f"apply {cluster.name}'s remote secret in {counted(gaining, 'cluster')}"
                )
            lines.append(
                f"Remote secrets (manual provider): {' and '.join(parts)}; see {after.readme}."
            )
        else:
            parts = (
                [f"{cluster.name} gets placeholders for {counted(own, 'cluster')}"] if own else []
            )
            if gaining:
                verb = _verb(gaining, "gains", "gain")
                parts.append(f"{counted(gaining, 'cluster')} {verb} one for {cluster.name}")
            lines.append(f"Remote secrets: {'; '.join(parts)}.")
    gone = {c.name for c in removed}
    for cluster in removed:
        dropping = sorted(holders_of(before, cluster) - gone)
        if not dropping:
            continue
        if manual:
            lines.append(
                f"Remote secrets (manual provider): delete {cluster.name}'s remote secret "
                f"from {counted(len(dropping), 'cluster')} by hand ({_names(dropping)})."
            )
        else:
            lines.append(
                f"Remote secrets: {counted(len(dropping), 'cluster')} "
                f"{_verb(len(dropping), 'drops', 'drop')} the placeholder for "
                f"{cluster.name} ({_names(dropping)})."
            )
    # Clusters in both meshes whose holders changed (a role or control plane edited by hand).
    previous = {c.name: c for c in before.clusters}
    primaries_before = {c.name for c in before.primaries}
    primaries_after = {c.name for c in after.primaries}
    joined = primaries_after - primaries_before - new_names
    left = primaries_before - primaries_after - gone
    for cluster in after.clusters:
        if cluster.name in new_names:
            continue
        old_entry = previous[cluster.name]
        if old_entry.role == cluster.role == spec.PRIMARY and not (joined | left) - {cluster.name}:
            continue  # a primary's holders are the other primaries: the same ones, in O(1)
        old, new = holders_of(before, old_entry), holders_of(after, cluster)
        gained = sorted(new - old - new_names)
        lost = sorted(old - new - gone)
        if gained:
            lines.append(
                f"Remote secrets: {counted(len(gained), 'cluster')} "
                f"{_verb(len(gained), 'gains', 'gain')} one for {cluster.name} "
                f"({_names(gained)})."
            )
        if lost:
            lines.append(
                f"Remote secrets: {counted(len(lost), 'cluster')} "
                f"{_verb(len(lost), 'drops', 'drop')} the one for {cluster.name} "
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
        lines.append(
            f"{network} has no clusters left: the mesh now spans {counted(spanned, 'network')}."
        )
    declared = set(before.networks), set(after.networks)
    for network in sorted(declared[0] - declared[1]):
        lines.append(f"network {network} is no longer declared.")
    return lines


def moved_store_keys(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    """Warnings for secret-store keys that move (provider external-secrets): renaming
    ``meshID`` moves every key whose prefix follows it, and the ExternalSecrets then read keys
    that are not in the store. Empty when nothing moves."""
    if {before.secrets_provider, after.secrets_provider} != {"external-secrets"}:
        return []
    moves = [
        (old, new)
        for old, new in (
            (before.secret_key_prefix, after.secret_key_prefix),
            (before.secret_cacerts_prefix, after.secret_cacerts_prefix),
        )
        if old != new
    ]
    if not moves:
        return []
    cause = (
        f"meshID {before.mesh_id} -> {after.mesh_id} moves every secret-store key"
        if before.mesh_id != after.mesh_id
        else "the secret-store keys move"
    )
    moved = "; ".join(f"{old}/<cluster> -> {new}/<cluster>" for old, new in moves)
    return [
        f"{cause} ({moved}): copy the remote secrets and cacerts to the new keys before "
        "merging, or keep the old keys with secrets.externalSecrets.keyPrefix and "
        "cacertsKeyPrefix in mesh.yaml; until then the ExternalSecrets find nothing"
    ]


def _gateways_and_roles(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    """Clusters that stay in the mesh and start or stop running an east-west gateway (and
    what that does to their network's reachability), or become a primary."""
    lines = []
    previous_of = {c.name: c for c in before.clusters}
    unreachable = spec.unreachable_networks(after)
    for cluster in after.clusters:
        previous = previous_of.get(cluster.name)
        if previous is None:
            continue
        if previous.role == spec.REMOTE and cluster.role == spec.PRIMARY:
            lines.append(
                f"{cluster.name} becomes a primary: it runs its own istiod instead of "
                f"{previous.control_plane}'s."
            )
        was_on, now_on = previous.east_west_gateway.enabled, cluster.east_west_gateway.enabled
        network = cluster.network
        if now_on and not was_on:
            lines.append(
                f"{cluster.name} gets an east-west gateway: the other networks reach "
                f"{network} through it."
            )
        elif was_on and not now_on:
            effect = (
                f"network {network} can no longer be reached from the other networks"
                if network in unreachable
                else f"network {network} is still reached through its other gateways"
            )
            lines.append(f"{cluster.name} stops running its east-west gateway: {effect}.")
    return lines


def _only_switched(old: spec.EastWestGateway, new: spec.EastWestGateway) -> bool:
    """The gateway settings differ only in being on or off (said by _gateways_and_roles)."""
    return dataclasses.replace(old, enabled=new.enabled, explicit=new.explicit) == new


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
            and not (
                attribute == "east_west_gateway"
                and _only_switched(previous.east_west_gateway, cluster.east_west_gateway)
            )
        ]
        if changes:
            lines.append(f"{cluster.name} changes: {'; '.join(changes)}.")
    return lines


def _revision(plane: spec.ControlPlane) -> str:
    return f"revision {plane.revision}" if plane.revisioned else "the unrevisioned istiod"


def _tags(tags: list[str]) -> str:
    return f"tag{'s' if len(tags) > 1 else ''} {', '.join(tags)}"


def _istio_change(
    old: tuple[spec.ControlPlane, ...], new: tuple[spec.ControlPlane, ...], subject: str
) -> str:
    """One cluster's upgrade step in a sentence: in place, a revision added (and which tags
    stay), tags moved, a revision removed; another hand edit as before and after."""
    before = {p.revision: p for p in old}
    after = {p.revision: p for p in new}
    added = [p for p in new if p.revision not in before]
    removed = [p for p in old if p.revision not in after]
    if added and not removed and len(old) == 1:
        kept = next(t for t in new if t.revision == old[0].revision)
        parts = [f"{_revision(p)} added" for p in added]
        if kept.tags:
            parts.append(f"{_tags(list(kept.tags))} still on {_revision(kept)}")
        for plane in added:
            if plane.tags:
                parts.append(f"{_tags(list(plane.tags))} on {_revision(plane)}")
        versions = f"{old[0].version} -> {', '.join(p.version for p in added)}"
        return f"{subject} {versions} ({', '.join(parts)})."
    if removed and not added:
        gone = "; ".join(f"{p.version} ({_revision(p)}) removed" for p in removed)
        left = ", ".join(f"{_revision(p)} ({p.version})" for p in new)
        return f"{subject} {gone}; {left} remains."
    if not added and not removed:
        lines = []
        for plane in new:
            previous = before[plane.revision]
            if previous.version != plane.version:
                lines.append(f"{previous.version} -> {plane.version} (in place)")
        moved: dict[tuple[str, str], list[str]] = {}
        for plane in old:
            for tag in plane.tags:
                now = next((p for p in new if tag in p.tags), None)
                if now is not None and now.revision != plane.revision:
                    moved.setdefault((plane.revision, now.revision), []).append(tag)
        for (source, target), tags in moved.items():
            lines.append(
                f"{_tags(tags)} move from {_revision(before[source])} to "
                f"{_revision(after[target])} ({after[target].version})"
            )
        if lines:
            return f"{subject} {'; '.join(lines)}."
    describe = " + ".join(f"{p.version} ({_revision(p)})" for p in old)
    return (
        f"{subject} {describe} -> "
        + " + ".join(
            f"{p.version} ({_revision(p)}{', ' + _tags(list(p.tags)) if p.tags else ''})"
            for p in new
        )
        + "."
    )


def grouped(items: list[tuple[str, str]]) -> list[str]:
    """``(cluster, sentence about it)`` pairs, clusters whose sentences are the same (once
    their name is taken out) in one: ``cluster-1, cluster-2 and 998 more: ...``. A thousand
    clusters moving alike make one line, not a thousand."""
    groups: dict[str, list[str]] = {}
    for name, sentence in items:
        groups.setdefault(sentence, []).append(name)
    return [f"{_names(names)}{sentence}" for sentence, names in groups.items()]


def _istio(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    items = []
    # A cluster's control planes follow from its entry and the mesh's Istio version and
    # revision: an entry left as it was keeps them (most entries of a change).
    same_istio = (before.istio_version, before.istio_revision) == (
        after.istio_version,
        after.istio_revision,
    )
    for cluster in after.clusters:
        try:
            previous = before.cluster(cluster.name)
        except KeyError:
            continue
        if same_istio and (previous is cluster or previous == cluster):
            continue
        old, new = before.control_planes_of(previous), after.control_planes_of(cluster)
        if old == new:
            continue
        if cluster.role == spec.REMOTE:
            subject = f" (remote of {cluster.control_plane})"
        else:
            subject = " istiod"
        line = _istio_change(old, new, subject)
        if cluster.east_west_gateway.enabled and before.default_revision_of(
            previous
        ) != after.default_revision_of(cluster):
            line = line[:-1] + "; its east-west gateway rolls to it."
        items.append((cluster.name, line))
    return grouped(items)


def _dataplane(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    """A switch of data plane, cluster by cluster, and changes to what ambient exports."""
    lines = []
    existing = {b.name for b in before.clusters}
    names = [c.name for c in after.clusters if c.name in existing]
    if not before.ambient and after.ambient:
        crds = (
            f"the Gateway API CRDs {after.gateway_api_version()}, "
            if after.gateway_api.install
            else ""
        )
        lines.append(
            f"Data plane: sidecar -> ambient. {len(names)} cluster(s) ({_names(names)}) get "
            f"{crds}istio-cni and ztunnel; istiod switches to the ambient profile with "
            "multi-network on and one service-scope selector (istio.io/global=true)."
        )
        gateways = [c.name for c in after.clusters if c.east_west_gateway.enabled]
        if gateways:
            lines.append(
                f"East-west gateways of {_names(gateways)}: the gateway chart release and the "
                "AUTO_PASSTHROUGH Gateway (port 15443) are replaced by a Gateway of class "
                "istio-east-west (HBONE, port 15008)."
            )
        lines.append(
            "Workloads keep their sidecars until their namespaces are moved to ambient "
            "(README: Ambient mode, migration order)."
        )
    elif before.ambient and not after.ambient:
        lines.append(
            f"Data plane: ambient -> sidecar. {len(names)} cluster(s) ({_names(names)}) lose "
            "istio-cni, ztunnel, waypoints and the ambient east-west Gateway; istiod leaves "
            "the ambient profile. Label workload namespaces for injection and restart them."
        )
    if before.ambient and after.ambient:
        was = {(s.namespace, s.name) for s in before.global_services}
        now = {(s.namespace, s.name) for s in after.global_services}
        for namespace, name in sorted(now - was):
            lines.append(
                f"{name}.{namespace} becomes global: label it istio.io/global=true in every "
                "cluster that runs it."
            )
        for namespace, name in sorted(was - now):
            lines.append(
                f"{name}.{namespace} is no longer global: remove its istio.io/global label."
            )
        old_api, new_api = before.gateway_api, after.gateway_api
        if (before.gateway_api_version(), old_api.install) != (
            after.gateway_api_version(),
            new_api.install,
        ):
            lines.append(
                f"Gateway API CRDs: {before.gateway_api_version()} "
                f"({'installed' if old_api.install else 'not installed'}) -> "
                f"{after.gateway_api_version()} "
                f"({'installed' if new_api.install else 'not installed'})."
            )
        old_w = {(w.namespace, w.name): w for w in before.waypoints}
        new_w = {(w.namespace, w.name): w for w in after.waypoints}
        for key in sorted(new_w.keys() - old_w.keys()):
            where = ", ".join(new_w[key].clusters) or "every cluster"
            lines.append(f"Waypoint {key[1]} in {key[0]} is added ({where}).")
        for key in sorted(old_w.keys() - new_w.keys()):
            lines.append(f"Waypoint {key[1]} in {key[0]} is removed.")
        for key in sorted(old_w.keys() & new_w.keys()):
            if old_w[key] != new_w[key]:
                lines.append(f"Waypoint {key[1]} in {key[0]} changes.")
    return lines


def summarize(before: spec.Mesh, after: spec.Mesh) -> list[str]:
    """What turning ``before`` into ``after`` does to the mesh; empty when nothing changes.

    Clusters joining come first (in file order), then clusters leaving, networks, gateways
    switched on or off and roles, control planes, remote secrets, edited settings and each
    cluster's Istio upgrade step. Linear in the number of clusters, apart from the clusters that
    join or leave.
    """
    names_before = {c.name for c in before.clusters}
    names_after = {c.name for c in after.clusters}
    added = [c for c in after.clusters if c.name not in names_before]
    removed = [c for c in before.clusters if c.name not in names_after]
    return [
        *(_joins(after, c) for c in added),
        *(_leaves(c) for c in removed),
        *_networks(before, after),
        *_gateways_and_roles(before, after),
        *_control_planes(before, after),
        *_secrets(before, after, added, removed),
        *_dataplane(before, after),
        *_field_changes(before, after),
        *moved_store_keys(before, after),
        *_istio(before, after),
    ]
