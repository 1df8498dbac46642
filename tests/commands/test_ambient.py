"""Ambient mode through the commands, on real repositories: `init --dataplane ambient` and a
two-network mesh with Flux, a sidecar mesh switched to ambient with Argo CD (a mesh.yaml edit,
`render`, and what `diff` tells the reviewer), both passing `validate` with the real charts of
Istio 1.29.6 and the Istio and Gateway API CRDs; primary-remote refused with exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import git, run_cli, upstream_root
from meshgen import spec
from meshgen.commands import validate
from meshgen.validation import ERROR, UNCHECKED, WARNING

ISTIO = "1.29.6"
URL = "https://git.example.com/mesh.git"
GATEWAY_API = "v1.4.1"  # what Istio 1.29 is built against


@pytest.fixture(scope="module")
def upstream() -> Path:
    root = upstream_root()
    needed = [
        root / "istio" / ISTIO / "charts",
        root / "gateway-api" / GATEWAY_API / "crds" / "standard",
        root / "argocd",
        root / "flux",
        root / "external-secrets",
    ]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"upstream data not found ({', '.join(missing)}): needs ../shared/upstream")
    return root.resolve()


def crds(upstream: Path) -> tuple[Path, ...]:
    return (
        upstream / "istio" / ISTIO / "crds",
        upstream / "gateway-api" / GATEWAY_API / "crds" / "standard",
        upstream / "argocd" / "v3.5.1" / "crds",
        upstream / "flux" / "sc-v1.9.1_kc-v1.9.4_hc-v1.6.3" / "crds",
        upstream / "external-secrets" / "v2.9.0" / "crds",
    )


def assert_clean(root: Path, upstream: Path) -> None:
    """validate finds no problem and leaves nothing unchecked (warnings about the release
    itself, such as its end of support, are the catalogue's and allowed)."""
    options = validate.Options(
        repo=root, crds=crds(upstream), charts=upstream / "istio" / ISTIO / "charts", jobs=2
    )
    findings = validate.collect(options)
    bad = [f for f in findings if f.severity in (ERROR, UNCHECKED)]
    assert bad == [], "\n".join(f"{f.check} {f.where()}: {f.message}" for f in bad)
    assert {f.check for f in findings if f.severity == WARNING} <= {"mesh"}


def new_repo(tmp_path: Path, capsys: pytest.CaptureFixture[str], *init: str) -> Path:
    root = tmp_path / "mesh"
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", str(origin))
    args = ["init", str(root), "--mesh-id", "mesh1", "--repo-url", URL, "--istio-version", ISTIO]
    result = run_cli(capsys, *args, *init)
    assert result.exit_code == 0, result.stderr
    for name, network in (("cluster-1", "network1"), ("cluster-2", "network2")):
        add = ["new-cluster", name, "--network", network, "--east-west-gateway"]
        result = run_cli(capsys, *add, "--repo", str(root))
        assert result.exit_code == 0, result.stderr
        git(root, "switch", "-q", "main")
        git(root, "merge", "-q", "--ff-only", f"meshgen/add-cluster-{name}")
    return root


def test_init_ambient_with_flux_renders_and_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], upstream: Path, tools: dict[str, Path]
) -> None:
    root = new_repo(tmp_path, capsys, "--dataplane", "ambient", "--engine", "flux")
    text = (root / "mesh.yaml").read_text()
    assert "\ndataplane: ambient\n" in text
    # Export a service and add a waypoint by hand (the commented example init wrote).
    text = text.replace("# globalServices:\n#   - {", "globalServices:\n  - {")
    text = text.replace("# waypoints:\n#   - {", "waypoints:\n  - {")
    (root / "mesh.yaml").write_text(text)
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Export helloworld, waypoint for sample")
    mesh = spec.parse((root / "mesh.yaml").read_text()).mesh
    assert mesh.global_services == (spec.GlobalService("sample", "helloworld"),)
    for cluster in ("cluster-1", "cluster-2"):
        charts = root / "clusters" / cluster / "charts"
        assert {p.name for p in charts.glob("*.yaml")} >= {"istio-cni.yaml", "ztunnel.yaml"}
        assert (root / "clusters" / cluster / "waypoints" / "sample" / "waypoints.yaml").is_file()
    readme = (root / "README.md").read_text()
    assert "kubectl label service helloworld -n sample istio.io/global=true" in readme
    assert_clean(root, upstream)


def test_a_sidecar_mesh_switches_to_ambient_with_an_edit_and_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], upstream: Path, tools: dict[str, Path]
) -> None:
    root = new_repo(tmp_path, capsys)
    git(root, "push", "-q", "-u", "origin", "main")
    git(root, "switch", "-q", "-c", "ambient")
    text = (
        (root / "mesh.yaml")
        .read_text()
        .replace("repository:\n", "dataplane: ambient\nrepository:\n", 1)
    )
    (root / "mesh.yaml").write_text(text)
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Switch to ambient")

    result = run_cli(capsys, "diff", "--format", "json", "--repo", str(root))
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    summary = report["summary"]
    assert summary[0] == (
        "Data plane: sidecar -> ambient. 2 cluster(s) (cluster-1, cluster-2) get the Gateway "
        f"API CRDs {GATEWAY_API}, istio-cni and ztunnel; istiod switches to the ambient profile "
        "with multi-network on and one service-scope selector (istio.io/global=true)."
    )
    assert "replaced by a Gateway of class istio-east-west (HBONE, port 15008)" in summary[1]
    assert "migration order" in summary[2]
    clusters = {c["name"]: c for c in report["clusters"]}
    assert set(clusters) == {"cluster-1", "cluster-2"}
    for name, cluster in clusters.items():
        values = {(v["file"], v["key"]): v["after"] for v in cluster["values"]}
        assert values[("istiod.yaml", "profile")] == "ambient"
        assert values[("ztunnel.yaml", "multiCluster.clusterName")] == name
        objects = {(o["source"], o["object"]): o["change"] for o in cluster["objects"]}
        assert objects[("east-west-gateway", "Gateway istio-system/istio-eastwestgateway")] == (
            "added"
        )
        assert objects[("mesh-config", "Gateway istio-system/cross-network-gateway")] == "removed"
        remote = [o for (source, o) in objects if source == "gateway-api-crds"]
        assert remote == [
            "remote resource https://github.com/kubernetes-sigs/gateway-api/releases/download/"
            f"{GATEWAY_API}/standard-install.yaml"
        ]
    assert report["files"]["clusters/cluster-1/values/gateway.yaml"] == "removed"
    assert report["files"]["clusters/cluster-1/values/ztunnel.yaml"] == "added"
    assert_clean(root, upstream)


def test_primary_remote_is_refused_in_an_ambient_mesh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = new_repo(tmp_path, capsys, "--dataplane", "ambient")
    before = (root / "mesh.yaml").read_text()
    head = git(root, "rev-parse", "HEAD")
    args = ["new-cluster", "remote-1", "--network", "network1", "--role", "remote"]
    args += ["--control-plane", "cluster-1", "--discovery-address", "192.0.2.7"]
    result = run_cli(capsys, *args, "--repo", str(root))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "primary-remote" in result.stderr and "ambient" in result.stderr
    assert (root / "mesh.yaml").read_text() == before
    assert git(root, "rev-parse", "HEAD") == head
    assert "meshgen/add-cluster-remote-1" not in git(root, "branch", "--list")

    # The same by hand: render refuses it, naming the field's line.
    text = before + (
        "  - name: remote-1\n    network: network1\n    role: remote\n    controlPlane: cluster-1\n"
    )
    (root / "mesh.yaml").write_text(text)
    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 2
    assert f"mesh.yaml:{len(text.splitlines()) - 1}: clusters[2].role" in result.stderr
    assert "primary-remote" in result.stderr
