"""``helm``: the real Helm, pinned by meshgen."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from meshgen.adapters import toolchain
from meshgen.adapters.process import error_summary, go_environment, require_not_stopped
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
    result = subprocess.run(args, capture_output=True, text=True, check=False, env=go_environment())
    if result.returncode != 0:
        require_not_stopped(result.returncode)
        raise MeshgenError(f"{chart}: helm template failed: {error_summary(result.stderr)}")
    return result.stdout


def pull(chart: str, version: str, repo_url: str, into: Path) -> Path:
    """``helm pull CHART --repo URL --version V --untar`` into ``into``; the unpacked chart.
    From an OCI registry (``oci://host/path``) the chart is ``oci://host/path/CHART``.

    Unpacks into a temporary sibling first and renames it into place, so an interrupted pull
    never leaves a half-written chart in the cache.
    """
    target = into / chart
    if (target / "Chart.yaml").is_file():
        return target
    into.mkdir(parents=True, exist_ok=True)
    helm = toolchain.find("helm")
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=into) as tmp:
        if repo_url.startswith("oci://"):
            args = [str(helm), "pull", f"{repo_url.rstrip('/')}/{chart}", "--version", version]
        else:
            args = [str(helm), "pull", chart, "--repo", repo_url, "--version", version]
        args += ["--untar", "--untardir", tmp]
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise MeshgenError(
                f"helm pull {chart} {version} from {repo_url} failed: "
                f"{error_summary(result.stderr)}; check the network, or pass --charts DIR "
                "with the unpacked charts"
            )
        os.replace(Path(tmp) / chart, target)
    return target
