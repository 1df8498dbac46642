"""Where charts and images come from, as each engine renders it, checked with the real tools.

An OCI registry as ``istio.chartRepository`` becomes an Argo CD Helm source without a scheme and
Flux OCIRepositories with ``chartRef``, both valid for the engines' CRDs and resolved by
``validate``; ``istio.hub`` lands where the charts read a hub; the east-west gateway is sized
like upstream's default unless mesh.yaml says otherwise; Argo CD retries failed syncs. The
charts and CRDs are read from ../shared/upstream (skipped with a reason when absent).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import commit_rendered, edit, pin_istio, two_network_mesh, upstream_root, write_files
from meshgen import library, spec
from meshgen.adapters import helm, kustomize
from meshgen.errors import SpecError
from meshgen.render import render_repository
from meshgen.render.engines.argocd import SYNC_RETRY
from meshgen.validation import ERROR, UNCHECKED, helm_values, schemas

ISTIO = "1.30.3"
OCI = "oci://ghcr.io/istio/release/charts"
FLUX_CRDS = "flux/sc-v1.9.1_kc-v1.9.4_hc-v1.6.3/crds"
ARGOCD_CRDS = "argocd/v3.5.1/crds"
MIRROR_HUB = "harbor.example.com:5000/istio-mirror"


@pytest.fixture(scope="module")
def upstream() -> Path:
    root = upstream_root()
    needed = [root / "istio" / ISTIO / "charts", root / FLUX_CRDS, root / ARGOCD_CRDS]
    missing = [str(p) for p in needed if not p.is_dir()]
    if missing:
        pytest.skip(f"upstream data not found ({', '.join(missing)}): needs ../shared/upstream")
    return root


@pytest.fixture(scope="module")
def crds(upstream: Path) -> schemas.CrdIndex:
    return schemas.CrdIndex(
        [
            *sorted((upstream / FLUX_CRDS).glob("*.yaml")),
            upstream / ARGOCD_CRDS / "application-crd.yaml",
            upstream / ARGOCD_CRDS / "appproject-crd.yaml",
        ]
    )


def mesh_with(engine: str = "argocd", **istio: Any) -> spec.MeshDocument:
    """The README's two-network mesh on the upstream release, with these istio settings."""
    tree = copy.deepcopy(pin_istio(two_network_mesh(), ISTIO).tree)
    tree["istio"].update(istio)
    tree["gitops"] = {"engine": engine}
    return spec.from_tree(tree)


def render(document: spec.MeshDocument) -> dict[str, str]:
    return render_repository(document.mesh, library.load())


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def crd_problems(objects: list[dict[str, Any]], crds: schemas.CrdIndex) -> list[str]:
    return [
        f"{o['kind']} {o['metadata']['name']}: {p}"
        for o in objects
        for p in schemas.object_problems(o, crds)
    ]


# ------------------------------------------------------------------------------ OCI charts


def test_argocd_takes_an_oci_registry_as_a_helm_source_without_scheme(
    crds: schemas.CrdIndex,
) -> None:
    files = render(mesh_with(chartRepository=OCI))
    apps = [
        d
        for path, text in files.items()
        if "/applications/" in path or path.startswith("bootstrap/")
        for d in docs(text)
        if d.get("kind") in ("Application", "AppProject")
    ]
    charts = {}
    for app in apps:
        for source in app["spec"].get("sources", []):
            if "chart" in source:
                charts[(app["metadata"]["name"], source["chart"])] = source
    assert sorted(charts) == [
        ("cluster-1-istio-base", "base"),
        ("cluster-1-istio-eastwestgateway", "gateway"),
        ("cluster-1-istiod", "istiod"),
        ("cluster-2-istio-base", "base"),
        ("cluster-2-istio-eastwestgateway", "gateway"),
        ("cluster-2-istiod", "istiod"),
    ]
    for source in charts.values():
        assert source["repoURL"] == "ghcr.io/istio/release/charts"  # Helm OCI: no oci://
        assert source["targetRevision"] == ISTIO
    (project,) = [a for a in apps if a["kind"] == "AppProject"]
    assert "ghcr.io/istio/release/charts" in project["spec"]["sourceRepos"]
    assert OCI not in project["spec"]["sourceRepos"]
    assert crd_problems(apps, crds) == []


def test_flux_takes_an_oci_registry_as_oci_repositories_and_chart_refs(
    tmp_path: Path, crds: schemas.CrdIndex, tools: dict[str, Path]
) -> None:
    files = render(mesh_with("flux", chartRepository=f"{OCI}/"))
    write_files(tmp_path, files)
    assert "clusters/cluster-2/charts/helm-repository.yaml" not in files
    built = docs(kustomize.build(tmp_path / "clusters/cluster-2/charts"))
    sources = {d["metadata"]["name"]: d for d in built if d["kind"] == "OCIRepository"}
    assert not [d for d in built if d["kind"] == "HelmRepository"]
    assert sorted(sources) == ["istio-chart-base", "istio-chart-gateway", "istio-chart-istiod"]
    for name, source in sources.items():
        chart = name.removeprefix("istio-chart-")
        assert source["spec"]["url"] == f"{OCI}/{chart}"
        assert source["spec"]["ref"] == {"tag": ISTIO}
        assert source["spec"]["layerSelector"] == {
            "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "operation": "copy",
        }
    releases = [d for d in built if d["kind"] == "HelmRelease"]
    assert len(releases) == 3
    for release in releases:
        assert "chart" not in release["spec"]
        ref = release["spec"]["chartRef"]
        assert ref["kind"] == "OCIRepository" and ref["name"] in sources
    flux = [d for d in built if d["apiVersion"].split("/")[0].endswith(".toolkit.fluxcd.io")]
    assert len(flux) == 6 and crd_problems(flux, crds) == []


@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_validate_resolves_oci_charts_of_both_engines(
    engine: str, tmp_path: Path, upstream: Path, tools: dict[str, Path]
) -> None:
    """The releases are checked against the chart of the OCI source (for Flux through chartRef
    and the OCIRepository): a values typo is found there, and nothing is left unchecked."""
    from meshgen.commands import validate

    root = commit_rendered(tmp_path / "mesh", mesh_with(engine, chartRepository=OCI))
    edit(root, "clusters/cluster-2/values/istiod.yaml", "meshID:", "meshId:")
    options = validate.Options(
        repo=root, charts=upstream / "istio" / ISTIO / "charts", crds=(upstream / FLUX_CRDS,)
    )
    findings = validate.collect(options)
    values = [f for f in findings if f.check == "helm-values"]
    assert [(f.file, f.message.split(" is ")[0], f.severity) for f in values] == [
        ("clusters/cluster-2/values/istiod.yaml", "global.meshId", ERROR)
    ]
    assert not [f for f in findings if f.check == "gitops" and f.severity in (ERROR, UNCHECKED)]


def test_a_mirror_helm_repository_is_a_plain_helm_source() -> None:
    mirror = "https://charts.mirror.example/istio"
    argocd = render(mesh_with(chartRepository=mirror))
    (app,) = docs(argocd["clusters/cluster-1/applications/istiod.yaml"])
    assert app["spec"]["sources"][0]["repoURL"] == mirror
    flux = render(mesh_with("flux", chartRepository=mirror))
    (repository,) = docs(flux["clusters/cluster-1/charts/helm-repository.yaml"])
    assert repository["spec"] == {"interval": "1h", "url": mirror}


def test_chart_repository_must_be_http_or_oci() -> None:
    tree = copy.deepcopy(mesh_with().tree)
    tree["istio"]["chartRepository"] = "ghcr.io/istio/release/charts"
    with pytest.raises(SpecError, match=r"istio\.chartRepository"):
        spec.parse(spec.to_text(spec.MeshDocument("", tree, mesh_with().mesh)))


# ------------------------------------------------------------------------------ image hub


def test_the_hub_goes_to_every_chart_that_reads_one(upstream: Path) -> None:
    """For every Istio release in ../shared/upstream, the charts whose templates read ``hub``
    or ``global.hub`` are exactly the ones whose values set them, to ``istio.hub``."""
    files = render(mesh_with(hub=MIRROR_HUB))
    values = {
        chart: yaml.safe_load(files[f"clusters/cluster-2/values/{chart}.yaml"])
        for chart in ("base", "istiod", "gateway")
    }
    versions = sorted(p.name for p in (upstream / "istio").iterdir() if (p / "charts").is_dir())
    assert len(versions) >= 4
    for version in versions:
        for chart, given in values.items():
            reads = helm_values.chart_reads(upstream / "istio" / version / "charts" / chart)
            wanted = {k for k in (("hub",), ("global", "hub")) if k in reads}
            set_here = {k for k in (("hub",), ("global", "hub")) if dig(given, k) is not None}
            assert set_here == wanted, (version, chart)
            assert all(dig(given, k) == MIRROR_HUB for k in set_here)
    assert values["istiod"]["hub"] == values["istiod"]["global"]["hub"] == MIRROR_HUB


def dig(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        values = values.get(key) if isinstance(values, dict) else None  # type: ignore[assignment]
    return values


def helm_template(root: Path, upstream: Path, document: spec.MeshDocument, chart: str) -> str:
    """``helm template`` of the upstream chart with cluster-2's rendered values file."""
    write_files(root, render(document))
    profile = library.chart_profiles()[chart]
    return helm.template(
        upstream / "istio" / ISTIO / "charts" / chart,
        profile.release,
        profile.namespace,
        [root / f"clusters/cluster-2/values/{chart}.yaml"],
        kube_version="1.33",
    )


def test_istiod_and_its_injector_pull_from_the_hub(
    tmp_path: Path, upstream: Path, tools: dict[str, Path]
) -> None:
    """The real istiod chart: the istiod image and the proxy image the injector gives every
    pod (the east-west gateway's too) come from istio.hub, not from the chart's default."""
    out = helm_template(tmp_path, upstream, mesh_with(hub=MIRROR_HUB), "istiod")
    objects = docs(out)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == [f"{MIRROR_HUB}/pilot:{ISTIO}"]
    (injector,) = [
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "istio-sidecar-injector"
    ]
    assert f'"hub": "{MIRROR_HUB}"' in injector["data"]["values"]
    assert "docker.io/istio" not in out and "registry.istio.io" not in out


# ----------------------------------------------------------------------- east-west gateway

SIZES = {
    "default": ({}, {"hpa": (1, 5), "replicas": None}),
    "fixed": ({"replicas": 3}, {"hpa": None, "replicas": 3}),
    "autoscaling": ({"autoscaling": {"minReplicas": 2, "maxReplicas": 8}}, {"hpa": (2, 8)}),
    "earlier-spelling": ({"replicas": 2, "maxReplicas": 6}, {"hpa": (2, 6)}),
    "only-a-maximum": ({"autoscaling": {"maxReplicas": 3}}, {"hpa": (1, 3)}),
}


@pytest.mark.parametrize("case", list(SIZES))
def test_east_west_gateway_sizing_with_the_real_gateway_chart(
    case: str, tmp_path: Path, upstream: Path, tools: dict[str, Path]
) -> None:
    size, expected = SIZES[case]
    tree = copy.deepcopy(mesh_with().tree)
    tree["clusters"][1]["eastWestGateway"].update(size)
    objects = docs(helm_template(tmp_path, upstream, spec.from_tree(tree), "gateway"))
    core = schemas.CoreSchemas("1.33")
    problems = [p for o in objects for p in schemas.object_problems(o, schemas.CrdIndex([]), core)]
    assert problems == []
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    if expected["hpa"] is None:
        assert hpas == []
        assert deployment["spec"]["replicas"] == expected["replicas"]
    else:
        (hpa,) = hpas
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == expected["hpa"]
        assert "replicas" not in deployment["spec"]  # the autoscaler owns the count


@pytest.mark.parametrize(
    ("size", "field", "text"),
    [
        ({"replicas": 2, "autoscaling": {"maxReplicas": 4}}, "eastWestGateway.replicas", "both"),
        ({"maxReplicas": 4, "autoscaling": {}}, "eastWestGateway.maxReplicas", "both"),
        ({"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}, "autoscaling", "below"),
        ({"replicas": 5, "maxReplicas": 2}, "eastWestGateway.maxReplicas", "below"),
    ],
)
def test_contradicting_gateway_sizes_are_refused(
    size: dict[str, Any], field: str, text: str
) -> None:
    tree = copy.deepcopy(mesh_with().tree)
    tree["clusters"][1]["eastWestGateway"].update(size)
    with pytest.raises(SpecError) as raised:
        spec.parse(spec.to_text(spec.MeshDocument("", tree, mesh_with().mesh)))
    assert field in raised.value.field and text in raised.value.detail
    assert raised.value.line is not None


# ------------------------------------------------------------------------- Argo CD retries


def test_every_application_retries_failed_syncs_with_backoff(crds: schemas.CrdIndex) -> None:
    files = render(mesh_with())
    apps = [
        d
        for path, text in files.items()
        if path.endswith(".yaml") and not path.startswith(".github/")
        for d in docs(text)
        if d.get("kind") == "Application"
    ]
    assert len(apps) == 1 + 2 + 5 + 5  # bootstrap, roots, children of cluster-1 and cluster-2
    for app in apps:
        assert app["spec"]["syncPolicy"]["retry"] == SYNC_RETRY, app["metadata"]["name"]
    backoff = SYNC_RETRY["backoff"]
    assert SYNC_RETRY["limit"] >= 5 and backoff["factor"] >= 2
    assert crd_problems(apps, crds) == []
    # The CRD check is real: a factor written as text is rejected.
    broken = copy.deepcopy(apps[0])
    broken["spec"]["syncPolicy"]["retry"]["backoff"]["factor"] = "2"
    assert crd_problems([broken], crds) != []
