"""Issue 12's reliability campaign, part of the suite: bounded and seeded.

- kills: every writing command runs as a real process and gets a real SIGKILL, SIGTERM or
  SIGINT (to it alone or to its process group) at a random moment, often aimed at the moment
  it changes the repository; afterwards the repository is its old state or its new one,
  `git fsck` is clean, nothing is left behind and no Git object holds a secret;
- concurrent writers: two commands started 50 ms apart never both report success on a
  wrong result (one lock per repository);
- hand edits: an edited generated file is never overwritten or removed without
  `--overwrite-edits`;
- fuzzing: random `mesh.yaml` documents and random command lines end with exit code 0, 1 or 2,
  never a traceback, and an error is one short line.

`pytest -m slow tests/test_campaign.py` runs the long variants (many more rounds);
`MESHGEN_CAMPAIGN_SEED=N` changes the seed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import campaign
from campaign import WRITERS, Material, Writer
from helpers import git, run_cli, tree_bytes
from repo_state import fsck_errors, leftovers

SUITE_ROUNDS = 3  # per writing command
SLOW_ROUNDS = 25


@pytest.fixture(scope="module")
def arsenal(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Path], Material]:
    """The template repositories and the secret material, made once by the real commands."""
    base = tmp_path_factory.mktemp("campaign")
    with campaign.git_identity(base), campaign.captured_output() as output:
        material = campaign.make_material(base / "material", output)
        templates = campaign.make_templates(base / "templates", output)
    return templates, material


# -- kills --------------------------------------------------------------------------------


def _finish_after(
    writer: Writer, root: Path, capsys: pytest.CaptureFixture[str], material: Material
) -> int:
    """What a person does next: run meshgen again (``recover``, or init once more)."""
    if writer.name.startswith("init"):
        args = campaign.command_line(writer, root, material)
        return run_cli(capsys, *args).exit_code
    return run_cli(capsys, "recover", "--repo", str(root)).exit_code


def _kill_rounds(
    writer: Writer,
    rounds: int,
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, int]:
    templates, material = arsenal
    template = templates[writer.template]
    # The finished run: the new state, and how long the command takes.
    reference = campaign.copy_template(template, tmp_path / "reference")
    old = campaign.state_of(reference)
    started = time.monotonic()
    done = campaign.run_writer(writer, reference, material, capsys)
    # A process takes longer than this run: Python's start and meshgen's imports.
    duration = 1.5 * (time.monotonic() - started) + 0.4
    assert done.exit_code == 0, done.stderr
    new = campaign.state_of(reference)
    assert new != old
    outcomes: dict[str, int] = {}
    random_ = campaign.rng("kill", writer.name)
    for number in range(rounds):
        root = campaign.copy_template(template, tmp_path / f"round-{number}")
        kill = campaign.plan_kill(random_, duration)
        result = campaign.attack(writer, root, material, kill)
        where = f"{writer.name} round {number}: {kill}, exit {result.returncode}"
        assert "Traceback" not in result.stderr, f"{where}\n{result.stderr}"
        if kill.signal != signal.SIGKILL and result.returncode != 0:
            # An orderly stop, with no help from the next run: rolled back in-process (or
            # complete already, and it says so), exit 128 + signal, one line.
            state = campaign.state_of(root)
            complete = "after the change was complete" in result.stderr
            expected = "new" if complete else "old"
            assert campaign.classify(state, old, new, writer.exact) == expected, where
            assert result.returncode in (-kill.signal, 128 + kill.signal), where
        finished = _finish_after(writer, root, capsys, material)
        assert finished in (0, 2), where
        state = campaign.state_of(root)
        outcome = campaign.classify(state, old, new, writer.exact)
        assert outcome in ("old", "new"), f"{where}: {outcome}"
        if writer.name.startswith("init") and finished == 0:
            assert outcome == "new", where
        assert not leftovers(root), f"{where}: {leftovers(root)}"
        if root.exists():
            assert not fsck_errors(root), f"{where}: {fsck_errors(root)}"
            assert not campaign.secrets_in_objects(root), where
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        shutil.rmtree(root.parent, ignore_errors=True)
    return outcomes


@pytest.mark.parametrize("writer", WRITERS, ids=[w.name for w in WRITERS])
def test_killed_at_random_the_repository_is_old_or_new(
    writer: Writer,
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _kill_rounds(writer, SUITE_ROUNDS, arsenal, tmp_path, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("writer", WRITERS, ids=[w.name for w in WRITERS])
def test_killed_at_random_many_times(
    writer: Writer,
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcomes = _kill_rounds(writer, SLOW_ROUNDS, arsenal, tmp_path, capsys)
    print(f"{writer.name}: {outcomes}")


# -- concurrent writers -------------------------------------------------------------------


def _start(root: Path, *args: str, wait: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ}
    if wait is not None:
        env["MESHGEN_LOCK_WAIT"] = wait
    return subprocess.Popen(
        [sys.executable, "-m", "meshgen", *args, "--repo", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _consistent(root: Path, branch: str, cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The branch holds its cluster, and everything on it is what its mesh.yaml renders."""
    assert f"name: {cluster}" in git(root, "show", f"{branch}:mesh.yaml")
    checkout = root.parent / f"check-{cluster}"
    git(root, "worktree", "add", "-q", str(checkout), branch)
    try:
        check = run_cli(capsys, "render", "--check", "--repo", str(checkout))
        assert check.exit_code == 0, check.stdout + check.stderr
    finally:
        git(root, "worktree", "remove", "--force", str(checkout))


def _concurrent_rounds(
    rounds: int,
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    templates, _ = arsenal
    random_ = campaign.rng("concurrent")
    for number in range(rounds):
        root = campaign.copy_template(templates["argocd"], tmp_path / f"round-{number}")
        wait = random_.choice([None, "0"])  # wait for the lock, or refuse at once
        second = random_.choice(["new-cluster", "render", "remove-cluster"])
        first = _start(root, "new-cluster", "c8", "--network", "n1", wait=wait)
        time.sleep(0.05)
        if second == "new-cluster":
            other = _start(root, "new-cluster", "c9", "--network", "n2", wait=wait)
        elif second == "remove-cluster":
            other = _start(root, "remove-cluster", "c3", wait=wait)
        else:
            other = _start(root, "render", wait=wait)
        results = [(p, *p.communicate(timeout=120)) for p in (first, other)]
        where = f"round {number} ({second}, wait {wait})"
        for process, _, stderr in results:
            assert "Traceback" not in stderr, where
            assert process.returncode in (0, 2), f"{where}: {stderr}"
            if process.returncode == 2:
                assert "is changing this repository" in stderr, f"{where}: {stderr}"
        if first.returncode == 0:
            _consistent(root, "meshgen/add-cluster-c8", "c8", capsys)
        if other.returncode == 0 and second == "new-cluster":
            _consistent(root, "meshgen/add-cluster-c9", "c9", capsys)
        if other.returncode == 0 and second == "remove-cluster":
            branch = "meshgen/remove-cluster-c3"
            assert "name: c3" not in git(root, "show", f"{branch}:mesh.yaml"), where
        assert not leftovers(root), where
        assert not fsck_errors(root), where
        # Whatever happened, the work tree is what its mesh.yaml renders (nothing half-done).
        check = run_cli(capsys, "render", "--check", "--repo", str(root))
        assert check.exit_code == 0, f"{where}: {check.stdout}"
        shutil.rmtree(root.parent, ignore_errors=True)


def test_concurrent_writers_hold_one_lock(
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _concurrent_rounds(4, arsenal, tmp_path, capsys)


@pytest.mark.slow
def test_concurrent_writers_many_rounds(
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _concurrent_rounds(30, arsenal, tmp_path, capsys)


# -- hand edits ---------------------------------------------------------------------------


def _edit_rounds(
    rounds: int,
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    templates, _ = arsenal
    random_ = campaign.rng("edits")
    root = campaign.copy_template(templates["argocd"], tmp_path / "edits")
    pristine = tree_bytes(root)
    generated = sorted(
        line.split("  ", 1)[1]
        for line in (root / ".meshgen/generated.sha256").read_text().splitlines()
    )
    commands = [
        ["render"],
        ["new-cluster", "c9", "--network", "n1", "--allow-dirty"],
        ["new-cluster", "c9", "--network", "n2", "--no-commit", "--allow-dirty"],
        ["remove-cluster", "c1", "--allow-dirty"],
        ["remove-cluster", "c4", "--no-commit", "--allow-dirty"],
    ]
    for number in range(rounds):
        git(root, "checkout", "-q", "-f", "main")
        git(root, "clean", "-qfdx")
        for branch in git(root, "branch", "--format=%(refname:short)").splitlines():
            if branch != "main":
                git(root, "branch", "-q", "-D", branch)
        assert tree_bytes(root) == pristine
        path = random_.choice(generated)
        target = root / path
        edited = target.read_bytes() + f"# hand edit {number}\n".encode()
        target.write_bytes(edited)
        if random_.random() < 0.5:
            git(root, "commit", "-qam", f"hand edit of {path}")
        args = random_.choice(commands)
        result = run_cli(capsys, *args, "--repo", str(root))
        where = f"round {number}: edited {path}, ran {args}"
        assert result.exit_code in (0, 2), f"{where}: {result.stderr}"
        if result.exit_code == 2:
            assert f"{path}: changed by hand" in result.stderr, f"{where}: {result.stderr}"
        # Never lost: whether the command refused or did not need to touch the file.
        assert target.is_file() and target.read_bytes() == edited, where
        assert not leftovers(root), where


def test_hand_edits_are_never_lost(
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _edit_rounds(12, arsenal, tmp_path, capsys)


@pytest.mark.slow
def test_hand_edits_are_never_lost_many_rounds(
    arsenal: tuple[dict[str, Path], Material],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _edit_rounds(150, arsenal, tmp_path, capsys)
