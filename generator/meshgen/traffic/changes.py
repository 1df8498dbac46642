"""What a change to the traffic files (or to the mesh under them) does, in sentences for review.

Compared per service and client cluster, so a reviewer reads the effect, not the YAML:
``reviews.default from cluster1: cluster2/v3 50% -> 75%``. Clients with the same change share
one line.
"""

from __future__ import annotations

from meshgen.spec import Mesh
from meshgen.traffic.model import CLUSTER_LOCAL, TrafficPolicies, TrafficPolicy

NONE = "(none)"


def _failover(policy: TrafficPolicy) -> str | None:
    if policy.failover is None:
        return None
    parts = []
    if policy.failover.priority:
        parts.append("priority " + ", ".join(policy.failover.priority))
    parts += [f"{origin} -> {target}" for origin, target in policy.failover.regions]
    return "; ".join(parts)


def _distribute(policy: TrafficPolicy) -> str | None:
    if not policy.distribute:
        return None
    return "; ".join(
        f"from {d.origin}: " + ", ".join(f"{where} {weight}%" for where, weight in d.to)
        for d in policy.distribute
    )


def _retries(policy: TrafficPolicy) -> str | None:
    retries = policy.retries
    if retries is None:
        return None
    parts = []
    if retries.attempts is not None:
        parts.append(f"{retries.attempts} attempts")
    if retries.per_try_timeout:
        parts.append(f"{retries.per_try_timeout} per try")
    if retries.retry_on:
        parts.append(f"on {retries.retry_on}")
    if retries.retry_remote_localities is not None:
        where = "other localities too" if retries.retry_remote_localities else "same locality"
        parts.append(where)
    return ", ".join(parts)


def aspects(policy: TrafficPolicy) -> dict[str, str | None]:
    """Everything but the split, as short texts (None: not set)."""
    outlier = ", ".join(f"{k} {v}" for k, v in policy.outlier_detection) or None
    return {
        "protocol": policy.protocol,
        "failover": _failover(policy),
        "distribute": _distribute(policy),
        "outlierDetection": outlier,
        "retries": _retries(policy),
        "timeout": policy.timeout,
        "scope": policy.scope,
    }


def shares(policy: TrafficPolicy) -> dict[str, int]:
    """Weight per destination, keyed as reviews read them (``cluster2/v3``)."""
    found: dict[str, int] = {}
    for destination in policy.split:
        key = destination.label
        if key in found:
            key = f"{key} ({destination.subset})"
        found[key] = destination.weight
    return found


def describe(policy: TrafficPolicy) -> str:
    """One policy in a line: its split, then what else it sets."""
    parts = [", ".join(f"{k} {w}%" for k, w in shares(policy).items())] if policy.split else []
    for key, value in aspects(policy).items():
        if value is None or (key, value) in (("protocol", "http"), ("scope", "global")):
            continue
        parts.append(f"{key} {value}")
    if policy.scope == CLUSTER_LOCAL and not parts:
        parts.append("scope cluster-local")
    return "; ".join(parts) or "no routing of its own"


def _changes(before: TrafficPolicy, after: TrafficPolicy) -> list[str]:
    lines = []
    old, new = shares(before), shares(after)
    for key in [*old, *(k for k in new if k not in old)]:
        if key not in new:
            lines.append(f"{key} removed (was {old[key]}%)")
        elif key not in old:
            lines.append(f"{key} added at {new[key]}%")
        elif old[key] != new[key]:
            lines.append(f"{key} {old[key]}% -> {new[key]}%")
    old_aspects, new_aspects = aspects(before), aspects(after)
    for key, value in new_aspects.items():
        if old_aspects[key] != value:
            lines.append(f"{key} {old_aspects[key] or NONE} -> {value or NONE}")
    return lines


def _clients(mesh: Mesh, policies: TrafficPolicies) -> dict[tuple[str, str], TrafficPolicy]:
    found: dict[tuple[str, str], TrafficPolicy] = {}
    for service in policies.services():
        for policy in policies.for_service(service):
            for client in policy.clients_in(mesh):
                found.setdefault((str(service), client), policy)
    return found


def summarize(
    before_mesh: Mesh,
    before: TrafficPolicies,
    after_mesh: Mesh,
    after: TrafficPolicies,
) -> list[str]:
    """One line per service and group of clients whose traffic changes; empty: none does."""
    old, new = _clients(before_mesh, before), _clients(after_mesh, after)
    grouped: dict[tuple[str, str], list[str]] = {}
    staying = {c.name for c in after_mesh.clusters}
    for key in sorted(old.keys() | new.keys()):
        service, client = key
        if client not in staying:
            continue  # the cluster leaves the mesh; the mesh summary says so
        was, now = old.get(key), new.get(key)
        if was is None and now is not None:
            text = f"now {describe(now)} ({now.source})"
        elif now is None and was is not None:
            text = f"no policy any more ({was.source} no longer covers it): Istio's defaults"
        else:
            assert was is not None and now is not None
            changes = _changes(was, now)
            if not changes:
                continue
            text = "; ".join(changes)
        grouped.setdefault((service, text), []).append(client)
    lines = [
        (service, clients[0], f"{service} from {', '.join(clients)}: {text}")
        for (service, text), clients in grouped.items()
    ]
    return [line for _service, _client, line in sorted(lines)]
