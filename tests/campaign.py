"""The reliability campaign of issue 12 as reusable parts: repositories to attack, the writing
commands and the ways to attack them (real processes, real signals, seeded randomness).

``tests/test_campaign.py`` runs a bounded, seeded share of it in the suite; the same tests
marked ``slow`` (``pytest --run-slow -m slow``) run many more rounds.
``MESHGEN_CAMPAIGN_SEED`` picks another seed.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from helpers import GIT_ENV, CliResult, age_key, git, remote_secret_manifest, run_cli
from repo_state import RepoState, capture
from trust_material import self_signed, service_account_token, write_kubeconfig

SEED = int(os.environ.get("MESHGEN_CAMPAIGN_SEED", "12"))
URL = "https://git.example.com/platform/mesh.git"
# Strings that must never reach a Git object, whatever happens (see secrets_in_objects).
SECRETS = (
    b"s3cret-url-password",
    b"tok-in-query",
    b"pw-in-api-server",
    b"secret-token-of-",
    b"tok-in-annotation",
    b"tok-in-comment",
    b"reader-token-",
    b"PRIVATE KEY",
)


def rng(*salt: object) -> random.Random:
    return random.Random(f"{SEED}:{':'.join(map(str, salt))}")


class _Output:
    """Enough of pytest's ``capsys`` for ``run_cli`` in fixtures wider than one test."""

    def __init__(self) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()

    def readouterr(self) -> Any:
        captured = SimpleNamespace(out=self.out.getvalue(), err=self.err.getvalue())
        for stream in (self.out, self.err):
            stream.seek(0)
            stream.truncate()
        return captured


@contextmanager
def captured_output() -> Iterator[Any]:
    output = _Output()
    with contextlib.redirect_stdout(output.out), contextlib.redirect_stderr(output.err):
        yield output


@contextmanager
def git_identity(tmp: Path) -> Iterator[None]:
    """The tests' git configuration, for fixtures wider than one test."""
    config = tmp / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = main\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(config))
        for key, value in GIT_ENV.items():
            patch.setenv(key, value)
        yield


def ok(capsys: pytest.CaptureFixture[str], *args: str) -> None:
    result = run_cli(capsys, *args)
    assert result.exit_code == 0, (args, result.stderr)


def add_and_merge(
    capsys: pytest.CaptureFixture[str], root: Path, name: str, network: str, *extra: str
) -> None:
    ok(capsys, "new-cluster", name, "--network", network, "--repo", str(root), *extra)
    git(root, "switch", "-q", "main")
    git(root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")


# -- the repositories ---------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """Secret material outside any repository, made once by the real commands."""

    folder: Path
    ca_root: Path
    bundle: Path  # c1's cacerts bundle
    kubeconfig: Path
    token: Path
    controller_cert: Path


def make_material(folder: Path, capsys: pytest.CaptureFixture[str]) -> Material:
    folder.mkdir(parents=True, exist_ok=True)
    ca_root, bundle = folder / "root", folder / "c1-bundle"
    ok(capsys, "ca", "init", "--out", str(ca_root), *KEY)
    ok(
        capsys,
        "ca",
        "issue",
        "c1",
        "--ca",
        str(ca_root),
        "--out",
        str(bundle),
        "--key-size",
        "2048",
    )
    _, api_ca = self_signed("api")
    kubeconfig = write_kubeconfig(folder / "kubeconfig", "https://203.0.113.9:6443", api_ca)
    token = folder / "token"
    token.write_text("reader-token-" + service_account_token(None)[:40])
    _, cert = self_signed("sealed-secrets")
    (folder / "controller.pem").write_bytes(cert)
    return Material(folder, ca_root, bundle, kubeconfig, token, folder / "controller.pem")


def other_istio_version(mesh_text: str) -> str:
    """``mesh.yaml`` text with another Istio version: every cluster's files change."""
    current = re.search(r'^  version: "?([0-9.]+)"?$', mesh_text, re.MULTILINE)
    assert current is not None, mesh_text
    other = "1.29.6" if current.group(1) != "1.29.6" else "1.30.3"
    return mesh_text.replace(current.group(0), f'  version: "{other}"', 1)


def make_templates(base: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """Each template is a folder holding ``mesh`` (the repository) and ``origin.git``."""
    templates: dict[str, Path] = {}

    def fresh(name: str, *init_args: str) -> Path:
        folder = base / name
        folder.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "--bare", str(folder / "origin.git")], check=True)
        root = folder / "mesh"
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        git(root, "remote", "add", "origin", str(folder / "origin.git"))
        if init_args:
            ok(capsys, "init", str(root), "--mesh-id", "m", "--repo-url", URL, *init_args)
        templates[name] = folder
        return root

    root = fresh("argocd", "--engine", "argocd")
    for index, network in ((1, "n1"), (2, "n2"), (3, "n1"), (4, "n2")):
        add_and_merge(capsys, root, f"c{index}", network)
    stale = base / "stale"
    shutil.copytree(base / "argocd", stale, symlinks=True)
    mesh = stale / "mesh" / "mesh.yaml"
    mesh.write_text(other_istio_version(mesh.read_text()))
    git(stale / "mesh", "commit", "-qam", "another Istio version, not rendered yet")
    templates["stale"] = stale
    older = base / "older"  # rendered at 1.30.3: an upgrade has somewhere to go
    shutil.copytree(base / "argocd", older, symlinks=True)
    mesh = older / "mesh" / "mesh.yaml"
    current = re.search(r'^  version: "?([0-9.]+)"?$', mesh.read_text(), re.MULTILINE)
    assert current is not None
    mesh.write_text(mesh.read_text().replace(current.group(0), '  version: "1.30.3"', 1))
    ok(capsys, "render", "--repo", str(older / "mesh"))
    git(older / "mesh", "add", "-A")
    git(older / "mesh", "commit", "-qm", "Istio 1.30.3")
    templates["older"] = older

    key = age_key(base / "keys")
    root = fresh("sops", "--engine", "flux", "--secrets", "sops", "--age-recipient", key.recipient)
    for index, network in ((1, "n1"), (2, "n2")):
        add_and_merge(capsys, root, f"c{index}", network)

    root = fresh("sealed", "--secrets", "sealed-secrets")
    for index, network in ((1, "n1"), (2, "n2")):
        add_and_merge(capsys, root, f"c{index}", network)

    fresh("unborn")  # git init and an origin: a new, empty repository
    plain = base / "plain"
    (plain / "mesh").mkdir(parents=True)
    (plain / "mesh" / "notes.txt").write_text("notes of the team, not a repository yet\n")
    templates["plain"] = plain
    templates["none"] = base / "none"
    (base / "none").mkdir()
    return templates


def _link_objects(source: str, target: str) -> object:
    """Git objects never change once written: share them (hard links), copy the rest."""
    if f"{os.sep}objects{os.sep}" in source and f"{os.sep}.git{os.sep}" in source:
        os.link(source, target)
        return target
    return shutil.copy2(source, target)


def copy_template(template: Path, target: Path) -> Path:
    """A copy of a template (the repository is ``target / "mesh"``)."""
    shutil.copytree(template, target, symlinks=True, copy_function=_link_objects)
    return target / "mesh"


# -- the writing commands -----------------------------------------------------------------


@dataclass(frozen=True)
class Writer:
    """A writing command, run against a copy of ``template``.

    ``exact``: a finished run always leaves the same files, index and trees (a commit made
    at another moment differs only in its metadata); otherwise (keys, timestamps, sops'
    randomised encryption) the new state is recognised by the paths the command changes.
    ``watch``: a path (relative to the repository's parent) that exists while the command
    changes the repository, to aim kills at that moment.
    """

    name: str
    template: str
    args: Callable[[Path, Material], list[str]]
    exact: bool = True
    watch: str = "mesh/.git/meshgen-txn"
    stdin: Callable[[], str] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


KEY = ("--key-size", "2048")


def _token(material: Material, root: Path) -> list[str]:
    return ["--token-file", str(material.token), "--output", _out(root)]


def _out(root: Path) -> str:
    return str(root.parent / "outside" / f"out-{time.monotonic_ns()}")


WRITERS = [
    Writer("new-cluster", "argocd", lambda r, m: ["new-cluster", "c9", "--network", "n2"]),
    Writer(
        "new-cluster-no-commit",
        "argocd",
        lambda r, m: ["new-cluster", "c9", "--network", "n1", "--no-commit"],
    ),
    Writer("remove-cluster", "argocd", lambda r, m: ["remove-cluster", "c2"]),
    Writer("set-cluster", "argocd", lambda r, m: ["set-cluster", "c1", "--region", "eu-1"]),
    Writer("render", "stale", lambda r, m: ["render"]),
    Writer(
        "upgrade-canary",
        "older",
        lambda r, m: ["upgrade", "--istio-version", "1.31.1", "--canary", "c1"],
    ),
    Writer(
        "upgrade-in-place",
        "older",
        lambda r, m: ["upgrade", "--istio-version", "1.31.1", "--strategy", "in-place"],
    ),
    Writer(
        "init-new-folder",
        "none",
        lambda r, m: ["init", str(r), "--mesh-id", "m", "--repo-url", URL],
        watch=".mesh.meshgen-init-*",
    ),
    Writer("init-repository", "unborn", lambda r, m: ["init", str(r), "--mesh-id", "m"]),
    Writer(
        "init-plain-folder",
        "plain",
        lambda r, m: ["init", str(r), "--mesh-id", "m", "--repo-url", URL],
        watch=".mesh.meshgen-init-*",
    ),
    Writer(
        "encrypt-remote-secret",
        "sops",
        lambda r, m: ["encrypt-remote-secret", "c1", "-"],
        exact=False,
        stdin=lambda: remote_secret_manifest("c1"),
    ),
    Writer(
        "encrypt-cacerts",
        "sops",
        lambda r, m: ["encrypt-cacerts", "c1", "--cacerts", str(m.bundle)],
        exact=False,
    ),
    Writer(
        "ca-issue",
        "argocd",
        lambda r, m: ["ca", "issue", "c1", "--ca", str(m.ca_root), "--out", _out(r), *KEY],
        exact=False,
    ),
    Writer(
        "remote-secret",
        "argocd",
        lambda r, m: ["remote-secret", "c1", "--kubeconfig", str(m.kubeconfig), *_token(m, r)],
        exact=False,
    ),
    Writer(
        "seal",
        "sealed",
        lambda r, m: ["seal", "c1", "--cert", str(m.controller_cert), "--cacerts", str(m.bundle)],
        exact=False,
    ),
]


def command_line(writer: Writer, root: Path, material: Material) -> list[str]:
    args = writer.args(root, material)
    return args if writer.name.startswith("init") else [*args, "--repo", str(root)]


def state_of(root: Path) -> RepoState | None:
    """The repository's state; None when the folder does not exist (before ``init``)."""
    return capture(root) if root.exists() else None


def changed_paths(before: RepoState | None, after: RepoState | None) -> set[str]:
    old = before.files if before else {}
    new = after.files if after else {}
    return {p for p in {*old, *new} if old.get(p) != new.get(p)}


def classify(
    state: RepoState | None, old: RepoState | None, new: RepoState | None, exact: bool
) -> str:
    """ "old", "new", or a description of the partial state."""
    if state == old:
        return "old"
    if exact:
        if state == new:
            return "new"
        assert state is not None
        return f"partial: {state.differences(new) if new else state}"
    assert state is not None and old is not None and new is not None
    if (state.head, state.refs, state.index) != (old.head, old.refs, old.index):
        return f"partial: git state {state.differences(old)}"
    expected = changed_paths(old, new)
    changed = changed_paths(old, state)
    if changed == expected and {p for p in expected if p in new.files} == {
        p for p in changed if p in state.files
    }:
        return "new"
    return f"partial: changed {sorted(changed)} of {sorted(expected)}"


def run_writer(writer: Writer, root: Path, material: Material, capsys: Any) -> CliResult:
    """The writer run to its end, in this process (the reference run of a campaign)."""
    with pytest.MonkeyPatch.context() as patch:
        text = writer.stdin() if writer.stdin else ""
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
        return run_cli(capsys, *command_line(writer, root, material))


@dataclass(frozen=True)
class Kill:
    signal: signal.Signals
    group: bool  # the whole process group (git children too), as a CI runner does
    delay: float  # seconds after the start, or after ``watch`` appeared
    aimed: bool  # wait for ``watch`` first


def plan_kill(random_: random.Random, duration: float) -> Kill:
    sig = random_.choice([signal.SIGKILL, signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
    aimed = random_.random() < 0.6
    delay = random_.uniform(0, 0.25) if aimed else random_.uniform(0.05, duration * 1.1)
    return Kill(sig, random_.random() < 0.5, delay, aimed)


def attack(
    writer: Writer, root: Path, material: Material, kill: Kill
) -> subprocess.CompletedProcess[str]:
    """Run the writer as a real process and send it a real signal, as planned."""
    process = subprocess.Popen(
        [sys.executable, "-m", "meshgen", *command_line(writer, root, material)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdin is not None
    if writer.stdin is not None:
        process.stdin.write(writer.stdin())
    process.stdin.close()
    process.stdin = None  # all of it is written: communicate() must not flush it again
    start = time.monotonic()
    if kill.aimed:
        parent = root.parent
        while process.poll() is None and time.monotonic() - start < 60:
            if list(parent.glob(writer.watch)):
                break
            time.sleep(0.0005)
    time.sleep(kill.delay)
    if process.poll() is None:
        try:
            if kill.group:
                os.killpg(process.pid, kill.signal)
            else:
                process.send_signal(kill.signal)
        except ProcessLookupError:
            pass
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def secrets_in_objects(root: Path) -> list[bytes]:
    """Which of SECRETS appear in any object of the repository, reachable or not."""
    if not (root / ".git").is_dir():
        return []
    objects = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    return [secret for secret in SECRETS if secret in objects]
