"""The tree cache: files whose lstat is unchanged are not read again, and every change by hand
is still seen (render --check, hand-edit protection, links out of the repository)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import MINIMAL_MESH, git, run_cli
from meshgen import manifest
from meshgen.adapters import lock, tree_cache, workspace
from meshgen.errors import MeshgenError
from meshgen.render.files import YAML_HEADER

FILES = {f"clusters/c{n}/values.yaml": f"{YAML_HEADER}n: {n}\n" for n in range(5)}
FILES[manifest.PATH] = manifest.text(FILES)  # the record the hand-edit protection reads


def repository(root: Path, locked: bool = True) -> Path:
    """A new Git repository; ``locked``: this process holds its lock, as a command that
    writes does (only such a command writes the cache)."""
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    if locked:
        lock.acquire(root)
    return root


def settle(root: Path) -> None:
    """Wait until the files just written are old enough for the cache to trust them."""
    coarse = any((root / path).stat().st_ctime_ns % 1_000_000_000 == 0 for path in FILES)
    slack = tree_cache.COARSE_SLACK_NS if coarse else tree_cache.FINE_SLACK_NS
    time.sleep(slack / 1e9 + 0.05)


def count_reads(monkeypatch: pytest.MonkeyPatch, root: Path | None = None) -> list[str]:
    """A list that grows by the path of each file read whole: by the planning (relative)
    and, relative to ``root``, by the walk of the generated folders."""
    reads: list[str] = []
    original = workspace.Boundary.read
    walked = workspace._read_walked

    def read(self: workspace.Boundary, path: str) -> bytes | None:
        reads.append(path)
        return original(self, path)

    def read_walked(path: str) -> tuple[os.stat_result, bytes] | None:
        reads.append(Path(path).relative_to(root).as_posix() if root else path)
        return walked(path)

    monkeypatch.setattr(workspace.Boundary, "read", read)
    monkeypatch.setattr(workspace, "_read_walked", read_walked)
    return reads


def edit_in_place(target: Path) -> None:
    """Change the last character of ``target``, keeping its size and modification time."""
    before = target.stat()
    text = target.read_text()
    target.write_text(text[:-2] + ("x" if text[-2] != "x" else "y") + "\n")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # as if never touched
    assert target.stat().st_size == before.st_size


def count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """A list that grows by one at each call of ``module.name`` (which still runs)."""
    calls: list[int] = []
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def written(root: Path) -> None:
    workspace.apply_changes(root, workspace.plan_changes(root, FILES))
    settle(root)


def test_unchanged_files_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    reads = count_reads(monkeypatch, root)
    # Just written: read once more (they could still change unseen), then never again.
    first = workspace.plan_changes(root, FILES)
    assert not first and first.unchanged == len(FILES)
    assert sorted(reads) == sorted(FILES)
    reads.clear()
    second = workspace.plan_changes(root, FILES)
    assert not second and second.unchanged == len(FILES)
    assert reads == []
    tree_cache.flush(root)  # as apply_changes does once the change is written
    assert (lock.state_dir(root) / tree_cache.CACHE_FILE).is_file()
    assert subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--ignored"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines() == ["?? .meshgen/", "?? clusters/"]  # no cache in the work tree


def test_a_tree_the_cache_does_not_know_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone (or a deleted cache): each file is read once, by the walk that looks
    for the mark, and compared with the render from that reading; a file changed on disk
    is still written, a file no render wants still removed."""
    root = repository(tmp_path / "repo")
    written(root)
    (lock.state_dir(root) / tree_cache.CACHE_FILE).unlink()
    (root / "clusters/c2/values.yaml").write_text(f"{YAML_HEADER}n: changed\n")
    stale = root / "clusters/c9/values.yaml"
    stale.parent.mkdir()
    stale.write_text(f"{YAML_HEADER}n: 9\n")
    reads = count_reads(monkeypatch, root)
    changes = workspace.plan_changes(root, FILES)
    assert list(changes.write) == ["clusters/c2/values.yaml"]
    assert changes.remove == ["clusters/c9/values.yaml"]
    assert changes.unchanged == len(FILES) - 1
    assert sorted(reads) == sorted([*FILES, "clusters/c9/values.yaml"])


def test_a_hand_written_file_where_a_generated_one_goes_is_refused_when_walked(
    tmp_path: Path,
) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    (lock.state_dir(root) / tree_cache.CACHE_FILE).unlink()
    (root / "clusters/c1/values.yaml").write_text("n: mine\n")  # no generated mark
    with pytest.raises(MeshgenError, match="not generated by meshgen"):
        workspace.plan_changes(root, FILES)


def test_an_edit_of_the_same_size_and_time_is_seen(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    workspace.plan_changes(root, FILES)
    edit_in_place(root / "clusters/c3/values.yaml")
    changes = workspace.plan_changes(root, FILES)
    assert list(changes.write) == ["clusters/c3/values.yaml"]
    with pytest.raises(MeshgenError, match="changed by hand"):
        workspace.require_unedited(root, changes)


def test_a_file_replaced_by_a_link_out_is_refused(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    workspace.plan_changes(root, FILES)
    outside = tmp_path / "outside.yaml"
    outside.write_text(FILES["clusters/c1/values.yaml"])
    target = root / "clusters/c1/values.yaml"
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(MeshgenError, match="leads out of the repository"):
        workspace.plan_changes(root, FILES)


def test_a_file_changed_shortly_before_it_was_looked_at_is_read_again(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    (root / "a.yaml").write_text("a\n")
    info = os.lstat(root / "a.yaml")

    def recorded(since: int) -> tree_cache.TreeCache:
        cache = tree_cache.TreeCache(root)
        cache.record("a.yaml", info, "d" * 64, True, since=since)
        cache.save()
        tree_cache.flush(root)
        return tree_cache.TreeCache(root)

    # Looked at in the same tick as the change: it may change again unseen.
    assert recorded(info.st_ctime_ns + 1_000).lookup("a.yaml", info) is None
    later = recorded(info.st_ctime_ns + 3_000_000_000)
    assert later.lookup("a.yaml", info) == ("d" * 64, True)
    (root / "a.yaml").write_text("b\n")
    assert later.lookup("a.yaml", os.lstat(root / "a.yaml")) is None


DAMAGED = [
    "{not a cache",
    "HEADER\nclusters/c2/values.yaml\tnot enough fields\n",
    "HEADER\nclusters/c2/values.yaml\t1 2 3 4 5 6 seven\n",
    "HEADER\n\t\t\n\nclusters/c2/values.yaml\n",
]


@pytest.mark.parametrize("content", DAMAGED)
def test_a_damaged_cache_is_ignored(tmp_path: Path, content: str) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    workspace.plan_changes(root, FILES)
    tree_cache.flush(root)
    cache = lock.state_dir(root) / tree_cache.CACHE_FILE
    header = cache.read_text().partition("\n")[0]
    cache.write_text(content.replace("HEADER", header))
    (root / "clusters/c2/values.yaml").write_text(YAML_HEADER + "edited: true\n")
    changes = workspace.plan_changes(root, FILES)
    assert list(changes.write) == ["clusters/c2/values.yaml"]
    assert changes.unchanged == len(FILES) - 1


def rendered_mesh(root: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A committed, rendered two-cluster mesh whose files the tree cache trusts, and whose
    render is remembered (so `render --check` compares without rendering)."""
    repository(root, locked=False)
    (root / "mesh.yaml").write_text(
        MINIMAL_MESH.replace("networks: []", "networks: [{name: n1}]").replace(
            "clusters: []", "clusters: [{name: c1, network: n1}, {name: c2, network: n1}]"
        )
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "mesh")
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "render")
    time.sleep(tree_cache.COARSE_SLACK_NS / 1e9 + 0.1)
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0  # the cache settles
    assert tree_cache.render_result(root, memo_key(root)) is not None
    return root


def memo_key(root: Path) -> str:
    from meshgen import mesh_repo

    return mesh_repo.render_key((root / "mesh.yaml").read_text(), mesh_repo.read_traffic(root))


def check_output(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    result = run_cli(capsys, "render", "--check", "--repo", str(root))
    return result.exit_code, result.stdout


def test_a_remembered_render_is_not_rendered_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshgen import mesh_repo

    root = rendered_mesh(tmp_path / "mesh", capsys)
    renders = count_calls(monkeypatch, mesh_repo, "desired_files")
    reads = count_reads(monkeypatch, root)
    code, out = check_output(root, capsys)
    assert code == 0 and "up to date" in out
    assert renders == [] and reads == [".meshgen/generated.sha256"]
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    assert renders == []


@pytest.mark.parametrize("change", ["edit", "add", "remove", "traffic", "memo"])
def test_every_change_is_seen_with_a_remembered_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    root = rendered_mesh(tmp_path / "mesh", capsys)
    values = next(root.glob("clusters/c1/**/*.yaml"))
    name = values.relative_to(root).as_posix()
    if change == "edit":
        edit_in_place(values)
    elif change == "add":
        name = "clusters/c1/extra.yaml"
        (root / name).write_text(YAML_HEADER + "extra: true\n")
    elif change == "remove":
        values.unlink()
    elif change == "traffic":
        name = "traffic/reviews.yaml"
        (root / "traffic").mkdir()
        (root / name).write_text("{not: [a policy\n")
    else:  # a remembered record that does not match the tree: compared in full
        memo = lock.state_dir(root) / tree_cache.RENDER_MEMO_FILE
        memo.write_text(f"{memo_key(root)} {'0' * 64}\n")
        code, out = check_output(root, capsys)
        assert code == 0 and "up to date" in out
        return
    result = run_cli(capsys, "render", "--check", "--repo", str(root))
    assert result.exit_code != 0
    assert name in result.stdout + result.stderr


def test_a_command_that_only_reads_writes_no_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = repository(tmp_path / "repo", locked=False)
    (root / "clusters").mkdir()
    (root / "clusters/a.yaml").write_text(YAML_HEADER)
    before = sorted(p.name for p in lock.state_dir(root).iterdir())
    workspace.plan_changes(root, {"clusters/a.yaml": YAML_HEADER})
    assert sorted(p.name for p in lock.state_dir(root).iterdir()) == before


def test_a_text_checked_before_is_not_checked_again_and_a_new_one_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshgen.spec import yamlio

    root = rendered_mesh(tmp_path / "mesh", capsys)
    checks = count_calls(monkeypatch, yamlio, "validate_schema")
    code, _ = check_output(root, capsys)
    assert code == 0 and checks == []  # this text passed the schema when render read it
    mesh = root / "mesh.yaml"
    mesh.write_text(mesh.read_text().replace("network: n1}]", "network: n1, role: nope}]", 1))
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 2 and checks  # a new text is checked (and refused)
    assert "mesh.yaml:" in result.stderr and "role" in result.stderr


def test_nothing_is_written_to_the_git_folder_before_the_change_is(tmp_path: Path) -> None:
    """A command that fails after planning (a full disk, say) leaves no cache behind: the
    cache is written once the change is."""
    root = repository(tmp_path / "repo")
    (root / "clusters").mkdir()
    (root / "clusters/a.yaml").write_text(YAML_HEADER)
    before = sorted(p.name for p in lock.state_dir(root).iterdir())
    changes = workspace.plan_changes(root, {"clusters/a.yaml": YAML_HEADER, **FILES})
    assert sorted(p.name for p in lock.state_dir(root).iterdir()) == before
    workspace.apply_changes(root, changes)
    assert tree_cache.CACHE_FILE in {p.name for p in lock.state_dir(root).iterdir()}


def test_the_text_render_writes_with_its_version_is_not_checked_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first render adds ``meshgenVersion`` to mesh.yaml: the text it writes is known to pass
    the schema (the one read did, and the version matches its pattern), so the next command
    does not check it again."""
    import json
    import re

    from meshgen import __version__, library
    from meshgen.spec import yamlio

    pattern = json.loads(library.mesh_schema_text())["properties"]["meshgenVersion"]["pattern"]
    assert re.search(pattern, __version__)
    root = repository(tmp_path / "mesh", locked=False)
    (root / "mesh.yaml").write_text(MINIMAL_MESH)
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    assert f'meshgenVersion: "{__version__}"' in (root / "mesh.yaml").read_text()
    checks = count_calls(monkeypatch, yamlio, "validate_schema")
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    assert checks == []


def test_a_mesh_read_before_is_not_read_again_and_gives_the_same_mesh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshgen import mesh_repo, spec
    from meshgen.spec import yamlio

    root = rendered_mesh(tmp_path / "mesh", capsys)
    text = (root / "mesh.yaml").read_text()
    reads = count_calls(monkeypatch, yamlio, "plain_tree_and_lines")
    document = mesh_repo.load(root)
    assert reads == []  # the render noted what libyaml gave for this text
    fresh = spec.parse(text)
    assert document.mesh == fresh.mesh and document.data == fresh.data
    assert list(document.data) == list(fresh.data)  # the order of keys too
    # Edited by hand: the note is for another text, so this one is read (and checked).
    (root / "mesh.yaml").write_text(text.replace("name: c2", "name: c3"))
    assert mesh_repo.load(root).mesh.clusters[-1].name == "c3"
    assert reads


def test_the_mesh_a_new_cluster_writes_is_not_read_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshgen import mesh_repo, spec
    from meshgen.spec import textedits, yamlio

    root = repository(tmp_path / "mesh", locked=False)
    # Block style, as ruamel writes it: the edit is made in the text (a flow-style list is
    # edited on the round-trip tree, and that document is read again next time).
    block = "networks:\n  - name: n1\nclusters:\n  - name: c1\n    network: n1\n"
    (root / "mesh.yaml").write_text(
        MINIMAL_MESH.replace("networks: []\nclusters: []\n", block)
        + "  - name: c2\n    network: n1\n"
    )
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "render")
    result = run_cli(capsys, "new-cluster", "c9", "--network", "n1", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    reads = count_calls(monkeypatch, yamlio, "plain_tree_and_lines")
    layouts = count_calls(monkeypatch, textedits, "layout")
    document = mesh_repo.load(root)
    assert reads == []
    assert document.data == spec.parse((root / "mesh.yaml").read_text()).data
    assert [c.name for c in document.mesh.clusters] == ["c1", "c2", "c9"]
    # The layout of its lines came with it: the next edit is made in the text without
    # reading every line again.
    removed, _ = spec.remove_cluster(document, "c9")
    assert layouts == []
    assert removed.written_text is not None
    monkeypatch.undo()
    assert document.text_layout == textedits.layout((root / "mesh.yaml").read_text())
    # Back on main, one proposal after another: main's text stays among the texts noted.
    git(root, "checkout", "-q", "main")
    main_text = (root / "mesh.yaml").read_text()
    read_texts: list[str] = []
    original = yamlio.plain_tree_and_lines
    monkeypatch.setattr(
        yamlio, "plain_tree_and_lines", lambda t: read_texts.append(t) or original(t)
    )
    for name in ("c10", "c11"):
        args = ("new-cluster", name, "--network", "n1", "--repo", str(root))
        assert run_cli(capsys, *args).exit_code == 0
        git(root, "checkout", "-q", "main")
    assert main_text not in read_texts


@pytest.mark.parametrize(
    "damage", ["garbage", "empty", "other shape", "cut short", "another key's data"]
)
def test_a_damaged_or_foreign_mesh_note_is_not_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    from meshgen import mesh_repo

    root = rendered_mesh(tmp_path / "mesh", capsys)
    note = lock.state_dir(root) / tree_cache.PARSED_MEMO_FILE
    key, _, data = note.read_text().splitlines()[-1].partition("\t")
    assert key == mesh_repo._parsed_key((root / "mesh.yaml").read_text())
    if damage == "garbage":
        note.write_bytes(b"\x00\xffnot a note")
    elif damage == "empty":
        note.write_text("")
    elif damage == "other shape":
        note.write_text('[["a", {"clusters": []}]]\n')
    elif damage == "cut short":  # the right key, its data cut (never so written: by rename)
        note.write_text(f"{key}\t{data[: len(data) // 2]}\n")
    else:  # the data of another text under this text's key: the key decides, not the data
        note.write_text(f"{key}x\t{data}\n")
    assert [c.name for c in mesh_repo.load(root).mesh.clusters] == ["c1", "c2"]


def test_data_json_cannot_give_back_exactly_is_not_noted(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    tree_cache.remember_parsed(root, "a", {1: "a key that is a number"})
    tree_cache.remember_parsed(root, "b", {"labels": {"tier": "edge"}, "n": 3, "on": True})
    tree_cache.flush(root)
    assert tree_cache.parsed_data(root, "a") is None
    assert tree_cache.parsed_data(root, "b") == {"labels": {"tier": "edge"}, "n": 3, "on": True}
    assert tree_cache.parsed_data(root, "b")["on"] is True  # not 1


def _cache_lines(root: Path) -> list[str]:
    return (lock.state_dir(root) / tree_cache.CACHE_FILE).read_text().splitlines()


def test_a_command_that_only_writes_appends_its_lines(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    workspace.plan_changes(root, FILES)
    tree_cache.flush(root)
    before = _cache_lines(root)
    assert len(before) == len(FILES) + 1  # the header and one line per file
    # A change of two files (one rewritten, one removed), as new-cluster writes it.
    changed = {"clusters/c1/values.yaml": f"{YAML_HEADER}n: changed\n"}
    workspace.apply_changes(
        root, workspace.ChangeSet(write=changed, remove=["clusters/c2/values.yaml"])
    )
    after = _cache_lines(root)
    assert after[: len(before)] == before  # appended, nothing rewritten
    assert after[len(before) :] == [
        "clusters/c2/values.yaml\t-",
        after[-1],
    ] and after[-1].startswith("clusters/c1/values.yaml\t")
    cache = tree_cache.TreeCache(root)
    entry = cache._entries["clusters/c1/values.yaml"]  # the appended line wins
    info = os.lstat(root / "clusters/c1/values.yaml")
    assert entry.startswith(tree_cache.stat_key(info))
    assert entry.split(" ")[4] == manifest.digest(changed["clusters/c1/values.yaml"].encode())
    assert "clusters/c2/values.yaml" not in cache._entries
    assert "clusters/c3/values.yaml" in cache._entries


def test_appended_lines_are_folded_in_once_they_crowd_the_file(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    workspace.plan_changes(root, FILES)
    tree_cache.flush(root)
    path = "clusters/c1/values.yaml"
    for number in range(2 * len(FILES) + 101):  # appended again and again
        change = workspace.ChangeSet(write={path: f"{YAML_HEADER}n: {number}\n"})
        workspace.apply_changes(root, change, overwrite_edits=True)
    assert len(_cache_lines(root)) > 2 * len(FILES) + 100
    workspace.plan_changes(root, {**FILES, path: f"{YAML_HEADER}n: {number}\n"})
    tree_cache.flush(root)
    lines = _cache_lines(root)
    assert len(lines) == len(FILES) + 1  # written whole: one line per file again
    assert len({line.partition("\t")[0] for line in lines[1:]}) == len(FILES)


def test_a_cache_cut_short_is_not_appended_to(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo")
    written(root)
    workspace.plan_changes(root, FILES)
    tree_cache.flush(root)
    file = lock.state_dir(root) / tree_cache.CACHE_FILE
    file.write_text(file.read_text()[:-7])  # killed while writing: a line cut in two
    path = "clusters/c4/values.yaml"
    workspace.apply_changes(root, workspace.ChangeSet(write={path: f"{YAML_HEADER}n: 44\n"}))
    lines = _cache_lines(root)
    assert len(lines) == 2 and lines[1].startswith(f"{path}\t")  # only what is known for sure
    assert list(tree_cache.TreeCache(root)._entries) == [path]
