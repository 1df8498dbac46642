"""Time `render`, `new-cluster` and `remove-cluster` at growing mesh sizes against a plain
Python process writing the same files; report time, ratios, files touched and peak memory, and
one verdict line per goal of issue 17 (render and changes).

python bench/scale.py [--sizes 10 100 1000] [--repeat 5] [--json results.json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


PER_NETWORK = 10


def mesh_text(clusters: int, per_network: int = PER_NETWORK) -> str:
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
    """Run ``meshgen argv`` in ``cwd`` in a new process: its time from the command's start
    (``seconds``), the whole process's wall time from outside (``wall``: interpreter start
    and imports included) and its peak memory (``peak_mib``). Dirty pages are flushed first,
    so the previous step's writes are not paid for by this one."""
    os.sync()
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(HERE / "measure.py"), str(cwd), *argv],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    if result["exit"] != 0:
        raise SystemExit(f"meshgen {' '.join(argv)} exited {result['exit']}: {out.stderr}")
    return result


RACY_SECOND = 1.1  # git's racy-clean window (whole seconds) and a margin


def working_clone(root: Path, clone: Path) -> None:
    """Commit the render in ``root`` and clone it to ``clone``: a repository packed as a
    user's clone has it, made without deleting anything. (Packing ``root`` itself with
    ``git gc`` deletes its loose objects, 11,000 files at 1,000 clusters but 130 at 10, just
    before the step measured next; on this machine's file system that slows the following
    seconds' writes, so the larger mesh paid for it and the smaller did not.) ``gc.auto=0``:
    git would otherwise start its automatic gc in the background after this commit."""
    git(root, "-c", "gc.auto=0", "commit", "-qm", "render")
    subprocess.run(
        ["git", "clone", "-q", "--no-local", str(root), str(clone)],
        check=True,
        capture_output=True,
    )
    # A user's first command comes seconds after the clone, not within the second it checked
    # the files out: git (which compares whole seconds here) takes a file that changed in
    # the second its index was written as racily clean and reads it again at each status,
    # and the first render's status would write the index in that second again. Without
    # this pause the new-cluster after it found them racy: its status took 0.13 to 0.14 s at
    # 1,000 clusters instead of 0.03 to 0.05 s.
    time.sleep(RACY_SECOND)


def prepare(root: Path, clusters: int) -> None:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "mesh.yaml").write_text(mesh_text(clusters))
    git(root, "add", "mesh.yaml")
    git(root, "commit", "-qm", "mesh")


BASELINE = """\
import os, pickle, sys
files = pickle.load(open(sys.argv[1], "rb"))
root = sys.argv[2]
for path, data in files.items():
    target = os.path.join(root, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(data)
"""


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file meshgen's render left under ``root`` (mesh.yaml included, .git left out)."""
    files = {}
    for folder, folders, names in os.walk(root):
        folders[:] = [name for name in folders if name != ".git"]
        for name in names:
            path = Path(folder) / name
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return dict(sorted(files.items()))


def baseline(files: dict[str, bytes], work: Path) -> dict[str, float]:
    """A fresh Python process writing ``files`` ({path: bytes}, read from meshgen's output
    beforehand) to the same paths in a new folder: the floor render is compared with."""
    data = work / "files.pickle"
    data.write_bytes(pickle.dumps(files))
    target = work / "baseline"
    os.sync()  # as before every measured command
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", BASELINE, str(data), str(target)], check=True)
    seconds = time.perf_counter() - started
    data.unlink()
    return {"exit": 0, "seconds": seconds, "wall": seconds, "peak_mib": 0.0, "files": len(files)}


def changed_files(root: Path, branch: str) -> int:
    """How many files the commit on ``branch`` touched."""
    out = subprocess.run(
        ["git", "-C", str(root), "diff", "--name-only", f"{branch}~1", branch],
        check=True,
        capture_output=True,
        text=True,
    )
    return len(out.stdout.split())


Samples = dict[str, list[dict[str, float]]]


def render_steps(clusters: int, repeat: int, work: Path, samples: Samples) -> list[Path]:
    """The render measurements of ``repeat`` attempts at ``clusters`` (added to ``samples``),
    each in a new folder under ``work``; returns each attempt's clone, where the changes
    are measured next (:func:`change_steps`). Nothing is deleted until the whole run is
    over: on this machine's file system (ext4 mounted with ``discard``) deleting 11,000
    files slows the writes of the next seconds several times over, which would fall on
    whichever step came next."""
    clones = []
    for attempt in range(repeat):
        tmp = tempfile.mkdtemp(prefix=f"{clusters}-{attempt}-", dir=work)
        root = Path(tmp) / "mesh"
        prepare(root, clusters)
        samples.setdefault("render (first)", []).append(measure(root, "render"))
        samples.setdefault("baseline write", []).append(baseline(tree_snapshot(root), Path(tmp)))
        steps = [
            ("render (no-op)", ("render",)),
            ("render --check", ("render", "--check")),
        ]
        for label, argv in steps:
            samples.setdefault(label, []).append(measure(root, *argv))
        git(root, "add", "-A")
        clone = Path(tmp) / "clone"
        working_clone(root, clone)
        # The first command in a fresh clone has no memo in its Git folder: it renders and
        # reads every file. Reported, and it leaves the clone as a user's working copy is
        # after any meshgen command, where the changes are measured.
        samples.setdefault("render (clone)", []).append(measure(clone, "render"))
        clones.append(clone)
    return clones


def change_steps(clone: Path, attempt: int, samples: Samples) -> None:
    """``new-cluster`` and ``remove-cluster`` in ``clone`` (added to ``samples``)."""
    name = f"new-{attempt}"
    added = measure(clone, "new-cluster", name, "--network", "net-0")
    added["files"] = changed_files(clone, f"meshgen/add-cluster-{name}")
    samples.setdefault("new-cluster", []).append(added)
    git(clone, "checkout", "-q", "main")
    # A remote of the first network: its primary stays.
    removed = measure(clone, "remove-cluster", "cluster-9")
    removed["files"] = changed_files(clone, "meshgen/remove-cluster-cluster-9")
    samples.setdefault("remove-cluster", []).append(removed)
    git(clone, "checkout", "-q", "main")


def run_sizes_interleaved(
    sizes: list[int], repeat: int, work: Path
) -> dict[int, dict[str, dict[str, float]]]:
    """The medians per size: renders size after size, then the changes in turns (one
    attempt of each size, then the next attempt), so that the goal comparing a change at
    two sizes compares times taken minutes apart no more than the sizes' own attempts are.
    Measured size after size, the small mesh's changes ran first and the large mesh's
    minutes later, and this machine's speed drifts by a fifth over minutes."""
    samples: dict[int, Samples] = {size: {} for size in sizes}
    clones = {size: render_steps(size, repeat, work, samples[size]) for size in sizes}
    for attempt in range(repeat):
        for size in sizes:
            change_steps(clones[size][attempt], attempt, samples[size])
    return {size: medians(samples[size]) for size in sizes}


def medians(samples: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per measurement: the median time and the highest peak memory of its runs."""
    return {
        label: {
            "seconds": statistics.median(s["seconds"] for s in runs),
            "wall": statistics.median(s.get("wall", s["seconds"]) for s in runs),
            "peak_mib": max(s["peak_mib"] for s in runs),
            **({"files": max(s["files"] for s in runs)} if "files" in runs[0] else {}),
        }
        for label, runs in samples.items()
    }


def size_arguments(description: str, keep: bool = False, repeat: int = 3) -> argparse.Namespace:
    """``--sizes``, ``--repeat`` (``repeat`` by default) and ``--json`` of a size benchmark
    (and ``--keep`` with ``keep``); sets git's identity."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--json", type=Path)
    if keep:
        parser.add_argument(
            "--keep",
            action="store_true",
            help="leave the work folder (its path is printed) instead of deleting it at the "
            "end: on a file system mounted with discard, deleting the 150,000 files of a run "
            "slows the writes of the next minutes, which a run started soon after pays for",
        )
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    return args


def run_sizes(
    description: str,
    run: Callable[[int, int], dict[str, dict[str, float]]],
    column: str = "command",
) -> None:
    """The command line of a size benchmark: ``--sizes``, ``--repeat``, ``--json``; ``run``
    (size, repeat) gives the medians per measurement, printed as a table row each."""
    args = size_arguments(description)
    results = {}
    print(f"{'clusters':>8}  {column:<16} {'seconds':>8} {'ms/cluster':>10} {'peak MiB':>9}")
    for size in args.sizes:
        results[size] = run(size, args.repeat)
        for label, figures in results[size].items():
            per_cluster = figures["seconds"] / size * 1000
            print(
                f"{size:>8}  {label:<16} {figures['seconds']:>8.2f} {per_cluster:>10.2f} "
                f"{figures['peak_mib']:>9.0f}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def verdicts(results: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """One line per goal of issue 17 (render and changes), from the medians of each size."""
    sizes = sorted(results)
    small, large = results[sizes[0]], results[sizes[-1]]
    floor = large["baseline write"]["wall"]
    lines = []

    def verdict(ok: bool, text: str) -> None:
        lines.append(f"{'PASS' if ok else 'FAIL'}  {text}")

    first = large["render (first)"]["wall"] / floor
    verdict(first <= 3, f"render (first) at {sizes[-1]}: {first:.2f}x the baseline write (goal 3x)")
    for label in ("render (no-op)", "render --check"):
        ratio = large[label]["wall"] / floor
        verdict(ratio <= 1, f"{label} at {sizes[-1]}: {ratio:.2f}x the baseline write (goal 1x)")
    for label in ("new-cluster", "remove-cluster"):
        wall, base = large[label]["wall"], small[label]["wall"]
        verdict(
            wall <= 1 and wall <= 1.5 * base,
            f"{label} at {sizes[-1]}: {wall:.2f} s (goal 1 s), {wall / base:.2f}x its time at "
            f"{sizes[0]} (goal 1.5x)",
        )
        touched = {size: int(results[size][label]["files"]) for size in sizes}
        # A mesh of one network (10 clusters) has no other network's gateway to reach: the
        # new cluster gets none, so fewer files. Compare meshes of the same shape.
        compared = [size for size in sizes if size > PER_NETWORK] or sizes
        verdict(
            len({touched[size] for size in compared}) == 1,
            f"{label} touches {', '.join(f'{n} files at {size}' for size, n in touched.items())}"
            f" (goal: the same at {', '.join(map(str, compared))} clusters"
            f"{'' if compared == sizes else ', meshes of several networks'})",
        )
    peak = {
        size: max(f["peak_mib"] for label, f in results[size].items() if label != "baseline write")
        for size in sizes
    }
    ratio = peak[sizes[-1]] / peak[sizes[0]]
    verdict(
        ratio <= 2,
        f"peak memory: {peak[sizes[-1]]:.0f} MiB at {sizes[-1]}, {peak[sizes[0]]:.0f} MiB at "
        f"{sizes[0]}: {ratio:.2f}x (goal 2x)",
    )
    return lines


def byte_compile() -> None:
    """Compile meshgen's modules once, as ``pip install`` does: an editable install (or
    PYTHONDONTWRITEBYTECODE) would otherwise make every measured process compile them again,
    a cost no installed meshgen pays."""
    import compileall

    import meshgen

    compileall.compile_dir(str(Path(meshgen.__file__).parent), quiet=1)


def main() -> None:
    # Five attempts: a command's time swings by 50 ms on this machine, and with three the
    # median of a change at 10 clusters moved the ratio by a fifth from run to run.
    args = size_arguments(__doc__ or "", keep=True, repeat=5)
    byte_compile()
    results: dict[int, dict[str, dict[str, float]]] = {}
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"{'clusters':>8}  {'command':<16} {'wall s':>8} {'x baseline':>10} {'files':>6} "
        f"{'peak MiB':>9}"
    )
    work = Path(tempfile.mkdtemp(prefix="meshgen-bench-"))
    try:
        results = run_sizes_interleaved(args.sizes, args.repeat, work)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for size in args.sizes:
        floor = results[size]["baseline write"]["wall"]
        for label, figures in results[size].items():
            files = f"{int(figures['files']):>6}" if "files" in figures else f"{'':>6}"
            peak = f"{figures['peak_mib']:>9.0f}" if figures["peak_mib"] else f"{'':>9}"
            print(
                f"{size:>8}  {label:<16} {figures['wall']:>8.2f} "
                f"{figures['wall'] / floor:>10.2f} {files} {peak}",
                flush=True,
            )
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if len(args.sizes) > 1:
        for line in verdicts(results):
            print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
