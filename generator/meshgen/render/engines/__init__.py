"""GitOps engines: turn engine-neutral cluster plans into the objects that sync them."""

from __future__ import annotations

from typing import Protocol

from meshgen.render.plan import ClusterPlan
from meshgen.spec import Mesh


class Engine(Protocol):
    name: str

    def files(self, mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, str]: ...

    def readme_section(self, mesh: Mesh, plans: list[ClusterPlan]) -> str: ...


def engine_for(mesh: Mesh) -> Engine:
    if mesh.engine == "argocd":
        from meshgen.render.engines.argocd import ArgoCDEngine

        return ArgoCDEngine()
    raise ValueError(f"unknown GitOps engine {mesh.engine!r}")
