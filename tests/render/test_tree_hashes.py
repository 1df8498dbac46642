"""The rendered tree of every rendering fixture, pinned by its sha256.

Work on speed (how mesh.yaml is read, how YAML is written, what a render reads back or skips)
must not change one byte of output. Each case renders a fixture the suite uses (the conformance
scenarios under both engines, the README example, ambient, traffic, upgrade states, the bench
mesh) and compares the sha256 of the whole tree with ``tree_hashes.json``, recorded from the
renderer before that work. Two cases go through the real ``meshgen render`` in a Git
repository, so the reading and writing paths are pinned too, mesh.yaml's version record
included.

A deliberate change of the output updates the record:
``MESHGEN_UPDATE_TREE_HASHES=1 pytest tests/render/test_tree_hashes.py``; review its diff.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import traffic_fixtures
import upgrade_fixtures
from helpers import GIT_ENV, REPO_ROOT, git, tree_bytes, two_network_mesh
from meshgen import __version__, library, spec, traffic
from meshgen.render import render_repository
from render.test_ambient import AMBIENT_MESH
from render.test_conformance import SCENARIOS

RECORD = Path(__file__).with_name("tree_hashes.json")
UPDATE_ENV = "MESHGEN_UPDATE_TREE_HASHES"
# A fixed age recipient: the sops provider only names it in .sops.yaml.
AGE_RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

sys.path.insert(0, str(REPO_ROOT / "bench"))
import scale  # noqa: E402  (bench/scale.py: the mesh shape the benchmarks measure)


def tree_hash(files: dict[str, bytes]) -> str:
    """One sha256 over every (path, bytes), in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + str(len(files[path])).encode() + b"\0")
        digest.update(files[path])
    return digest.hexdigest()


def _with(document: spec.MeshDocument, **top: object) -> spec.MeshDocument:
    tree = copy.deepcopy(document.tree)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key].update(value)
        else:
            tree[key] = value
    return spec.from_tree(tree)


def _from_text(text: str) -> Callable[[], spec.MeshDocument]:
    return lambda: spec.parse(text)


def _cases() -> dict[str, Callable[[], tuple[spec.MeshDocument, str]]]:
    """name -> (mesh document, traffic policies as {path: text}) to render."""
    meshes: dict[str, Callable[[], spec.MeshDocument]] = {}
    for name, build in SCENARIOS.items():
        meshes[f"conformance/{name}/argocd"] = build
        meshes[f"conformance/{name}/flux"] = lambda build=build: _with(
            build(), gitops={"engine": "flux"}
        )
    example = two_network_mesh
    meshes["example/two-networks"] = example
    meshes["example/two-networks/flux"] = lambda: _with(example(), gitops={"engine": "flux"})
    meshes["example/two-networks/sealed-secrets"] = lambda: _with(
        example(), secrets={"provider": "sealed-secrets"}
    )
    meshes["example/two-networks/sops"] = lambda: _with(
        example(),
        gitops={"engine": "flux"},
        secrets={"provider": "sops", "sops": {"ageRecipients": [AGE_RECIPIENT]}},
    )
    meshes["ambient/argocd"] = _from_text(AMBIENT_MESH)
    meshes["ambient/flux"] = lambda: _with(spec.parse(AMBIENT_MESH), gitops={"engine": "flux"})
    for name in ("TWO_NETWORKS", "ONE_NETWORK", "PRIMARY_REMOTE", "EXTERNAL"):
        meshes[f"traffic-meshes/{name.lower()}"] = _from_text(getattr(traffic_fixtures, name))
    meshes["upgrade/three-clusters"] = _from_text(upgrade_fixtures.three_clusters())
    meshes["upgrade/canary"] = _from_text(
        upgrade_fixtures.three_clusters({"cluster-1": upgrade_fixtures.canary_state()})
    )
    meshes["upgrade/external-control-plane"] = _from_text(upgrade_fixtures.external_control_plane())
    meshes["upgrade/ambient-primaries"] = _from_text(upgrade_fixtures.ambient_primaries())
    for size in (10, 100):
        meshes[f"bench/scale-{size}"] = _from_text(scale.mesh_text(size))
    cases: dict[str, Callable[[], tuple[spec.MeshDocument, str]]] = {
        name: (lambda build=build: (build(), "")) for name, build in meshes.items()
    }
    cases["traffic/reviews"] = lambda: (
        spec.parse(traffic_fixtures.TWO_NETWORKS),
        traffic_fixtures.REVIEWS,
    )
    return cases


CASES = _cases()


def render_case(name: str) -> dict[str, bytes]:
    document, reviews = CASES[name]()
    # Through the text, as a command reads it: the reading path is part of what is pinned.
    document = spec.parse(spec.to_text(document))
    policies = None
    if reviews:
        policies = traffic.parse_files({"traffic/reviews.yaml": reviews})
        traffic.check(document.mesh, policies)
    files = render_repository(document.mesh, library.load(), policies)
    return {path: text.encode("utf-8") for path, text in files.items()}


def recorded() -> dict[str, str]:
    return json.loads(RECORD.read_text()) if RECORD.is_file() else {}


def check(name: str, value: str) -> None:
    if os.environ.get(UPDATE_ENV):
        record = recorded()
        record[name] = value
        RECORD.write_text(json.dumps(dict(sorted(record.items())), indent=1) + "\n")
        return
    expected = recorded().get(name)
    assert expected is not None, f"{name}: no recorded hash; set {UPDATE_ENV}=1 to record it"
    assert value == expected, f"{name}: the rendered tree changed"


@pytest.mark.parametrize("name", list(CASES))
def test_rendered_tree_is_unchanged(name: str) -> None:
    files = render_case(name)
    assert len(files) > 5
    check(name, tree_hash(files))


@pytest.mark.parametrize("name", ["example/two-networks", "bench/scale-10"])
def test_render_command_writes_the_same_tree(name: str, tmp_path: Path) -> None:
    document, _ = CASES[name]()
    root = tmp_path / "mesh"
    root.mkdir()
    (root / spec.MESH_FILE).write_text(spec.to_text(document))
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=env)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "mesh")
    command = [sys.executable, "-m", "meshgen", "render", "--repo", str(root)]
    subprocess.run(command, check=True, capture_output=True, env=env)
    files = tree_bytes(root)
    mesh_text = files[spec.MESH_FILE].decode()
    # The recorded version is this meshgen's: pin the tree without it, so a release bump
    # does not count as a change of output.
    files[spec.MESH_FILE] = mesh_text.replace(__version__, "VERSION").encode()
    assert f'meshgenVersion: "{__version__}"' in mesh_text
    check(f"command/{name}", tree_hash(files))
    # A second render finds everything up to date and changes nothing.
    before = tree_bytes(root)
    subprocess.run(command, check=True, capture_output=True, env=env)
    subprocess.run([*command, "--check"], check=True, capture_output=True, env=env)
    assert tree_bytes(root) == before
