"""``kubectl kustomize``: the real kustomize, embedded in the pinned kubectl."""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


BATCH_LABEL = "meshgen.io/validate-member"


def _load_objects(text: str, where: str) -> list[dict[str, Any]]:
    import yaml

    try:  # libyaml's C parser when present: kustomize output of many overlays is large
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        raise MeshgenError(f"{where}: kustomize output is not YAML ({exc})") from None
    return [doc for doc in docs if doc is not None]


def _build_objects(path: Path, where: str) -> list[dict[str, Any]] | MeshgenError:
    try:
        return _load_objects(build(path), where)
    except MeshgenError as exc:
        return exc


def _batch_kustomization(resources: list[str], member: str | None = None) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    lines += [f"- {json.dumps(resource)}" for resource in resources]
    if member is not None:
        lines += ["labels:", "- pairs:", f"    {BATCH_LABEL}: {json.dumps(member)}"]
    return "\n".join(lines) + "\n"


def _split_batch(objects: list[dict[str, Any]], members: list[str]) -> dict[str, list[Any]]:
    """Give each object back to the member overlay that produced it (by the batch label)."""
    split: dict[str, list[Any]] = {folder: [] for folder in members}
    for obj in objects:
        labels = obj["metadata"]["labels"]
        index = int(labels.pop(BATCH_LABEL).removeprefix("m"))
        if not labels:
            del obj["metadata"]["labels"]
        split[members[index]].append(obj)
    return split


def build_batches(
    root: Path, batches: list[list[str]], jobs: int = 1
) -> dict[str, list[dict[str, Any]] | MeshgenError]:
    """The objects of every kustomization folder in ``batches`` (paths relative to ``root``).

    Process start dominates a kustomize build, so the folders of one batch are built by a
    single ``kubectl kustomize`` of a throw-away kustomization that lists each of them
    (through a wrapper that labels what it produced, so objects can be given back). The caller
    puts folders whose outputs could collide in different batches; when a batch fails anyway
    (a broken overlay, a collision), its folders are built one by one so each failure is
    reported against its own folder. Batches run ``jobs`` at a time. Nothing is written to
    ``root``: kustomize reaches it through a symlink in a temporary folder (it refuses
    absolute resource paths).
    """
    results: dict[str, list[dict[str, Any]] | MeshgenError] = {}
    with tempfile.TemporaryDirectory(prefix="meshgen-kustomize-") as tmp:
        link = Path(tmp) / "repo"
        link.symlink_to(root.resolve(), target_is_directory=True)

        def run(index: int, batch: list[str]) -> dict[str, list[Any] | MeshgenError]:
            if len(batch) == 1:
                return {batch[0]: _build_objects(root / batch[0], batch[0])}
            folder = Path(tmp) / f"batch-{index}"
            for position, member in enumerate(batch):
                wrapper = folder / f"m{position}"
                wrapper.mkdir(parents=True)
                (wrapper / "kustomization.yaml").write_text(
                    _batch_kustomization([f"../../repo/{member}"], f"m{position}"),
                    encoding="utf-8",
                )
            (folder / "kustomization.yaml").write_text(
                _batch_kustomization([f"m{position}" for position in range(len(batch))]),
                encoding="utf-8",
            )
            built = _build_objects(folder, f"batch of {len(batch)} overlays")
            if not isinstance(built, MeshgenError):
                try:
                    return dict(_split_batch(built, batch))
                except (KeyError, TypeError, ValueError, IndexError):
                    pass  # an object kustomize did not label: attribute by building alone
            return {member: _build_objects(root / member, member) for member in batch}

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for part in pool.map(lambda item: run(*item), enumerate(batches)):
                results.update(part)
    return results
