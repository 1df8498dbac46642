"""The Argo CD wiring check's pieces that need no repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshgen.validation.engines.argocd import _allowed
from meshgen.validation.repository import RepoView

PROJECT = {
    "kind": "AppProject",
    "metadata": {"name": "mesh1"},
    "spec": {
        "destinations": [
            {"name": "cluster-1", "namespace": "istio-system"},
            {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
            {"name": "edge-*", "namespace": "istio-?ystem"},
            {"name": "lab-[ab]", "namespace": "*"},
            {"name": 7, "namespace": "istio-system"},  # not a pattern: matches nothing
            "not a destination",
        ]
    },
}


@pytest.mark.parametrize(
    ("name", "namespace", "allowed"),
    [
        ("cluster-1", "istio-system", True),
        ("cluster-1", "istio-gateways", False),
        ("cluster-2", "istio-system", False),
        ("https://kubernetes.default.svc", "argocd", True),
        ("edge-17", "istio-system", True),
        ("edge-17", "istio-gateways", False),
        ("lab-b", "anything", True),
        ("lab-c", "anything", False),
        ("7", "istio-system", False),
    ],
)
def test_destinations_match_as_argo_cd_globs_them(
    tmp_path: Path, name: str, namespace: str, allowed: bool
) -> None:
    view = RepoView(root=tmp_path, document=None)
    assert _allowed(view, PROJECT, name, namespace) is allowed
    # The index made for one project is not used for another.
    other = {"spec": {"destinations": [{"name": name, "namespace": namespace}]}}
    assert _allowed(view, other, name, namespace) is True
