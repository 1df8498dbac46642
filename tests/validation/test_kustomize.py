"""Which folders check 3 builds, and how it batches them."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from helpers import commit_rendered, require_upstream, two_network_mesh
from meshgen import spec
from meshgen.adapters import kustomize
from meshgen.validation.engines import engine_module
from meshgen.validation.kustomize import (
    entry_points,
    kustomizations,
    offline_stand_ins,
    plan_batches,
    plan_builds,
    renamable,
)
from meshgen.validation.repository import RepoView


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


def _all_folders(view: RepoView) -> list[str]:
    found, _ = kustomizations(view)
    return sorted(f for f, c in found.items() if c.get("kind", "Kustomization") == "Kustomization")


def _canonical(result: object) -> object:
    if isinstance(result, list):
        return sorted(json.dumps(o, sort_keys=True) for o in result)
    return str(result)


RBAC = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: reader
  namespace: istio-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: istio-system
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
  namespace: istio-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
  - {kind: ServiceAccount, name: reader, namespace: istio-system}
"""


@pytest.mark.parametrize("engine", ["argocd", "flux", "ambient"])
def test_renamed_batches_build_what_each_folder_builds_alone(
    tmp_path: Path, tools: dict[str, Path], engine: str
) -> None:
    """Folders of one template share a renamed batch; every folder of the repository (entry
    point or not) gets exactly the objects it gets built alone, names and references to
    them included."""
    if engine == "ambient":
        from render.test_ambient import ambient

        document = ambient()
    else:
        tree = copy.deepcopy(two_network_mesh().tree)
        tree["gitops"] = {"engine": engine}
        document = spec.from_tree(tree)
    root = commit_rendered(tmp_path / "repo", document)
    for cluster in ("cluster-1", "cluster-2"):  # references kustomize rewrites with a prefix
        folder = root / "clusters" / cluster / "rbac"
        folder.mkdir()
        (folder / "rbac.yaml").write_text(RBAC)
        (folder / "kustomization.yaml").write_text("resources: [rbac.yaml]\n")
    view = RepoView(root=root, document=document)
    if engine == "ambient":  # the Gateway API release, built from its CRDs, never fetched
        from meshgen.validation.ambient import offline_copy
        from meshgen.validation.schemas import crd_index

        crds = crd_index([require_upstream("gateway-api/v1.4.1/crds") / "gateway-api/v1.4.1/crds"])
        view.offline_copy = lambda url: offline_copy(url, crds)
        offline_stand_ins(view, kustomizations(view)[0])
    module = engine_module(document.mesh.engine)
    if module is not None and hasattr(module, "stand_ins"):
        view.stand_ins.update(module.stand_ins(view))
    folders = _all_folders(view)
    batches, renamed = plan_builds(view, folders)
    shared = [
        b
        for i, b in enumerate(batches)
        if i in renamed and len({re.sub(r"cluster-\d", "*", f) for f in b}) < len(b)
    ]
    assert shared, batches  # folders of one template do share a batch
    if engine == "ambient":  # the Gateway API CRDs cannot be renamed: batched by template
        assert not any(renamable(view, f) for f in folders if f.endswith("gateway-api-crds"))
    packed = kustomize.build_batches(root, batches, 2, view.stand_ins, renamed=renamed)
    alone = kustomize.build_batches(root, [[f] for f in folders], 2, view.stand_ins)
    assert {f: _canonical(packed[f]) for f in folders} == {f: _canonical(alone[f]) for f in folders}
    rbac = packed["clusters/cluster-1/rbac"]
    assert isinstance(rbac, list)
    binding = next(o for o in rbac if o["kind"] == "RoleBinding")
    assert binding["roleRef"]["name"] == "reader"
    assert binding["subjects"][0]["name"] == "reader"


@pytest.mark.parametrize(
    ("folder", "named"),
    [
        ("clusters/c1", "applications/istiod.yaml"),
        ("clusters/c1", "../../overlays/base"),
        ("clusters/c1", "/etc/passwd"),
        ("", "base"),
        ("overlays/", "base"),
        ("a", ""),
        ("a", "b//c/"),
    ],
)
def test_a_named_path_is_joined_as_posixpath_joins_it(folder: str, named: str) -> None:
    import posixpath

    from meshgen.validation.kustomize import _join

    assert _join(folder, named) == posixpath.join(folder, named)


def test_what_a_path_is_comes_from_one_listing_of_its_folder(tmp_path: Path) -> None:
    """The kind of a path relative to the root, as os.path.isdir/isfile see it (links
    followed), doubled slashes too; each folder listed once."""
    from meshgen.validation.kustomize import _kind_of

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "file.yaml").write_text("x: 1\n")
    (tmp_path / "a" / "link").symlink_to("b")
    (tmp_path / "top.yaml").write_text("x: 1\n")
    view = RepoView(root=tmp_path, document=None)
    expected = {
        "a": "dir",
        "a/b": "dir",
        "a//b": "dir",
        "a/link": "dir",
        "a/file.yaml": "file",
        "top.yaml": "file",
        "a/missing": None,
        "missing/x": None,
        ".": "dir",
    }
    assert {rel: _kind_of(view, rel) for rel in expected} == expected
    assert sorted(view.context["listings"]) == [".", "a", "missing"]


STREAMS = [
    "a: 1\n---\nb: [1, 2]\n",
    "---\na: 1\n---\n# only a comment\n---\nb: {c: null}\n",
    "a: 1\n---\n\n---\nb: 2\n",
    "a: 1\n...\n---\nb: 2\n",
    "--- |\n  text\n---\nb: 2\n",
    "a: 2024-01-01\n---\nb: 0x1f\n---\nc: yes\n",
    "a: &x [1]\nb: *x\n---\nc: 1\r\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: 1\n---\nb: [1\n",
    "a: 1\n---",
]


@pytest.mark.parametrize("text", STREAMS)
def test_documents_remembered_by_their_text_read_as_the_whole_stream_reads(text: str) -> None:
    import yaml

    from meshgen import yamlload
    from meshgen.validation.cache import Cache, Table
    from meshgen.validation.kustomize import _parse_remembered

    memo = Table(Cache.disabled(), "kustomize-documents", "test")
    try:
        expected: list[object] | type[Exception] = list(yamlload.load_all(text))
    except yaml.YAMLError as exc:
        expected = type(exc)
    for _ in range(2):  # the second time from what the first remembered
        if isinstance(expected, type):
            with pytest.raises(expected):
                _parse_remembered(memo, text)
            continue
        assert [d for d in _parse_remembered(memo, text) if d is not None] == [
            d for d in expected if d is not None
        ]
        memo.known.update(memo.added)


def test_a_remembered_document_is_read_from_the_memo_and_given_as_a_new_object() -> None:
    import hashlib

    from meshgen.validation.cache import Cache, Table
    from meshgen.validation.kustomize import _parse_remembered

    memo = Table(Cache.disabled(), "kustomize-documents", "test")
    first = _parse_remembered(memo, "a: 1\n---\nb: 2\n")
    assert first == [{"a": 1}, {"b": 2}]
    key = hashlib.sha256(b"b: 2\n").hexdigest()
    assert memo.added[key] == '{"b":2}'
    memo.known.update(memo.added)
    memo.known[key] = '{"b":"from the memo"}'  # proof that it is read, not parsed again
    again = _parse_remembered(memo, "a: 1\n---\nb: 2\n")
    assert again == [{"a": 1}, {"b": "from the memo"}]
    again[0]["a"] = 5  # the caller's to change: the memo keeps its text
    assert _parse_remembered(memo, "a: 1\n---\nb: 2\n")[0] == {"a": 1}
