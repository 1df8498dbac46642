"""Flux through the commands: `init --engine flux`, switching engines with `render`, and
`flux bootstrap`'s folder, which meshgen must never touch."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import MeshRepo, age_key, flux_bootstrap, git, run_cli, tree_bytes
from meshgen import manifest, spec
from meshgen.adapters import kustomize

URL = "https://git.example.com/m.git"


def add_and_merge(capsys: pytest.CaptureFixture[str], root: Path, name: str, network: str) -> None:
    result = run_cli(capsys, "new-cluster", name, "--network", network, "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    git(root, "switch", "-q", "main")
    git(root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")


def set_engine(root: Path, engine: str) -> None:
    mesh = root / "mesh.yaml"
    text = mesh.read_text()
    old = "engine: flux" if "engine: flux" in text else "engine: argocd"
    mesh.write_text(text.replace(old, f"engine: {engine}"))


def split(files: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(engine-neutral files: values, overlays, schema; the engines' files, the README and the
    record of every generated file)."""

    def neutral(path: str) -> bool:
        parts = path.split("/")
        if path == manifest.PATH:
            return False
        if parts[0] in ("overlays", ".meshgen"):
            return True
        if path.endswith("/values/kustomization.yaml"):  # Flux's ConfigMap generator
            return False
        return parts[0] == "clusters" and parts[2] in ("istio-system", "mesh-config", "values")

    return (
        {p: b for p, b in files.items() if neutral(p)},
        {p: b for p, b in files.items() if not neutral(p)},
    )


def test_init_with_flux_commits_a_flux_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "mesh"
    result = run_cli(
        capsys, "init", str(root), "--mesh-id", "m", "--repo-url", URL, "--engine", "flux"
    )
    assert result.exit_code == 0, result.stderr
    assert spec.parse((root / "mesh.yaml").read_text()).mesh.engine == "flux"
    add_and_merge(capsys, root, "c1", "n1")
    committed = set(git(root, "ls-files").splitlines())
    assert {"clusters/c1/stages.yaml", "clusters/c1/charts/istiod.yaml"} <= committed
    assert not [p for p in committed if p.startswith("bootstrap/")]
    assert "Flux" in (root / "README.md").read_text()


def test_switching_engines_moves_only_engine_files_and_spares_flux_system(
    tmp_path: Path, mesh_repo: MeshRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    root = mesh_repo.root
    add_and_merge(capsys, root, "c1", "n1")
    add_and_merge(capsys, root, "c2", "n2")
    argo = tree_bytes(root)
    argo_neutral, _ = split(argo)

    set_engine(root, "flux")
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    assert "removed  bootstrap/argocd/project.yaml" in result.stdout
    assert "removed  clusters/c1/applications/istiod.yaml" in result.stdout
    assert "wrote    clusters/c2/stages.yaml" in result.stdout
    flux = tree_bytes(root)
    flux_neutral, flux_engine = split(flux)
    assert flux_neutral == argo_neutral  # values and overlays: byte for byte
    assert not (root / "bootstrap").exists()
    assert "clusters/c2/charts/istio-eastwestgateway.yaml" in flux_engine

    # flux bootstrap on each cluster commits its folder; the clusters then build.
    for cluster in ("c1", "c2"):
        flux_bootstrap(root, cluster, str(mesh_repo.origin), "main")
        assert "kind: HelmRelease" in kustomize.build(root / "clusters" / cluster / "charts")
        assert "name: flux-system" in kustomize.build(root / "clusters" / cluster)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "switch to flux and bootstrap")
    bootstrapped = tree_bytes(root)
    check = run_cli(capsys, "render", "--check", "--repo", str(root))
    assert check.exit_code == 0, check.stdout + check.stderr

    # Back to Argo CD: the Flux files go, flux-system stays exactly as bootstrap wrote it.
    set_engine(root, "argocd")
    back = run_cli(capsys, "render", "--repo", str(root))
    assert back.exit_code == 0, back.stderr
    after = tree_bytes(root)
    flux_system = {p: b for p, b in bootstrapped.items() if "/flux-system/" in p}
    assert len(flux_system) == 6
    assert {p: b for p, b in after.items() if "/flux-system/" in p} == flux_system
    assert {p: b for p, b in after.items() if "/flux-system/" not in p} == argo


def test_removing_a_cluster_keeps_its_flux_system_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "mesh"
    assert run_cli(capsys, "init", str(root), "--mesh-id", "m", "--repo-url", URL,
                   "--engine", "flux").exit_code == 0  # fmt: skip
    add_and_merge(capsys, root, "c1", "n1")
    folder = flux_bootstrap(root, "c1", URL, "main")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    mesh = (root / "mesh.yaml").read_text()
    (root / "mesh.yaml").write_text(mesh[: mesh.rindex("\nclusters:")] + "\nclusters: []\n")
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    assert "removed  clusters/c1/stages.yaml" in result.stdout
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    remaining = sorted(p.relative_to(root / "clusters/c1").as_posix() for p in
                       (root / "clusters/c1").rglob("*") if p.is_file())  # fmt: skip
    assert remaining == [f"flux-system/{name}" for name in sorted(before)]


def test_init_with_sops_writes_recipients_and_the_sops_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = age_key(tmp_path / "keys", "a"), age_key(tmp_path / "keys", "b")
    root = tmp_path / "mesh"
    result = run_cli(
        capsys, "init", str(root), "--mesh-id", "m", "--repo-url", URL, "--engine", "flux",
        "--secrets", "sops", "--age-recipient", first.recipient,
        "--age-recipient", second.recipient,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    mesh = spec.parse((root / "mesh.yaml").read_text()).mesh
    assert mesh.sops_age_recipients == (first.recipient, second.recipient)
    assert ".sops.yaml" in git(root, "ls-files").splitlines()
    assert f"{first.recipient},{second.recipient}" in (root / ".sops.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "flux", "--secrets", "sops"], "--age-recipient"),
        (
            ["--secrets", "sops", "--age-recipient", "age1" + "q" * 58],
            "provider sops needs the flux engine",
        ),
        (
            ["--engine", "flux", "--secrets", "sops", "--age-recipient", "not-a-key"],
            "'not-a-key' is not allowed",
        ),
    ],
)
def test_init_rejects_sops_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    root = tmp_path / "mesh"
    result = run_cli(capsys, "init", str(root), "--mesh-id", "m", "--repo-url", URL, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not root.exists()
