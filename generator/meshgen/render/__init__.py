"""The rendering core: a validated :class:`~meshgen.spec.Mesh` in, ``{path: text}`` out.

No I/O happens here: the caller passes meshgen's static knowledge (:class:`Library`) and
writes the result. The same mesh always gives the same bytes. Engines (how clusters sync: Argo
CD today) and secret providers (how remote secrets arrive) plug in through small protocols in
``engines/`` and ``secrets/``; everything else is engine-neutral.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from meshgen import manifest
from meshgen.library import ChartProfile
from meshgen.render.files import GENERATED_MARK, README_HEADER
from meshgen.spec import Mesh

__all__ = ["GENERATED_MARK", "Library", "render_repository"]

SCHEMA_PATH = ".meshgen/mesh.schema.json"


@dataclass(frozen=True)
class Library:
    """meshgen's static knowledge, loaded once by the caller (see :func:`meshgen.library.load`)."""

    chart_profiles: dict[str, ChartProfile]
    vendored_overlays: dict[str, str]
    mesh_schema: dict[str, Any]


def _schema_copy(schema: dict[str, Any]) -> str:
    """The schema for editors, with the generated mark on its first line (JSON has no comments)."""
    body = json.dumps({"$comment": f"{GENERATED_MARK}; do not edit.", **schema}, indent=2)
    return body.replace('{\n  "$comment"', '{"$comment"', 1) + "\n"


def render_repository(mesh: Mesh, library: Library) -> dict[str, str]:
    """Every generated file of the repository, keyed by POSIX path, in sorted order."""
    from meshgen.render import ci, overlays, readme, review, values
    from meshgen.render.engines import engine_for
    from meshgen.render.plan import plan_mesh
    from meshgen.render.secrets import provider_for

    plans = plan_mesh(mesh, library.chart_profiles)
    provider = provider_for(mesh)
    engine = engine_for(mesh)
    files: dict[str, str] = {}
    files.update(overlays.shared_files(mesh, library.vendored_overlays))
    files.update(provider.shared_files(mesh))
    for plan in plans:
        files.update(values.cluster_values_files(mesh, plan))
        files.update(overlays.cluster_files(mesh, plan, provider))
    files.update(engine.files(mesh, plans))
    files.update(ci.files(mesh))
    files["README.md"] = README_HEADER + readme.render(mesh, plans, provider, engine)
    files[SCHEMA_PATH] = _schema_copy(library.mesh_schema)
    files.update(review.files(mesh))
    files[manifest.PATH] = manifest.text(files)  # last: the record of every file above
    return dict(sorted(files.items()))
