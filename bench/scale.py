"""Time `render` and `new-cluster` at growing mesh sizes; report time and peak memory.

python bench/scale.py [--sizes 10 100 1000] [--repeat 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def mesh_text(clusters: int, per_network: int = 10) -> str:
    networks = (clusters + per_network - 1) // per_network
    lines = [
        "apiVersion: meshgen.io/v1alpha1",
        "kind: Mesh",
        "meshID: bench",
        "repository:",
        "  url: https://git.example.com/bench.git",
        "networks:",
        *(f"  - name: net-{n}" for n in range(networks)),
        "clusters:",
    ]
    for index in range(clusters):
        # Per network: the first cluster is a primary with the gateway and the discovery
        # address; the last half are remotes of it, the others primaries. Every cluster has a
        # pod range, so the flat-network overlap check runs over all of them.
        first = index - index % per_network
        lines += [
            f"  - name: cluster-{index}",
            f"    network: net-{index // per_network}",
            f"    podCIDRs: [10.{index // 256}.{index % 256}.0/24]",
            "    eastWestGateway:",
            f"      enabled: {'true' if index == first else 'false'}",
        ]
        if index == first:
            lines.append(f"    discovery: {{address: 192.0.{index // 256}.{index % 256}}}")
        elif index % per_network >= per_network // 2:
            lines += ["    role: remote", f"    controlPlane: cluster-{first}"]
    return "\n".join(lines) + "\n"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def measure(cwd: Path, *argv: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(HERE / "measure.py"), str(cwd), *argv],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["exit"] != 0:
        raise SystemExit(f"meshgen {' '.join(argv)} exited {result['exit']}: {out.stderr}")
    return result


def prepare(root: Path, clusters: int) -> None:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "mesh.yaml").write_text(mesh_text(clusters))
    git(root, "add", "mesh.yaml")
    git(root, "commit", "-qm", "mesh")


def run_size(clusters: int, repeat: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[dict[str, float]]] = {}
    for attempt in range(repeat):
        with tempfile.TemporaryDirectory(prefix="meshgen-bench-") as tmp:
            root = Path(tmp) / "mesh"
            prepare(root, clusters)
            steps = [
                ("render (first)", ("render",)),
                ("render (no-op)", ("render",)),
                ("render --check", ("render", "--check")),
            ]
            for label, argv in steps:
                samples.setdefault(label, []).append(measure(root, *argv))
            git(root, "add", "-A")
            git(root, "commit", "-qm", "render")
            name = f"new-{attempt}"
            samples.setdefault("new-cluster", []).append(
                measure(root, "new-cluster", name, "--network", "net-0")
            )
    return medians(samples)


def medians(samples: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per measurement: the median time and the highest peak memory of its runs."""
    return {
        label: {
            "seconds": statistics.median(s["seconds"] for s in runs),
            "peak_mib": max(s["peak_mib"] for s in runs),
        }
        for label, runs in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    results = {}
    print(f"{'clusters':>8}  {'command':<16} {'seconds':>8} {'ms/cluster':>10} {'peak MiB':>9}")
    for size in args.sizes:
        results[size] = run_size(size, args.repeat)
        for label, figures in results[size].items():
            per_cluster = figures["seconds"] / size * 1000
            print(
                f"{size:>8}  {label:<16} {figures['seconds']:>8.2f} {per_cluster:>10.2f} "
                f"{figures['peak_mib']:>9.0f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
