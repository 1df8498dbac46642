"""Reading mesh.yaml with libyaml gives exactly what the round-trip parser gives.

``spec.parse`` reads a plain, current mesh.yaml with libyaml and types its scalars by ruamel's
YAML 1.2 rules; anything unusual goes to ruamel. These tests hold the two paths to the same
data, the same model, the same errors and the same text written back.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import traffic_fixtures
import upgrade_fixtures
from helpers import MINIMAL_MESH, REPO_ROOT
from meshgen import spec
from meshgen.errors import MeshgenError
from meshgen.spec import yamlio
from meshgen.spec.model import _plain
from render.test_yamltext import TRAPS

sys.path.insert(0, str(REPO_ROOT / "bench"))
import scale

MESHES = {
    "minimal": MINIMAL_MESH,
    "bench-10": scale.mesh_text(10),
    "two-networks": traffic_fixtures.TWO_NETWORKS,
    "primary-remote": traffic_fixtures.PRIMARY_REMOTE,
    "external": traffic_fixtures.EXTERNAL,
    "canary": upgrade_fixtures.three_clusters({"cluster-1": upgrade_fixtures.canary_state()}),
    "ambient": upgrade_fixtures.ambient_primaries(),
}


def typed(value: Any) -> str:
    """Data with its types spelled out (so True != 1 and "1" != 1)."""

    def tag(node: Any) -> Any:
        if isinstance(node, dict):
            return {str(k): tag(v) for k, v in node.items()}
        if isinstance(node, list):
            return [tag(v) for v in node]
        return [type(node).__mro__[-2].__name__ if type(node) is not bool else "bool", node]

    return json.dumps(tag(value), sort_keys=True, default=str)


def round_trip_data(text: str) -> Any:
    return _plain(yamlio.round_trip_tree(text))


@pytest.mark.parametrize("name", list(MESHES))
def test_fixtures_read_by_libyaml_equal_the_round_trip_reading(name: str) -> None:
    text = MESHES[name]
    plain = yamlio.plain_tree(text)
    assert plain is not None, "a plain mesh.yaml takes the fast path"
    assert typed(plain) == typed(round_trip_data(text))
    fast = spec.parse(text)
    assert fast.text == text  # read by libyaml: the round-trip tree is not parsed yet
    slow = spec.from_tree(yamlio.round_trip_tree(text))
    assert fast.mesh == slow.mesh
    assert spec.to_text(fast) == spec.to_text(slow)
    assert fast.text is None  # asked for the tree: from now on it is the truth


# The writer's traps, and what else a hand-written mesh.yaml may hold.
SCALARS = [
    *TRAPS,
    *("Null", "TRUE", "0o17", ".inf", "+1", "-1", "0", "00", "2020-01-01T10:00:00Z", "="),
    *("1:20:30", "<<", "a b", "'it''s'", '"dq \\t \\/ \\u00e9"', "|\n  block\n  text\n"),
    *(">-\n  folded\n  text\n", "plain\n  folded", "[a, 1, yes]", "{a: 1, b: off}"),
    *("https://x/y?a=1", "*alias", "&anchor v", "!!str 1", "!custom x", "- a\n- b"),
    *("#comment-only", "9223372036854775808"),
]


@pytest.mark.parametrize("scalar", SCALARS)
def test_every_scalar_reads_the_same_or_goes_to_ruamel(scalar: str) -> None:
    text = f"key: {scalar}\nother: 1\n" if "\n" not in scalar else f"key: {scalar}other: 1\n"
    if scalar.startswith("- "):
        text = f"key:\n{scalar}\nother: 1\n"
    plain = yamlio.plain_tree(text)
    try:
        expected = round_trip_data(text)
    except Exception:  # ruamel refuses it: so must the fast path (it hands it over)
        assert plain is None
        return
    if plain is not None:
        assert typed(plain) == typed(expected)


def test_duplicate_keys_are_left_to_ruamel_which_names_the_line() -> None:
    text = MINIMAL_MESH + "meshID: again\n"
    assert yamlio.plain_tree(text) is None
    with pytest.raises(MeshgenError, match=r"mesh.yaml:8"):
        spec.parse(text)


def test_a_schema_error_names_its_line_as_before() -> None:
    text = MINIMAL_MESH.replace("clusters: []", "clusters:\n  - name: a\n    netwrk: n1\n")
    assert yamlio.plain_tree(text) is not None  # valid YAML, invalid mesh
    with pytest.raises(MeshgenError) as raised:
        spec.parse(text)
    assert str(raised.value).startswith("mesh.yaml:9: clusters[0].netwrk: unknown key")


def test_an_older_api_version_is_migrated_by_the_round_trip_path() -> None:
    text = MINIMAL_MESH.replace("meshgen.io/v1alpha1", "meshgen.io/v0")
    assert yamlio.plain_tree(text) is not None
    with pytest.raises(MeshgenError, match="apiVersion"):
        spec.parse(text)


def test_comments_survive_an_edit_of_a_document_read_by_libyaml() -> None:
    text = MINIMAL_MESH.replace("meshID: mesh1", "meshID: mesh1  # the mesh")
    document = spec.parse(text)
    assert document.text == text
    updated, _ = spec.add_cluster(document, spec.NewCluster("c1", "n1"))
    assert "meshID: mesh1  # the mesh" in spec.to_text(updated)


KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_.", min_size=1, max_size=8)
LEAVES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.text(max_size=12),
    st.none(),
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=5))
def test_any_data_written_by_ruamel_reads_the_same_both_ways(data: dict[str, Any]) -> None:
    import io

    stream = io.StringIO()
    yaml = yamlio._round_trip_yaml()
    yaml.dump(data, stream)
    text = stream.getvalue()
    plain = yamlio.plain_tree(text)
    if plain is not None:
        assert typed(plain) == typed(round_trip_data(text))


def _recorded_by_round_trip(text: str, version: str) -> str:
    document = spec.from_tree(yamlio.round_trip_tree(text))
    return spec.to_text(spec.record_meshgen_version(document, version))


@pytest.mark.parametrize(
    "text",
    [
        scale.mesh_text(3),
        scale.mesh_text(3).replace("kind: Mesh\n", 'kind: Mesh\nmeshgenVersion: "0.1.0"\n'),
        scale.mesh_text(3).replace("kind: Mesh\n", "kind: Mesh\n# the mesh\n\n"),
        MESHES["canary"],
    ],
)
def test_the_version_line_is_what_the_round_trip_path_writes(text: str) -> None:
    document = spec.parse(text)
    recorded = yamlio.with_version_line(document, "9.9.9")
    assert recorded is not None, "simple lines take the text path"
    assert spec.to_text(recorded) == _recorded_by_round_trip(text, "9.9.9")
    assert recorded.mesh.meshgen_version == "9.9.9"
    assert recorded.mesh == spec.parse(spec.to_text(recorded)).mesh


@pytest.mark.parametrize(
    "change",
    [
        ("kind: Mesh\n", "kind: Mesh  # ours\n"),
        ("kind: Mesh\n", 'kind: Mesh\nmeshgenVersion: "0.1.0"  # pinned\n'),
        ("kind: Mesh\n", "kind: 'Mesh'\n"),
    ],
)
def test_other_lines_are_recorded_by_the_round_trip_path(change: tuple[str, str]) -> None:
    text = scale.mesh_text(3).replace(*change)
    document = spec.parse(text)
    assert yamlio.with_version_line(document, "9.9.9") is None
    recorded = spec.record_meshgen_version(document, "9.9.9")
    assert spec.to_text(recorded) == _recorded_by_round_trip(text, "9.9.9")


def test_recording_the_version_leaves_the_rest_of_the_file_as_written() -> None:
    # Sequences flush with their key: ruamel would indent them when it writes the tree.
    text = MINIMAL_MESH.replace("networks: []", "networks:\n- name: n1").replace(
        "clusters: []", "clusters:\n- name: c1\n  network: n1"
    )
    recorded = spec.record_meshgen_version(spec.parse(text), "9.9.9")
    assert spec.to_text(recorded) == text.replace(
        "kind: Mesh\n", 'kind: Mesh\nmeshgenVersion: "9.9.9"\n'
    )


@pytest.mark.parametrize(
    "text",
    [
        scale.mesh_text(3),
        scale.mesh_text(3).replace("kind: Mesh\n", 'kind: Mesh\nmeshgenVersion: "0.1.0"\n'),
        scale.mesh_text(3).replace("kind: Mesh\n", "kind: Mesh\nmeshgenVersion: 0.1.0\n"),
        scale.mesh_text(3).replace("kind: Mesh\n", "kind: Mesh\n# the mesh\n\n"),
    ],
)
def test_a_version_line_where_libyaml_placed_the_entry_is_not_read_again(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libyaml's first reading placed the edited entry on the line the text edit found:
    the new text is not parsed again, and gives what parsing it again gives."""
    document = spec.parse(text)
    monkeypatch.setattr(yamlio, "plain_tree", lambda _text: pytest.fail("read again"))
    recorded = yamlio.with_version_line(document, "9.9.9")
    monkeypatch.undo()
    assert recorded is not None and recorded.text is not None
    again = yamlio.plain_tree(recorded.text)
    assert typed(recorded.data) == typed(again) and list(recorded.data) == list(again)
    assert recorded.mesh == spec.parse(recorded.text).mesh


def test_a_kind_line_inside_a_quoted_value_is_not_taken_for_the_entry() -> None:
    """libyaml accepts a quoted value continued at column 0: its ``kind: Mesh`` line is the
    only one the text edit finds, but not the entry (written ``kind: "Mesh"``). The text is
    read again, and the edit refused (the round-trip tree records the version)."""
    text = scale.mesh_text(3).replace("kind: Mesh\n", 'kind: "Mesh"\n')
    text = text.replace(
        "  url: https://git.example.com/bench.git\n",
        '  url: https://git.example.com/bench.git\n  revision: "main\nkind: Mesh\n  "\n',
    )
    document = spec.parse(text)
    assert document.data["repository"]["revision"] == "main kind: Mesh "
    assert (document.entry_lines or {}).get("kind") == text.split("\n").index('kind: "Mesh"')
    assert yamlio.with_version_line(document, "9.9.9") is None
    recorded = spec.record_meshgen_version(document, "9.9.9")
    assert recorded.mesh.meshgen_version == "9.9.9"
    assert spec.parse(spec.to_text(recorded)).data["repository"]["revision"] == "main kind: Mesh "
