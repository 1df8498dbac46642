"""The multicluster check of `meshgen validate` catches what real chart objects reveal.

Each breakage below is a hand edit of a rendered repository, the way a user would make it (a
values file or an overlay changed in Git), in its own cluster, so that each finding can be
told apart. The repository is validated once by `meshgen validate` run as a process, with
Istio 1.30.3's complete charts and CRDs from ../shared/upstream: the objects are what the real
`helm template` renders. Each test asserts its finding (check, cluster, where, message, fix)
and the non-zero exit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import commit_rendered, edit, run_meshgen_process, upstream_root
from meshgen import spec
from meshgen.validation.multicluster import injection_parameters, label_selector_matches
from render.test_conformance import EXTERNAL_CONTROL_PLANE

ISTIO = "1.30.3"

MESH = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: neg
istio: {version: ISTIO}
repository: {url: https://git.example.com/org/neg.git}
networks: [{name: n1}, {name: n2}, {name: n3}, {name: n4}, {name: n5}]
clusters:
  - {name: p1, network: n1, eastWestGateway: {enabled: true}, discovery: {address: 192.0.2.10}}
  - {name: r1, network: n2, role: remote, controlPlane: p1, eastWestGateway: {enabled: true}}
  - {name: r2, network: n2, role: remote, controlPlane: p1, eastWestGateway: {enabled: false}}
  - {name: p2, network: n3, eastWestGateway: {enabled: true}}
  - {name: p3, network: n4, eastWestGateway: {enabled: true}}
  - {name: p4, network: n5, eastWestGateway: {enabled: true}}
""".replace("ISTIO", ISTIO)


@pytest.fixture(scope="module")
def upstream() -> Path:
    root = upstream_root()
    needed = [
        root / "istio" / ISTIO / "charts" / "istiod" / "templates",
        root / "istio" / ISTIO / "crds",
        root / "argocd" / "v3.5.1" / "crds",
        root / "external-secrets" / "v2.9.0" / "crds",
    ]
    missing = [str(p) for p in needed if not p.is_dir()]
    if missing:
        pytest.skip(f"upstream data not found ({', '.join(missing)}): needs ../shared/upstream")
    return root.resolve()


def validate_json(upstream: Path, root: Path) -> tuple[int, list[dict[str, Any]]]:
    """`meshgen validate --format json` as a process: its exit code and findings."""
    argocd = upstream / "argocd" / "v3.5.1" / "crds"
    result = run_meshgen_process(
        "validate",
        "--repo",
        str(root),
        "--charts",
        str(upstream / "istio" / ISTIO / "charts"),
        "--crds",
        str(upstream / "istio" / ISTIO / "crds"),
        "--crds",
        str(argocd / "application-crd.yaml"),
        "--crds",
        str(argocd / "appproject-crd.yaml"),
        "--crds",
        str(upstream / "external-secrets" / "v2.9.0" / "crds"),
        "--format",
        "json",
        cwd=root,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)["findings"]


def found(findings: list[dict[str, Any]], cluster: str, *fragments: str) -> dict[str, Any]:
    """The one multicluster error of ``cluster`` whose message has every fragment."""
    matches = [
        f
        for f in findings
        if f["check"] == "multicluster"
        and f["severity"] == "error"
        and f["cluster"] == cluster
        and all(fragment in f["message"] for fragment in fragments)
    ]
    others = [f["message"] for f in findings if f["check"] == "multicluster"]
    assert len(matches) == 1, f"{cluster}: {fragments} in {others}"
    assert matches[0]["fix"]
    return matches[0]


# Hand edits (file, old text, new text), each breaking one thing in its cluster.
BREAKAGES = [
    # p1: the gateway's cross-network port moved off 15443 (networkGatewayPorts, 1.30+).
    (
        "clusters/p1/values/gateway.yaml",
        "networkGateway: n1\n",
        "networkGateway: n1\nnetworkGatewayPorts:\n  tls:\n    port: 15444\n",
    ),
    # p1: expose-istiod routes to the istiod of a revision the cluster does not run.
    (
        "clusters/p1/mesh-config/expose-istiod.yaml",
        "host: istiod.istio-system.svc.cluster.local",
        "host: istiod-canary.istio-system.svc.cluster.local",
    ),
    # p1: istiod of a control plane that does not say it manages remotes.
    ("clusters/p1/values/istiod.yaml", "  externalIstiod: true\n", ""),
    # r1: a remote pointed at another address than its control plane's, and injected as p1.
    ("clusters/r1/values/istiod.yaml", '"192.0.2.10"', '"192.0.2.99"'),
    ("clusters/r1/values/istiod.yaml", "/inject/cluster/r1/", "/inject/cluster/p1/"),
    # r1: its namespace lets another cluster's istiod manage it.
    (
        "clusters/r1/istio-system/kustomization.yaml",
        "controlPlaneClusters: p1",
        "controlPlaneClusters: p2",
    ),
    # r2: a remote installed with istiod's default profile.
    ("clusters/r2/values/istiod.yaml", "profile: remote\n", ""),
    # p2: a gateway without its network, in a namespace labelled with another network.
    ("clusters/p2/values/gateway.yaml", "networkGateway: n3\n", ""),
    ("overlays/networks/n3/kustomization.yaml", "network: n3", "network: n9"),
    # p3: gateway pods labelled so that the cross-network Gateway no longer selects them, and
    # an istiod that calls itself another cluster.
    (
        "clusters/p3/values/gateway.yaml",
        "name: istio-eastwestgateway\n",
        "name: istio-eastwestgateway\nlabels:\n  istio: ewgw\n",
    ),
    ("clusters/p3/values/istiod.yaml", "clusterName: p3", "clusterName: p9"),
    # p4: istiod of another mesh and trust domain; a gateway of a revision nobody injects.
    ("clusters/p4/values/istiod.yaml", "meshID: neg", "meshID: other"),
    ("clusters/p4/values/istiod.yaml", "trustDomain: cluster.local", "trustDomain: p4.local"),
    (
        "clusters/p4/values/gateway.yaml",
        "networkGateway: n5\n",
        "networkGateway: n5\nrevision: canary\n",
    ),
]


@pytest.fixture(scope="module")
def broken(
    tmp_path_factory: pytest.TempPathFactory, upstream: Path, tools: dict[str, Path]
) -> tuple[int, list[dict[str, Any]]]:
    root = commit_rendered(tmp_path_factory.mktemp("broken") / "mesh", spec.parse(MESH))
    for path, old, new in BREAKAGES:
        edit(root, path, old, new)
    return validate_json(upstream, root)


def test_the_run_fails(broken: tuple[int, list[dict[str, Any]]]) -> None:
    code, findings = broken
    assert code == 1
    # Every breakage is a hand edit: drift says so, and helm-values finds the values valid.
    assert not [f for f in findings if f["check"] == "helm-values"]
    assert not [f for f in findings if f["severity"] == "unchecked"]


def test_gateway_without_its_network(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    pods = found(findings, "p2", "gateway's pods carry no topology.istio.io/network label", "n3")
    assert pods["obj"] == "Deployment istio-system/istio-eastwestgateway"
    assert pods["file"] == "clusters/p2/values/gateway.yaml"
    assert "networkGateway: n3" in pods["fix"]
    service = found(findings, "p2", "Service carries no topology.istio.io/network label")
    assert service["obj"] == "Service istio-system/istio-eastwestgateway"
    found(findings, "p2", "proxy has no ISTIO_META_REQUESTED_NETWORK_VIEW, not n3")
    # Without networkGateway the chart renders service.ports, which lack 15443.
    found(findings, "p2", "does not expose 15443")


def test_service_without_15443(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    finding = found(findings, "p1", "does not expose 15443", "cross-network traffic")
    assert finding["obj"] == "Service istio-system/istio-eastwestgateway"
    assert "15444" in finding["message"] and "networkGatewayPorts" in finding["fix"]
    # 15012 and 15017, for the remote r1, are still there.
    assert not [f for f in findings if "does not expose 1501" in f["message"]]


def test_gateway_selector_matching_no_pods(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    finding = found(findings, "p3", "cross-network-gateway selects istio=eastwestgateway")
    assert "istio=ewgw" in finding["message"]
    assert finding["file"] == "overlays/components/east-west-gateway/cross-network-gateway.yaml"
    assert finding["obj"] == "Gateway istio-system/cross-network-gateway"


def test_expose_istiod_routing_to_a_missing_service(
    broken: tuple[int, list[dict[str, Any]]],
) -> None:
    _code, findings = broken
    finding = found(findings, "p1", "routes to istiod-canary.istio-system.svc.cluster.local")
    assert finding["file"] == "clusters/p1/mesh-config/expose-istiod.yaml"
    assert finding["obj"] == "VirtualService istio-system/istiod-vs"


def test_wrong_mesh_id_and_trust_domain(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    mesh = found(findings, "p4", "meshId 'other', not 'neg'")
    assert mesh["obj"] == "ConfigMap istio-system/istio"
    assert mesh["file"] == "clusters/p4/values/istiod.yaml"
    injector = found(findings, "p4", "global.meshID 'other', not 'neg'")
    assert injector["obj"] == "ConfigMap istio-system/istio-sidecar-injector"
    found(findings, "p4", "trust domain 'p4.local', not 'cluster.local'")


def test_gateway_of_a_revision_nobody_injects(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    finding = found(findings, "p4", "no injection webhook", "istio.io/rev=canary")
    assert finding["obj"] == "Deployment istio-system/istio-eastwestgateway"


def test_remote_pointed_elsewhere(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    finding = found(findings, "r1", "istiod Service leads to 192.0.2.99", "address 192.0.2.10")
    assert finding["obj"] == "Service istio-system/istiod"
    assert finding["file"] == "clusters/r1/values/istiod.yaml"
    assert "remotePilotAddress: 192.0.2.10" in finding["fix"]
    # The webhooks (injector, istiod's and base's validators) go through that Service: one
    # finding says it, not one per webhook.
    assert len([f for f in findings if "192.0.2.99" in f["message"]]) == 1


def test_control_plane_without_external_istiod(
    broken: tuple[int, list[dict[str, Any]]],
) -> None:
    _code, findings = broken
    finding = found(findings, "p1", "without EXTERNAL_ISTIOD=true", "control plane of r1, r2")
    assert finding["obj"] == "Deployment istio-system/istiod"
    assert "global.externalIstiod: true" in finding["fix"]


def test_namespaces_naming_another_network_or_control_plane(
    broken: tuple[int, list[dict[str, Any]]],
) -> None:
    _code, findings = broken
    network = found(findings, "p2", "Namespace istio-system carries topology.istio.io/network=n9")
    assert network["file"] == "clusters/p2/istio-system/kustomization.yaml"
    remote = found(findings, "r1", "controlPlaneClusters=p2", "p1's istiod does not manage")
    assert remote["file"] == "clusters/r1/istio-system/kustomization.yaml"
    assert remote["obj"] == "Namespace istio-system"


def test_remote_running_its_own_istiod(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    finding = found(findings, "r2", "renders Deployment istiod", "instead of using p1's")
    assert finding["obj"] == "Deployment istio-system/istiod"
    assert "profile: remote" in finding["fix"]
    # What its webhooks call follows from that: one finding, not one per webhook.
    assert len([f for f in findings if f["check"] == "multicluster" and f["cluster"] == "r2"]) == 1


def test_istiod_named_as_another_cluster(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    istiod = found(findings, "p3", "istiod runs as cluster 'p9' (CLUSTER_ID), not 'p3'")
    assert istiod["obj"] == "Deployment istio-system/istiod"
    assert "clusterName: p3" in istiod["fix"]
    found(findings, "p3", "global.multiCluster.clusterName 'p9', not 'p3'")


def test_remote_injected_as_another_cluster(broken: tuple[int, list[dict[str, Any]]]) -> None:
    _code, findings = broken
    finding = found(findings, "r1", "injection webhook calls /inject/cluster/p1/net/n2")
    assert "cluster 'p1'" in finding["message"] and "'r1'" in finding["message"]


# --------------------------------------------------------------------------------------------
# External control plane: what a hand edit of the external istiod's values breaks


@pytest.fixture(scope="module")
def broken_external(
    tmp_path_factory: pytest.TempPathFactory, upstream: Path, tools: dict[str, Path]
) -> tuple[int, list[dict[str, Any]]]:
    text = EXTERNAL_CONTROL_PLANE.replace(
        "istio: {revision: stable}", "istio: {revision: stable, version: " + ISTIO + "}"
    )
    root = commit_rendered(tmp_path_factory.mktemp("external") / "mesh", spec.parse(text))
    values = "clusters/cp-host/values/istiod.yaml"
    edit(
        root,
        values,
        "  SHARED_MESH_CONFIG: istio\n",
        "  SHARED_MESH_CONFIG: istio\n  CLUSTER_ID: config-1\n",
    )
    edit(root, values, "name: istio-stable\n", "name: istio\n")
    return validate_json(upstream, root)


def test_external_istiod_with_a_duplicate_env(
    broken_external: tuple[int, list[dict[str, Any]]],
) -> None:
    code, findings = broken_external
    assert code == 1
    finding = found(findings, "cp-host", "sets CLUSTER_ID 2 times")
    assert finding["obj"] == "Deployment external-istiod/istiod-stable"
    assert "env.CLUSTER_ID" in finding["fix"]


def test_external_istiod_mounting_a_config_map_nobody_renders(
    broken_external: tuple[int, list[dict[str, Any]]],
) -> None:
    _code, findings = broken_external
    finding = found(findings, "cp-host", "mount ConfigMap external-istiod/istio ", "config-volume")
    assert finding["file"] == "clusters/cp-host/values/istiod.yaml"


# --------------------------------------------------------------------------------------------
# The pieces


def test_injection_parameters() -> None:
    assert injection_parameters("/inject/cluster/c1/net/n1") == {"cluster": "c1", "net": "n1"}
    assert injection_parameters("/inject") == {}
    assert injection_parameters("/inject/cluster") is None
    assert injection_parameters("/validate") is None


def test_label_selectors_as_kubernetes_reads_them() -> None:
    pod = {"istio.io/rev": "canary", "app": "gw"}
    assert label_selector_matches(None, pod)
    assert label_selector_matches({"matchLabels": {"app": "gw"}}, pod)
    assert not label_selector_matches({"matchLabels": {"app": "other"}}, pod)
    rev = {"key": "istio.io/rev", "operator": "In", "values": ["canary"]}
    assert label_selector_matches({"matchExpressions": [rev]}, pod)
    assert not label_selector_matches({"matchExpressions": [{**rev, "operator": "NotIn"}]}, pod)
    assert not label_selector_matches(
        {"matchExpressions": [{"key": "istio.io/rev", "operator": "DoesNotExist"}]}, pod
    )
    assert label_selector_matches(
        {"matchExpressions": [{"key": "istio-injection", "operator": "DoesNotExist"}]}, pod
    )


def test_without_charts_the_check_says_what_it_could_not_read(
    tmp_path: Path, tools: dict[str, Path]
) -> None:
    """No chart, no objects: listed as unchecked (naming the clusters), never an error."""
    from meshgen.commands import validate

    root = commit_rendered(tmp_path / "mesh", spec.parse(MESH))
    findings = validate.collect(validate.Options(repo=root, jobs=2))
    (unchecked,) = [f for f in findings if f.check == "multicluster"]
    assert unchecked.severity == "unchecked" and unchecked.cluster is None
    assert unchecked.message.startswith("the charts of 17 releases are not available")
    assert "(p1, p2, p3, p4, r1, r2)" in unchecked.message
    assert "--charts DIR" in unchecked.fix


def test_the_mesh_facts_a_replay_verifies_are_worked_out_once_per_run() -> None:
    from meshgen.validation.multicluster import _MeshReads, _still_holds

    mesh = spec.parse(MESH).mesh
    reads = _MeshReads(mesh)
    assert reads.mesh_id and reads.trust_domain
    for cluster in mesh.clusters:
        reads.control_planes_of(cluster)
    recorded = json.loads(json.dumps(list(reads.reads.values())))  # as the cache keeps them
    known: dict[str, str] = {}
    assert _still_holds(mesh, recorded, known) and len(known) == len(recorded)
    assert _still_holds(mesh, recorded, known)  # from what the first replay worked out
    changed = spec.parse(MESH.replace("meshID: neg", "meshID: other")).mesh
    assert not _still_holds(changed, recorded) and not _still_holds(changed, recorded, {})
