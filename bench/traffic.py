"""Time `render` with traffic policies at growing mesh sizes; report time and peak memory.

python bench/traffic.py [--sizes 100 1000] [--services 0 10 50] [--repeat 1] [--json FILE]

The meshes are those of ``scale.py``. Each service gets one file under ``traffic/`` with the
default clients (every cluster), a split over the gateway clusters of the first three networks
(so every split crosses networks and lands in gateway configs too) and locality failover.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from scale import GIT_ENV, git, measure, medians, prepare

POLICY = """\
apiVersion: meshgen.io/v1alpha1
kind: TrafficPolicy
metadata: {{name: svc-{index}, namespace: ns-{namespace}}}
spec:
  split:
    - {{cluster: cluster-0, labels: {{version: v1}}, weight: 50}}
    - {{cluster: cluster-10, labels: {{version: v1}}, weight: 30}}
    - {{cluster: cluster-20, labels: {{version: v2}}, weight: 20}}
  failover:
    priority: [topology.istio.io/network, topology.istio.io/cluster]
  retries: {{attempts: 3, perTryTimeout: 2s}}
"""


def run(clusters: int, services: int, repeat: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[dict[str, float]]] = {}
    for _attempt in range(repeat):
        with tempfile.TemporaryDirectory(prefix="meshgen-bench-traffic-") as tmp:
            root = Path(tmp) / "mesh"
            prepare(root, clusters)
            folder = root / "traffic"
            folder.mkdir()
            for index in range(services):
                text = POLICY.format(index=index, namespace=index % 5)
                (folder / f"svc-{index}.yaml").write_text(text)
            git(root, "add", "-A")
            git(root, "commit", "-q", "--allow-empty", "-m", "traffic")
            for label, argv in (
                ("render (first)", ("render",)),
                ("render --check", ("render", "--check")),
            ):
                samples.setdefault(label, []).append(measure(root, *argv))
            files = sum(1 for p in root.glob("clusters/*/traffic/*/*.yaml"))
            samples.setdefault("traffic files", []).append({"seconds": files, "peak_mib": 0})
    return medians(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--services", type=int, nargs="+", default=[0, 10, 50])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'clusters':>8} {'services':>8}  {'command':<16} {'seconds':>8} {'peak MiB':>9}")
    for size in args.sizes:
        for services in args.services:
            figures = run(size, services, args.repeat)
            results[f"{size}x{services}"] = figures
            for label, figure in figures.items():
                if label == "traffic files":
                    print(f"{size:>8} {services:>8}  {label:<16} {int(figure['seconds']):>8}")
                    continue
                print(
                    f"{size:>8} {services:>8}  {label:<16} {figure['seconds']:>8.2f} "
                    f"{figure['peak_mib']:>9.0f}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
