"""``helm``: the real Helm, pinned by meshgen."""

from __future__ import annotations

import subprocess
from pathlib import Path

from meshgen.adapters import toolchain
from meshgen.adapters.process import error_summary
from meshgen.errors import MeshgenError


def template(
    chart: Path,
    release: str,
    namespace: str,
    value_files: list[Path],
    kube_version: str | None = None,
) -> str:
    """``helm template`` of a local chart with exactly ``value_files``, in order."""
    helm = toolchain.find("helm")
    args = [str(helm), "template", release, str(chart), "--namespace", namespace]
    for values in value_files:
        args += ["--values", str(values)]
    if kube_version:
        args += ["--kube-version", kube_version]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise MeshgenError(f"{chart}: helm template failed: {error_summary(result.stderr)}")
    return result.stdout
