"""Helpers shared by the tests (imported as ``helpers``; see pytest's pythonpath setting)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_ENV = "MESHGEN_UPSTREAM_DIR"


def upstream_root() -> Path:
    """Upstream data for conformance tests: $MESHGEN_UPSTREAM_DIR, else ../shared/upstream."""
    configured = os.environ.get(UPSTREAM_ENV)
    if configured:
        return Path(configured).expanduser()
    return REPO_ROOT / ".." / "shared" / "upstream"


def require_upstream(*folders: str) -> Path:
    """The upstream root, once these folders (relative to it) are all there; else the test is
    skipped, naming what is missing."""
    root = upstream_root()
    missing = [str(root / f) for f in folders if not (root / f).is_dir()]
    if missing:
        pytest.skip(f"upstream data not found ({', '.join(missing)}): needs ../shared/upstream")
    return root


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Mesh Tester",
    "GIT_AUTHOR_EMAIL": "tester@example.com",
    "GIT_COMMITTER_NAME": "Mesh Tester",
    "GIT_COMMITTER_EMAIL": "tester@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str, cwd: Path | None = None) -> CliResult:
    """Run the real CLI entry point in-process (through its error boundary)."""
    from meshgen.cli import main

    capsys.readouterr()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    code = exit_info.value.code
    return CliResult(
        exit_code=code if isinstance(code, int) else 1, stdout=captured.out, stderr=captured.err
    )


def run_meshgen_process(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run meshgen as a separate process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "meshgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class MeshRepo:
    root: Path
    origin: Path


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` except .git, by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


MINIMAL_MESH = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: mesh1
repository:
  url: https://git.example.com/mesh.git
networks: []
clusters: []
"""


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write rendered files (POSIX paths relative to ``root``) to disk."""
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def commit_rendered(root: Path, document: Any) -> Path:
    """``document`` (a spec.MeshDocument) rendered with its mesh.yaml, committed in a new repo."""
    from meshgen import library, spec
    from meshgen.render import render_repository

    files = render_repository(document.mesh, library.load())
    write_files(root, {**files, spec.MESH_FILE: spec.to_text(document)})
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "mesh")
    return root


def edit(root: Path, path: str, old: str, new: str) -> None:
    """Replace the first ``old`` in a file of ``root`` (which must contain it)."""
    target = root / path
    text = target.read_text()
    assert old in text, f"{path} has no {old!r}"
    target.write_text(text.replace(old, new, 1))


def two_network_mesh(text: str = MINIMAL_MESH):
    """The README scenario: cluster-1 on network1, then cluster-2 on network2 (which turns on
    the gateways of both)."""
    from meshgen import spec

    document = spec.parse(text)
    document, _ = spec.add_cluster(document, spec.NewCluster("cluster-1", "network1"))
    document, _ = spec.add_cluster(document, spec.NewCluster("cluster-2", "network2"))
    return document


def pin_istio(document: Any, version: str) -> Any:
    """``document`` (a spec.MeshDocument) with istio.version set: tests that run the upstream
    charts of ../shared/upstream/istio pin a release found there."""
    import copy

    from meshgen import spec

    tree = copy.deepcopy(document.tree)
    tree.setdefault("istio", {})["version"] = version
    return spec.from_tree(tree)


def release_notes(root: Path) -> set[str]:
    """What the release catalogue says (as validate warnings) about the Istio version the
    mesh in ``root`` pins, today: tests that expect exact findings leave these out."""
    import datetime

    from meshgen import library, releases, spec

    mesh = spec.parse((root / spec.MESH_FILE).read_text()).mesh
    today = datetime.datetime.now(datetime.timezone.utc).date()
    notices = releases.version_notices(
        library.istio_releases(), mesh.istio_version, mesh.kubernetes_version, today
    )
    return {notice.message for notice in notices}


def flux_bootstrap(root: Path, cluster: str, url: str, branch: str) -> Path:
    """What ``flux bootstrap git --path=clusters/<cluster>`` commits (flux2 v2.9 layout):
    ``flux-system/`` with the components, the sync objects and a kustomization listing both.
    The components file holds only the namespace here (the real one is the controllers).
    Flux takes only http(s):// and ssh:// URLs: bootstrap records ``git@host:path`` as
    ``ssh://git@host/path``."""
    from meshgen.render.engines.flux import bootstrap_url

    url = bootstrap_url(url)
    folder = root / "clusters" / cluster / "flux-system"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gotk-components.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n", encoding="utf-8"
    )
    (folder / "gotk-sync.yaml").write_text(
        f"""\
# This manifest was generated by flux. DO NOT EDIT.
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: {branch}
  secretRef:
    name: flux-system
  url: {url}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m0s
  path: ./clusters/{cluster}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
""",
        encoding="utf-8",
    )
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n- gotk-components.yaml\n- gotk-sync.yaml\n",
        encoding="utf-8",
    )
    return folder


@dataclass(frozen=True)
class AgeKey:
    recipient: str  # the public key, age1...
    key_file: Path  # the identity file sops reads through SOPS_AGE_KEY_FILE


def age_key(folder: Path, name: str = "age") -> AgeKey:
    """A fresh age identity (real X25519 keys from pyrage), written as an age key file."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / f"{name}.agekey"
    key_file.write_text(f"{identity}\n", encoding="utf-8")
    return AgeKey(recipient=str(identity.to_public()), key_file=key_file)


def remote_secret_manifest(cluster: str, server: str = "https://203.0.113.7:6443") -> str:
    """Exactly what ``istioctl create-remote-secret --name <cluster>`` prints (istio 1.2x):
    the header comment, the Secret with ``creationTimestamp: null``, a kubeconfig with one
    cluster, context and user, and the closing ``---``."""
    return f"""\
# This file is autogenerated, do not edit.
apiVersion: v1
kind: Secret
metadata:
  annotations:
    networking.istio.io/cluster: {cluster}
  creationTimestamp: null
  labels:
    istio/multiCluster: "true"
  name: istio-remote-secret-{cluster}
  namespace: istio-system
stringData:
  {cluster}: |
    apiVersion: v1
    clusters:
    - cluster:
        certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
        server: {server}
      name: {cluster}
    contexts:
    - context:
        cluster: {cluster}
        user: {cluster}
      name: {cluster}
    current-context: {cluster}
    kind: Config
    preferences: {{}}
    users:
    - name: {cluster}
      user:
        token: secret-token-of-{cluster}
---
"""


def mesh_text(networks: str, clusters: str, header: str = MINIMAL_MESH) -> str:
    """``header`` (MINIMAL_MESH) with these ``networks:`` and ``clusters:`` list items."""
    return header.replace(
        "networks: []\nclusters: []\n", f"networks:\n{networks}clusters:\n{clusters}"
    )


def encrypt_cacerts(root: Path, mesh: Any, key_size: int = 2048) -> dict[str, dict[str, bytes]]:
    """Encrypt a fresh ``cacerts`` (one root, an intermediate per cluster running istiod) with
    the real sops into each cluster's fixed place under ``root``, as ``meshgen encrypt-cacerts``
    does, all in memory. Returns the bundles by cluster, to compare with what decrypts."""
    import datetime

    from meshgen.adapters import sops
    from meshgen.commands.encrypt_cacerts import cacerts_secret
    from meshgen.render import yamltext
    from meshgen.render.plan import system_namespace
    from meshgen.render.secrets.sops import cacerts_path
    from meshgen.trust import ca

    now = datetime.datetime.now(datetime.timezone.utc)
    root_ca = ca.create_root(now, key_size=key_size)
    bundles = {}
    for cluster in mesh.clusters:
        if not cluster.runs_istiod:
            continue
        bundle = ca.issue_intermediate(
            cluster.name, root_ca.cert_pem, root_ca.key_pem, now, key_size=key_size
        ).files
        secret = cacerts_secret(bundle, system_namespace(mesh, cluster))
        target = cacerts_path(mesh, cluster)
        (root / target).write_text(
            sops.encrypt_text(yamltext.dump(secret), target, root), encoding="utf-8"
        )
        bundles[cluster.name] = bundle
    return bundles


def record_as_written(root: Path) -> None:
    """Rewrite ``.meshgen/generated.sha256`` for the generated files as they are now: what the
    meshgen that wrote them would have recorded (for tests that play another meshgen)."""
    from meshgen import manifest

    record = root / manifest.PATH
    paths = manifest.parse(record.read_text(encoding="utf-8"))
    texts = {path: (root / path).read_text(encoding="utf-8") for path in paths}
    record.write_text(manifest.text(texts), encoding="utf-8")
