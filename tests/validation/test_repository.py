"""What the checks read from a repository: YAML streams split into documents."""

from __future__ import annotations

from pathlib import Path

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


def test_the_yaml_files_of_the_links_walk_are_those_yaml_files_finds(tmp_path: Path) -> None:
    from meshgen.adapters import workspace
    from meshgen.validation.repository import RepoView

    root = tmp_path / "repo"
    for folder in ("clusters/a/x", "clusters/b", "overlays/base/y", "bootstrap"):
        (root / folder).mkdir(parents=True)
        (root / folder / "file.yaml").write_text("a: 1\n")
        (root / folder / "notes.md").write_text("# notes\n")
    (root / "clusters/b/other.yml").write_text("b: 2\n")
    (root / "clusters/b/.yaml").write_text("hidden\n")  # no suffix, as splitext reads it
    (root / "clusters/b/linked.yaml").symlink_to(root / "clusters/a/x/file.yaml")
    (root / "clusters/b/broken.yaml").symlink_to(root / "clusters/a/gone.yaml")
    (root / "clusters/b/folder.yaml").mkdir()
    (root / "clusters/b/folder.yaml/inner.yaml").write_text("c: 3\n")
    (root / "clusters/b/to-folder.yaml").symlink_to(root / "clusters/a", target_is_directory=True)
    (root / "stray.yaml").write_text("not under a generated folder\n")
    walked = RepoView(root=root, document=None)
    walked.walked(workspace.require_no_links_out(root))
    listed = RepoView(root=root, document=None).yaml_files()
    assert walked.yaml_files() == listed
    assert "clusters/b/linked.yaml" in listed and "clusters/b/folder.yaml/inner.yaml" in listed
    assert not {"clusters/b/broken.yaml", "clusters/b/to-folder.yaml", "stray.yaml"} & {*listed}
