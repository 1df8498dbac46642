"""spec.locations: the line of a mesh.yaml field, from the round-trip tree or from the text."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from meshgen.spec.locations import line_of, text_line_of
from meshgen.spec.yamlio import round_trip_tree

TEXT = """\
# A mesh of odd shapes: comments, flow style, quotes, aliases.
apiVersion: meshgen.dev/v1alpha3

meshID: "mesh-1"   # quoted
istio: {version: 1.30.3, revision: stable}
defaults: &defaults
  labels:
    team: payments
networks:
  - name: net-a
    eastWestGateway: true
  -
    name: net-b
clusters:
  - name: "cluster-1"
    network: net-a
    labels: {'tier': gold, zone: "a"}
    trust:
      ca:
        expires: '2026-01-01T00:00:00Z'
  - name: cluster-2
    network: net-b
    extra: *defaults
    istio:
      - 1.29.6
      -   1.30.3
  - {name: cluster-3, network: net-a}
'key with space': [1, [2, 3], {deep: x}]
"""


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def test_text_lines_equal_round_trip_lines_for_every_field() -> None:
    tree = round_trip_tree(TEXT)
    paths = _paths(yaml.safe_load(TEXT))
    assert len(paths) > 40
    for path in paths:
        assert text_line_of(TEXT, path) == line_of(tree, path), path


@pytest.mark.parametrize(
    "path",
    [
        ["clusters", 7, "name"],  # no such index
        ["clusters", -1],
        ["clusters", 0, "trust", "remoteSecret", "expires"],  # not set: its parent's line
        ["meshID", "deeper"],  # below a scalar
        ["nothing"],
        ["clusters", "name"],  # a key where a list is
    ],
)
def test_a_path_the_file_does_not_set_gives_the_line_of_its_deepest_part(path: list[Any]) -> None:
    assert text_line_of(TEXT, path) == line_of(round_trip_tree(TEXT), path)


def test_text_that_is_no_yaml_gives_line_one() -> None:
    assert text_line_of("a: [1,\n", ["a"]) == 1
