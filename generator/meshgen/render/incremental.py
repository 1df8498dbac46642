"""The files a change of the mesh changes, without rendering the clusters it does not reach.

A repository's files are of two kinds (see :func:`meshgen.render.render_repository`): each
cluster's own (its values, overlays and engine objects, and its parts of the secrets
provider's shared files, such as its remote-secret placeholder), made from the mesh's
settings, the cluster's plan and its few relations (its control plane, its remotes, whether
other primaries share the mesh); and shared files (per-network overlays, the remote-secret
aggregate, the engine's bootstrap, README, CI), which may list every cluster and are always
rendered: as they are after the change (the ones whose paths follow from the settings alone,
which a change this module takes leaves equal, are not rendered as they were before). The
shared overlays are made of the settings alone, so they are not rendered at all.

:func:`plans_after` compares those inputs (:func:`relations`) before and after a change:
a cluster whose inputs are equal has the same files, so only the reached clusters are
rendered (before and after: the files they had are taken out, the files they get put
in). Whatever this module cannot vouch for, it declines (None): traffic policies (their hosts
and namespaces reach clusters by service), a change of the mesh's settings or networks, a
secrets provider whose cluster files depend on every primary (``sealed-secrets``: each
primary's folder lists the remote secrets of all the others).

The tests compare the result with a full render over many fixtures and changes, and check that
each cluster's files come out the same from a mesh holding only the clusters its inputs name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from meshgen import manifest
from meshgen.render import Library, documents
from meshgen.render.plan import ClusterPlan, plan_cluster, plan_mesh
from meshgen.spec import PRIMARY, Cluster, Mesh

# Providers whose cluster files depend only on what relations() names.
PROVIDERS = ("external-secrets", "manual", "sops")


def settings_of(mesh: Mesh) -> dict[str, Any]:
    """Everything of the mesh but its clusters: a change here may reach every cluster."""
    return {f.name: getattr(mesh, f.name) for f in dataclasses.fields(mesh) if f.name != "clusters"}


def relations(mesh: Mesh, cluster: Cluster) -> tuple[Any, ...]:
    """What a cluster's own files are made of, besides the mesh's settings: its entry, its
    control plane, its remotes, and whether it shares the mesh with other primaries (the
    remote-secret aggregate it includes). Its plan is made of the first three alone."""
    return (
        cluster,
        mesh.control_plane_of(cluster),
        mesh.remotes_of(cluster.name),
        cluster.role == PRIMARY and len(mesh.primaries) > 1,
    )


@dataclass(frozen=True)
class Change:
    """The files of a mesh change: ``before`` holds the path of every file the reached
    clusters and the shared parts had (to take out), ``after`` what they get (to put in)."""

    before: frozenset[str]
    after: dict[str, str]
    reached: tuple[str, ...]


def _own_files(mesh: Mesh, plans: list[ClusterPlan], names: set[str]) -> dict[str, str]:
    """The files of the clusters ``names``: their folders, and their parts of the provider's
    shared files, as render_repository writes them (no traffic policies)."""
    from meshgen.render import overlays, values
    from meshgen.render.engines import engine_for
    from meshgen.render.secrets import provider_for

    provider = provider_for(mesh)
    engine = engine_for(mesh)
    chosen = [plan for plan in plans if plan.cluster.name in names]
    files = provider.shared_files(mesh, only=names)
    for plan in chosen:
        files.update(values.cluster_values_files(mesh, plan, istiod_extra=None))
        files.update(overlays.cluster_files(mesh, plan, provider))
    for plan in chosen:
        files.update(engine.cluster_files(mesh, plan))
    return files


def _shared_files(mesh: Mesh, library: Library, plans: list[ClusterPlan]) -> dict[str, str]:
    """The shared files that may list every cluster, and whose paths follow from the mesh's
    settings alone: the engine's bootstrap, README, CI, schemas. The shared overlays (the
    vendored ones and one per network) are made of the settings alone (the networks, the
    data plane), which a change this module takes leaves equal: they stay as they are."""
    from meshgen.render.engines import engine_for
    from meshgen.render.secrets import provider_for

    engine = engine_for(mesh)
    files = engine.shared_files(mesh, plans)
    files.update(documents(mesh, library, plans, provider_for(mesh), engine))
    return files


def plans_after(
    before: Mesh, after: Mesh, before_plans: list[ClusterPlan], library: Library
) -> tuple[list[ClusterPlan], set[str]]:
    """``plan_mesh(after)``, reusing the plan of each cluster whose entry, control plane and
    remotes are the same (with the same settings, :func:`plan_cluster` reads nothing else);
    and the clusters whose own files may differ: added, removed, or with other
    :func:`relations`."""
    old = {plan.cluster.name: plan for plan in before_plans}
    reached = old.keys() - {cluster.name for cluster in after.clusters}
    plans = []
    for cluster in sorted(after.clusters, key=lambda c: c.name):
        plan = old.get(cluster.name)
        if plan is None:
            reached.add(cluster.name)
            plan = plan_cluster(after, cluster, library.chart_profiles)
        else:
            was, now = relations(before, plan.cluster), relations(after, cluster)
            if was != now:
                reached.add(cluster.name)
                if was[:3] != now[:3]:
                    plan = plan_cluster(after, cluster, library.chart_profiles)
        plans.append(plan)
    return plans, reached


def render_change(before: Mesh, after: Mesh, library: Library) -> Change | None:
    """The files of the change from ``before`` to ``after`` (both without traffic policies),
    or None when this module cannot vouch for it (see the module documentation)."""
    if settings_of(before) != settings_of(after) or after.secrets_provider not in PROVIDERS:
        return None
    before_plans = plan_mesh(before, library.chart_profiles)
    after_plans, reached = plans_after(before, after, before_plans, library)
    shared = _shared_files(after, library, after_plans)
    # The same settings, the same paths of the shared files: of before, only the reached
    # clusters' files are rendered, to know which go.
    taken_out = {*_own_files(before, before_plans, reached), *shared}
    return Change(
        before=frozenset(taken_out),
        after={**shared, **_own_files(after, after_plans, reached)},
        reached=tuple(sorted(reached)),
    )


def record_after(
    recorded: manifest.RenderedRecord, change: Change, digests: dict[str, str]
) -> tuple[str, int]:
    """The file record after ``change`` (its text and how many files it lists), from the
    record of the full render before it: the files the change took out replaced by those it
    puts in (``digests``: their SHA-256, by path)."""
    added = {path: digests[path] for path in change.after if path != manifest.PATH}
    return recorded.changed(change.before, added)
