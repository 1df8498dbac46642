"""Traffic policies rendered into upstream Istio objects, in the clusters whose istiod serves
the clients, and nowhere else.

The 75/15/10 example of the issue is checked field by field and against the upstream Istio
1.30.3 CRDs; every overlay is built with the real ``kubectl kustomize``; each topology (one
network, primary-remote, external control plane) and Flux put the objects in the right clusters
only. Expectations are written out by hand from Istio's multicluster traffic docs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import flux_bootstrap, upstream_root, write_files
from meshgen import library, spec, traffic
from meshgen.adapters import kustomize
from meshgen.render import render_repository
from meshgen.validation.schemas import CrdIndex, object_problems
from traffic_fixtures import (
    EXTERNAL,
    ONE_NETWORK,
    PRIMARY_REMOTE,
    REVIEWS,
    TWO_NETWORKS,
    policy,
)

ISTIO = "1.30.3"
HOST = "reviews.default.svc.cluster.local"
FLUX_CRDS = "flux/sc-v1.9.1_kc-v1.9.4_hc-v1.6.3/crds"


def render(mesh_text: str, files: dict[str, str]) -> dict[str, str]:
    mesh = spec.parse(mesh_text).mesh
    policies = traffic.parse_files(files)
    traffic.check(mesh, policies)
    return render_repository(mesh, library.load(), policies)


def docs(files: dict[str, str], path: str) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(files[path]) if d]


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects}


def traffic_paths(files: dict[str, str]) -> list[str]:
    return sorted(p for p in files if "/traffic/" in p)


@pytest.fixture(scope="module")
def istio_crds() -> CrdIndex:
    folder = upstream_root() / "istio" / ISTIO / "crds"
    if not folder.is_dir():
        pytest.skip(f"upstream Istio {ISTIO} CRDs not found at {folder}: needs ../shared/upstream")
    return CrdIndex(sorted(folder.glob("*.yaml")))


def assert_valid_istio(objects: list[dict[str, Any]], crds: CrdIndex) -> None:
    for obj in objects:
        assert obj["apiVersion"] == "networking.istio.io/v1"
        assert object_problems(obj, crds) == [], obj


def test_the_issue_example_on_two_networks(
    istio_crds: CrdIndex, tmp_path: Path, tools: Any
) -> None:
    files = render(TWO_NETWORKS, {"traffic/reviews.yaml": REVIEWS})
    assert traffic_paths(files) == [
        "clusters/cluster1/traffic/default/kustomization.yaml",
        "clusters/cluster1/traffic/default/reviews.yaml",
        "clusters/cluster2/traffic/default/kustomization.yaml",
        "clusters/cluster2/traffic/default/reviews.yaml",
    ]
    client = by_kind(docs(files, "clusters/cluster1/traffic/default/reviews.yaml"))
    rule, service = client["DestinationRule"], client["VirtualService"]
    assert rule["metadata"] == {"name": "reviews", "namespace": "default"}
    assert rule["spec"]["host"] == HOST
    assert rule["spec"]["subsets"] == [
        {
            "name": "cluster1-v1",
            "labels": {"topology.istio.io/cluster": "cluster1", "version": "v1"},
        },
        {
            "name": "cluster1-v2",
            "labels": {"topology.istio.io/cluster": "cluster1", "version": "v2"},
        },
        {
            "name": "cluster2-v3",
            "labels": {"topology.istio.io/cluster": "cluster2", "version": "v3"},
        },
    ]
    locality = rule["spec"]["trafficPolicy"]["loadBalancer"]["localityLbSetting"]
    assert locality == {
        "enabled": True,
        "failoverPriority": ["topology.istio.io/network", "topology.istio.io/cluster"],
    }
    # Failover without outlier detection never happens: meshgen's defaults, said in a comment.
    assert rule["spec"]["trafficPolicy"]["outlierDetection"] == {
        "consecutive5xxErrors": 5,
        "interval": "10s",
        "baseEjectionTime": "30s",
        "maxEjectionPercent": 100,
    }
    text = files["clusters/cluster1/traffic/default/reviews.yaml"]
    assert text.splitlines()[1] == (
        "# reviews.default, from traffic/reviews.yaml: edit the policy there, then run "
        "`meshgen render`."
    )
    assert "# outlierDetection: meshgen's defaults, as traffic/reviews.yaml sets none" in text
    assert service["metadata"] == {"name": "reviews", "namespace": "default"}
    assert service["spec"]["hosts"] == [HOST]
    (route,) = service["spec"]["http"]
    assert "match" not in route  # cluster1's istiod serves cluster1 only: no source match
    assert [
        (d["destination"]["host"], d["destination"]["subset"], d["weight"]) for d in route["route"]
    ] == [
        (HOST, "cluster2-v3", 75),
        (HOST, "cluster1-v1", 15),
        (HOST, "cluster1-v2", 10),
    ]
    # cluster2 is no client, but its east-west gateway routes the v3 share by SNI, which names
    # the subset: its istiod needs the subset, and nothing else.
    gateway = docs(files, "clusters/cluster2/traffic/default/reviews.yaml")
    assert gateway == [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "reviews", "namespace": "default"},
            "spec": {
                "host": HOST,
                "subsets": [
                    {
                        "name": "cluster2-v3",
                        "labels": {"topology.istio.io/cluster": "cluster2", "version": "v3"},
                    }
                ],
            },
        }
    ]
    assert_valid_istio([rule, service, *gateway], istio_crds)

    # The overlays build with the real kustomize, with meshgen's labels.
    write_files(tmp_path, files)
    built = [
        d
        for d in YAML(typ="safe").load_all(
            kustomize.build(tmp_path / "clusters/cluster1/traffic/default")
        )
        if d
    ]
    assert [(o["kind"], o["metadata"]["labels"]) for o in built] == [
        (kind, {"meshgen.io/mesh": "mesh1", "meshgen.io/cluster": "cluster1"})
        for kind in ("DestinationRule", "VirtualService")
    ]
    assert_valid_istio(built, istio_crds)
    # Argo CD syncs it last (wave 5), into the service's namespace, created when missing.
    app = docs(files, "clusters/cluster1/applications/traffic-default.yaml")[0]
    assert app["metadata"]["annotations"] == {"argocd.argoproj.io/sync-wave": "5"}
    assert app["spec"]["destination"] == {"name": "cluster1", "namespace": "default"}
    assert app["spec"]["source"]["path"] == "clusters/cluster1/traffic/default"
    assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]
    project = docs(files, "bootstrap/argocd/project.yaml")[0]
    assert {"name": "cluster1", "namespace": "default"} in project["spec"]["destinations"]
    readme = files["README.md"]
    assert "| `clusters/<cluster>/traffic/<namespace>/` |" in readme
    assert "## Traffic between clusters" in readme and "| `cluster1` | `default` |" in readme


def test_every_cluster_as_client_and_http_settings(istio_crds: CrdIndex) -> None:
    body = (
        "  split:\n    - {cluster: cluster1, weight: 60}\n    - {cluster: cluster2, weight: 40}\n"
        "  retries: {attempts: 3, perTryTimeout: 2s, retryOn: 'reset,connect-failure'}\n"
        "  timeout: 10s\n"
        "  distribute:\n    - from: europe-west1/europe-west1-b\n"
        "      to: {europe-west1: 80, us-east1/us-east1-c: 20}\n"
        "  outlierDetection: {consecutiveGatewayErrors: 3, interval: 5s}\n"
    )
    files = render(TWO_NETWORKS, {"traffic/reviews.yaml": policy(body)})
    for cluster in ("cluster1", "cluster2"):
        objects = by_kind(docs(files, f"clusters/{cluster}/traffic/default/reviews.yaml"))
        rule, service = objects["DestinationRule"], objects["VirtualService"]
        assert [s["name"] for s in rule["spec"]["subsets"]] == ["cluster1", "cluster2"]
        assert rule["spec"]["trafficPolicy"] == {
            "loadBalancer": {
                "localityLbSetting": {
                    "enabled": True,
                    "distribute": [
                        {
                            "from": "europe-west1/europe-west1-b/*",
                            "to": {"europe-west1/*": 80, "us-east1/us-east1-c/*": 20},
                        }
                    ],
                }
            },
            # The policy's own outlier detection, as written: no defaults without failover.
            "outlierDetection": {"consecutiveGatewayErrors": 3, "interval": "5s"},
        }
        (route,) = service["spec"]["http"]
        assert route["retries"] == {
            "attempts": 3,
            "perTryTimeout": "2s",
            "retryOn": "reset,connect-failure",
        }
        assert route["timeout"] == "10s"
        assert [(d["destination"]["subset"], d["weight"]) for d in route["route"]] == [
            ("cluster1", 60),
            ("cluster2", 40),
        ]
        assert_valid_istio([rule, service], istio_crds)


def test_one_network_multi_primary_renders_into_the_clients_only(istio_crds: CrdIndex) -> None:
    body = (
        "  clients: [cluster1, cluster3]\n  protocol: tcp\n"
        "  split:\n    - {cluster: cluster2, weight: 90}\n    - {cluster: cluster3, weight: 10}\n"
    )
    files = render(ONE_NETWORK, {"traffic/reviews.yaml": policy(body)})
    assert {p.split("/")[1] for p in traffic_paths(files)} == {"cluster1", "cluster3"}
    for cluster in ("cluster1", "cluster3"):
        objects = docs(files, f"clusters/{cluster}/traffic/default/reviews.yaml")
        service = by_kind(objects)["VirtualService"]
        assert "http" not in service["spec"]
        assert service["spec"]["tcp"] == [
            {
                "route": [
                    {"destination": {"host": HOST, "subset": "cluster2"}, "weight": 90},
                    {"destination": {"host": HOST, "subset": "cluster3"}, "weight": 10},
                ]
            }
        ]
        assert_valid_istio(objects, istio_crds)


def test_primary_remote_config_goes_to_the_primary_never_to_a_remote(
    istio_crds: CrdIndex,
) -> None:
    files = render(
        PRIMARY_REMOTE,
        {
            "traffic/reviews.yaml": policy(
                "  clients: [remote-1]\n  split:\n    - {cluster: primary-1, weight: 50}\n"
                "    - {cluster: remote-2, labels: {version: v2}, weight: 50}\n"
            ),
            "traffic/ratings.yaml": policy(
                "  failover:\n    priority: [topology.istio.io/network]\n", name="ratings"
            ),
        },
    )
    # remote-1's config lives on primary-1 (its istiod reads it there); remote-2's gateway is
    # configured from primary-1 too. No remote's API server gets any, primary-2 gets ratings.
    assert sorted({p.split("/")[1] for p in traffic_paths(files)}) == ["primary-1", "primary-2"]
    assert not [p for p in files if p.startswith("clusters/remote-") and "/traffic/" in p]
    assert traffic_paths(files)[-2:] == [
        "clusters/primary-2/traffic/default/kustomization.yaml",
        "clusters/primary-2/traffic/default/ratings.yaml",
    ]
    objects = by_kind(docs(files, "clusters/primary-1/traffic/default/reviews.yaml"))
    # primary-1's istiod also serves primary-1 and remote-2: only remote-1 takes the split,
    # the others keep Istio's default route.
    assert objects["VirtualService"]["spec"]["http"] == [
        {
            "name": "traffic/reviews.yaml",
            "match": [{"sourceLabels": {"topology.istio.io/cluster": "remote-1"}}],
            "route": [
                {"destination": {"host": HOST, "subset": "primary-1"}, "weight": 50},
                {"destination": {"host": HOST, "subset": "remote-2-v2"}, "weight": 50},
            ],
        },
        {"name": "other-clients", "route": [{"destination": {"host": HOST}}]},
    ]
    assert [s["name"] for s in objects["DestinationRule"]["spec"]["subsets"]] == [
        "primary-1",
        "remote-2-v2",
    ]
    assert "trafficPolicy" not in objects["DestinationRule"]["spec"]
    ratings = docs(files, "clusters/primary-1/traffic/default/ratings.yaml")
    assert [o["kind"] for o in ratings] == ["DestinationRule"]
    assert ratings[0]["spec"]["trafficPolicy"]["loadBalancer"]["localityLbSetting"] == {
        "enabled": True,
        "failoverPriority": ["topology.istio.io/network"],
    }
    assert_valid_istio([*objects.values(), *ratings], istio_crds)


def test_cluster_local_scope_in_the_istiod_values_that_serve_the_clients() -> None:
    local = {"traffic/cache.yaml": policy("  scope: cluster-local\n", name="cache", namespace="db")}
    setting = [{"settings": {"clusterLocal": True}, "hosts": ["cache.db.svc.cluster.local"]}]

    def service_settings(files: dict[str, str], cluster: str) -> Any:
        values = docs(files, f"clusters/{cluster}/values/istiod.yaml")[0]
        return values["meshConfig"].get("serviceSettings")

    files = render(ONE_NETWORK, local)
    assert [service_settings(files, c) for c in ("cluster1", "cluster2", "cluster3")] == [
        setting
    ] * 3
    assert traffic_paths(files) == []  # no routing: nothing else to sync
    files = render(PRIMARY_REMOTE, local)
    assert service_settings(files, "primary-1") == setting
    assert service_settings(files, "primary-2") == setting
    assert service_settings(files, "remote-1") is None  # configured from primary-1
    # An external control plane shares its config cluster's mesh config: both carry it.
    files = render(EXTERNAL, local)
    assert service_settings(files, "external-1") == setting
    assert service_settings(files, "config-1") == setting
    # Without the policy, the values are what they always were.
    assert "serviceSettings" not in render(ONE_NETWORK, {})["clusters/cluster1/values/istiod.yaml"]


def test_flux_syncs_traffic_after_mesh_config_in_the_right_clusters(
    tmp_path: Path, tools: Any
) -> None:
    flux = TWO_NETWORKS.replace("networks:", "gitops: {engine: flux}\nnetworks:", 1)
    files = render(
        flux,
        {
            "traffic/reviews.yaml": REVIEWS,
            "traffic/bookinfo/ratings.yaml": policy(
                "  clients: [cluster1]\n  timeout: 3s\n", name="ratings", namespace="bookinfo"
            ),
        },
    )
    write_files(tmp_path, files)
    stages = {
        cluster: {
            d["metadata"]["name"]: d["spec"].get("dependsOn")
            for d in docs(files, f"clusters/{cluster}/stages.yaml")
        }
        for cluster in ("cluster1", "cluster2")
    }
    # Both traffic stages wait for the mesh config, not for each other.
    assert stages["cluster1"] == {
        "istio-system": None,
        "istio-charts": [{"name": "istio-system"}],
        "mesh-config": [{"name": "istio-charts"}],
        "traffic-bookinfo": [{"name": "mesh-config"}],
        "traffic-default": [{"name": "mesh-config"}],
    }
    assert list(stages["cluster2"])[-1] == "traffic-default"
    assert "traffic-bookinfo" not in stages["cluster2"]
    # The namespaces they apply into are created when missing, never changed or pruned.
    namespaces = docs(files, "clusters/cluster1/namespaces.yaml")
    assert [n["metadata"]["name"] for n in namespaces] == ["bookinfo", "default"]
    assert namespaces[0]["metadata"]["annotations"] == {
        "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent",
        "kustomize.toolkit.fluxcd.io/prune": "disabled",
    }
    # What flux bootstrap --path=clusters/cluster1 applies, built with the real kustomize.
    flux_bootstrap(tmp_path, "cluster1", "https://git.example.com/platform/mesh.git", "main")
    built = [
        d for d in YAML(typ="safe").load_all(kustomize.build(tmp_path / "clusters/cluster1")) if d
    ]
    names = {(o["kind"], o["metadata"]["name"]) for o in built}
    assert {("Namespace", "bookinfo"), ("Kustomization", "traffic-bookinfo")} <= names
    paths = {
        o["metadata"]["name"]: o["spec"]["path"] for o in built if o["kind"] == "Kustomization"
    }
    assert paths["traffic-bookinfo"] == "./clusters/cluster1/traffic/bookinfo"
    crds = upstream_root() / FLUX_CRDS
    if crds.is_dir():
        index = CrdIndex(sorted(crds.glob("*.yaml")))
        for obj in built:
            if obj["kind"] == "Kustomization":
                assert object_problems(obj, index) == []
    assert "| 4 | `traffic-<namespace>` |" in files["README.md"]


def test_rendering_is_deterministic_and_ignores_file_order() -> None:
    first = {"traffic/a.yaml": REVIEWS, "traffic/b.yaml": policy("  timeout: 1s\n", name="ratings")}
    second = dict(reversed(list(first.items())))
    assert render(TWO_NETWORKS, first) == render(TWO_NETWORKS, second)
    # The schema for editors lands in .meshgen/ beside mesh.yaml's.
    schema = render(TWO_NETWORKS, {})[".meshgen/traffic.schema.json"]
    assert schema.startswith('{"$comment": "Generated by meshgen')
    assert '"const": "TrafficPolicy"' in schema
