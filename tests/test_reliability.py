"""Issue 12, item by item: each broken promise reproduced as the issue describes it.

Security (1-4), interruption and concurrency (5-7), hand edits (8), errors (9-10). The random
campaign that found them runs in ``test_campaign.py``; item 4 lives with its command in
``commands/test_encrypt_remote_secret.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import campaign
from helpers import MeshRepo, git, run_cli, run_meshgen_process, tree_bytes
from repo_state import capture, fsck_errors, leftovers


def add(capsys: pytest.CaptureFixture[str], repo: MeshRepo, name: str, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(capsys, "new-cluster", name, *args, "--repo", str(repo.root))


def merged(capsys: pytest.CaptureFixture[str], repo: MeshRepo, name: str, network: str) -> None:
    result = add(capsys, repo, name, "--network", network)
    assert result.exit_code == 0, result.stderr
    git(repo.root, "switch", "-q", "main")
    git(repo.root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")


def one_error_line(stderr: str) -> str:
    """The error, one line; warnings and notes (``meshgen: rolled back ...``) may come first."""
    lines = [
        line for line in stderr.splitlines() if not line.startswith(("warning: ", "meshgen: "))
    ]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def killed_at_git_step(step: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``meshgen ARGS`` in a process that SIGKILLs itself when it is about to run ``git STEP``
    in its transaction: a kill at exactly that moment, every time."""
    script = f"""
import os, signal, sys
sys.argv = ["meshgen", *{list(args)!r}]
from meshgen.adapters import transaction
real = transaction.git
def git(root, *args, **kwargs):
    if args[0] == {step!r}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(root, *args, **kwargs)
transaction.git = git
from meshgen.cli import main
main()
"""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


def all_objects(root: Path) -> bytes:
    return subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout


# -- 1. credentials in URLs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secret", "kept"),
    [
        ("https://user:s3cret@git.example.com/x.git", "s3cret", "https://git.example.com/x.git"),
        ("https://ghp_tok3n@github.com/o/x.git", "ghp_tok3n", "https://github.com/o/x.git"),
        ("https://git.example.com/x.git?token=t0ken&ref=a", "t0ken", "x.git?ref=a"),
        ("ssh://git:passw0rd@git.example.com/x.git", "passw0rd", "ssh://git@git.example.com/x.git"),
    ],
    ids=["user-password", "token-as-user", "query-token", "ssh-password"],
)
@pytest.mark.parametrize("source", ["--repo-url", "origin"])
def test_1_credentials_in_urls_never_reach_a_file_or_commit(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    url: str,
    secret: str,
    kept: str,
    source: str,
) -> None:
    root = tmp_path / "mesh"
    if source == "origin":
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        git(root, "remote", "add", "origin", url)
        result = run_cli(capsys, "init", str(root), "--mesh-id", "m")
    else:
        result = run_cli(capsys, "init", str(root), "--mesh-id", "m", "--repo-url", url)
    assert result.exit_code == 0, result.stderr
    assert "credentials are never committed" in result.stderr
    assert secret not in result.stderr + result.stdout
    assert kept in (root / "mesh.yaml").read_text()
    assert kept in (root / "bootstrap/argocd/bootstrap.yaml").read_text()
    assert not [p for p, data in tree_bytes(root).items() if secret.encode() in data]
    assert secret.encode() not in all_objects(root)
    added = run_cli(
        capsys, "new-cluster", "c1", "--network", "n1", "--repo", str(root),
        "--api-server", "https://admin:pw-in-api-server@203.0.113.5:6443",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    assert "apiServer: https://203.0.113.5:6443" in (root / "mesh.yaml").read_text()
    assert b"pw-in-api-server" not in all_objects(root)
    assert not [p for p, data in tree_bytes(root).items() if b"pw-in-api-server" in data]


def test_1_credentials_written_into_mesh_yaml_by_hand_are_refused(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh = mesh_repo.root / "mesh.yaml"
    url = next(line for line in mesh.read_text().splitlines() if "url:" in line).split()[-1]
    mesh.write_text(mesh.read_text().replace(url, "https://bot:hunter2@git.example.com/m.git"))
    before = tree_bytes(mesh_repo.root)
    result = run_cli(capsys, "render", "--repo", str(mesh_repo.root))
    line = one_error_line(result.stderr)
    assert result.exit_code == 2 and "mesh.yaml:" in line and "repository.url" in line
    assert "holds credentials (the user name and password)" in line and "hunter2" not in line
    assert tree_bytes(mesh_repo.root) == before


def test_1_and_13_repository_urls_are_validated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in ("not-a-url", "https://", "ftp://h/x.git", "https://h/x y.git"):
        result = run_cli(capsys, "init", str(tmp_path / "m"), "--mesh-id", "m", "--repo-url", url)
        assert result.exit_code == 2, url
        assert one_error_line(result.stderr).startswith("error: --repo-url: "), url
        assert not (tmp_path / "m").exists()
    for url in ("git@github.com:o/r.git", "ssh://git@h:2222/r.git", "http://h/r", "/srv/r.git"):
        target = tmp_path / f"ok-{abs(hash(url))}"
        result = run_cli(capsys, "init", str(target), "--mesh-id", "m", "--repo-url", url)
        assert result.exit_code == 0, (url, result.stderr)


# -- 2. bounded input ---------------------------------------------------------------------


def alias_bomb() -> str:
    """The campaign's 1.3 KB mesh.yaml: an alias chain of 8 levels of 9-wide lists."""
    lines = [
        "apiVersion: meshgen.io/v1alpha1",
        "kind: Mesh",
        "meshID: m",
        "repository: {url: https://git.example.com/m.git}",
        "networks: []",
        f"level0: &level0 [{', '.join(['lolololololololololololololololol'] * 9)}]",
    ]
    lines += [f"level{i}: &level{i} [{', '.join([f'*level{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines.append("clusters: *level8")
    return "\n".join(lines) + "\n"


def test_2_an_alias_bomb_is_refused_before_it_expands(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    text = alias_bomb()
    assert 1000 < len(text) < 1400
    (mesh_repo.root / "mesh.yaml").write_text(text)
    for args in (("render", "--check"), ("render",)):
        result = run_cli(capsys, *args, "--repo", str(mesh_repo.root))
        line = one_error_line(result.stderr)
        assert result.exit_code == 2, args
        assert "anchors and aliases" in line and len(line) < 300, line
    checked = run_cli(capsys, "validate", "--repo", str(mesh_repo.root))  # a finding, exit 1
    assert checked.exit_code == 1 and "anchors and aliases" in checked.stdout
    assert len(checked.stdout) + len(checked.stderr) < 2000


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: (root / "mesh.yaml").symlink_to("/dev/zero"), "symbolic link out of"),
        (lambda root: os.mkfifo(root / "mesh.yaml"), "is not a regular file"),
        (
            lambda root: (root / "mesh.yaml").write_text("a: " + "x" * (5 * 1024 * 1024)),
            "larger than",
        ),
    ],
    ids=["dev-zero", "fifo", "five-megabytes"],
)
def test_2_mesh_yaml_is_read_only_that_far(mesh_repo: MeshRepo, make, message: str) -> None:  # type: ignore[no-untyped-def]
    (mesh_repo.root / "mesh.yaml").unlink()
    make(mesh_repo.root)
    # A real process with a deadline: reading /dev/zero or a FIFO forever would hang it.
    result = subprocess.run(
        [sys.executable, "-m", "meshgen", "render", "--check", "--repo", str(mesh_repo.root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and message in one_error_line(result.stderr)


# -- 3. symbolic links out of the repository ----------------------------------------------


@pytest.mark.parametrize("link", ["clusters", "clusters/c1", "README.md"])
def test_3_render_never_follows_a_link_out_of_the_repository(
    mesh_repo: MeshRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str], link: str
) -> None:
    merged(capsys, mesh_repo, "c1", "n1")
    root = mesh_repo.root
    outside = tmp_path / "outside"
    source = root / link
    shutil.move(source, outside)
    source.symlink_to(outside, target_is_directory=outside.is_dir())
    (root / "mesh.yaml").write_text(campaign.other_istio_version((root / "mesh.yaml").read_text()))
    if outside.is_dir():
        (outside / "victim.txt").write_text("someone else's file\n")
    elsewhere = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} or {
        outside: outside.read_bytes()
    }
    for args in (("render",), ("render", "--check"), ("render", "--force"), ("validate",)):
        result = run_cli(capsys, *args, "--repo", str(root))
        line = one_error_line(result.stderr)
        assert result.exit_code == 2 and "leads out of the repository" in line, args
    now = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} or {
        outside: outside.read_bytes()
    }
    assert now == elsewhere


# -- 5. interruptions ---------------------------------------------------------------------


def test_5_ctrl_c_early_in_new_cluster_leaves_the_old_state(mesh_repo: MeshRepo) -> None:
    """Ctrl-C at about 0.2 s into new-cluster: no traceback, nothing changed, nothing left."""
    root = mesh_repo.root
    before = capture(root)
    # From 0.2 s on: earlier, Python itself is still starting (site, imports), before any
    # code of meshgen runs; nothing can be read or written then.
    for delay in (0.2, 0.3, 0.45, 0.6):
        process = subprocess.Popen(
            [sys.executable, "-m", "meshgen", "new-cluster", "c1", "--network", "n1"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends to the whole group
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        complete = "after the change was complete" in stderr
        if process.returncode != 0 and not complete:
            assert process.returncode in (130, -2), stderr
            assert capture(root) == before, delay
        else:  # finished before the signal (and says so): undo it for the next delay
            git(root, "switch", "-q", "main")
            git(root, "branch", "-q", "-D", "meshgen/add-cluster-c1")
        assert not leftovers(root) and not fsck_errors(root)


def test_5_ctrl_c_in_validate_keeps_no_result_of_the_stopped_tools(
    mesh_repo: MeshRepo, tmp_path: Path
) -> None:
    """Ctrl-C reaches kubectl and helm too (the whole process group): their failures were
    kept in validate's cache as build errors, which every later run then reported. Whatever
    the moment, the next run's findings are those of --no-cache."""
    root = mesh_repo.root
    for name, network in (("c1", "n1"), ("c2", "n2")):
        result = run_meshgen_process("new-cluster", name, "--network", network, cwd=root)
        assert result.returncode == 0, result.stderr
        git(root, "switch", "-q", "main")
        git(root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")
    expected = run_meshgen_process("validate", "--no-cache", cwd=root)
    assert "no problems found" in expected.stdout, expected.stdout
    for number, delay in enumerate((0.3, 0.4, 0.5, 0.6)):
        env = {**os.environ, "MESHGEN_CACHE_DIR": str(tmp_path / f"cache-{number}")}
        process = subprocess.Popen(
            [sys.executable, "-m", "meshgen", "validate"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=env,
        )
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr, stderr
        again = subprocess.run(
            [sys.executable, "-m", "meshgen", "validate"],
            cwd=root,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert again.returncode == 0, (delay, again.stdout)
        assert again.stdout.splitlines()[-1] == expected.stdout.splitlines()[-1], delay


@pytest.mark.parametrize("step", ["update-index", "commit-tree"])
def test_5_a_kill_between_steps_is_rolled_back_by_the_next_run(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str], step: str
) -> None:
    """A SIGKILL right after the branch was switched and some files written (the moment of
    the issue's partial states), or after the index took them and the tree was written: the
    next command, and `meshgen recover`, put it back."""
    root = mesh_repo.root
    before = capture(root)
    # The branch exists, HEAD is on it, the files are written: the index takes them next
    # (update-index), or it did and the commit object comes next (commit-tree).
    killed = killed_at_git_step(step, "new-cluster", "c1", "--network", "n1", "--repo", str(root))
    assert killed.returncode == -signal.SIGKILL
    half = capture(root)
    assert half.head == "refs/heads/meshgen/add-cluster-c1" and half != before
    assert ".git/meshgen-txn" in leftovers(root)
    # A command that only reads refuses to look at the half-done change.
    check = run_cli(capsys, "render", "--check", "--repo", str(root))
    assert check.exit_code == 2 and "run `meshgen recover`" in one_error_line(check.stderr)
    # The one-line recovery the message names works.
    recovered = run_cli(capsys, "recover", "--repo", str(root))
    assert recovered.exit_code == 0 and "Rolled back the interrupted" in recovered.stdout
    assert capture(root) == before
    assert not leftovers(root) and not fsck_errors(root)
    assert run_cli(capsys, "recover", "--repo", str(root)).stdout.count("nothing to recover")


def test_5_stale_locks_meshgen_left_are_cleaned_and_others_are_named(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = mesh_repo.root
    # What an older meshgen left when killed: a staging folder. Cleaned by the next writer.
    (root / ".git/meshgen-staging-abc123/clusters").mkdir(parents=True)
    # A HEAD.lock nobody claims (git crashed, or runs): named, with the fix, and nothing
    # changes. The stale HEAD.lock made the next run crash.
    (root / ".git/HEAD.lock").write_text("ref: refs/heads/elsewhere\n")
    before = capture(root)
    refused = add(capsys, mesh_repo, "c1", "--network", "n1")
    line = one_error_line(refused.stderr)
    assert refused.exit_code == 2 and "HEAD.lock: exists" in line and "rm " in line
    assert "meshgen: removed meshgen-staging-abc123" in refused.stderr
    assert capture(root) == before
    (root / ".git/HEAD.lock").unlink()
    result = add(capsys, mesh_repo, "c1", "--network", "n1")
    assert result.exit_code == 0, result.stderr
    assert not leftovers(root)


def test_5_the_branch_advice_works_when_the_branch_is_checked_out(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add(capsys, mesh_repo, "c1", "--network", "n1").exit_code == 0
    again = add(capsys, mesh_repo, "c2", "--network", "n1", "--branch", "meshgen/add-cluster-c1")
    line = one_error_line(again.stderr)
    assert "switch to another branch and delete it" in line
    git(mesh_repo.root, "switch", "-q", "main")
    advice = line.split("(git branch -D ")[1].split(")")[0]
    git(mesh_repo.root, "branch", "-D", advice)  # the advice, as given, works now


# -- 6. concurrent writers ----------------------------------------------------------------


@pytest.mark.parametrize("wait", ["10", "0"])
def test_6_two_new_clusters_50_ms_apart(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str], wait: str
) -> None:
    root = mesh_repo.root
    env = {**os.environ, "MESHGEN_LOCK_WAIT": wait}
    processes = []
    for name, network in (("c1", "n1"), ("c2", "n2")):
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "meshgen", "new-cluster", name, "--network", network],
                cwd=root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        time.sleep(0.05)
    results = [p.communicate(timeout=120) for p in processes]
    done = []
    for process, (_, stderr), name in zip(processes, results, ("c1", "c2"), strict=True):
        assert "Traceback" not in stderr
        if process.returncode == 0:
            done.append(name)
        else:  # refused at once, with a clear message
            assert wait == "0" and process.returncode == 2, stderr
            assert "is changing this repository" in one_error_line(stderr)
            assert f"meshgen/add-cluster-{name}" not in git(root, "branch", "--list")
    assert done if wait == "0" else done == ["c1", "c2"]
    for name in done:
        branch = f"meshgen/add-cluster-{name}"
        assert f"name: {name}" in git(root, "show", f"{branch}:mesh.yaml")
        parent = git(root, "rev-parse", f"{branch}^")
        others = [git(root, "rev-parse", f"meshgen/add-cluster-{o}") for o in done if o != name]
        assert parent in [git(root, "rev-parse", "main"), *others]
        if parent != git(root, "rev-parse", "main"):  # made after the other: has it too
            (other,) = [o for o in done if o != name]
            assert f"name: {other}" in git(root, "show", f"{branch}:mesh.yaml")
        git(root, "switch", "-q", branch)
        check = run_cli(capsys, "render", "--check", "--repo", str(root))
        assert check.exit_code == 0, (branch, check.stdout)
    assert not leftovers(root) and not fsck_errors(root)


# -- 7. failures while branching ----------------------------------------------------------


def test_7_a_stale_index_lock_stops_the_command_before_it_writes(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = mesh_repo.root
    (root / ".git/index.lock").write_text("")
    before = capture(root)
    result = add(capsys, mesh_repo, "c1", "--network", "n1")
    assert result.exit_code == 2 and "index.lock: exists" in one_error_line(result.stderr)
    assert capture(root) == before


def test_7_a_file_where_a_folder_must_go_changes_nothing(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = mesh_repo.root
    (root / "clusters").write_text("a file committed where meshgen needs a folder\n")
    git(root, "add", "clusters")
    git(root, "commit", "-qm", "a file named clusters")
    before = capture(root)
    result = add(capsys, mesh_repo, "c1", "--network", "n1")
    assert result.exit_code == 2
    assert "clusters: is a file where meshgen must write" in one_error_line(result.stderr)
    assert capture(root) == before and not leftovers(root)


def test_7_a_merge_in_progress_is_refused_even_with_allow_dirty(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = mesh_repo.root
    git(root, "switch", "-q", "-c", "side")
    (root / "notes.txt").write_text("side\n")
    git(root, "add", "notes.txt")
    git(root, "commit", "-qm", "side")
    git(root, "switch", "-q", "main")
    (root / "notes.txt").write_text("main\n")
    git(root, "add", "notes.txt")
    git(root, "commit", "-qm", "main")
    subprocess.run(["git", "-C", str(root), "merge", "-q", "side"], capture_output=True)
    assert (root / ".git/MERGE_HEAD").exists()
    before = capture(root)
    result = add(capsys, mesh_repo, "c1", "--network", "n1", "--allow-dirty")
    assert result.exit_code == 2 and "a merge is in progress" in one_error_line(result.stderr)
    assert capture(root) == before


@contextlib.contextmanager
def small_file_system(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``folder`` (root only; skips with the reason otherwise)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_7_a_read_only_file_system_changes_nothing(
    mesh_repo: MeshRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_file_system(tmp_path / "ro", "64m") as mount:
        root = mount / "mesh"
        shutil.copytree(mesh_repo.root, root, symlinks=True)
        before = capture(root)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        for args in (("new-cluster", "c1", "--network", "n1"), ("render",), ("recover",)):
            result = run_cli(capsys, *args, "--repo", str(root))
            line = one_error_line(result.stderr)
            assert result.exit_code == 2 and "Read-only file system" in line, args
        assert capture(root) == before
        check = run_cli(capsys, "render", "--check", "--repo", str(root))  # reading works
        assert check.exit_code == 0, check.stderr


def test_7_a_full_disk_leaves_the_old_state_at_every_step(
    mesh_repo: MeshRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills up at different moments (staging, the files, git's objects, the index):
    each time the command fails in one line and the repository is as it was; with space
    again, the same command succeeds."""
    with small_file_system(tmp_path / "full", "6m") as mount:
        failures = 0
        for free_kib in (4, 16, 48, 96, 160, 240, 400):
            root = mount / "mesh"
            shutil.copytree(mesh_repo.root, root, symlinks=True)
            run_cli(capsys, "recover", "--repo", str(root))  # the lock file exists already
            before = capture(root)
            filler = mount / "filler"
            statvfs = os.statvfs(mount)
            spare = statvfs.f_bavail * statvfs.f_frsize - free_kib * 1024
            with filler.open("wb") as handle:
                handle.truncate(0)
                handle.write(b"\0" * max(spare, 0))
            result = add(
                capsys, MeshRepo(root=root, origin=mesh_repo.origin), "c1", "--network", "n1"
            )
            if result.exit_code != 0:
                failures += 1
                line = one_error_line(result.stderr)
                # meshgen's own writes say ENOSPC's text; git's own, "Out of diskspace".
                full = "No space left on device" in line or "Out of diskspace" in line
                assert result.exit_code == 2 and full, line
                assert capture(root) == before, free_kib
                assert not leftovers(root)
            filler.unlink()
            assert run_cli(capsys, "recover", "--repo", str(root)).exit_code == 0
            if result.exit_code != 0:
                again = add(
                    capsys, MeshRepo(root=root, origin=mesh_repo.origin), "c1", "--network", "n1"
                )
                assert again.exit_code == 0, again.stderr
            assert not fsck_errors(root)
            shutil.rmtree(root)
        assert failures >= 3  # the disk really was full at several steps


# -- 8. hand edits ------------------------------------------------------------------------


def test_8_a_committed_hand_edit_is_not_reverted_by_new_cluster(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    merged(capsys, mesh_repo, "c1", "n1")
    root = mesh_repo.root
    path = "clusters/c1/istio-system/kustomization.yaml"
    edited = (root / path).read_text() + "# our own patch\n"
    (root / path).write_text(edited)
    git(root, "commit", "-qam", "hand edit")
    before = capture(root)
    # c2 brings c1 a remote-secret placeholder: its kustomization would be rewritten.
    refused = add(capsys, mesh_repo, "c2", "--network", "n1")
    line = one_error_line(refused.stderr)
    assert refused.exit_code == 2 and f"{path}: changed by hand" in line
    assert "--overwrite-edits" in line and capture(root) == before
    # sha256sum -c on the record names the same file.
    checked = subprocess.run(
        ["sha256sum", "--quiet", "-c", ".meshgen/generated.sha256"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 1 and f"{path}: FAILED" in checked.stdout
    forced = add(capsys, mesh_repo, "c2", "--network", "n1", "--overwrite-edits")
    assert forced.exit_code == 0, forced.stderr
    assert "# our own patch" not in (root / path).read_text()


def test_8_uncommitted_edits_survive_allow_dirty_and_render(
    mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    merged(capsys, mesh_repo, "c1", "n1")
    root = mesh_repo.root
    path = "clusters/c1/istio-system/kustomization.yaml"
    edited = (root / path).read_text() + "# work in progress\n"
    (root / path).write_text(edited)
    for args in (
        ("new-cluster", "c2", "--network", "n1", "--allow-dirty"),
        ("new-cluster", "c2", "--network", "n1", "--allow-dirty", "--no-commit"),
        ("remove-cluster", "c1", "--allow-dirty"),
        ("remove-cluster", "c1", "--allow-dirty", "--no-commit"),
        ("render",),
    ):
        result = run_cli(capsys, *args, "--repo", str(root))
        assert result.exit_code == 2 and f"{path}: changed by hand" in result.stderr, args
        assert (root / path).read_text() == edited
    # A file deleted by hand holds nothing to lose: render writes it again.
    (root / path).unlink()
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    assert (root / path).is_file()


# -- 9. tracebacks that become one line ---------------------------------------------------


MESH = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: m
repository: {url: https://git.example.com/m.git}
networks: [{name: n1}]
clusters:
  - name: c1
    network: n1
    eastWestGateway: {enabled: true, replicas: REPLICAS}
"""


@pytest.mark.parametrize(
    ("replicas", "message"),
    [
        ("2.0", "replicas: 2.0 should be a whole number"),
        ("1e3", "replicas: 1000.0 should be a whole number"),
        ("1" * 5000, "a number with thousands of digits"),
        ("1" * 40, "is too large"),
    ],
    ids=["float", "exponent", "5000-digits", "40-digits"],
)
def test_9_numbers_that_broke_the_yaml_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], replicas: str, message: str
) -> None:
    (tmp_path / "mesh.yaml").write_text(MESH.replace("REPLICAS", replicas))
    result = run_cli(capsys, "render", "--repo", str(tmp_path))
    assert result.exit_code == 2 and message in one_error_line(result.stderr)
    assert "mesh.yaml:9" in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 1000 + "]" * 1000 + "\n",
        "".join("  " * depth + f"k{depth}:\n" for depth in range(1000)),
        "a:\n" + "- " * 1000 + "x\n",
    ],
    ids=["flow", "block", "sequences"],
)
def test_9_a_thousand_levels_of_nesting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (tmp_path / "mesh.yaml").write_text(text)
    result = run_cli(capsys, "render", "--check", "--repo", str(tmp_path))
    assert result.exit_code == 2 and "nested more than" in one_error_line(result.stderr)


def test_9_branch_and_revision_names_git_cannot_take(
    mesh_repo: MeshRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = capture(mesh_repo.root)
    for branch in ("@{-1}", "x.lock", "-x", "a..b", "HEAD"):
        result = add(capsys, mesh_repo, "c1", "--network", "n1", "--branch", branch)
        assert result.exit_code == 2, branch
        assert "not a valid Git branch name" in one_error_line(result.stderr)
    assert capture(mesh_repo.root) == before
    url = "https://git.example.com/m.git"
    result = run_cli(capsys, "init", str(tmp_path / "n"), "--mesh-id", "m", "--repo-url", url,
                     "--revision", "x.lock")  # fmt: skip
    assert result.exit_code == 2 and "--revision 'x.lock'" in one_error_line(result.stderr)
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("under", ["a-file", "/proc"])
def test_9_init_where_no_folder_can_be(tmp_path: Path, under: str) -> None:
    if under == "a-file":
        (tmp_path / "a-file").write_text("a regular file\n")
        under = str(tmp_path / "a-file")
    directory = f"{under}/mesh"
    result = run_meshgen_process(
        "init", directory, "--mesh-id", "m", "--repo-url", "https://git.example.com/m.git",
        cwd=Path("/"),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    one_error_line(result.stderr)
    assert not Path(directory).exists()


@pytest.mark.parametrize(
    "args",
    [
        ("ca", "init", "--out", "OUT", "--root-days", "99999999"),
        ("ca", "issue", "c1", "--ca", "CA", "--out", "OUT", "--days", "1000000000"),
    ],
)
def test_9_certificate_lifetimes_beyond_the_calendar(tmp_path: Path, args: tuple[str, ...]) -> None:
    args = tuple(a.replace("OUT", str(tmp_path / "out")).replace("CA", str(tmp_path)) for a in args)
    result = run_meshgen_process(*args, cwd=tmp_path)
    assert result.returncode == 2 and "is not in the range 1<=x<=36500" in one_error_line(
        result.stderr
    )
    assert not (tmp_path / "out").exists()


def test_9_git_missing_from_path(mesh_repo: MeshRepo, tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path / "empty-bin")}
    (tmp_path / "empty-bin").mkdir()
    before = capture(mesh_repo.root)
    for args, cwd in (
        (("new-cluster", "c1", "--network", "n1"), mesh_repo.root),
        (("render",), mesh_repo.root),
        (("init", str(tmp_path / "new"), "--mesh-id", "m", "--repo-url", "/srv/m.git"), tmp_path),
    ):
        result = run_meshgen_process(*args, cwd=cwd, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "git was not found on PATH" in one_error_line(result.stderr), args
    assert capture(mesh_repo.root) == before
    assert not (tmp_path / "new").exists()


def test_9_a_first_render_by_repo_path_needs_no_git(mesh_repo: MeshRepo, tmp_path: Path) -> None:
    """With --repo, render finds the mesh without git. The first render in a repository
    (no tree cache yet) also has git build its status caches: without git it skips that."""
    (mesh_repo.root / ".git" / "meshgen-tree-cache").unlink()
    (tmp_path / "empty-bin").mkdir()
    env = {"PATH": str(tmp_path / "empty-bin")}
    result = run_meshgen_process("render", "--repo", str(mesh_repo.root), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Nothing to do" in result.stdout
    assert (mesh_repo.root / ".git" / "meshgen-tree-cache").is_file()


# -- 10. errors that were not one line ----------------------------------------------------


def test_10_a_control_character_is_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mesh.yaml").write_text(
        MESH.replace("REPLICAS", "2").replace("c1\n", "c\x011\n", 1)
    )
    result = run_cli(capsys, "render", "--check", "--repo", str(tmp_path))
    line = one_error_line(result.stderr)
    assert result.exit_code == 2 and "mesh.yaml:7: column 12: the control character U+0001" in line


def test_10_an_unknown_key_with_a_newline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mesh.yaml").write_text(MESH.replace("REPLICAS", "2") + '"bad\\nkey": 1\n')
    result = run_cli(capsys, "render", "--check", "--repo", str(tmp_path))
    line = one_error_line(result.stderr)
    assert result.exit_code == 2 and "'bad\\nkey': unknown key" in line


def test_10_meshgen_without_arguments_prints_the_usage(tmp_path: Path) -> None:
    for args in ((), ("ca",), ("tools",)):
        result = run_meshgen_process(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert result.stderr.startswith("Usage: meshgen") and "error:" not in result.stderr
        assert "Commands: " in result.stderr and "--help" in result.stderr
        assert len(result.stderr.splitlines()) == 3


def test_10_a_megabyte_value_is_echoed_as_an_excerpt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for value in ("x" * 1_000_000, "x" * 10_000):
        (tmp_path / "mesh.yaml").write_text(
            MESH.replace("REPLICAS", "2").replace("meshID: m", f"meshID: {value}")
        )
        result = run_cli(capsys, "render", "--check", "--repo", str(tmp_path))
        line = one_error_line(result.stderr)
        assert result.exit_code == 2 and "mesh.yaml:3" in line and len(line) < 300, len(line)
        assert f"({len(value)} characters" in line or f"{len(value)} characters" in line


# -- what the campaign found beyond the list --------------------------------------


def test_campaign_found_init_recovers_before_it_looks_for_mesh_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An init into an existing folder killed after writing mesh.yaml but before committing
    used to make the next init refuse ("mesh.yaml already exists") with the journal pending."""
    folder = tmp_path / "mesh"
    folder.mkdir()
    (folder / "notes.txt").write_text("ours\n")
    killed = killed_at_git_step(
        "commit", "init", str(folder), "--mesh-id", "m", "--repo-url", "/srv/m.git"
    )
    assert killed.returncode == -signal.SIGKILL
    assert (folder / "mesh.yaml").exists() and (folder / ".git/meshgen-txn").is_dir()
    again = run_cli(capsys, "init", str(folder), "--mesh-id", "m", "--repo-url", "/srv/m.git")
    assert again.exit_code == 0, again.stderr
    assert "rolled back the interrupted `meshgen init`" in again.stderr
    assert (folder / "notes.txt").read_text() == "ours\n" and not leftovers(folder)
    assert git(folder, "log", "--format=%s") == "Initialize Istio mesh m with meshgen"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: [a, b]\nkind: Mesh\n", "apiVersion a list of 2 items is not one"),
        ("apiVersion: {a: 1}\nkind: Mesh\n", "apiVersion a mapping of 1 key is not one"),
        ("a: &x 1\nb: &x 2\napiVersion: meshgen.io/v1alpha1\n", "anchors and aliases"),
    ],
    ids=["apiversion-list", "apiversion-mapping", "reused-anchor"],
)
def test_campaign_found_odd_documents_end_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    """The fuzzer found an apiVersion that is a list (a TypeError in the migration lookup)
    and a reused anchor (ruamel's warning printed on stderr)."""
    (tmp_path / "mesh.yaml").write_text(text)
    result = run_meshgen_process("render", "--check", "--repo", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and message in one_error_line(result.stderr)
    assert result.stderr.count("\n") == 1
