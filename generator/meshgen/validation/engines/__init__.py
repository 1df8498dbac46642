"""GitOps wiring per engine, keyed by ``mesh.gitops.engine``.

An engine module provides two functions:

- ``helm_releases(view) -> list[HelmRelease]``: every Helm release the repository asks the
  engine to install (chart, version, repository, the value files in order), for check 4;
- ``wiring(view) -> list[Finding]``: check 6 (paths exist, destinations are clusters of the
  mesh and allowed, sync order, every cluster reached from exactly one bootstrap entry).

An engine may also provide ``stand_ins(view) -> {folder: {path: text}}``: files its builds
need that only its bootstrap writes (Flux's ``flux-system/``), see ``RepoView.stand_ins``.

Argo CD is :mod:`.argocd`, Flux :mod:`.flux`. An engine without a module is reported as
unchecked.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

ENGINES = {
    "argocd": "meshgen.validation.engines.argocd",
    "flux": "meshgen.validation.engines.flux",
}


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
    # Per value file, the YAML Helm gets when it is not that file as written (a HelmRelease's
    # inline ``values``, a ConfigMap not made from a file): findings still name the file.
    value_texts: tuple[str | None, ...] = ()

    def value_text(self, index: int) -> str | None:
        return self.value_texts[index] if index < len(self.value_texts) else None

    def key_fields(self) -> tuple[Any, ...]:
        """``dataclasses.astuple(self)``, exactly (for cache keys), without its deep copy: a
        100-cluster run keys about 500 releases."""
        return (
            self.cluster,
            self.file,
            self.obj,
            self.chart,
            self.version,
            self.repo_url,
            self.release,
            self.namespace,
            tuple(self.value_files),
            tuple(self.value_texts),
        )


def engine_module(engine: str) -> ModuleType | None:
    name = ENGINES.get(engine)
    return importlib.import_module(name) if name else None
