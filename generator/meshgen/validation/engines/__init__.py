"""GitOps wiring per engine, keyed by ``mesh.gitops.engine``.

An engine module provides two functions:

- ``helm_releases(view) -> list[HelmRelease]``: every Helm release the repository asks the
  engine to install (chart, version, repository, the value files in order), for check 4;
- ``wiring(view) -> list[Finding]``: check 6 (paths exist, destinations are clusters of the
  mesh and allowed, sync order, every cluster reached from exactly one bootstrap entry).

Argo CD is :mod:`.argocd`. A Flux engine adds ``flux.py`` with the same two functions
(HelmRelease ``chart.spec`` + ``valuesFrom``; Kustomization ``path``, ``dependsOn`` order)
and one line in :data:`ENGINES`. An engine without a module is reported as unchecked.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

ENGINES = {"argocd": "meshgen.validation.engines.argocd"}


@dataclass(frozen=True)
class HelmRelease:
    """One Helm release as the engine will render it (paths relative to the repository)."""

    cluster: str | None
    file: str  # the file that declares it
    obj: str  # the declaring object, e.g. ``Application argocd/cluster-1-istiod``
    chart: str
    version: str
    repo_url: str
    release: str
    namespace: str
    value_files: tuple[str, ...]


def engine_module(engine: str) -> ModuleType | None:
    name = ENGINES.get(engine)
    return importlib.import_module(name) if name else None
