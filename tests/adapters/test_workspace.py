"""The work-tree adapter: generated-file detection, staged writes, removal, restore."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from meshgen.adapters import workspace
from meshgen.errors import MeshgenError
from meshgen.render.files import YAML_HEADER


def test_plan_and_apply_write_change_and_remove(tmp_path: Path) -> None:
    (tmp_path / "clusters/old").mkdir(parents=True)
    (tmp_path / "clusters/old/a.yaml").write_text(YAML_HEADER + "a: 1\n")
    (tmp_path / "clusters/keep.yaml").write_text(YAML_HEADER + "k: 1\n")
    (tmp_path / "clusters/mine.yaml").write_text("hand: written\n")
    desired = {"clusters/keep.yaml": YAML_HEADER + "k: 1\n", "clusters/new/b.yaml": YAML_HEADER}
    changes = workspace.plan_changes(tmp_path, desired)
    assert list(changes.write) == ["clusters/new/b.yaml"]
    assert changes.remove == ["clusters/old/a.yaml"]
    assert changes.unchanged == 1
    workspace.apply_changes(tmp_path, changes)
    assert not (tmp_path / "clusters/old").exists()  # emptied folders go too
    assert (tmp_path / "clusters/mine.yaml").read_text() == "hand: written\n"
    assert (tmp_path / "clusters/new/b.yaml").read_text() == YAML_HEADER
    assert not workspace.plan_changes(tmp_path, desired)


def test_unwritable_target_fails_cleanly_without_leftovers(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters").chmod(0o500)
    try:
        changes = workspace.plan_changes(tmp_path, {"clusters/x.yaml": YAML_HEADER})
        with pytest.raises(MeshgenError, match="cannot be written"):
            workspace.apply_changes(tmp_path, changes)
    finally:
        (tmp_path / "clusters").chmod(0o700)
    assert list((tmp_path / "clusters").iterdir()) == []


def test_a_file_in_the_way_of_a_folder_stops_before_anything_moves(tmp_path: Path) -> None:
    (tmp_path / "clusters").write_text("not a folder\n")
    desired = {"README.md": "<!-- " + YAML_HEADER[2:], "clusters/a/b.yaml": YAML_HEADER}
    changes = workspace.plan_changes(tmp_path, desired)
    with pytest.raises(MeshgenError):
        workspace.apply_changes(tmp_path, changes)
    assert (tmp_path / "clusters").read_text() == "not a folder\n"
    assert not (tmp_path / "README.md").exists()


def test_generated_mark_is_read_from_the_first_line_only(tmp_path: Path) -> None:
    (tmp_path / "overlays").mkdir()
    (tmp_path / "overlays/late.yaml").write_text("a: 1\n" + YAML_HEADER)
    (tmp_path / "overlays/ok.yaml").write_text(YAML_HEADER + "a: 1\n")
    assert workspace.generated_files(tmp_path) == {"overlays/ok.yaml"}


def test_flux_system_is_never_read_written_or_removed(tmp_path: Path) -> None:
    """`flux bootstrap` owns clusters/<c>/flux-system/, even a file there that looks generated."""
    folder = tmp_path / "clusters/c1/flux-system"
    folder.mkdir(parents=True)
    (folder / "gotk-sync.yaml").write_text(YAML_HEADER + "kind: Kustomization\n")
    (tmp_path / "clusters/c1/stages.yaml").write_text(YAML_HEADER)
    assert workspace.generated_files(tmp_path) == {"clusters/c1/stages.yaml"}
    changes = workspace.plan_changes(tmp_path, {})
    assert changes.remove == ["clusters/c1/stages.yaml"]
    workspace.apply_changes(tmp_path, changes)
    assert (folder / "gotk-sync.yaml").read_text() == YAML_HEADER + "kind: Kustomization\n"
    with pytest.raises(MeshgenError, match="never writes into clusters/c1/flux-system/"):
        workspace.plan_changes(tmp_path, {"clusters/c1/flux-system/x.yaml": YAML_HEADER})


def test_links_below_are_found_in_the_order_os_walk_finds_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    for folder in ("clusters/a/x", "clusters/b", "clusters/c/y/z"):
        (root / folder).mkdir(parents=True)
        (root / folder / "file.yaml").write_text("a: 1\n")
    (root / "clusters/a/to-outside").symlink_to(outside, target_is_directory=True)
    (root / "clusters/c/y/z/file-link.yaml").symlink_to(outside / "nothing.yaml")
    (root / "clusters/b/inside").symlink_to(root / "clusters/a", target_is_directory=True)
    (root / "clusters/top-link").symlink_to(outside, target_is_directory=True)
    expected = [
        (Path(dirpath) / name).relative_to(root).as_posix()
        for dirpath, dirnames, filenames in os.walk(root / "clusters")
        for name in [*dirnames, *filenames]
        if (Path(dirpath) / name).is_symlink()
    ]
    assert len(expected) == 4
    assert list(workspace._links_below(str(root), "clusters")) == expected
    with pytest.raises(MeshgenError, match="out of the repository through the symbolic link"):
        workspace.require_no_links_out(root)


def test_files_in_missing_folders_are_planned_without_looking_at_each(tmp_path: Path) -> None:
    """A folder found missing makes every file in it (and below) absent; a folder that is
    there, a link to one, or a file where a folder should be is looked at file by file."""
    (tmp_path / "clusters" / "c1").mkdir(parents=True)
    (tmp_path / "clusters" / "c1" / "own.yaml").write_text("mine\n")
    (tmp_path / "clusters" / "linked").symlink_to("c1")
    (tmp_path / "overlays").write_text("a file, not a folder\n")
    boundary = workspace.Boundary(tmp_path)
    expected = {
        "clusters/c1/own.yaml": False,
        "clusters/linked/own.yaml": False,
        "clusters/c2/values.yaml": True,
        "clusters/c2/deep/er/file.yaml": True,
        "overlays/x/kustomization.yaml": True,
    }
    for path, missing in expected.items():
        assert boundary.folder_inside(path)
        assert boundary.folder_missing(path) is missing, path
    desired = {
        path: f"{YAML_HEADER}x: 1\n" for path in expected if path != "overlays/x/kustomization.yaml"
    }
    with pytest.raises(MeshgenError, match=r"clusters/c1/own\.yaml: exists but was not generated"):
        workspace.plan_changes(tmp_path, desired)
    del desired["clusters/c1/own.yaml"]
    with pytest.raises(
        MeshgenError, match=r"clusters/linked/own\.yaml: exists but was not generated"
    ):
        workspace.plan_changes(tmp_path, desired)
    del desired["clusters/linked/own.yaml"]
    changes = workspace.plan_changes(tmp_path, desired)
    assert changes.absent == set(desired) and set(changes.write) == set(desired)
