"""What the checks read from a repository: YAML streams split into documents."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from meshgen.validation.repository import _split_lines, split_documents

# Lines of the kinds a YAML stream has, and those a document marker can be mistaken for.
LINE = st.sampled_from(
    ["---", "--- ", "--- # c", "---a", " ---", "----", "a: 1", "", "  - x", "...", "---\t"]
)
BREAK = st.sampled_from(["\n", "\n", "\r\n", "\r", "\x0c", "\u2028"])


@given(st.lists(st.tuples(LINE, BREAK), max_size=30), st.booleans())
@settings(max_examples=300, deadline=None, derandomize=True)
def test_documents_and_their_lines_are_those_of_a_line_by_line_split(
    lines: list[tuple[str, str]], ends_with_break: bool
) -> None:
    text = "".join(line + brk for line, brk in lines)
    if not ends_with_break and text:
        text = text[: -len(lines[-1][1])]
    assert split_documents(text) == _split_lines(text)


def test_a_helm_render_splits_at_its_markers() -> None:
    text = "---\n# Source: a\nkind: A\n---\n\n--- # b\nkind: B\n---"
    assert split_documents(text) == [(2, "# Source: a\nkind: A\n"), (7, "kind: B\n")]
