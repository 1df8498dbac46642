"""The five upstream multi-cluster topologies, rendered end to end: the keys each one needs.

Expectations are written out by hand from upstream's install guides (istio.io, Istio 1.30), so
a change in the renderer that drifts from them fails here. Conformance with the real charts and
CRDs (helm template, kubectl kustomize, schemas) is in ``test_conformance.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import write_files
from meshgen import library, spec
from meshgen.adapters import kustomize
from meshgen.errors import MeshgenError
from meshgen.render import render_repository

HEADER = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: m
repository: {url: https://git.example.com/org/m.git}
"""


def render(text: str) -> dict[str, str]:
    return render_repository(spec.parse(HEADER + text).mesh, library.load())


def load(files: dict[str, str], path: str) -> Any:
    return YAML(typ="safe").load(files[path])


def build(files: dict[str, str], folder: str, root: Path) -> list[dict[str, Any]]:
    write_files(root, files)
    return [d for d in YAML(typ="safe").load_all(kustomize.build(root / folder)) if d]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


PRIMARY_REMOTE = """\
networks: [{name: net1}, {name: net2}]
clusters:
  - name: primary-1
    network: net1
    eastWestGateway: {enabled: true}
    discovery: {address: 192.0.2.7}
  - name: remote-1
    network: NET
    role: remote
    controlPlane: primary-1
    eastWestGateway: {enabled: GATEWAY}
"""


@pytest.mark.parametrize("network, gateway", [("net1", "false"), ("net2", "true")])
def test_primary_remote(network: str, gateway: str, tmp_path: Path, tools: Any) -> None:
    text = PRIMARY_REMOTE.replace("NET", network).replace("GATEWAY", gateway)
    files = render(text)

    primary = load(files, "clusters/primary-1/values/istiod.yaml")
    assert primary["global"]["externalIstiod"] is True
    assert primary["global"]["multiCluster"] == {"clusterName": "primary-1"}

    remote = load(files, "clusters/remote-1/values/istiod.yaml")
    assert remote["profile"] == "remote"
    assert remote["global"]["multiCluster"] == {"clusterName": "remote-1"}
    assert remote["global"]["network"] == network
    assert remote["global"]["configCluster"] is True
    assert remote["global"]["remotePilotAddress"] == "192.0.2.7"
    assert remote["istiodRemote"] == {"injectionPath": f"/inject/cluster/remote-1/net/{network}"}
    assert load(files, "clusters/remote-1/values/base.yaml")["profile"] == "remote"
    assert ("clusters/remote-1/values/gateway.yaml" in files) == (gateway == "true")

    # The remote's namespace names its control plane; it carries the network label too.
    (namespace,) = by_kind(build(files, "clusters/remote-1/istio-system", tmp_path), "Namespace")
    assert namespace["metadata"]["annotations"] == {
        "topology.istio.io/controlPlaneClusters": "primary-1"
    }
    assert namespace["metadata"]["labels"]["topology.istio.io/network"] == network

    # Remotes reach istiod through the primary's east-west gateway (upstream expose-istiod).
    mesh_config = build(files, "clusters/primary-1/mesh-config", tmp_path)
    gateways = {g["metadata"]["name"]: g for g in by_kind(mesh_config, "Gateway")}
    assert set(gateways) == {"cross-network-gateway", "istiod-gateway"}
    servers = gateways["istiod-gateway"]["spec"]["servers"]
    assert [(s["port"]["number"], s["tls"]["mode"]) for s in servers] == [
        (15012, "PASSTHROUGH"),
        (15017, "PASSTHROUGH"),
    ]
    (virtual_service,) = by_kind(mesh_config, "VirtualService")
    assert virtual_service["metadata"]["name"] == "istiod-vs"
    routes = {
        r["match"][0]["port"]: r["route"][0]["destination"] for r in virtual_service["spec"]["tls"]
    }
    assert routes == {
        15012: {"host": "istiod.istio-system.svc.cluster.local", "port": {"number": 15012}},
        15017: {"host": "istiod.istio-system.svc.cluster.local", "port": {"number": 443}},
    }

    # Remote secrets: the primary holds the remote's; the remote holds none.
    secrets = by_kind(build(files, "clusters/primary-1/istio-system", tmp_path), "ExternalSecret")
    assert sorted(s["metadata"]["name"] for s in secrets) == [
        "cacerts",
        "istio-remote-secret-remote-1",
    ]
    # The remote, with no istiod, needs neither remote secrets nor a cacerts.
    assert not by_kind(build(files, "clusters/remote-1/istio-system", tmp_path), "ExternalSecret")


def test_remote_secrets_follow_the_topology(tmp_path: Path, tools: Any) -> None:
    """A primary gets the other primaries' and its own remotes' secrets, not other remotes'."""
    files = render("""\
networks: [{name: n}]
clusters:
  - {name: p1, network: n, discovery: {address: 192.0.2.1}}
  - {name: p2, network: n, discovery: {address: 192.0.2.2}}
  - {name: p3, network: n}
  - {name: r1, network: n, role: remote, controlPlane: p1}
  - {name: r2, network: n, role: remote, controlPlane: p2}
""")

    def secrets(cluster: str) -> list[str]:
        objects = build(files, f"clusters/{cluster}/istio-system", tmp_path)
        names = [o["metadata"]["name"] for o in objects if o["kind"] == "ExternalSecret"]
        return sorted(n.removeprefix("istio-remote-secret-") for n in names if n != "cacerts")

    assert secrets("p1") == ["p2", "p3", "r1"]
    assert secrets("p2") == ["p1", "p3", "r2"]
    assert secrets("p3") == ["p1", "p2"]
    assert secrets("r1") == secrets("r2") == []
    # Flat network, no gateways: nothing exposes istiod, nothing crosses networks.
    assert not any(p.endswith("/mesh-config/kustomization.yaml") for p in files)


def test_injection_url_when_the_address_has_a_trusted_certificate() -> None:
    files = render("""\
networks: [{name: n}]
clusters:
  - {name: p, network: n, discovery: {address: istiod.example.com, validCertificate: true}}
  - {name: r, network: n, role: remote, controlPlane: p}
""")
    remote = load(files, "clusters/r/values/istiod.yaml")
    assert remote["istiodRemote"] == {
        "injectionURL": "https://istiod.example.com:15017/inject/cluster/r/net/n"
    }
    # The validating webhooks (istiod's and base's) call the same host: through the chart's
    # istiod Service, an ExternalName for a hostname, the API server would call port 443.
    validation = {"validationURL": "https://istiod.example.com:15017/validate"}
    assert remote["base"] == {"validationFailurePolicy": "Fail", **validation}
    assert load(files, "clusters/r/values/base.yaml")["base"] == {
        "validationFailurePolicy": "Fail",
        **validation,
    }


def test_external_control_plane(tmp_path: Path, tools: Any) -> None:
    files = render("""\
networks: [{name: n}]
clusters:
  - name: cp
    network: n
    role: external-control-plane
    discovery: {address: 198.51.100.4}
  - {name: config-1, network: n, role: remote, controlPlane: cp}
""")
    # The hosting cluster: only istiod, in external-istiod, running as its config cluster.
    assert sorted(p for p in files if p.startswith("clusters/cp/values/")) == [
        "clusters/cp/values/istiod.yaml"
    ]
    istiod = load(files, "clusters/cp/values/istiod.yaml")
    assert istiod["global"]["istioNamespace"] == "external-istiod"
    assert istiod["global"]["operatorManageWebhooks"] is True
    assert istiod["global"]["configValidation"] is False
    assert istiod["global"]["caAddress"] == "198.51.100.4:15012"
    assert istiod["meshConfig"]["rootNamespace"] == "external-istiod"
    assert istiod["meshConfig"]["defaultConfig"]["discoveryAddress"] == "198.51.100.4:15012"
    env = istiod["env"]
    assert env["EXTERNAL_ISTIOD"] == env["LOCAL_CLUSTER_SECRET_WATCHER"] == "true"
    assert env["SHARED_MESH_CONFIG"] == "istio"
    # It runs as config-1: the chart sets CLUSTER_ID from clusterName (a second one in env
    # would be a duplicate entry that server-side apply refuses).
    assert istiod["global"]["multiCluster"] == {"clusterName": "config-1"}
    assert "CLUSTER_ID" not in env
    mounts = {m["mountPath"] for m in istiod["volumeMounts"]}
    assert mounts == {"/etc/istio/config", "/var/lib/istio/inject"}
    # The ConfigMaps the chart renders, unrevisioned here.
    assert [v["configMap"]["name"] for v in istiod["volumes"]] == [
        "istio",
        "istio-sidecar-injector",
    ]
    objects = build(files, "clusters/cp/external-istiod", tmp_path)
    (namespace,) = by_kind(objects, "Namespace")
    assert namespace["metadata"]["name"] == "external-istiod"
    secrets = {o["metadata"]["name"]: o for o in by_kind(objects, "ExternalSecret")}
    assert set(secrets) == {"istio-kubeconfig", "cacerts"}
    assert secrets["cacerts"]["metadata"]["namespace"] == "external-istiod"  # beside its istiod
    kubeconfig = secrets["istio-kubeconfig"]
    assert kubeconfig["metadata"]["namespace"] == "external-istiod"
    assert kubeconfig["spec"]["target"]["name"] == "istio-kubeconfig"
    assert [d["secretKey"] for d in kubeconfig["spec"]["data"]] == ["config"]

    # The config cluster: remote profile in external-istiod, keeping the mesh ConfigMap.
    config = load(files, "clusters/config-1/values/istiod.yaml")
    assert config["profile"] == "remote"
    assert config["global"]["istioNamespace"] == "external-istiod"
    assert config["global"]["configCluster"] is True
    assert config["configMap"] is True
    assert config["istiodRemote"] == {"injectionPath": "/inject/cluster/config-1/net/n"}
    # Its mesh ConfigMap sends proxies where the external istiod's does.
    assert config["meshConfig"]["defaultConfig"]["discoveryAddress"] == "198.51.100.4:15012"
    base = load(files, "clusters/config-1/values/base.yaml")
    assert base["global"]["istioNamespace"] == "external-istiod"
    application = load(files, "clusters/config-1/applications/istiod.yaml")
    assert application["spec"]["destination"]["namespace"] == "external-istiod"
    (namespace,) = by_kind(build(files, "clusters/config-1/external-istiod", tmp_path), "Namespace")
    assert namespace["metadata"]["labels"]["topology.istio.io/network"] == "n"


def test_revision_flows_into_values_gateway_and_expose_istiod(tmp_path: Path, tools: Any) -> None:
    files = render("""\
istio: {revision: 1-30}
networks: [{name: n1}, {name: n2}]
clusters:
  - {name: p, network: n1, eastWestGateway: {enabled: true}, discovery: {address: 192.0.2.9}}
  - {name: r, network: n2, role: remote, controlPlane: p, eastWestGateway: {enabled: true}}
  - {name: q, network: n2, revision: canary, eastWestGateway: {enabled: true}}
""")
    assert load(files, "clusters/p/values/istiod.yaml")["revision"] == "1-30"
    assert load(files, "clusters/p/values/gateway.yaml")["revision"] == "1-30"
    assert load(files, "clusters/p/values/base.yaml")["defaultRevision"] == "1-30"
    assert load(files, "clusters/r/values/istiod.yaml")["revision"] == "1-30"
    assert load(files, "clusters/q/values/istiod.yaml")["revision"] == "canary"
    assert load(files, "clusters/q/values/gateway.yaml")["revision"] == "canary"
    (virtual_service,) = by_kind(build(files, "clusters/p/mesh-config", tmp_path), "VirtualService")
    assert virtual_service["metadata"]["name"] == "istiod-vs-1-30"
    hosts = {r["route"][0]["destination"]["host"] for r in virtual_service["spec"]["tls"]}
    assert hosts == {"istiod-1-30.istio-system.svc.cluster.local"}
    assert "istio.io/rev=1-30" in files["README.md"] and "istio.io/rev=canary" in files["README.md"]


def test_trust_domain_aliases_reach_every_istiod() -> None:
    files = render("""\
trustDomain: new.example
trustDomainAliases: [old.example]
networks: [{name: n}]
clusters: [{name: a, network: n}]
""")
    mesh_config = load(files, "clusters/a/values/istiod.yaml")["meshConfig"]
    assert mesh_config["trustDomain"] == "new.example"
    assert mesh_config["trustDomainAliases"] == ["old.example"]


# ------------------------------------------------------------------------------ bad meshes

BAD = {
    "overlapping pods on one network": (
        """\
networks: [{name: n}]
clusters:
  - {name: a, network: n, podCIDRs: [10.0.0.0/16]}
  - {name: b, network: n, podCIDRs: [10.0.128.0/17]}
""",
        ["b podCIDRs 10.0.128.0/17 overlaps a podCIDRs 10.0.0.0/16", "network n"],
    ),
    "overlapping IPv6 pod and service ranges": (
        """\
networks: [{name: n}]
clusters:
  - {name: a, network: n, serviceCIDRs: ["fd00::/48"]}
  - {name: b, network: n, podCIDRs: [10.9.0.0/16, "fd00:0:0:1::/64"]}
""",
        ["b podCIDRs fd00:0:0:1::/64 overlaps a serviceCIDRs fd00::/48"],
    ),
    "remote without its control plane": (
        """\
networks: [{name: n}]
clusters: [{name: r, network: n, role: remote, controlPlane: ghost}]
""",
        ["control plane 'ghost' of r is not a cluster of this mesh"],
    ),
    "remote managed by a remote": (
        """\
networks: [{name: n}]
clusters:
  - {name: p, network: n, discovery: {address: 192.0.2.1}}
  - {name: r1, network: n, role: remote, controlPlane: p}
  - {name: r2, network: n, role: remote, controlPlane: r1}
""",
        ["control plane r1 of r2 is itself a remote", "such as p"],
    ),
    "unreachable network": (
        """\
networks: [{name: n1}, {name: n2}]
clusters:
  - {name: a, network: n1, eastWestGateway: {enabled: true}}
  - {name: b, network: n2}
""",
        ["network n2 has no east-west gateway", "(b)"],
    ),
    "hostname as discovery address": (
        """\
networks: [{name: n}]
clusters:
  - {name: p, network: n, discovery: {address: istiod.example.com}}
""",
        ["'istiod.example.com' is a hostname", "ExternalName", "validCertificate: true"],
    ),
    "primary serving remotes across networks without a gateway": (
        """\
networks: [{name: n1}, {name: n2}]
clusters:
  - {name: p, network: n1, eastWestGateway: {enabled: false}, discovery: {address: 192.0.2.1}}
  - {name: r, network: n2, role: remote, controlPlane: p, eastWestGateway: {enabled: true}}
""",
        ["primary p manages remotes on other networks (r)"],
    ),
    "remote whose control plane has no address yet": (
        """\
networks: [{name: n}]
clusters: [{name: p, network: n}, {name: r, network: n, role: remote, controlPlane: p}]
""",
        ["control plane p of r has no discovery address yet", "--discovery-address"],
    ),
    "sealed secrets with an external control plane": (
        """\
secrets: {provider: sealed-secrets}
networks: [{name: n}]
clusters:
  - {name: cp, network: n, role: external-control-plane, discovery: {address: 192.0.2.1}}
""",
        ["cp is an external control plane, which the sealed-secrets provider does not support"],
    ),
    "trust domain listed as its own alias": (
        """\
trustDomain: a.example
trustDomainAliases: [a.example]
networks: [{name: n}]
clusters: []
""",
        ["'a.example' is the trust domain itself"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_topologies_are_rejected_with_a_clear_line(case: str) -> None:
    text, fragments = BAD[case]
    with pytest.raises(MeshgenError) as caught:
        spec.parse(HEADER + text)
    message = str(caught.value)
    assert message.startswith("mesh.yaml:") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_clusters_on_different_networks_may_overlap() -> None:
    mesh = spec.parse(
        HEADER
        + """\
networks: [{name: n1}, {name: n2}]
clusters:
  - {name: a, network: n1, podCIDRs: [10.0.0.0/16], eastWestGateway: {enabled: true}}
  - {name: b, network: n2, podCIDRs: [10.0.0.0/16], eastWestGateway: {enabled: true}}
"""
    ).mesh
    assert [c.pod_cidrs for c in mesh.clusters] == [("10.0.0.0/16",), ("10.0.0.0/16",)]


def test_overlap_check_scales_linearly_enough_and_finds_the_one_clash() -> None:
    """Many disjoint clusters on one network pass; one clash among them is found and named."""
    entries = "".join(
        f"  - {{name: c{i}, network: n, podCIDRs: [10.{i // 256}.{i % 256}.0/24]}}\n"
        for i in range(2000)
    )
    text = HEADER + "networks: [{name: n}]\nclusters:\n" + entries
    assert len(spec.parse(text).mesh.clusters) == 2000
    clash = text + "  - {name: late, network: n, podCIDRs: [10.3.7.128/25]}\n"
    with pytest.raises(MeshgenError, match=r"late podCIDRs 10\.3\.7\.128/25 overlaps c775"):
        spec.parse(clash)
