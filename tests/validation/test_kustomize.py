"""Which folders check 3 builds, and how it batches them."""

from __future__ import annotations

import re

from meshgen.validation.kustomize import entry_points, plan_batches


def test_entry_points_are_the_folders_nothing_includes() -> None:
    found = {
        "clusters/c1/istio-system": {"resources": ["../../../overlays/networks/n1"]},
        "overlays/networks/n1": {"resources": ["../../base/istio-system"]},
        "overlays/networks/n2": {"resources": ["../../base/istio-system"]},
        "overlays/base/istio-system": {"resources": ["namespace.yaml"]},
        "clusters/c1/mesh-config": {"components": ["../../../overlays/components/ew"]},
        "overlays/components/ew": {"kind": "Component"},
    }
    assert entry_points(found) == [
        "clusters/c1/istio-system",
        "clusters/c1/mesh-config",
        "overlays/networks/n2",
    ]


def test_folders_of_one_template_never_share_a_batch() -> None:
    folders = [f"clusters/c{i}/{o}" for i in range(3) for o in ("istio-system", "mesh-config")]
    batches = plan_batches([*folders, "bootstrap/argocd", "clusters/c0", "clusters/c1"])
    assert sorted(f for b in batches for f in b) == sorted(
        [*folders, "bootstrap/argocd", "clusters/c0", "clusters/c1"]
    )
    assert len(batches) == 3
    for batch in batches:
        shapes = [re.sub(r"^clusters/[^/]+", "clusters/*", f) for f in batch]
        assert len(shapes) == len(set(shapes)), batch
