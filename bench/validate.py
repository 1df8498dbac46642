"""Time `meshgen validate` on a 100-cluster mesh against the naive pipeline, and after a change
to one cluster; print a one-line verdict per goal of issue 17.

python bench/validate.py [--clusters 100] [--runs 1] [--upstream DIR] [--json FILE]

In one run, on a mesh of the shape of `bench/scale.py` (ten clusters per network, primaries
and remotes, east-west gateways), rendered and committed in a temporary git repository:

1. naive: what a platform engineer would script, one process each, no schema checks: per
   cluster, `helm template` of every chart its Applications install, with their value files,
   and `kubectl kustomize` of every overlay under `clusters/<cluster>/`, sequentially, with
   the pinned tools and Istio's charts from ../shared/upstream;
2. full: `meshgen validate` with the charts and CRDs, on an empty cache;
3. a change to one cluster (labels and region of `cluster-7` in mesh.yaml, `meshgen render`,
   commit), then `meshgen validate` with the cache of step 2 (incremental);
4. `meshgen validate --no-cache` of the changed repository, whose findings the incremental
   run must give exactly.

Each meshgen command is a fresh process (`python -m meshgen`); times are wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale import GIT_ENV, git, mesh_text  # noqa: E402

ISTIO = "1.30.3"
CHANGED = "cluster-7"
GOALS = {"incremental": 20.0, "naive": 5.0}


def crd_options(upstream: Path) -> list[str]:
    argocd = upstream / "argocd" / "v3.5.1" / "crds"
    crds = [
        upstream / "istio" / ISTIO / "crds",
        argocd / "application-crd.yaml",
        argocd / "appproject-crd.yaml",
        upstream / "external-secrets" / "v2.9.0" / "crds",
    ]
    return [arg for path in crds for arg in ("--crds", str(path))]


def meshgen(root: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "meshgen", *argv], cwd=root, capture_output=True, text=True
    )
    if check and result.returncode not in (0, 1):
        raise SystemExit(f"meshgen {' '.join(argv)} exited {result.returncode}: {result.stderr}")
    return result


def prepare(root: Path, clusters: int) -> None:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    pinned = f"meshID: bench\nistio:\n  version: {ISTIO}\n"
    (root / "mesh.yaml").write_text(mesh_text(clusters).replace("meshID: bench\n", pinned))
    meshgen(root, "render")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "mesh")


def change_one_cluster(root: Path) -> None:
    mesh = root / "mesh.yaml"
    text = mesh.read_text()
    marker = f"  - name: {CHANGED}\n"
    added = "    labels: {team: payments}\n    region: eu-west-1\n"
    mesh.write_text(text.replace(marker, marker + added))
    meshgen(root, "render")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"label {CHANGED}")


def _load(path: Path) -> Any:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def naive_commands(root: Path, charts: Path, kube_version: str | None = None) -> list[list[str]]:
    """Per cluster: `helm template` of each chart its Applications install (value files in
    order) and `kubectl kustomize` of each overlay under its folder."""
    from meshgen.adapters import toolchain

    helm, kubectl = str(toolchain.find("helm")), str(toolchain.find("kubectl"))
    commands = []
    for cluster in sorted((root / "clusters").iterdir()):
        for app_file in sorted((cluster / "applications").glob("*.yaml")):
            for app in _load(app_file):
                sources = app["spec"].get("sources") or [app["spec"].get("source")]
                for source in sources:
                    if not source or "chart" not in source:
                        continue
                    options = source.get("helm") or {}
                    args = [
                        helm,
                        "template",
                        options.get("releaseName") or app["metadata"]["name"],
                        str(charts / source["chart"]),
                        "--namespace",
                        app["spec"]["destination"]["namespace"],
                    ]
                    for value_file in options.get("valueFiles") or []:
                        args += ["--values", str(root / value_file.split("/", 1)[1])]
                    commands.append(args)
        for kustomization in sorted(cluster.rglob("kustomization.yaml")):
            commands.append([kubectl, "kustomize", str(kustomization.parent)])
    return commands


def run_naive(commands: list[list[str]]) -> float:
    started = time.perf_counter()
    for args in commands:
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"naive pipeline: {' '.join(args)} failed: {result.stderr}")
    return time.perf_counter() - started


def timed_validate(root: Path, *argv: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = meshgen(root, "validate", "-o", "json", *argv)
    seconds = time.perf_counter() - started
    return seconds, json.loads(result.stdout)


def one_run(clusters: int, upstream: Path) -> dict[str, Any]:
    charts = upstream / "istio" / ISTIO / "charts"
    options = [*crd_options(upstream), "--charts", str(charts)]
    with tempfile.TemporaryDirectory(prefix="meshgen-bench-validate-") as tmp:
        root = Path(tmp) / "mesh"
        cache = Path(tmp) / "cache"
        prepare(root, clusters)
        commands = naive_commands(root, charts)
        naive = run_naive(commands)
        full, first = timed_validate(root, *options, "--cache-dir", str(cache))
        change_one_cluster(root)
        incremental, second = timed_validate(root, *options, "--cache-dir", str(cache))
        _, reference = timed_validate(root, *options, "--no-cache")
        size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    return {
        "clusters": clusters,
        "naive_processes": len(commands),
        "naive_s": naive,
        "full_s": full,
        "incremental_s": incremental,
        "full_errors": first["errors"],
        "same_findings": second["findings"] == reference["findings"],
        "findings": len(reference["findings"]),
        "recomputed": second["cache"]["computed"],
        "rebuilt": second["cache"]["recomputed"],
        "reused": second["cache"]["reused"],
        "cache_mib": size / 2**20,
    }


def verdicts(run: dict[str, Any]) -> list[str]:
    inc_ratio = run["full_s"] / run["incremental_s"]
    naive_ratio = run["naive_s"] / run["full_s"]
    inc_ok = inc_ratio >= GOALS["incremental"] and run["same_findings"]
    naive_ok = naive_ratio >= GOALS["naive"]
    same = "same findings" if run["same_findings"] else "FINDINGS DIFFER"
    return [
        f"{'PASS' if inc_ok else 'FAIL'} incremental: one-cluster change "
        f"{run['incremental_s']:.2f} s vs full {run['full_s']:.2f} s = {inc_ratio:.1f}x "
        f"(goal >= {GOALS['incremental']:.0f}x), "
        f"{same} as --no-cache ({run['findings']} findings); recomputed: "
        f"{', '.join(f for items in run['rebuilt'].values() for f in items) or 'nothing'}",
        f"{'PASS' if naive_ok else 'FAIL'} naive: full validate {run['full_s']:.2f} s vs naive "
        f"pipeline {run['naive_s']:.2f} s ({run['naive_processes']} processes) = "
        f"{naive_ratio:.1f}x (goal >= {GOALS['naive']:.0f}x)",
    ]


def compile_bytecode() -> None:
    """Byte-compile meshgen's modules, as installing a wheel does: an editable install under
    PYTHONDONTWRITEBYTECODE would otherwise compile every module again in every process (a
    third of a second per command), which no installed meshgen pays."""
    import compileall

    import meshgen

    compileall.compile_dir(Path(meshgen.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--upstream", type=Path, default=HERE.parent.parent / "shared" / "upstream")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    if not (args.upstream / "istio" / ISTIO / "charts").is_dir():
        raise SystemExit(f"{args.upstream}: no Istio {ISTIO} charts; pass --upstream DIR")
    compile_bytecode()
    runs = []
    for number in range(1, args.runs + 1):
        run = one_run(args.clusters, args.upstream)
        runs.append(run)
        print(f"run {number}: {json.dumps(run)}", flush=True)
        for line in verdicts(run):
            print(f"  {line}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2) + "\n")


if __name__ == "__main__":
    main()
