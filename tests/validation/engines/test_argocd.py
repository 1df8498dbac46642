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


def test_an_application_is_checked_against_the_clusters_and_files_there(tmp_path: Path) -> None:
    from helpers import two_network_mesh
    from meshgen.validation.engines.argocd import Walk, _check_app

    document = two_network_mesh()
    view = RepoView(root=tmp_path, document=document)
    (tmp_path / "clusters/cluster-1/values").mkdir(parents=True)
    (tmp_path / "clusters/cluster-1/values/istiod.yaml").write_text("a: 1\n")

    def app(destination: str, value_file: str, path: str) -> dict[str, object]:
        repo = document.mesh.repo_url
        return {
            "kind": "Application",
            "metadata": {"name": "x", "namespace": document.mesh.argocd_namespace},
            "spec": {
                "destination": {"name": destination, "namespace": "istio-system"},
                "sources": [
                    {"repoURL": repo, "ref": "values"},
                    {"repoURL": repo, "chart": "istiod", "helm": {"valueFiles": [value_file]}},
                    {"repoURL": repo, "path": path},
                ],
            },
        }

    def problems(destination: str, value_file: str, path: str) -> list[str]:
        found = _check_app(view, Walk(), app(destination, value_file, path))
        return [f.message.removeprefix("Application x: ") for f in found]

    fine = ("$values/clusters/cluster-1/values/istiod.yaml", "clusters/cluster-1")
    assert problems("cluster-1", *fine) == []
    assert problems("in-cluster", *fine) == []
    assert problems("ghost", *fine) == ["destination 'ghost' is not a cluster of the mesh"]
    assert problems("cluster-2", "$values/clusters/cluster-2/values/istiod.yaml", "clusters") == [
        "value file $values/clusters/cluster-2/values/istiod.yaml: "
        "clusters/cluster-2/values/istiod.yaml does not exist in the repository"
    ]
    assert problems("cluster-1", fine[0], "clusters/cluster-9") == [
        "path clusters/cluster-9 does not exist"
    ]
