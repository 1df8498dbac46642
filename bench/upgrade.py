"""Time each step of a revision-based `meshgen upgrade` at growing mesh sizes.

python bench/upgrade.py [--sizes 10 100 1000] [--repeat 3] [--json results.json]

The meshes are those of `bench/scale.py` (ten clusters per network, primaries with remotes),
at Istio 1.30.3, rendered and committed. Each step runs as a user would (its own process,
committing on a branch), and the branch is merged before the next: the canary (one primary),
the rest, `--promote`, `--finish`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from scale import GIT_ENV, git, measure, medians, mesh_text

TARGET = "1.31.0-rc.0"
STEPS = [
    ("canary", ("--istio-version", TARGET, "--canary", "cluster-0")),
    ("the rest", ("--istio-version", TARGET)),
    ("--promote", ("--promote",)),
    ("--finish", ("--finish",)),
]


def prepare(root: Path, clusters: int) -> None:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    text = mesh_text(clusters).replace(
        "meshID: bench\n", 'meshID: bench\nistio:\n  version: "1.30.3"\n'
    )
    (root / "mesh.yaml").write_text(text)
    measure(root, "render")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "mesh")


def run_size(clusters: int, repeat: int) -> dict[str, dict[str, float]]:
    samples: dict[str, list[dict[str, float]]] = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="meshgen-bench-") as tmp:
            root = Path(tmp) / "mesh"
            prepare(root, clusters)
            for label, argv in STEPS:
                samples.setdefault(label, []).append(
                    measure(root, "upgrade", *argv, "--branch", "step")
                )
                git(root, "switch", "-q", "main")
                git(root, "merge", "-q", "--no-ff", "step", "-m", f"Merge {label}")
                git(root, "branch", "-q", "-D", "step")
    return medians(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    results = {}
    print(f"{'clusters':>8}  {'step':<10} {'seconds':>8} {'ms/cluster':>10} {'peak MiB':>9}")
    for size in args.sizes:
        results[size] = run_size(size, args.repeat)
        for label, figures in results[size].items():
            per_cluster = figures["seconds"] / size * 1000
            print(
                f"{size:>8}  {label:<10} {figures['seconds']:>8.2f} {per_cluster:>10.2f} "
                f"{figures['peak_mib']:>9.0f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
