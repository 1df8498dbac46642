"""GitOps engines: turn engine-neutral cluster plans into the objects that sync them."""

from __future__ import annotations

from typing import Protocol

from meshgen.render.plan import ClusterPlan
from meshgen.spec import Mesh


class Engine(Protocol):
    """One GitOps engine. It owns the per-cluster ``kustomization.yaml`` (the folder the engine
    syncs) and its own objects; it never changes the values files or the overlays."""

    name: str
    display_name: str

    def files(self, mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, str]:
        """Every file of the engine: each cluster's, then the shared ones."""
        ...

    def cluster_files(self, mesh: Mesh, plan: ClusterPlan) -> dict[str, str]:
        """One cluster's files: what ``files`` writes for it, from its plan and the mesh's
        settings alone (what :mod:`meshgen.render.incremental` relies on)."""
        ...

    def shared_files(self, mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, str]:
        """The files that do not belong to one cluster (they may list them all)."""
        ...

    def layout_rows(self) -> list[tuple[str, str]]:
        """(path, what it holds) rows for the generated README's layout table."""
        ...

    def readme_section(self, mesh: Mesh, plans: list[ClusterPlan]) -> str: ...

    def after_merge(self) -> str:
        """What happens once a new cluster's pull request is merged (README sentence)."""
        ...

    def after_removal(self) -> str:
        """What happens once a cluster's removal is merged, and what to undo by hand (README)."""
        ...


def engine_for(mesh: Mesh) -> Engine:
    if mesh.engine == "argocd":
        from meshgen.render.engines.argocd import ArgoCDEngine

        return ArgoCDEngine()
    if mesh.engine == "flux":
        from meshgen.render.engines.flux import FluxEngine

        return FluxEngine()
    raise ValueError(f"unknown GitOps engine {mesh.engine!r}")
