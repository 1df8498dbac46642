"""Batched `kubectl kustomize` builds give each folder exactly what building it alone gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import tree_bytes, two_network_mesh
from meshgen import library
from meshgen.adapters import kustomize
from meshgen.errors import MeshgenError
from meshgen.render import render_repository

FOLDERS = [
    "bootstrap/argocd",
    "clusters/cluster-1",
    "clusters/cluster-1/istio-system",
    "clusters/cluster-2",
    "clusters/cluster-2/istio-system",
    "clusters/cluster-2/mesh-config",
]


@pytest.fixture
def repo(tmp_path: Path, tools: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MESHGEN_KUBECTL", str(tools["kubectl"]))
    for path, text in render_repository(two_network_mesh().mesh, library.load()).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    return tmp_path


def alone(root: Path, folder: str) -> list[str]:
    return canonical(kustomize._load_objects(kustomize.build(root / folder), folder))


def canonical(objects: Any) -> list[str]:
    assert isinstance(objects, list), objects
    return sorted(json.dumps(o, sort_keys=True) for o in objects)


def test_one_batch_equals_separate_builds_and_writes_nothing(repo: Path) -> None:
    before = tree_bytes(repo)
    # The per-cluster folders of different templates do not collide: one build for all.
    batch = [f for f in FOLDERS if not f.endswith("istio-system")] + [
        "clusters/cluster-1/istio-system"
    ]
    results = kustomize.build_batches(repo, [batch], jobs=2)
    assert sorted(results) == sorted(batch)
    for folder in batch:
        assert canonical(results[folder]) == alone(repo, folder), folder
        assert all(kustomize.BATCH_LABEL not in json.dumps(o) for o in results[folder])
    assert tree_bytes(repo) == before


def test_colliding_or_broken_members_fall_back_to_single_builds(repo: Path) -> None:
    (repo / "clusters/cluster-2/mesh-config/kustomization.yaml").write_text(
        "resources: [missing.yaml]\n"
    )
    # Both istio-system overlays create Namespace istio-system: the batch build collides.
    batch = ["clusters/cluster-1/istio-system", "clusters/cluster-2/istio-system"]
    results = kustomize.build_batches(repo, [batch, ["clusters/cluster-2/mesh-config"]], jobs=2)
    for folder in batch:
        assert canonical(results[folder]) == alone(repo, folder), folder
    broken = results["clusters/cluster-2/mesh-config"]
    assert isinstance(broken, MeshgenError)
    assert "clusters/cluster-2/mesh-config: kustomize build failed" in str(broken)
    assert "missing.yaml" in str(broken)


STAND_IN = {
    "extra/kustomization.yaml": "resources: [ns.yaml]\n",
    "extra/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: stand-in}\n",
}


def test_stand_in_files_are_built_but_never_written(repo: Path) -> None:
    """A folder can be built with files the repository lacks (Flux's flux-system/ before
    bootstrap), alone or in a batch; relative paths out of it still reach the repository."""
    folder = repo / "clusters/cluster-1"
    kustomization = folder / "kustomization.yaml"
    # The cluster folder lists the missing folder and reaches out of itself with ../../.
    kustomization.write_text("resources: [extra, ../cluster-2/istio-system]\n", encoding="utf-8")
    before = tree_bytes(repo)
    stand_ins = {"clusters/cluster-1": STAND_IN}
    for batch in (["clusters/cluster-1"], ["clusters/cluster-1", "clusters/cluster-2/mesh-config"]):
        results = kustomize.build_batches(repo, [batch], jobs=1, stand_ins=stand_ins)
        objects = results["clusters/cluster-1"]
        assert isinstance(objects, list), objects
        names = {(o["kind"], o["metadata"]["name"]) for o in objects}
        assert ("Namespace", "stand-in") in names
        assert ("Namespace", "istio-system") in names
        if len(batch) == 2:
            assert canonical(results[batch[1]]) == alone(repo, batch[1])
    assert tree_bytes(repo) == before
    assert not (folder / "extra").exists()
    # Without the stand-in the build fails; with a broken one, the error names the repository.
    failed = kustomize.build_batches(repo, [["clusters/cluster-1"]])["clusters/cluster-1"]
    assert isinstance(failed, MeshgenError) and "extra" in str(failed)
    broken = {"clusters/cluster-1": {"extra/kustomization.yaml": "resources: [gone.yaml]\n"}}
    failed = kustomize.build_batches(repo, [["clusters/cluster-1"]], stand_ins=broken)[
        "clusters/cluster-1"
    ]
    assert isinstance(failed, MeshgenError) and "gone.yaml" in str(failed)
    assert str(failed).startswith(f"{folder}: kustomize build failed")
