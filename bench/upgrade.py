"""Time each step of a revision-based `meshgen upgrade` at growing mesh sizes.

python bench/upgrade.py [--sizes 10 100 1000] [--repeat 3] [--json results.json]

The meshes are those of `bench/scale.py` (ten clusters per network, primaries with remotes),
at Istio 1.30.3, rendered and committed. Each step runs as a user would (its own process,
committing on a branch), and the branch is merged before the next: the canary (one primary),
the rest, `--promote`, `--finish`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from scale import git, measure, medians, mesh_text, run_sizes

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
    run_sizes(__doc__ or "", run_size, column="step")


if __name__ == "__main__":
    main()
