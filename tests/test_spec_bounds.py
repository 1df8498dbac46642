"""What keeps mesh.yaml's parser bounded, at the edges: what passes just does."""

from __future__ import annotations

import pytest

from helpers import MINIMAL_MESH
from meshgen import spec
from meshgen.errors import MeshgenError
from meshgen.spec import yamlio


def test_brackets_in_quotes_and_comments_do_not_count() -> None:
    deep = "[" * 40
    text = MINIMAL_MESH + f"# {deep}\n" + f"x: '{deep}'\n" + f'y: "\\"{deep}"\n'
    yamlio.check_bounds(text)  # no error: quoted and commented brackets are text


def test_the_limits_admit_what_they_name() -> None:
    yamlio.check_bounds("a: " + "[" * yamlio.MAX_FLOW_DEPTH + "]" * yamlio.MAX_FLOW_DEPTH)
    with pytest.raises(MeshgenError, match="brackets nested more than 32"):
        yamlio.check_bounds("a: " + "[" * 33 + "]" * 33)
    indent = " " * yamlio.MAX_INDENT
    yamlio.check_bounds(f"a:\n{indent}b: 1\n")
    with pytest.raises(MeshgenError, match="nested more than 256 columns"):
        yamlio.check_bounds(f"a:\n {indent}b: 1\n")


def test_tabs_line_breaks_and_unicode_are_fine_control_characters_are_not() -> None:
    yamlio.check_bounds("a: 'tab\there, ü, 名前, emoji \U0001f600'\r\n")
    for char in ("\x00", "\x07", "\x1b", "\x7f", "\ufffe"):
        with pytest.raises(MeshgenError, match=f"U\\+{ord(char):04X}"):
            yamlio.check_bounds(f"a: 1\nb: x{char}\n")


def test_a_valid_mesh_with_values_at_the_limits_parses() -> None:
    text = MINIMAL_MESH.replace("meshID: mesh1", "meshID: mesh1\nkubernetesVersion: '1.33'")
    document = spec.parse(text + "# " + "x" * 20000 + "\n")  # comments are not values
    assert document.mesh.mesh_id == "mesh1"
