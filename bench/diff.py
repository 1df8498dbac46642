"""Time `meshgen diff` with nothing changed and with one cluster added, at growing sizes.

python bench/diff.py [--sizes 10 60] [--repeat 3] [--json results.json]

Each size gets a committed, rendered mesh (the meshes of bench/scale.py). `diff --base HEAD`
on it compares the work tree with itself: nothing changed. Then `new-cluster` adds one
cluster on a branch and `diff --base main` reports that change (every cluster's remote
secret placeholders change, so overlays are built on both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from scale import GIT_ENV, git, measure, prepare


def run_size(clusters: int, repeat: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="meshgen-bench-diff-") as tmp:
        root = Path(tmp) / "mesh"
        prepare(root, clusters)
        measure(root, "render")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "render")
        for _ in range(repeat):
            samples.setdefault("diff (nothing changed)", []).append(
                measure(root, "diff", "--base", "HEAD")["seconds"]
            )
        measure(root, "new-cluster", "added", "--network", "net-0")
        for _ in range(repeat):
            samples.setdefault("diff (one cluster added)", []).append(
                measure(root, "diff", "--base", "main")["seconds"]
            )
    return {label: statistics.median(runs) for label, runs in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 60])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    results = {}
    print(f"{'clusters':>8}  {'command':<26} {'seconds':>8}")
    for size in args.sizes:
        results[size] = run_size(size, args.repeat)
        for label, seconds in results[size].items():
            print(f"{size:>8}  {label:<26} {seconds:>8.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
