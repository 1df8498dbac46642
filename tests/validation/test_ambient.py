"""The `ambient` check, and what the other checks say about ambient repositories.

Every way an ambient repository can go wrong that the issue lists is applied by hand to one
rendered two-network ambient mesh (Argo CD), which is validated once with the real charts of
Istio 1.29.6 and the Istio and Gateway API CRDs; each test asserts that its breakage is
reported, in its cluster and file. A sidecar mesh given ambient settings by hand is the other
direction. The version rules and the offline Gateway API copy are also tested on their own.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from helpers import commit_rendered, edit, pin_istio, two_network_mesh, upstream_root
from meshgen.commands import validate
from meshgen.validation import ERROR, UNCHECKED, Finding, ambient, helm_values
from meshgen.validation.engines import HelmRelease
from meshgen.validation.schemas import CrdIndex
from render.test_ambient import ISTIO
from render.test_ambient import ambient as ambient_mesh

GATEWAY_API = "v1.4.1"


@pytest.fixture(scope="module")
def upstream() -> Path:
    root = upstream_root()
    needed = [root / "istio" / ISTIO / "charts", root / "gateway-api" / GATEWAY_API]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"upstream data not found ({', '.join(missing)}): needs ../shared/upstream")
    return root.resolve()


def collect(root: Path, upstream: Path) -> list[Finding]:
    crds = (
        upstream / "istio" / ISTIO / "crds",
        upstream / "gateway-api" / GATEWAY_API / "crds" / "standard",
        upstream / "argocd" / "v3.5.1" / "crds",
        upstream / "external-secrets" / "v2.9.0" / "crds",
    )
    options = validate.Options(
        repo=root, crds=crds, charts=upstream / "istio" / ISTIO / "charts", jobs=2
    )
    return validate.collect(options)


def found(findings: list[Finding], check: str, cluster: str | None, words: str) -> Finding:
    matches = [
        f for f in findings if f.check == check and f.cluster == cluster and words in f.message
    ]
    assert matches, f"no {check} finding in {cluster} with {words!r}:\n" + "\n".join(
        f"{f.check} {f.cluster} {f.where()}: {f.message}" for f in findings
    )
    return matches[0]


C1, C2 = "clusters/cluster-1", "clusters/cluster-2"


@pytest.fixture(scope="module")
def broken(
    tmp_path_factory: pytest.TempPathFactory, upstream: Path, tools: dict[str, Path]
) -> list[Finding]:
    root = commit_rendered(tmp_path_factory.mktemp("ambient") / "repo", ambient_mesh())
    # cluster-1: ztunnel ahead of istiod, old Gateway API CRDs, the sidecar DNS setting, a
    # waypoint the Gateway CRD rejects.
    edit(root, f"{C1}/applications/ztunnel.yaml", f'"{ISTIO}"', '"1.30.3"')
    edit(root, f"{C1}/gateway-api-crds/kustomization.yaml", GATEWAY_API, "v1.2.0")
    edit(
        root,
        f"{C1}/values/istiod.yaml",
        "  trustDomain: cluster.local\n",
        "  trustDomain: cluster.local\n  defaultConfig:\n    proxyMetadata:\n"
        '      ISTIO_META_DNS_CAPTURE: "true"\n',
    )
    edit(
        root,
        f"{C1}/waypoints/sample/waypoints.yaml",
        "      protocol: HBONE\n",
        "      protocol: HBONE\n"
        "      allowedRoutes:\n        namespaces:\n          from: Anywhere\n",
    )
    # cluster-2: no istio-cni, another service scope, multi-network off, a renamed waypoint, an
    # east-west gateway labelled with the wrong network, a misspelled ztunnel value.
    edit(root, f"{C2}/kustomization.yaml", "  - applications/istio-cni.yaml\n", "")
    edit(root, f"{C2}/values/istiod.yaml", '- "true"', '- "yes"')
    edit(root, f"{C2}/values/istiod.yaml", 'MULTI_NETWORK: "true"', 'MULTI_NETWORK: "false"')
    edit(root, f"{C2}/waypoints/reviews/waypoints.yaml", "reviews-waypoint", "reviews-wp")
    edit(root, f"{C2}/east-west-gateway/gateway.yaml", "network: network2", "network: network1")
    edit(root, f"{C2}/values/ztunnel.yaml", "clusterName:", "clustername:")
    return collect(root, upstream)


def test_ztunnel_ahead_of_istiod(broken: list[Finding]) -> None:
    finding = found(broken, "ambient", "cluster-1", "ztunnel 1.30.3 is ahead of istiod 1.29.6")
    assert finding.file == f"{C1}/applications/ztunnel.yaml"
    assert "or a 1.28 release" in finding.message


def test_a_missing_cni(broken: list[Finding]) -> None:
    found(broken, "ambient", "cluster-2", "no cni release")


def test_old_gateway_api_crds(broken: list[Finding]) -> None:
    finding = found(broken, "ambient", "cluster-1", "Gateway API CRDs v1.2.0 are older than")
    assert finding.file == f"{C1}/gateway-api-crds/kustomization.yaml"
    # ... and what v1.2.0 holds could not be read offline: said, never passed silently
    unchecked = found(broken, "kustomize", "cluster-1", "v1.2.0/standard-install.yaml")
    assert unchecked.severity == UNCHECKED


def test_service_scopes_differ(broken: list[Finding]) -> None:
    finding = found(broken, "ambient", "cluster-2", "serviceScopeConfigs differs from cluster-1")
    assert '"yes"' in finding.message


def test_multi_network_off(broken: list[Finding]) -> None:
    finding = found(broken, "ambient", "cluster-2", "AMBIENT_ENABLE_MULTI_NETWORK")
    assert finding.file == f"{C2}/values/istiod.yaml"


def test_waypoints_differ(broken: list[Finding]) -> None:
    finding = found(broken, "ambient", "cluster-2", "waypoints in reviews are reviews-wp")
    assert "reviews-waypoint (workload) in cluster-1" in finding.message


def test_east_west_gateway_on_the_wrong_network(broken: list[Finding]) -> None:
    finding = found(broken, "ambient", "cluster-2", "labelled topology.istio.io/network")
    assert finding.obj == "Gateway istio-system/istio-eastwestgateway"


def test_sidecar_setting_in_ambient_mode(broken: list[Finding]) -> None:
    found(broken, "ambient", "cluster-1", "ISTIO_META_DNS_CAPTURE")


def test_objects_validate_against_the_gateway_api_crds(broken: list[Finding]) -> None:
    finding = found(broken, "schema", "cluster-1", "Anywhere")
    assert finding.file == f"{C1}/waypoints/sample/waypoints.yaml"


def test_values_are_checked_against_the_ztunnel_chart(broken: list[Finding]) -> None:
    finding = found(
        broken, "helm-values", "cluster-2", "multiCluster.clustername is not a value of the ztunnel"
    )
    assert finding.file == f"{C2}/values/ztunnel.yaml" and finding.line is not None


def test_nothing_else_is_reported(broken: list[Finding]) -> None:
    """Each breakage is reported by the checks that should see it, and by no other."""
    checks = {(f.check, f.cluster) for f in broken if f.severity == ERROR}
    assert checks == {
        ("drift", "cluster-1"),
        ("drift", "cluster-2"),
        ("helm-values", "cluster-1"),  # the 1.29.6 charts are not ztunnel 1.30.3
        ("helm-values", "cluster-2"),
        ("schema", "cluster-1"),
        ("ambient", "cluster-1"),
        ("ambient", "cluster-2"),
    }


def test_ambient_settings_in_a_sidecar_mesh(
    tmp_path: Path, upstream: Path, tools: dict[str, Path]
) -> None:
    root = commit_rendered(tmp_path / "repo", pin_istio(two_network_mesh(), ISTIO))
    edit(root, f"{C1}/values/istiod.yaml", "meshConfig:\n", "profile: ambient\nmeshConfig:\n")
    cni = (root / f"{C1}/applications/istiod.yaml").read_text()
    cni = cni.replace("chart: istiod", "chart: cni").replace("cluster-1-istiod", "cluster-1-cni")
    cni = cni.replace("values/istiod.yaml", "values/base.yaml").replace("istiod\n", "istio-cni\n")
    (root / f"{C1}/applications/cni.yaml").write_text(cni)
    edit(
        root, f"{C1}/kustomization.yaml", "resources:\n", "resources:\n  - applications/cni.yaml\n"
    )
    findings = collect(root, upstream)
    found(findings, "ambient", "cluster-1", "istiod sets the ambient setting profile: ambient")
    finding = found(findings, "ambient", "cluster-1", "cni is part of the ambient data plane")
    assert finding.file == f"{C1}/applications/cni.yaml"
    assert not [f for f in findings if f.check == "ambient" and f.cluster == "cluster-2"]


# ------------------------------------------------------------------------- on their own


def release(chart: str, version: str) -> HelmRelease:
    return HelmRelease("c", "f.yaml", f"Application {chart}", chart, version, "", chart, "ns", ())


@pytest.mark.parametrize(
    ("cni", "ztunnel", "problems"),
    [
        ("1.30.3", "1.30.3", []),
        ("1.30.3", "1.29.6", []),  # ztunnel one minor behind: supported
        ("1.30.3", "1.28.10", ["ztunnel 1.28.10 is behind"]),
        ("1.30.3", "1.31.0", ["ztunnel 1.31.0 is ahead"]),
        ("1.30.3", "1.30.4", ["ztunnel 1.30.4 is ahead"]),
        ("1.29.6", "1.30.3", ["cni 1.29.6 is behind"]),
    ],
)
def test_version_rules(cni: str, ztunnel: str, problems: list[str]) -> None:
    cluster = ambient.ClusterView(
        "c", releases={"cni": [release("cni", cni)], "ztunnel": [release("ztunnel", ztunnel)]}
    )
    messages = [f.message for f in ambient._versions(cluster, release("istiod", "1.30.3"))]
    assert len(messages) == len(problems)
    for message, words in zip(messages, problems, strict=True):
        assert message.startswith(words)


def test_offline_copy_is_the_crds_of_that_release(upstream: Path) -> None:
    index = CrdIndex(sorted((upstream / "gateway-api" / GATEWAY_API / "crds").rglob("*.yaml")))
    url = f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API}/"
    standard = ambient.offline_copy(url + "standard-install.yaml", index)
    assert standard is not None
    assert standard.count("kind: CustomResourceDefinition") == 6  # the standard channel
    assert "bundle-version: v1.4.1" in standard and "channel: experimental" not in standard
    assert (
        ambient.offline_copy(url.replace("v1.4.1", "v1.5.1") + "standard-install.yaml", index)
        is None
    )
    assert ambient.offline_copy("https://example.com/crds.yaml", index) is None


@functools.cache
def _defaults(chart: Path) -> dict:
    from meshgen.validation.repository import load_documents

    values = load_documents((chart / "values.yaml").read_text())[0][1]
    return values[helm_values.INTERNAL_DEFAULTS]


def test_globals_are_flattened_only_where_the_chart_does(upstream: Path) -> None:
    charts = upstream / "istio" / ISTIO / "charts"
    ztunnel, cni = charts / "ztunnel", charts / "cni"
    assert helm_values.flattens_globals(ztunnel) and not helm_values.flattens_globals(cni)
    given = {"global": {"network": "n1"}}
    defaults, reads = helm_values.with_flattened_globals(
        _defaults(ztunnel), helm_values.chart_reads(ztunnel)
    )
    assert helm_values.unknown_value_paths(given, defaults, reads=reads) == []
    assert helm_values.unknown_value_paths(
        {"global": {"netwerk": "n1"}}, defaults, reads=reads
    ) == [("global", "netwerk")]
    assert (
        helm_values.unknown_value_paths(
            {"global": {"multiCluster": {"clusterName": "c"}}},
            _defaults(cni),
            reads=helm_values.chart_reads(cni),
        )
        != []
    )
