"""``kubectl kustomize``: the real kustomize, embedded in the pinned kubectl."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path, PurePosixPath
from typing import Any

from meshgen.adapters import toolchain
from meshgen.adapters.process import error_summary, go_environment, require_not_stopped
from meshgen.errors import MeshgenError


def build(path: Path, show_output: bool = False) -> str:
    """The built manifests of the kustomization in ``path``.

    subprocess-tee echoes kustomize's output as it runs when ``show_output`` is set (for a
    person watching a long validation) and captures it either way.
    """
    kubectl = toolchain.find("kubectl")
    env = go_environment()
    if show_output:
        from subprocess_tee import run

        result = run([str(kubectl), "kustomize", str(path)], tee=True, check=False, env=env)
    else:
        result = subprocess.run(
            [str(kubectl), "kustomize", str(path)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    if result.returncode != 0:
        require_not_stopped(result.returncode)
        raise MeshgenError(
            f"{path}: kustomize build failed: {error_summary(result.stderr or result.stdout)}"
        )
    return result.stdout


BATCH_LABEL = "meshgen.io/validate-member"


Parse = Callable[[str], list[Any]]  # a YAML stream's documents, as yamlload.load_all reads them


def _load_objects(text: str, where: str, parse: Parse | None = None) -> list[dict[str, Any]]:
    import yaml

    from meshgen import yamlload

    try:  # libyaml's C parser when present: kustomize output of many overlays is large
        docs = parse(text) if parse is not None else list(yamlload.load_all(text))
    except yaml.YAMLError as exc:
        raise MeshgenError(f"{where}: kustomize output is not YAML ({exc})") from None
    return [doc for doc in docs if doc is not None]


def _build_objects(
    path: Path, where: str, parse: Parse | None = None
) -> list[dict[str, Any]] | MeshgenError:
    try:
        return _load_objects(build(path), where, parse)
    except MeshgenError as exc:
        return exc


# A renamed member's objects carry this prefix (and its Namespace this name) in the batch.
RENAME_PREFIX = "meshgen-batch-{member}-"
ORIGINAL_NAME = "meshgenBatchOriginalName"  # where a renamed Namespace keeps its name


def _batch_kustomization(
    resources: list[str], member: str | None = None, renamed: bool = False
) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    lines += [f"- {json.dumps(resource)}" for resource in resources]
    if member is not None:
        lines += ["labels:", "- pairs:", f"    {BATCH_LABEL}: {json.dumps(member)}"]
    if member is not None and renamed:
        prefix = RENAME_PREFIX.format(member=member)
        lines += [
            f"namePrefix: {json.dumps(prefix)}",
            "patches:",
            "- target: {kind: Namespace}",  # namePrefix leaves Namespaces alone
            "  patch: |",
            f"    - {{op: copy, from: /metadata/name, path: /{ORIGINAL_NAME}}}",
            f"    - {{op: replace, path: /metadata/name, value: {json.dumps(prefix + 'ns')}}}",
        ]
    return "\n".join(lines) + "\n"


def _restore_names(value: Any, prefix: str, namespace: str | None) -> Any:
    """``value`` with every string kustomize prefixed (a name, or a reference to one) as it
    was, and the renamed Namespace's name (and references to it) back to ``namespace``."""
    if isinstance(value, str):
        if namespace is not None and value == prefix + "ns":
            return namespace
        return value[len(prefix) :] if value.startswith(prefix) else value
    if isinstance(value, dict):
        return {key: _restore_names(item, prefix, namespace) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_names(item, prefix, namespace) for item in value]
    return value


def _split_batch(
    objects: list[dict[str, Any]], members: list[str], renamed: bool = False
) -> dict[str, list[Any]]:
    """Give each object back to the member overlay that produced it (by the batch label); in a
    renamed batch, with the names it has when the member is built alone."""
    split: dict[str, list[Any]] = {folder: [] for folder in members}
    namespaces: dict[str, str] = {}  # member -> its renamed Namespace's name
    for obj in objects:
        if renamed and ORIGINAL_NAME in obj:
            member = obj["metadata"]["labels"][BATCH_LABEL]
            if member in namespaces:  # two Namespaces in one member: cannot tell apart
                raise ValueError(f"{member} renamed two Namespaces")
            namespaces[member] = str(obj[ORIGINAL_NAME])
    for obj in objects:
        labels = obj["metadata"]["labels"]
        member = labels.pop(BATCH_LABEL)
        index = int(member.removeprefix("m"))
        if not labels:
            del obj["metadata"]["labels"]
        if renamed:
            obj.pop(ORIGINAL_NAME, None)
            prefix = RENAME_PREFIX.format(member=member)
            obj = _restore_names(obj, prefix, namespaces.get(member))
        split[members[index]].append(obj)
    return split


def _mirror(root: Path, mirror: Path, stand_ins: dict[str, dict[str, str]]) -> None:
    """A view of ``root`` in ``mirror`` where each folder of ``stand_ins`` (and each folder
    above one) is a copy of its own files, plus the extra files given (e.g. a ``flux-system/``
    that only ``flux bootstrap`` writes); everything else is a symlink into ``root``
    (kustomize follows a symlinked folder, not a symlinked kustomization file). Relative
    references (``../..``) from a copied folder still reach the repository, and nothing is
    written to ``root``.
    """
    real = root.resolve()
    copied = {PurePosixPath(folder) for folder in stand_ins}
    needed = {parent for folder in copied for parent in [folder, *folder.parents]}
    needed.discard(PurePosixPath("."))
    mirror.mkdir()
    for folder in sorted(needed, key=lambda p: len(p.parts)):
        (mirror / folder).mkdir(exist_ok=True)
    for folder in sorted(needed | {PurePosixPath(".")}):
        source = real / folder
        for entry in sorted(source.iterdir()) if source.is_dir() else []:
            rel = folder / entry.name
            target = mirror / rel
            if rel in needed:
                continue
            if folder in needed and entry.is_file():  # kustomize reads no symlinked files
                shutil.copyfile(entry, target)
            else:
                target.symlink_to(entry, target_is_directory=entry.is_dir())
    for name, files in stand_ins.items():
        for rel_path, text in files.items():
            target = mirror / name / rel_path
            if target.is_symlink():
                target.unlink()
            target.parent.mkdir(parents=True, exist_ok=True)
            inside = [mirror / name / Path(*Path(rel_path).parts[:i]) for i in range(1, 99)]
            if any(p.is_symlink() for p in inside[: len(Path(rel_path).parts) - 1]):
                raise MeshgenError(f"{name}/{rel_path}: exists in {root}; not replaced")
            target.write_text(text, encoding="utf-8")


def build_batches(
    root: Path,
    batches: list[list[str]],
    jobs: int = 1,
    stand_ins: dict[str, dict[str, str]] | None = None,
    on_built: Callable[[int], None] | None = None,
    renamed: Collection[int] = (),
    parse_alone: Parse | None = None,
) -> dict[str, list[dict[str, Any]] | MeshgenError]:
    """The objects of every kustomization folder in ``batches`` (paths relative to ``root``).

    Process start dominates a kustomize build, so the folders of one batch are built by a
    single ``kubectl kustomize`` of a throw-away kustomization that lists each of them
    (through a wrapper that labels what it produced, so objects can be given back). The caller
    puts folders whose outputs could collide in different batches; when a batch fails anyway
    (a broken overlay, a collision), its folders are built one by one so each failure is
    reported against its own folder. Batches run ``jobs`` at a time. Nothing is written to
    ``root``: kustomize reaches it through a symlink in a temporary folder (it refuses
    absolute resource paths). Folders in ``stand_ins`` are built from a mirror of the
    repository that adds the given files to them (see :func:`_mirror`). ``on_built(n)`` is
    called as each batch of ``n`` folders is done.

    In the batches whose index is in ``renamed``, folders of one template may share a batch:
    each wrapper prefixes its member's names (kustomize updates the references to them) and
    renames its Namespace (which a prefix leaves alone); the names are put back after the
    build. A member with two Namespaces, or another kind a prefix does not rename (a CRD)
    that another member has too, makes the batch fail, and its folders are built alone.

    ``parse_alone`` reads the output of a folder built alone (default: every document with
    :func:`meshgen.yamlload.load_all`), e.g. from what earlier runs parsed of the same text.
    """
    results: dict[str, list[dict[str, Any]] | MeshgenError] = {}
    stand_ins = stand_ins or {}
    with tempfile.TemporaryDirectory(prefix="meshgen-kustomize-") as tmp:
        link = Path(tmp) / "repo"
        link.symlink_to(root.resolve(), target_is_directory=True)
        mirror = Path(tmp) / "mirror"
        if stand_ins:
            _mirror(root, mirror, stand_ins)

        def alone(member: str) -> list[Any] | MeshgenError:
            if member not in stand_ins:
                return _build_objects(root / member, member, parse_alone)
            built = _build_objects(mirror / member, member, parse_alone)
            if isinstance(built, MeshgenError):  # name the repository, not the mirror
                return MeshgenError(str(built).replace(str(mirror), str(root)))
            return built

        def run(index: int, batch: list[str]) -> dict[str, list[Any] | MeshgenError]:
            if len(batch) == 1:
                return {batch[0]: alone(batch[0])}
            folder = Path(tmp) / f"batch-{index}"
            for position, member in enumerate(batch):
                wrapper = folder / f"m{position}"
                wrapper.mkdir(parents=True)
                top = "mirror" if member in stand_ins else "repo"
                (wrapper / "kustomization.yaml").write_text(
                    _batch_kustomization(
                        [f"../../{top}/{member}"], f"m{position}", index in renamed
                    ),
                    encoding="utf-8",
                )
            (folder / "kustomization.yaml").write_text(
                _batch_kustomization([f"m{position}" for position in range(len(batch))]),
                encoding="utf-8",
            )
            built = _build_objects(folder, f"batch of {len(batch)} overlays")
            if not isinstance(built, MeshgenError):
                try:
                    return dict(_split_batch(built, batch, index in renamed))
                except (KeyError, TypeError, ValueError, IndexError):
                    pass  # an object kustomize did not label: attribute by building alone
            return {member: alone(member) for member in batch}

        def done(part: dict[str, list[Any] | MeshgenError]) -> None:
            results.update(part)
            if on_built is not None:
                on_built(len(part))

        if len(batches) == 1:  # in this thread (a one-cluster change builds its two so)
            done(run(0, batches[0]))
            return results
        # (imported here: concurrent.futures imports logging, a tenth of a validate's
        # imports, which a run that builds each folder alone does not need)
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(run, index, batch) for index, batch in enumerate(batches)]
            for future in as_completed(futures):
                done(future.result())
    return results
