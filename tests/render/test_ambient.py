"""Ambient mode as rendered: per cluster, for both engines, the charts and overlays in install
order, the values of istiod, istio-cni and ztunnel (read back through the real charts of
Istio 1.29.6), the east-west and waypoint Gateways, one service-scope selector everywhere, and
the Gateway API CRDs pinned from the release catalogue. Charts come from ../shared/upstream
(the tests that need them skip with a reason when it is absent)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import MINIMAL_MESH, mesh_text, upstream_root, write_files
from meshgen import gateway_api, library, spec
from meshgen.adapters import helm
from meshgen.render import render_repository
from meshgen.render.plan import AMBIENT_WAVES, plan_mesh

ISTIO = "1.29.6"  # ambient multi-network is beta from 1.29
CLUSTERS = ("cluster-1", "cluster-2")
NETWORKS = {"cluster-1": "network1", "cluster-2": "network2"}

AMBIENT_MESH = mesh_text(
    "  - name: network1\n  - name: network2\n",
    "".join(
        f"  - name: {name}\n    network: {network}\n    eastWestGateway:\n      enabled: true\n"
        for name, network in NETWORKS.items()
    ),
    MINIMAL_MESH.replace("meshID: mesh1\n", f'meshID: mesh1\nistio:\n  version: "{ISTIO}"\n')
    + """\
dataplane: ambient
globalServices:
  - {namespace: sample, name: helloworld}
waypoints:
  - {namespace: sample, name: waypoint, for: service}
  - {namespace: reviews, name: reviews-waypoint, for: workload}
""",
)


def ambient(engine: str = "argocd", **changes: Any) -> spec.MeshDocument:
    """The two-network ambient mesh (a gateway on each network), with these top-level edits."""
    tree = copy.deepcopy(spec.parse(AMBIENT_MESH).tree)
    tree["gitops"] = {"engine": engine}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(tree.get(key), dict):
            tree[key].update(value)
        else:
            tree[key] = value
    return spec.from_tree(tree)


def render(document: spec.MeshDocument) -> dict[str, str]:
    return render_repository(document.mesh, library.load())


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def values(files: dict[str, str], cluster: str, chart: str) -> dict[str, Any]:
    return docs(files[f"clusters/{cluster}/values/{chart}.yaml"])[0]


@pytest.fixture(scope="module")
def argocd_files() -> dict[str, str]:
    return render(ambient("argocd"))


@pytest.fixture(scope="module")
def flux_files() -> dict[str, str]:
    return render(ambient("flux"))


# ------------------------------------------------------------------------ install order


def test_argocd_waves_follow_the_ambient_install_order(argocd_files: dict[str, str]) -> None:
    expected = [
        ("istio-system", 0),
        ("gateway-api-crds", 1),
        ("istio-base", 2),
        ("istiod", 3),
        ("istio-cni", 4),
        ("ztunnel", 5),
        ("east-west-gateway", 6),
        ("waypoints-reviews", 7),
        ("waypoints-sample", 7),
    ]
    for cluster in CLUSTERS:
        listed = docs(argocd_files[f"clusters/{cluster}/kustomization.yaml"])[0]["resources"]
        apps = [docs(argocd_files[f"clusters/{cluster}/{path}"])[0] for path in listed]
        waves = sorted(
            (a["metadata"]["labels"]["meshgen.io/component"], int(wave))
            for a in apps
            if (wave := a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        )
        assert sorted(waves, key=lambda item: (item[1], item[0])) == expected
        charts = {
            a["metadata"]["labels"]["meshgen.io/component"]: a["spec"]["sources"][0]
            for a in apps
            if "sources" in a["spec"]
        }
        assert {name: source["chart"] for name, source in charts.items()} == {
            "istio-base": "base",
            "istiod": "istiod",
            "istio-cni": "cni",
            "ztunnel": "ztunnel",
        }
        assert {s["targetRevision"] for s in charts.values()} == {ISTIO}
        assert "gateway" not in {s["chart"] for s in charts.values()}  # no sidecar gateway


def test_flux_stages_and_releases_chain_in_the_ambient_order(flux_files: dict[str, str]) -> None:
    for cluster in CLUSTERS:
        stages = docs(flux_files[f"clusters/{cluster}/stages.yaml"])
        chain = [(s["metadata"]["name"], s["spec"].get("dependsOn")) for s in stages]
        names = [name for name, _deps in chain]
        assert names == [
            "istio-system",
            "gateway-api-crds",
            "istio-charts",
            "east-west-gateway",
            "waypoints-reviews",
            "waypoints-sample",
        ]
        for (_name, deps), previous in zip(chain[1:4], names, strict=False):
            assert deps == [{"name": previous}]  # each waits for the stage before
        # the waypoints of different namespaces wait for the east-west gateway, not each other
        assert [deps for _name, deps in chain[4:]] == [[{"name": "east-west-gateway"}]] * 2
        assert all(s["spec"]["wait"] for s in stages)
        releases = {
            r["metadata"]["name"]: r["spec"].get("dependsOn")
            for r in (
                docs(flux_files[f"clusters/{cluster}/charts/{n}.yaml"])[0]
                for n in ("istio-base", "istiod", "istio-cni", "ztunnel")
            )
        }
        assert releases == {
            "istio-base": None,
            "istiod": [{"name": "istio-base"}],
            "istio-cni": [{"name": "istiod"}],
            "ztunnel": [{"name": "istio-cni"}],
        }
        namespaces = docs(flux_files[f"clusters/{cluster}/namespaces.yaml"])
        assert [n["metadata"]["name"] for n in namespaces] == ["reviews", "sample"]
        assert all(
            n["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
            for n in namespaces
        )


def test_values_and_overlays_are_the_same_for_both_engines(
    argocd_files: dict[str, str], flux_files: dict[str, str]
) -> None:
    folders = ("/values/", "/waypoints/", "/east-west-gateway/", "/gateway-api-crds/")
    shared = [p for p in argocd_files if any(f in p for f in folders)]
    assert len(shared) >= 2 * 7
    for path in shared:
        assert flux_files[path] == argocd_files[path], path


# ------------------------------------------------------------------------------- values


def test_istiod_runs_ambient_multi_network_with_one_scope_selector(
    argocd_files: dict[str, str],
) -> None:
    scopes = []
    for cluster in CLUSTERS:
        istiod = values(argocd_files, cluster, "istiod")
        assert istiod["profile"] == "ambient"
        assert istiod["env"]["AMBIENT_ENABLE_MULTI_NETWORK"] == "true"
        assert istiod["global"]["multiCluster"]["clusterName"] == cluster
        assert istiod["global"]["network"] == NETWORKS[cluster]
        assert istiod["global"]["meshID"] == "mesh1"
        # DNS capture is istio-cni's in ambient mode, never the sidecar proxy metadata.
        assert "defaultConfig" not in istiod["meshConfig"]
        scopes.append(istiod["meshConfig"]["serviceScopeConfigs"])
    first, second = scopes
    assert len(first) == len(second) == 1
    for one, other in zip(first, second, strict=True):
        assert one["scope"] == other["scope"] == "GLOBAL"
        expressions = one["servicesSelector"]["matchExpressions"]
        assert expressions == other["servicesSelector"]["matchExpressions"]
        assert [(e["key"], e["operator"], e["values"]) for e in expressions] == [
            ("istio.io/global", "In", ["true"])
        ]
        assert set(one) == set(other) == {"scope", "servicesSelector"}


def test_cni_and_ztunnel_values(argocd_files: dict[str, str]) -> None:
    for cluster in CLUSTERS:
        assert values(argocd_files, cluster, "cni") == {
            "profile": "ambient",
            "hub": "docker.io/istio",
            "ambient": {"dnsCapture": True},
        }
        assert values(argocd_files, cluster, "ztunnel") == {
            "hub": "docker.io/istio",
            "multiCluster": {"clusterName": cluster},
            "global": {"network": NETWORKS[cluster]},
        }


def test_dns_capture_off_turns_off_istio_cni_capture() -> None:
    files = render(ambient(istio={"dnsCapture": False}))
    assert values(files, "cluster-1", "cni")["ambient"] == {"dnsCapture": False}


# ----------------------------------------------------------------------------- gateways


def test_each_cluster_has_its_networks_east_west_gateway(argocd_files: dict[str, str]) -> None:
    for cluster in CLUSTERS:
        (gateway,) = docs(argocd_files[f"clusters/{cluster}/east-west-gateway/gateway.yaml"])
        assert gateway["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert gateway["metadata"]["namespace"] == "istio-system"
        assert gateway["metadata"]["labels"] == {"topology.istio.io/network": NETWORKS[cluster]}
        assert gateway["spec"]["gatewayClassName"] == "istio-east-west"
        (listener,) = gateway["spec"]["listeners"]
        assert (listener["port"], listener["protocol"], listener["tls"]["mode"]) == (
            15008,
            "HBONE",
            "Terminate",
        )
        assert listener["tls"]["options"] == {"gateway.istio.io/tls-terminate-mode": "ISTIO_MUTUAL"}


def test_gateway_service_type_and_annotations_reach_istiods_service() -> None:
    document = ambient()
    tree = copy.deepcopy(document.tree)
    tree["clusters"][1]["eastWestGateway"].update(
        {"serviceType": "NodePort", "annotations": {"example.com/team": "net"}}
    )
    files = render(spec.from_tree(tree))
    (gateway,) = docs(files["clusters/cluster-2/east-west-gateway/gateway.yaml"])
    assert gateway["metadata"]["annotations"] == {"networking.istio.io/service-type": "NodePort"}
    assert gateway["spec"]["infrastructure"] == {"annotations": {"example.com/team": "net"}}


def test_waypoints_are_identical_in_every_cluster(argocd_files: dict[str, str]) -> None:
    for namespace in ("sample", "reviews"):
        texts = {
            argocd_files[f"clusters/{c}/waypoints/{namespace}/waypoints.yaml"] for c in CLUSTERS
        }
        assert len(texts) == 1
    (sample,) = docs(argocd_files["clusters/cluster-1/waypoints/sample/waypoints.yaml"])
    assert sample["spec"]["gatewayClassName"] == "istio-waypoint"
    assert sample["metadata"]["labels"] == {"istio.io/waypoint-for": "service"}
    assert sample["spec"]["listeners"] == [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]
    # sample exports helloworld: its waypoint is global, or cross-cluster L7 stays local
    assert sample["spec"]["infrastructure"] == {"labels": {"istio.io/global": "true"}}
    (reviews,) = docs(argocd_files["clusters/cluster-1/waypoints/reviews/waypoints.yaml"])
    assert reviews["metadata"]["labels"] == {"istio.io/waypoint-for": "workload"}
    assert "infrastructure" not in reviews["spec"]


def test_a_waypoint_limited_to_some_clusters_is_rendered_only_there() -> None:
    files = render(
        ambient(waypoints=[{"namespace": "edge", "name": "waypoint", "clusters": ["cluster-2"]}])
    )
    assert "clusters/cluster-2/waypoints/edge/waypoints.yaml" in files
    assert not any(p.startswith("clusters/cluster-1/waypoints/") for p in files)


# ---------------------------------------------------------------------------- CRDs


@pytest.mark.parametrize(
    ("istio", "expected"),
    [("1.28.10", "v1.4.1"), ("1.29.6", "v1.4.1"), ("1.30.3", "v1.5.1"), ("1.31.0-rc.0", "v1.6.0")],
)
def test_gateway_api_crds_follow_the_istio_line(istio: str, expected: str) -> None:
    """The version each Istio line is built against (../shared/upstream/gateway-api/README)."""
    files = render(ambient(istio={"version": istio}))
    for cluster in CLUSTERS:
        kustomization = docs(files[f"clusters/{cluster}/gateway-api-crds/kustomization.yaml"])[0]
        assert kustomization["resources"] == [
            "https://github.com/kubernetes-sigs/gateway-api/releases/download/"
            f"{expected}/standard-install.yaml"
        ]
        assert gateway_api.release_of_url(kustomization["resources"][0]) == (expected, "standard")


def test_gateway_api_version_and_install_can_be_set() -> None:
    files = render(ambient(gatewayAPI={"version": "v1.6.0"}))
    assert (
        "v1.6.0/standard-install.yaml"
        in files["clusters/cluster-1/gateway-api-crds/kustomization.yaml"]
    )
    files = render(ambient(gatewayAPI={"install": False}))
    assert not any("gateway-api-crds" in p for p in files)
    plan = plan_mesh(ambient(gatewayAPI={"install": False}).mesh, library.chart_profiles())[0]
    assert [c.name for c in plan.components][:2] == ["istio-system", "istio-base"]


def test_sidecar_only_files_are_not_written() -> None:
    files = render(ambient())
    assert not any("east-west-gateway/cross-network" in p for p in files)
    assert not any(
        p.endswith(("/values/gateway.yaml", "/mesh-config/kustomization.yaml")) for p in files
    )
    assert set(AMBIENT_WAVES.values()) == set(range(1, 8))


def test_oci_charts_for_the_ambient_charts() -> None:
    oci = "oci://ghcr.io/istio/release/charts"
    files = render(ambient("flux", istio={"chartRepository": oci}))
    sources = docs(files["clusters/cluster-1/charts/oci-repositories.yaml"])
    assert [s["spec"]["url"] for s in sources] == [
        f"{oci}/{chart}" for chart in ("base", "istiod", "cni", "ztunnel")
    ]
    assert {s["spec"]["ref"]["tag"] for s in sources} == {ISTIO}


# ------------------------------------------------------------- the real charts read it


@pytest.fixture(scope="module")
def charts() -> Path:
    folder = upstream_root() / "istio" / ISTIO / "charts"
    if not (folder / "ztunnel" / "Chart.yaml").is_file():
        pytest.skip(f"Istio {ISTIO} charts not found at {folder}: needs ../shared/upstream")
    return folder


def _template(charts: Path, files: dict[str, str], tmp: Path, chart: str, release: str) -> list:
    write_files(tmp, {k: v for k, v in files.items() if "/values/" in k})
    rendered = helm.template(
        charts / chart,
        release,
        "istio-system",
        [tmp / f"clusters/cluster-2/values/{chart}.yaml"],
        kube_version="1.33",
    )
    return docs(rendered)


def _env(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (workload,) = [o for o in objects if o["kind"] == kind]
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {"image": container["image"], **{e["name"]: e.get("value") for e in container["env"]}}


def test_the_charts_read_the_values_as_meant(
    charts: Path, argocd_files: dict[str, str], tmp_path: Path, tools: dict[str, Path]
) -> None:
    ztunnel = _env(_template(charts, argocd_files, tmp_path, "ztunnel", "ztunnel"), "DaemonSet")
    assert ztunnel["NETWORK"] == "network2"  # global.network, flattened by the chart
    assert ztunnel["ISTIO_META_CLUSTER_ID"] == "cluster-2"
    assert ztunnel["image"].startswith("docker.io/istio/ztunnel:")
    cni = _template(charts, argocd_files, tmp_path, "cni", "istio-cni")
    (config,) = [o for o in cni if o["kind"] == "ConfigMap"]
    assert config["data"]["AMBIENT_ENABLED"] == "true"
    assert config["data"]["AMBIENT_DNS_CAPTURE"] == "true"
    assert _env(cni, "DaemonSet")["image"].startswith("docker.io/istio/install-cni:")
    istiod = _env(_template(charts, argocd_files, tmp_path, "istiod", "istiod"), "Deployment")
    assert istiod["AMBIENT_ENABLE_MULTI_NETWORK"] == "true"
    assert istiod["PILOT_ENABLE_AMBIENT"] == "true"
    assert istiod["CLUSTER_ID"] == "cluster-2"


def test_sidecar_meshes_render_as_if_the_field_did_not_exist() -> None:
    """`dataplane: sidecar` written out renders every conformance scenario byte for byte as the
    mesh without the field (the default); no ambient file appears in either."""
    from render.test_conformance import SCENARIOS

    for name, build in SCENARIOS.items():
        document = build()
        tree = copy.deepcopy(document.tree)
        tree["dataplane"] = "sidecar"
        explicit = render(spec.from_tree(tree))
        assert explicit == render(document), name
        assert not any(
            part in path
            for path in explicit
            for part in ("/gateway-api-crds/", "/values/ztunnel.yaml", "/waypoints/")
        ), name


def test_services_a_global_traffic_policy_serves_are_exported_too() -> None:
    """Traffic files (`scope: global`, the default) name services served across clusters: in
    ambient mode they need the global label like `globalServices`, and their namespace's
    waypoints turn global; a cluster-local policy's service does not. Traffic syncs last."""
    from meshgen import traffic
    from traffic_fixtures import policy

    files = {
        "traffic/default/reviews.yaml": policy("  timeout: 10s\n"),
        "traffic/default/ratings.yaml": policy("  scope: cluster-local\n", name="ratings"),
    }
    mesh = ambient(waypoints=[{"namespace": "default"}]).mesh
    policies = traffic.parse_files(files)
    rendered = render_repository(mesh, library.load(), policies)
    readme = rendered["README.md"]
    assert "kubectl label service reviews -n default istio.io/global=true" in readme
    assert "kubectl label service helloworld -n sample istio.io/global=true" in readme
    assert "service ratings" not in readme
    (waypoint,) = docs(rendered["clusters/cluster-1/waypoints/default/waypoints.yaml"])
    assert waypoint["spec"]["infrastructure"] == {"labels": {"istio.io/global": "true"}}
    apps = {
        p.rsplit("/", 1)[1]: docs(t)[0]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
        for p, t in rendered.items()
        if p.startswith("clusters/cluster-1/applications/")
    }
    assert apps["waypoints-default.yaml"] == "7" and apps["traffic-default.yaml"] == "8"
