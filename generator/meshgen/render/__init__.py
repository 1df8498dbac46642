"""The rendering core: a validated :class:`~meshgen.spec.Mesh` in, ``{path: text}`` out.

No I/O happens here: the caller passes meshgen's static knowledge (:class:`Library`) and
writes the result. The same mesh always gives the same bytes. Engines (how clusters sync: Argo
CD today) and secret providers (how remote secrets arrive) plug in through small protocols in
``engines/`` and ``secrets/``; everything else is engine-neutral.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshgen import manifest
from meshgen.library import ChartProfile
from meshgen.render.files import GENERATED_MARK, README_HEADER
from meshgen.spec import GlobalService, Mesh

if TYPE_CHECKING:
    from meshgen.render.engines import Engine
    from meshgen.render.plan import ClusterPlan
    from meshgen.render.secrets import SecretProvider
    from meshgen.traffic import TrafficPolicies

__all__ = ["GENERATED_MARK", "Library", "plan_repository", "render_repository"]

SCHEMA_PATH = ".meshgen/mesh.schema.json"
TRAFFIC_SCHEMA_PATH = ".meshgen/traffic.schema.json"


@dataclass(frozen=True)
class Library:
    """meshgen's static knowledge, loaded once by the caller (see :func:`meshgen.library.load`)."""

    chart_profiles: dict[str, ChartProfile]
    vendored_overlays: dict[str, str]
    mesh_schema: dict[str, Any]
    traffic_schema: dict[str, Any] = field(default_factory=dict)


def _schema_copy(schema: dict[str, Any]) -> str:
    """The schema for editors, with the generated mark on its first line (JSON has no comments)."""
    body = json.dumps({"$comment": f"{GENERATED_MARK}; do not edit.", **schema}, indent=2)
    return body.replace('{\n  "$comment"', '{"$comment"', 1) + "\n"


def plan_repository(
    mesh: Mesh, library: Library, traffic: TrafficPolicies | None = None
) -> tuple[list[ClusterPlan], dict[str, str]]:
    """What each cluster receives (its plan, traffic overlays included) and the traffic files.

    ``traffic`` must have passed ``meshgen.traffic.check`` against ``mesh``."""
    from meshgen.render import traffic as traffic_render
    from meshgen.render.plan import plan_mesh

    traffic_files = traffic_render.files(mesh, traffic) if traffic else {}
    plans = plan_mesh(mesh, library.chart_profiles, traffic_render.namespaces(traffic_files))
    return plans, traffic_files


def with_traffic_exports(mesh: Mesh, traffic: TrafficPolicies | None) -> Mesh:
    """An ambient mesh whose exported services also hold every service its traffic policies
    serve across clusters (``scope: global``, the default): those need the ``istio.io/global``
    label too, which the generated README then lists, and their namespaces get global
    waypoints. A sidecar mesh serves every service everywhere and is returned as it is."""
    if not mesh.ambient or not traffic:
        return mesh
    listed = {(s.namespace, s.name) for s in mesh.global_services}
    extra = tuple(
        GlobalService(namespace=s.namespace, name=s.name)
        for s in sorted(traffic.exported_services())
        if (s.namespace, s.name) not in listed
    )
    return dataclasses.replace(mesh, global_services=(*mesh.global_services, *extra))


def render_repository(
    mesh: Mesh, library: Library, traffic: TrafficPolicies | None = None
) -> dict[str, str]:
    """Every generated file of the repository, keyed by POSIX path, in sorted order.

    ``traffic``: the repository's traffic policies, checked against ``mesh``
    (``meshgen.traffic.check``); None renders none."""
    from meshgen.render import overlays, values
    from meshgen.render import traffic as traffic_render
    from meshgen.render.engines import engine_for
    from meshgen.render.secrets import provider_for

    mesh = with_traffic_exports(mesh, traffic)
    plans, traffic_files = plan_repository(mesh, library, traffic)
    local_hosts = traffic_render.cluster_local_hosts(mesh, traffic) if traffic else {}
    provider = provider_for(mesh)
    engine = engine_for(mesh)
    files: dict[str, str] = {}
    files.update(overlays.shared_files(mesh, library.vendored_overlays))
    files.update(provider.shared_files(mesh))
    for plan in plans:
        hosts = local_hosts.get(plan.cluster.name)
        extra = traffic_render.istiod_values(hosts) if hosts else None
        files.update(values.cluster_values_files(mesh, plan, istiod_extra=extra))
        files.update(overlays.cluster_files(mesh, plan, provider))
    files.update(traffic_files)
    files.update(engine.files(mesh, plans))
    files.update(documents(mesh, library, plans, provider, engine))
    files[manifest.PATH] = manifest.text(files)  # last: the record of every file above
    return dict(sorted(files.items()))


def documents(
    mesh: Mesh,
    library: Library,
    plans: list[ClusterPlan],
    provider: SecretProvider,
    engine: Engine,
) -> dict[str, str]:
    """The files about the whole repository: CI, the README, the schemas for editors and the
    review workflow (rendered after the engine's files)."""
    from meshgen.render import ci, readme, review

    files = ci.files(mesh)
    files[mesh.readme] = README_HEADER + readme.render(mesh, plans, provider, engine)
    files[SCHEMA_PATH] = _schema_copy(library.mesh_schema)
    if library.traffic_schema:
        files[TRAFFIC_SCHEMA_PATH] = _schema_copy(library.traffic_schema)
    files.update(review.files(mesh))
    return files
