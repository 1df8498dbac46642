"""Check 3: every kustomize overlay builds with the real ``kubectl kustomize``.

Only entry points are built: folders no other kustomization lists as a resource (what Argo CD
or Flux point at, and anything nothing uses). A folder that others include is built as part of
them, and its failure shows up there. Builds are batched (see
:func:`meshgen.adapters.kustomize.build_batches`); folders generated from the same template
for different clusters or networks (``clusters/*/istio-system``) produce the same object ids,
so they go to different batches.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from typing import Any

from meshgen.adapters import kustomize
from meshgen.errors import MeshgenError
from meshgen.render import yamltext
from meshgen.validation import UNCHECKED, Finding, cluster_of
from meshgen.validation.repository import RepoView, load_documents

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomizations(view: RepoView) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    """Every kustomization file's folder and content; unreadable ones as findings."""
    found: dict[str, dict[str, Any]] = {}
    findings = []
    for path in view.yaml_files():
        if posixpath.basename(path) not in KUSTOMIZATION_NAMES:
            continue
        folder = posixpath.dirname(path)
        try:
            docs = load_documents(view.text(path) or "")
        except Exception as exc:  # ruamel raises several unrelated error types
            findings.append(
                Finding(
                    check="kustomize",
                    message=f"not valid YAML ({str(exc).splitlines()[0]})",
                    fix="fix the YAML syntax (or run `meshgen render` for generated files)",
                    cluster=cluster_of(path),
                    file=path,
                )
            )
            continue
        content = docs[0][1] if docs and isinstance(docs[0][1], dict) else {}
        found[folder] = content
    return found, findings


def entry_points(found: dict[str, dict[str, Any]]) -> list[str]:
    """Kustomization folders (not Components) that no other kustomization includes."""
    included = set()
    for folder, content in found.items():
        for entry in [*(content.get("resources") or []), *(content.get("components") or [])]:
            if isinstance(entry, str) and "://" not in entry:
                included.add(posixpath.normpath(posixpath.join(folder, entry)))
    return sorted(
        folder
        for folder, content in found.items()
        if content.get("kind", "Kustomization") == "Kustomization" and folder not in included
    )


def _shape(folder: str) -> str:
    """The template a folder comes from: the cluster or network name replaced by ``*``."""
    parts = folder.split("/")
    if parts[0] == "clusters" and len(parts) >= 2:
        parts[1] = "*"
    elif len(parts) >= 2:
        parts[-1] = "*"
    return "/".join(parts)


def plan_batches(folders: list[str]) -> list[list[str]]:
    """Batches holding at most one folder of each shape (the i-th of each shape together)."""
    by_shape: dict[str, list[str]] = defaultdict(list)
    for folder in sorted(folders):
        by_shape[_shape(folder)].append(folder)
    batches: list[list[str]] = []
    for members in by_shape.values():
        for index, folder in enumerate(members):
            if index == len(batches):
                batches.append([])
            batches[index].append(folder)
    return batches


def is_remote(entry: Any) -> bool:
    return isinstance(entry, str) and "://" in entry


def offline_stand_ins(view: RepoView, found: dict[str, dict[str, Any]]) -> list[Finding]:
    """Stand-ins for kustomizations that list remote resources, which validate never fetches:
    each is replaced by its offline copy (``view.offline_copy``) or left out, and recorded in
    ``view.remote_resources``; one left out is reported as unchecked."""
    findings = []
    for folder, content in sorted(found.items()):
        resources = content.get("resources") or []
        if not any(is_remote(entry) for entry in resources):
            continue
        replaced: list[Any] = []
        files: dict[str, str] = {}
        recorded = view.remote_resources.setdefault(folder, [])
        for entry in resources:
            if not is_remote(entry):
                replaced.append(entry)
                continue
            copy = view.offline_copy(entry) if view.offline_copy is not None else None
            recorded.append((entry, copy is not None))
            if copy is None:
                findings.append(
                    Finding(
                        check="kustomize",
                        message=f"remote resource {entry} is not fetched by validate, and no "
                        "offline copy was given: what it holds is not checked",
                        fix="pass what it holds with --crds (for the Gateway API, the CRDs of "
                        "that release and channel, e.g. config/crd/standard at its tag)",
                        cluster=cluster_of(folder),
                        file=f"{folder}/kustomization.yaml",
                        severity=UNCHECKED,
                    )
                )
                continue
            name = f"offline-copy-{len(files)}.yaml"
            files[name] = copy
            replaced.append(name)
        files["kustomization.yaml"] = yamltext.dump({**content, "resources": replaced})
        view.stand_ins[folder] = {**view.stand_ins.get(folder, {}), **files}
    return findings


def check(view: RepoView, jobs: int) -> list[Finding]:
    """Build every entry point into ``view.builds``; report those that fail."""
    found, findings = kustomizations(view)
    findings += offline_stand_ins(view, found)
    folders = entry_points(found)
    view.progress.begin(len(folders))
    view.builds.update(
        kustomize.build_batches(
            view.root, plan_batches(folders), jobs, view.stand_ins, view.progress.advance
        )
    )
    for folder in folders:
        result = view.builds[folder]
        if isinstance(result, MeshgenError):
            message = str(result).removeprefix(f"{view.root / folder}: ")
            findings.append(
                Finding(
                    check="kustomize",
                    message=message,
                    fix=f"run `kubectl kustomize {folder}` and fix what it reports",
                    cluster=cluster_of(folder),
                    file=f"{folder}/kustomization.yaml",
                )
            )
    return findings


def ensure_built(view: RepoView, folders: list[str], jobs: int = 1) -> None:
    """Build the folders the checks need that check 3 did not (a folder others include)."""
    todo = sorted({f for f in folders if f not in view.builds and (view.root / f).is_dir()})
    if todo:
        view.builds.update(
            kustomize.build_batches(view.root, plan_batches(todo), jobs, view.stand_ins)
        )
