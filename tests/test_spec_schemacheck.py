"""The compiled schema check says "valid" only where jsonschema finds no error.

``spec.validate_schema`` trusts :mod:`meshgen.spec.schemacheck` when it passes a tree and asks
jsonschema otherwise. These tests mutate real meshes and traffic policies (a value replaced, a
key dropped or added, an item added or doubled) and compare the two answers.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import traffic_fixtures
from meshgen import library, spec
from meshgen.errors import SpecError
from meshgen.spec import schema as schema_module
from meshgen.spec.schemacheck import compile_schema
from test_spec_fast_read import MESHES
from test_spec_locations import _paths

POLICIES = {
    "reviews": traffic_fixtures.REVIEWS,
    "timeouts": traffic_fixtures.policy(
        "  clients: [cluster1]\n  timeout: 1s\n  retries: {attempts: 3, perTryTimeout: 2s}\n"
    ),
}

# Values a mutation puts somewhere: each type, edge lengths and numbers, and text that
# matches or breaks the schemas' patterns.
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    3,
    65536,
    1.5,
    2.0,
    "",
    "x",
    "a" * 64,
    "a" * 300,
    "cluster-1",
    "Cluster_1",
    "net-0",
    "1.30.3",
    "1.30",
    "10.0.0.0/16",
    "https://git.example.com/mesh.git",
    "argocd",
    "flux",
    "remote",
    "primary",
    "ambient",
    "sidecar",
    "1s",
    "topology.istio.io/network",
    [],
    ["x"],
    ["x", "x"],
    [1, 1],
    {},
    {"name": "x"},
    {"enabled": True},
]


def _at(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def _keys(schema: Any) -> list[str]:
    """Every property name the schema knows (a mutation adds real keys as well as typos)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return sorted(names)


@st.composite
def mutated(draw: st.DrawFn, trees: dict[str, Any], keys: list[str]) -> Any:
    tree = copy.deepcopy(trees[draw(st.sampled_from(sorted(trees)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(tree)))
        node = _at(tree, path)
        action = draw(st.sampled_from(["replace", "drop", "add", "append", "double"]))
        if action == "replace" and path:
            _at(tree, path[:-1])[path[-1]] = copy.deepcopy(draw(st.sampled_from(VALUES)))
        elif action == "drop" and isinstance(node, dict) and node:
            del node[draw(st.sampled_from(sorted(node)))]
        elif action == "drop" and isinstance(node, list) and node:
            del node[draw(st.integers(min_value=0, max_value=len(node) - 1))]
        elif action == "add" and isinstance(node, dict):
            key = draw(st.sampled_from([*keys, "unknownKey", "Name"]))
            node[key] = copy.deepcopy(draw(st.sampled_from(VALUES)))
        elif action == "append" and isinstance(node, list):
            node.append(copy.deepcopy(draw(st.sampled_from(VALUES))))
        elif action == "double" and isinstance(node, list) and node:
            node.append(copy.deepcopy(node[0]))
    return tree


def jsonschema_valid(schema: dict[str, Any], tree: Any) -> bool:
    validator = schema_module._validator_class(schema)(schema)
    return not any(True for _ in validator.iter_errors(tree))


MESH_TREES = {name: yaml.safe_load(text) for name, text in MESHES.items()}
POLICY_TREES = {name: yaml.safe_load(text) for name, text in POLICIES.items()}


@pytest.mark.parametrize("which", ["mesh", "traffic"])
def test_shipped_schemas_compile(which: str) -> None:
    schema = library.mesh_schema() if which == "mesh" else library.traffic_schema()
    assert compile_schema(schema) is not None


@pytest.mark.parametrize("name", sorted(MESH_TREES))
def test_valid_meshes_pass(name: str) -> None:
    check = compile_schema(library.mesh_schema())
    assert check is not None and check(MESH_TREES[name])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(MESH_TREES, _keys(library.mesh_schema())))
def test_mesh_mutations_agree_with_jsonschema(tree: Any) -> None:
    schema = library.mesh_schema()
    check = compile_schema(schema)
    assert check is not None
    assert check(tree) == jsonschema_valid(schema, tree)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(POLICY_TREES, _keys(library.traffic_schema())))
def test_traffic_mutations_agree_with_jsonschema(tree: Any) -> None:
    schema = library.traffic_schema()
    check = compile_schema(schema)
    assert check is not None
    assert check(tree) == jsonschema_valid(schema, tree)


def test_undecided_cases_go_to_jsonschema() -> None:
    """An enum number written as a float and a list of numbers under uniqueItems are left
    to jsonschema (False here), which accepts the first and judges the second."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "size": {"enum": [1, 2]},
            "ports": {"type": "array", "uniqueItems": True},
        },
    }
    check = compile_schema(schema)
    assert check is not None
    assert check({"size": 1, "ports": ["a", "b"]})
    assert not check({"size": 1.0}) and jsonschema_valid(schema, {"size": 1.0})
    assert not check({"ports": [1, 2]}) and jsonschema_valid(schema, {"ports": [1, 2]})
    assert not check({"ports": [1, True]}) and jsonschema_valid(schema, {"ports": [1, True]})
    bounded = {"type": "object", "properties": {"n": {"minimum": 1}}}
    bounded_check = compile_schema(bounded)
    assert bounded_check is not None
    assert bounded_check({"n": 2}) and bounded_check({"n": "text"}) and not bounded_check({"n": 0})
    assert not bounded_check({"n": Decimal(0)}) and not jsonschema_valid(bounded, {"n": Decimal(0)})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "patternProperties": {"^x": {}}},
        {"oneOf": [{"type": "string"}]},
        {"$ref": "https://example.com/other.json"},
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
    ],
)
def test_a_schema_beyond_the_subset_is_not_compiled(schema: dict[str, Any]) -> None:
    assert compile_schema(schema) is None


def test_errors_are_still_worded_by_jsonschema() -> None:
    text = MESHES["minimal"].replace("meshID: ", "meshId: ", 1)
    with pytest.raises(SpecError, match="unknown key; did you mean 'meshID'"):
        spec.parse(text)
