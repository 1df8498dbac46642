"""`mesh_repo.plan_writing` with the document as read: `new-cluster` and `remove-cluster` render
only the clusters they reach, and the tree they leave is the full render's, byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import REPO_ROOT, git, run_cli, tree_bytes
from meshgen import library, mesh_repo, spec
from meshgen.render import render_repository

sys.path.insert(0, str(REPO_ROOT / "bench"))
import scale


def rendered_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> Path:
    """A repository holding ``text`` as mesh.yaml, rendered by `meshgen render` and committed."""
    root = tmp_path / "mesh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / spec.MESH_FILE).write_text(text)
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", "render")
    return root


def full_render(root: Path) -> dict[str, bytes]:
    """What a full render of the repository's mesh.yaml gives, mesh.yaml included."""
    text = (root / spec.MESH_FILE).read_text()
    files = render_repository(spec.parse(text).mesh, library.load())
    return {**{p: t.encode() for p, t in files.items()}, spec.MESH_FILE: text.encode()}


def no_full_render(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the full render ran")

    monkeypatch.setattr(mesh_repo, "desired_files", refuse)


COMMANDS = [
    ("new-cluster", "new-0", "--network", "net-0"),
    (
        "new-cluster",
        "new-r",
        "--network",
        "net-0",
        "--role",
        "remote",
        "--control-plane",
        "cluster-0",
    ),
    ("remove-cluster", "cluster-9"),
    ("remove-cluster", "cluster-0", "--force"),
]


@pytest.mark.parametrize("engine", ["argocd", "flux"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_change_renders_the_reached_clusters_only_and_leaves_the_full_render(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    engine: str,
    command: tuple[str, ...],
) -> None:
    text = scale.mesh_text(20)
    if engine == "flux":
        text = text.replace("networks:\n", "gitops:\n  engine: flux\nnetworks:\n", 1)
    root = rendered_repo(tmp_path, capsys, text)
    no_full_render(monkeypatch)
    result = run_cli(capsys, *command, "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    assert tree_bytes(root) == full_render(root)
    changed = git(root, "diff", "--name-only", "main", "HEAD").splitlines()
    assert spec.MESH_FILE in changed and len(changed) < 100


def test_without_the_render_of_the_mesh_as_read_the_full_render_decides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = rendered_repo(tmp_path, capsys, scale.mesh_text(10))
    # A generated file edited by hand: the record no longer matches what the tree holds in
    # one place, and the full render refuses to overwrite it, as before.
    target = root / "clusters/cluster-3/values/istiod.yaml"
    target.write_text(target.read_text() + "# mine\n")
    git(root, "commit", "-qam", "hand edit")
    result = run_cli(capsys, "new-cluster", "new-0", "--network", "net-0", "--repo", str(root))
    assert result.exit_code == 0, result.stderr  # cluster-3 is not reached: left as it is
    assert "# mine" in target.read_text()
    # mesh.yaml edited by another tool and not rendered: the tree does not hold the render
    # of the mesh as read, so the full render decides, and finds the hand edit.
    git(root, "switch", "-q", "main")
    marker = "  - name: cluster-5\n"
    text = (root / spec.MESH_FILE).read_text().replace(marker, marker + "    region: r-5\n")
    (root / spec.MESH_FILE).write_text(text)
    git(root, "commit", "-qam", "region")
    result = run_cli(capsys, "remove-cluster", "cluster-9", "--repo", str(root))
    assert result.exit_code == 2
    assert "clusters/cluster-3/values/istiod.yaml: changed by hand" in result.stderr


def test_a_fresh_clone_renders_the_mesh_as_read_once_then_the_reached_clusters_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone has no note of which render its files are: the mesh as read is rendered
    whole once to compare its record with the tree's; no file is read back, and the edit
    renders only the clusters it reaches."""
    root = rendered_repo(tmp_path, capsys, scale.mesh_text(20))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    rendered: list[list[str]] = []
    original = mesh_repo.desired_files

    def desired_files(document: spec.MeshDocument, *args: Any) -> dict[str, str]:
        rendered.append([cluster.name for cluster in document.mesh.clusters])
        return original(document, *args)

    monkeypatch.setattr(mesh_repo, "desired_files", desired_files)
    planned: list[int] = []
    plan_changes = mesh_repo.workspace.plan_changes
    monkeypatch.setattr(
        mesh_repo.workspace,
        "plan_changes",
        lambda *a, **k: planned.append(1) or plan_changes(*a, **k),
    )
    result = run_cli(capsys, "new-cluster", "new-0", "--network", "net-0", "--repo", str(clone))
    assert result.exit_code == 0, result.stderr
    assert len(rendered) == 1 and "new-0" not in rendered[0] and "cluster-19" in rendered[0]
    assert planned == []
    assert tree_bytes(clone) == full_render(clone)


def test_the_repository_url_in_mesh_yaml_is_no_chart_repository(tmp_path: Path) -> None:
    """``url:`` in mesh.yaml is the Git repository's: a host that was once Istio's chart
    repository there is no generated file taking charts from a retired location."""
    root = tmp_path / "mesh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    url = "https://istio-release.storage.googleapis.com/charts/mesh.git"
    text = scale.mesh_text(2).replace("https://git.example.com/bench.git", url)
    (root / spec.MESH_FILE).write_text(text)
    document = spec.parse(text)
    assert document.mesh.repo_url == url
    assert mesh_repo.location_notices(root, document, [spec.MESH_FILE]) == []
    # A generated file naming it as a chart repository is one.
    (root / "bootstrap").mkdir()
    (root / "bootstrap/app.yaml").write_text(f"spec:\n  source:\n    repoURL: {url}\n")
    notices = mesh_repo.location_notices(root, document, ["bootstrap/app.yaml"])
    assert [n for n in notices if "take the charts from" in n.message]


def test_a_mesh_read_for_validate_leaves_out_the_layout_the_text_edits_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = rendered_repo(tmp_path, capsys, scale.mesh_text(3))
    noted = mesh_repo.load(root)  # the parsed-mesh note, with the layout of its lines
    assert noted.text_layout is not None
    read_only = mesh_repo.load(root, editing=False)
    assert read_only.text_layout is None and read_only.mesh == noted.mesh


def test_validate_imports_no_edit_module_and_the_edits_are_still_spec_names() -> None:
    import subprocess

    editing = ("meshgen.spec.edits", "meshgen.spec.textedits")
    program = (
        "import sys\n"
        "from meshgen.commands import validate\n"
        "from meshgen.validation import mesh\n"
        f"print([m for m in {editing!r} if m in sys.modules])\n"
        "from meshgen import spec\n"
        "from meshgen.spec import NewCluster\n"
        "assert spec.add_cluster.__module__ == 'meshgen.spec.edits'\n"
        "assert spec.restore_layout.__module__ == 'meshgen.spec.textedits'\n"
        "assert NewCluster is spec.NewCluster\n"
        "try:\n"
        "    spec.no_such_name\n"
        "except AttributeError:\n"
        "    print('no such name')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\nno such name\n"
