"""The rendering core on the README scenario: what each cluster receives, exactly."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from helpers import MINIMAL_MESH, REPO_ROOT, two_network_mesh
from meshgen import library, manifest, spec
from meshgen.adapters import kustomize
from meshgen.errors import MeshgenError
from meshgen.render import render_repository
from meshgen.render.files import GENERATED_MARK

yaml = YAML(typ="safe", pure=True)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return render_repository(two_network_mesh().mesh, library.load())


def load(files: dict[str, str], path: str):
    return yaml.load(files[path])


def load_all(text: str) -> list:
    return [doc for doc in yaml.load_all(text) if doc is not None]


def write(files: dict[str, str], root: Path) -> Path:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def test_every_generated_file_says_so_on_its_first_line(files: dict[str, str]) -> None:
    """All but the record of them, which keeps sha256sum's format (no comment lines)."""
    for path, text in files.items():
        if path != manifest.PATH:
            assert GENERATED_MARK in text.splitlines()[0], path


def test_istiod_values_join_each_cluster_to_the_mesh(files: dict[str, str]) -> None:
    for name, network in (("cluster-1", "network1"), ("cluster-2", "network2")):
        values = load(files, f"clusters/{name}/values/istiod.yaml")
        assert values["global"] == {
            "hub": "docker.io/istio",
            "meshID": "mesh1",
            "multiCluster": {"clusterName": name},
            "network": network,
        }
        assert values["hub"] == "docker.io/istio"
        assert values["meshConfig"]["trustDomain"] == "cluster.local"
        proxy = values["meshConfig"]["defaultConfig"]["proxyMetadata"]
        assert proxy == {"ISTIO_META_DNS_CAPTURE": "true"}
        assert values["base"] == {"validationFailurePolicy": "Fail"}
        assert load(files, f"clusters/{name}/values/base.yaml")["base"] == {
            "validationFailurePolicy": "Fail"
        }


def test_each_network_gets_its_east_west_gateway(files: dict[str, str]) -> None:
    """cluster-1 joined alone, without a gateway; cluster-2 brought network2, and with it the
    gateway of cluster-1: each network is reached through its own."""
    for name, network in (("cluster-1", "network1"), ("cluster-2", "network2")):
        gateway = load(files, f"clusters/{name}/values/gateway.yaml")
        assert gateway["name"] == "istio-eastwestgateway"
        assert gateway["networkGateway"] == network
        # Sized like upstream's default: the chart's autoscaler, 1 to 5 pods.
        assert "replicaCount" not in gateway
        assert gateway["autoscaling"] == {"enabled": True, "minReplicas": 1, "maxReplicas": 5}
        assert gateway["service"] == {"type": "LoadBalancer"}
        app = load(files, f"clusters/{name}/applications/istio-eastwestgateway.yaml")
        assert app["spec"]["sources"][0]["helm"]["releaseName"] == "istio-eastwestgateway"
        assert app["spec"]["destination"] == {"name": name, "namespace": "istio-system"}


def test_a_cluster_without_a_gateway_gets_no_gateway_files() -> None:
    document = spec.parse(MINIMAL_MESH)
    for name, network in (("a", "n1"), ("b", "n1"), ("c", "n2")):
        document, _ = spec.add_cluster(document, spec.NewCluster(name, network))
    document, _ = spec.add_cluster(document, spec.NewCluster("d", "n1", east_west_gateway=False))
    out = render_repository(document.mesh, library.load())
    for name, gateway in (("a", True), ("b", True), ("c", True), ("d", False)):
        assert (f"clusters/{name}/values/gateway.yaml" in out) is gateway
        assert (f"clusters/{name}/mesh-config/kustomization.yaml" in out) is gateway


def test_gateway_replicas_autoscaling_and_annotations() -> None:
    text = MINIMAL_MESH.replace("networks: []", "networks: [{name: n1}]").replace(
        "clusters: []",
        "clusters:\n  - name: c1\n    network: n1\n    eastWestGateway:\n      enabled: true\n"
        "      replicas: 2\n      maxReplicas: 6\n      serviceType: NodePort\n      annotations:\n"
        "        service.beta.kubernetes.io/aws-load-balancer-internal: 'true'\n",
    )
    out = render_repository(spec.parse(text).mesh, library.load())
    gateway = yaml.load(out["clusters/c1/values/gateway.yaml"])
    # The earlier spelling (replicas + maxReplicas) still means autoscaling between them.
    assert "replicaCount" not in gateway
    assert gateway["autoscaling"] == {"enabled": True, "minReplicas": 2, "maxReplicas": 6}
    assert gateway["service"] == {
        "type": "NodePort",
        "annotations": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
    }


def test_overlays_build_with_real_kustomize(files: dict[str, str], tmp_path: Path, tools) -> None:
    root = write(files, tmp_path)
    one = load_all(kustomize.build(root / "clusters/cluster-1/istio-system"))
    two = load_all(kustomize.build(root / "clusters/cluster-2/istio-system"))
    config = load_all(kustomize.build(root / "clusters/cluster-2/mesh-config"))

    namespace = next(d for d in one if d["kind"] == "Namespace")
    assert namespace["metadata"]["name"] == "istio-system"
    assert namespace["metadata"]["labels"]["topology.istio.io/network"] == "network1"
    assert (
        next(d for d in two if d["kind"] == "Namespace")["metadata"]["labels"][
            "topology.istio.io/network"
        ]
        == "network2"
    )

    # Each cluster holds exactly the other's remote-secret placeholder.
    for docs, peer in ((one, "cluster-2"), (two, "cluster-1")):
        secrets = [d for d in docs if d["kind"] == "ExternalSecret"]
        # ... besides its own cacerts placeholder, which comes first.
        assert [s["metadata"]["name"] for s in secrets] == [
            "cacerts",
            f"istio-remote-secret-{peer}",
        ]
        secrets = secrets[1:]
        target = secrets[0]["spec"]["target"]
        assert target["template"]["metadata"] == {
            "labels": {"istio/multiCluster": "true"},
            "annotations": {"networking.istio.io/cluster": peer},
        }
        assert secrets[0]["spec"]["data"] == [
            {"secretKey": peer, "remoteRef": {"key": f"meshgen/mesh1/remote-secrets/{peer}"}}
        ]
        assert secrets[0]["apiVersion"] == "external-secrets.io/v1"

    [gateway] = config
    assert gateway["apiVersion"] == "networking.istio.io/v1"
    assert (gateway["kind"], gateway["metadata"]["name"]) == ("Gateway", "cross-network-gateway")
    assert gateway["spec"]["selector"] == {"istio": "eastwestgateway"}
    assert gateway["spec"]["servers"] == [
        {
            "port": {"number": 15443, "name": "tls", "protocol": "TLS"},
            "tls": {"mode": "AUTO_PASSTHROUGH"},
            "hosts": ["*.local"],
        }
    ]
    for doc in [*one, *two, *config]:
        assert doc["metadata"]["labels"]["meshgen.io/mesh"] == "mesh1"


def test_applications_are_ordered_multi_source_and_labelled(files: dict[str, str]) -> None:
    apps = {
        path.rsplit("/", 1)[1][: -len(".yaml")]: load(files, path)
        for path in files
        if path.startswith("clusters/cluster-2/applications/")
    }
    waves = {
        name: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for name, a in apps.items()
    }
    order = ["istio-system", "istio-base", "istiod", "istio-eastwestgateway", "mesh-config"]
    assert sorted(waves, key=waves.get) == order
    assert len(set(waves.values())) == len(order)
    for name, app in apps.items():
        metadata = app["metadata"]
        assert metadata["name"] == f"cluster-2-{name}"
        assert metadata["namespace"] == "argocd"
        assert metadata["labels"]["meshgen.io/cluster"] == "cluster-2"
        assert metadata["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}
        assert {"CreateNamespace=true", "ServerSideApply=true"} <= set(policy["syncOptions"])
    istiod = apps["istiod"]["spec"]
    chart, values = istiod["sources"]
    assert chart == {
        "repoURL": "https://blob.istio.io/istio-release/charts",
        "chart": "istiod",
        "targetRevision": "1.31.1",
        "helm": {
            "releaseName": "istiod",
            "valueFiles": ["$values/clusters/cluster-2/values/istiod.yaml"],
        },
    }
    assert values == {
        "repoURL": "https://git.example.com/mesh.git",
        "targetRevision": "main",
        "ref": "values",
    }
    kinds = {d["kind"] for d in istiod["ignoreDifferences"]}
    assert kinds == {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
    assert "RespectIgnoreDifferences=true" in istiod["syncPolicy"]["syncOptions"]
    assert apps["istio-system"]["spec"]["source"]["path"] == "clusters/cluster-2/istio-system"


def test_bootstrap_project_allows_only_the_mesh(files: dict[str, str]) -> None:
    project = load(files, "bootstrap/argocd/project.yaml")
    assert project["metadata"]["name"] == "mesh1"
    assert project["spec"]["destinations"] == [
        {"name": "in-cluster", "namespace": "argocd"},
        {"name": "cluster-1", "namespace": "istio-system"},
        {"name": "cluster-2", "namespace": "istio-system"},
    ]
    assert set(project["spec"]["sourceRepos"]) == {
        "https://git.example.com/mesh.git",
        "https://blob.istio.io/istio-release/charts",
    }
    kustomization = load(files, "bootstrap/argocd/kustomization.yaml")
    assert kustomization["resources"] == [
        "project.yaml",
        "bootstrap.yaml",
        "roots/cluster-1.yaml",
        "roots/cluster-2.yaml",
    ]
    patch = load(files, "bootstrap/argocd/argocd-cm-patch.yaml")
    lua = patch["data"]["resource.customizations.health.argoproj.io_Application"]
    assert "obj.status.health.status" in lua and "return hs" in lua


def test_readme_explains_bootstrap_adding_clusters_and_secrets(files: dict[str, str]) -> None:
    readme = files["README.md"]
    for needle in (
        "kubectl apply -k bootstrap/argocd",
        "kubectl -n argocd patch configmap argocd-cm",
        "argocd cluster add",
        "meshgen new-cluster",
        "meshgen/mesh1/remote-secrets/cluster-2",
        "| `cluster-1` | `network1` | primary | yes |",
        "| `cluster-2` | `network2` | primary | yes |",
    ):
        assert needle in readme, needle
    assert "has no east-west gateway" not in readme


def test_readme_warns_about_a_network_the_others_cannot_reach() -> None:
    document = spec.parse(MINIMAL_MESH)
    document, _ = spec.add_cluster(document, spec.NewCluster("a", "n1"))
    document, _ = spec.add_cluster(document, spec.NewCluster("b", "n2", east_west_gateway=False))
    readme = render_repository(document.mesh, library.load())["README.md"]
    assert (
        "> **Warning:** network n1 has no east-west gateway: the other networks cannot reach "
        "the services of its clusters (a); give it one with `meshgen set-cluster a "
        "--east-west-gateway`"
    ) in readme


def test_manual_provider_has_no_placeholders_and_lists_secrets() -> None:
    document = two_network_mesh(MINIMAL_MESH + "secrets:\n  provider: manual\n")
    out = render_repository(document.mesh, library.load())
    assert not any("remote-secrets" in path for path in out)
    assert "ExternalSecret" not in "".join(out.values())
    assert "| `cluster-1` | `istio-remote-secret-cluster-2` |" in out["README.md"]


def test_cluster_order_in_mesh_yaml_does_not_change_the_output() -> None:
    forward = two_network_mesh()
    text = spec.to_text(forward)
    first, second = text.index("  - name: cluster-1"), text.index("  - name: cluster-2")
    swapped = text[:first] + text[second:] + text[first:second]
    assert swapped != text
    reordered = spec.parse(swapped)
    assert [c.name for c in reordered.mesh.clusters] == ["cluster-2", "cluster-1"]
    lib = library.load()
    assert render_repository(reordered.mesh, lib) == render_repository(forward.mesh, lib)


def test_colliding_application_names_are_rejected() -> None:
    text = MINIMAL_MESH.replace("networks: []", "networks: [{name: n1}]").replace(
        "clusters: []", "clusters: [{name: a, network: n1}, {name: a-istiod, network: n1}]"
    )
    from meshgen.errors import MeshgenError

    with pytest.raises(MeshgenError, match="Application name 'a-istiod'"):
        render_repository(spec.parse(text).mesh, library.load())


RENDER_SCRIPT = """
import hashlib, json, sys
from meshgen import library, manifest, spec
from meshgen.render import render_repository
doc = spec.parse(open(sys.argv[1]).read())
files = render_repository(doc.mesh, library.load())
print(hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest())
"""


def test_output_is_identical_across_processes_and_environments(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(spec.to_text(two_network_mesh()))
    digests = set()
    for env in (
        {"PYTHONHASHSEED": "1", "LANG": "C", "TZ": "UTC"},
        {"PYTHONHASHSEED": "4242", "LANG": "de_DE.UTF-8", "TZ": "Asia/Tokyo", "LC_ALL": "C.UTF-8"},
    ):
        out = subprocess.run(
            [sys.executable, "-c", RENDER_SCRIPT, str(mesh)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
            env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT / "generator")},
        )
        digests.add(out.stdout.strip())
    in_process = render_repository(two_network_mesh().mesh, library.load())
    digests.add(hashlib.sha256(json.dumps(in_process, sort_keys=True).encode()).hexdigest())
    assert len(digests) == 1


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["a", "a-istiod"], "name 'a-istiod' of cluster 'a-istiod' is also used by cluster 'a'"),
        (["mesh1-bootstrap"], "is also used by the bootstrap Application"),
    ],
)
def test_argocd_application_names_that_collide_are_refused(names: list[str], message: str) -> None:
    """A cluster's root Application is named after it, its children ``<cluster>-<component>``:
    two clusters (or a cluster and the bootstrap) whose names would make one Application are
    refused with both owners named, before anything is written."""
    clusters = "".join(f"  - name: {name}\n    network: n1\n" for name in names)
    text = MINIMAL_MESH.replace("networks: []\nclusters: []\n", "networks: [{name: n1}]\n")
    mesh = spec.parse(f"{text}clusters:\n{clusters}").mesh
    with pytest.raises(MeshgenError, match=message):
        render_repository(mesh, library.load())
