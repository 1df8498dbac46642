"""``kubectl kustomize``: the real kustomize, embedded in the pinned kubectl."""

from __future__ import annotations

from pathlib import Path

from meshgen.adapters import toolchain
from meshgen.adapters.process import error_summary
from meshgen.errors import MeshgenError


def build(path: Path, show_output: bool = False) -> str:
    """The built manifests of the kustomization in ``path``.

    subprocess-tee echoes kustomize's output as it runs when ``show_output`` is set (for a
    person watching a long validation) and captures it either way.
    """
    from subprocess_tee import run

    kubectl = toolchain.find("kubectl")
    result = run([str(kubectl), "kustomize", str(path)], tee=show_output, check=False)
    if result.returncode != 0:
        raise MeshgenError(
            f"{path}: kustomize build failed: {error_summary(result.stderr or result.stdout)}"
        )
    return result.stdout
