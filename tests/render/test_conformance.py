"""Conformance of rendered repositories with the upstream charts and CRDs they target.

Nothing is mocked. Each scenario below is rendered by the real core into a temporary folder;
Helm values go through the real ``helm template`` (a throw-away chart made of the upstream
chart's Chart.yaml, values.yaml and values.schema.json plus a template that dumps and
type-checks the values), every kustomization goes through the real ``kubectl kustomize``, and
every object of a kind with an upstream CRD is validated against that CRD's schema.

Upstream data (Istio charts and CRDs, Argo CD and External Secrets CRDs) is read in place from
``../shared/upstream`` next to the repository, or from ``$MESHGEN_UPSTREAM_DIR``. Nothing of it
is copied into the repository: charts are assembled under pytest's temporary folder.
"""

from __future__ import annotations

import copy
import datetime
import fnmatch
import json
import os
import re
import shutil
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import write_files
from meshgen import library, releases, spec
from meshgen.adapters import helm, kustomize
from meshgen.errors import MeshgenError
from meshgen.render import render_repository
from meshgen.validation import helm_values, schemas
from meshgen.validation.schemas import CrdIndex

UPSTREAM_ENV = "MESHGEN_UPSTREAM_DIR"
ARGOCD_VERSION = "v3.5.1"
EXTERNAL_SECRETS_VERSION = "v2.9.0"
SEALED_SECRETS_VERSION = "v0.36.6"
# A release whose complete charts are in ../shared/upstream/istio; every scenario pins it.
ISTIO_VERSION = "1.30.3"
WORKERS = max(2, min(8, os.cpu_count() or 2))

# --------------------------------------------------------------------------------------------
# Scenarios: meshes that exercise different paths through the renderer.

HEADER = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: {mesh_id}
repository:
  url: https://git.example.com/org/mesh.git
networks: []
clusters: []
"""


def _two_networks() -> spec.MeshDocument:
    """The path a person takes with ``meshgen new-cluster``: the second network turns on the
    east-west gateway of the cluster that brings it (the first cluster keeps its explicit off)."""
    doc = spec.parse(HEADER.format(mesh_id="mesh1"))
    doc, _ = spec.add_cluster(doc, spec.NewCluster("cluster-1", "network1"))
    doc, _ = spec.add_cluster(doc, spec.NewCluster("cluster-2", "network2"))
    return doc


# Names that are valid DNS-1123 labels but that a YAML 1.1 reader (Helm, kubectl, Argo CD)
# takes for a bool, an octal or hex int, a float or null unless they are quoted.
TRAPS = [
    ("yes", "no", True),
    ("n", "no", False),
    ("0755", "on", True),
    ("1e3", "0x1f", True),
    ("null", "off", True),
]


def _yaml_traps() -> spec.MeshDocument:
    doc = spec.parse(HEADER.format(mesh_id='"true"'))
    for cluster, network, gateway in TRAPS:
        doc, _ = spec.add_cluster(doc, spec.NewCluster(cluster, network, east_west_gateway=gateway))
    return doc


TUNED = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: prod
trustDomain: corp.example.com
istio:
  dnsCapture: false
kubernetesVersion: "1.32"
repository:
  url: git@git.example.com:platform/mesh.git
  revision: release-1
gitops:
  argocd:
    namespace: gitops
    project: istio-prod
secrets:
  provider: external-secrets
  externalSecrets:
    storeRef:
      name: vault-backend
      kind: SecretStore
    keyPrefix: kv/istio/remote
    refreshInterval: 15m
networks:
  - name: net-a
  - name: net-b
clusters:
  - name: east-1
    network: net-a
    region: us-east-1
    zone: us-east-1a
    labels:
      team: platform
      tier: "on"
    eastWestGateway:
      enabled: true
      replicas: 2
      maxReplicas: 4
      serviceType: NodePort
      annotations:
        service.beta.kubernetes.io/aws-load-balancer-internal: "true"
        example.com/port: "15443"
  - name: east-2
    network: net-a
    eastWestGateway:
      enabled: false
  - name: west-1
    network: net-b
    apiServer: https://west-1.example.com:6443
    podCIDRs: ["10.10.0.0/16"]
    eastWestGateway:
      enabled: true
      serviceType: ClusterIP
"""

SINGLE_MANUAL = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: solo
repository:
  url: https://git.example.com/org/solo.git
secrets:
  provider: manual
networks:
  - name: default
clusters:
  - name: only
    network: default
"""

# The topologies upstream documents besides multi-primary on several networks (above).
FLAT_MULTI_PRIMARY = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: flat
repository: {url: https://git.example.com/org/flat.git}
networks: [{name: lan}]
clusters:
  - {name: a, network: lan, podCIDRs: [10.1.0.0/16, "fd00:1::/64"], serviceCIDRs: [10.101.0.0/16]}
  - {name: b, network: lan, podCIDRs: [10.2.0.0/16, "fd00:2::/64"], serviceCIDRs: [10.102.0.0/16]}
  - {name: c, network: lan, podCIDRs: [10.3.0.0/16], serviceCIDRs: [10.103.0.0/16]}
"""


def _primary_remote(multi_network: bool) -> spec.MeshDocument:
    """As with ``new-cluster``: a primary with its gateway, then remotes given its address."""
    doc = spec.parse(HEADER.format(mesh_id="pr"))
    doc, _ = spec.add_cluster(doc, spec.NewCluster("primary-1", "net1", east_west_gateway=True))
    doc, _ = spec.add_cluster(doc, spec.NewCluster("primary-2", "net1", east_west_gateway=True))
    network = "net2" if multi_network else "net1"
    for name in ("remote-1", "remote-2"):
        request = spec.NewCluster(
            name, network, role="remote", control_plane="primary-1", discovery_address="192.0.2.10"
        )
        doc, _ = spec.add_cluster(doc, request)
    return doc


EXTERNAL_CONTROL_PLANE = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: ext
istio: {revision: stable}
repository: {url: https://git.example.com/org/ext.git}
networks: [{name: net1}]
clusters:
  - name: cp-host
    network: net1
    role: external-control-plane
    discovery: {address: istiod.ext.example.com, validCertificate: true}
  - {name: config-1, network: net1, role: remote, controlPlane: cp-host}
"""

REVISIONED = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: rev
trustDomain: new.example.com
trustDomainAliases: [old.example.com]
istio: {revision: 1-30}
repository: {url: https://git.example.com/org/rev.git}
networks: [{name: n1}, {name: n2}]
clusters:
  - name: p1
    network: n1
    eastWestGateway: {enabled: true}
    discovery: {address: "2001:db8::10"}
  - {name: r1, network: n2, role: remote, controlPlane: p1, eastWestGateway: {enabled: true}}
  - {name: p2, network: n2, revision: canary, eastWestGateway: {enabled: false}}
"""


def pinned(build: Callable[[], spec.MeshDocument]) -> Callable[[], spec.MeshDocument]:
    """The scenario with istio.version set to the upstream release the checks read."""

    def pin() -> spec.MeshDocument:
        tree = copy.deepcopy(build().tree)
        tree.setdefault("istio", {})["version"] = ISTIO_VERSION
        return spec.from_tree(tree)

    return pin


SCENARIOS: dict[str, Callable[[], spec.MeshDocument]] = {
    name: pinned(build)
    for name, build in {
        "two-networks": _two_networks,
        "yaml-traps": _yaml_traps,
        "tuned": lambda: spec.parse(TUNED),
        "single-manual": lambda: spec.parse(SINGLE_MANUAL),
        "flat-multi-primary": lambda: spec.parse(FLAT_MULTI_PRIMARY),
        "primary-remote-flat": lambda: _primary_remote(multi_network=False),
        "primary-remote-networks": lambda: _primary_remote(multi_network=True),
        "external-control-plane": lambda: spec.parse(EXTERNAL_CONTROL_PLANE),
        "revisioned": lambda: spec.parse(REVISIONED),
    }.items()
}

# --------------------------------------------------------------------------------------------
# YAML: read every text the way both kinds of reader would, and insist they agree.


def _reader(version: tuple[int, int] | None) -> YAML:
    reader = YAML(typ="safe", pure=True)
    if version is not None:
        reader.version = version
    return reader


def _canonical(value: Any) -> str:
    """Type-aware text of a parsed value (True != 1 and 1 != 1.0 here, unlike ``==``)."""
    return json.dumps(value, sort_keys=True, default=repr)


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if _canonical(a.get(key)) != _canonical(b.get(key)):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if _canonical(x) != _canonical(y):
                return _first_difference(x, y, f"{path}[{index}]")
    return f"{path or '(document)'}: {a!r} vs {b!r}"


def load_all(text: str, where: str) -> list[Any]:
    """The documents of ``text``; fails unless YAML 1.1 and 1.2 readers agree on every scalar.

    Helm, kubectl and the API server read YAML like 1.1 (``no`` is false, ``0755`` is 493);
    kustomize and most editors read 1.2. A generated file must mean the same to both.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ruamel warns about YAML 1.1 floats such as 1e3
        as_11 = [doc for doc in _reader((1, 1)).load_all(text) if doc is not None]
    as_12 = [doc for doc in _reader(None).load_all(text) if doc is not None]
    if _canonical(as_11) != _canonical(as_12):
        pytest.fail(
            f"{where}: YAML 1.1 and 1.2 readers disagree: {_first_difference(as_11, as_12)}"
        )
    return as_12


def load_one(text: str, where: str) -> Any:
    docs = load_all(text, where)
    assert len(docs) == 1, f"{where}: expected one YAML document, found {len(docs)}"
    return docs[0]


def dig(data: Any, dotted: str, default: Any = None) -> Any:
    node = data
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


# --------------------------------------------------------------------------------------------
# Fixtures


def upstream_root() -> Path:
    configured = os.environ.get(UPSTREAM_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "upstream"


@pytest.fixture(scope="session")
def upstream() -> Path:
    root = upstream_root()
    needed = [
        root / "istio" / ISTIO_VERSION / "charts",
        root / "istio" / ISTIO_VERSION / "crds",
        root / "argocd" / ARGOCD_VERSION / "crds",
        root / "external-secrets" / EXTERNAL_SECRETS_VERSION / "crds",
    ]
    missing = [str(path) for path in needed if not path.is_dir()]
    if missing:
        pytest.skip(
            f"upstream data not found at {root} (missing {', '.join(missing)}): conformance "
            f"against upstream charts/CRDs needs ../shared/upstream (or set {UPSTREAM_ENV})"
        )
    return root.resolve()


@dataclass
class RenderedRepo:
    """One scenario rendered to disk, with its kustomize builds cached."""

    name: str
    root: Path
    document: spec.MeshDocument
    files: dict[str, str]
    builds: dict[str, str] = field(default_factory=dict)

    @property
    def mesh(self) -> spec.Mesh:
        return self.document.mesh

    def kustomization_dirs(self) -> list[str]:
        """Every folder with a buildable kustomization (Components are built by their users)."""
        dirs = []
        for path, text in self.files.items():
            if PurePosixPath(path).name != "kustomization.yaml":
                continue
            if load_one(text, path).get("kind", "Kustomization") == "Kustomization":
                dirs.append(str(PurePosixPath(path).parent))
        return sorted(dirs)

    def build(self, folder: str) -> str:
        """``kubectl kustomize`` of ``folder`` (relative to the repository root), cached."""
        if folder not in self.builds:
            self.builds[folder] = kustomize.build(self.root / folder)
        return self.builds[folder]

    def build_many(self, folders: Iterable[str]) -> dict[str, str | MeshgenError]:
        """Build folders concurrently; a failed build is returned as its error."""

        def one(folder: str) -> str | MeshgenError:
            try:
                return self.build(folder)
            except MeshgenError as exc:
                return exc

        folders = list(folders)
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            return dict(zip(folders, pool.map(one, folders), strict=True))

    def objects(self, folder: str) -> list[dict[str, Any]]:
        return load_all(self.build(folder), f"kustomize build {folder}")


def render_scenario(name: str, into: Path) -> RenderedRepo:
    document = SCENARIOS[name]()
    files = render_repository(document.mesh, library.load())
    write_files(into, {**files, spec.MESH_FILE: spec.to_text(document)})
    return RenderedRepo(name=name, root=into, document=document, files=files)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory, tools: dict[str, Path]) -> Any:
    """Renders scenarios on first use (``rendered(name)``); the same object afterwards."""
    cache: dict[str, RenderedRepo] = {}

    def get(name: str) -> RenderedRepo:
        if name not in cache:
            cache[name] = render_scenario(name, tmp_path_factory.mktemp(f"repo-{name}"))
        return cache[name]

    return get


@pytest.fixture(scope="session", params=list(SCENARIOS))
def repo(request: pytest.FixtureRequest, rendered: Any) -> RenderedRepo:
    return rendered(request.param)


# --------------------------------------------------------------------------------------------
# 1. Helm values through the real helm, against the upstream chart defaults and schema

# Merges the chart defaults under the user's values the way the upstream charts do (defaults
# nest under _internal_defaults_do_not_set), fails unless the identity keys are strings, and
# dumps what Helm read (user) and what templates would see (merged) as JSON.
DUMP_TEMPLATE = """\
{{- $defaults := deepCopy (index .Values "_internal_defaults_do_not_set" | default dict) }}
{{- $user := omit .Values "_internal_defaults_do_not_set" }}
{{- $merged := mergeOverwrite $defaults (deepCopy $user) }}
{{- range $path := list STRING_PATHS }}
{{- $node := $merged }}
{{- $found := true }}
{{- range $key := splitList "." $path }}
{{- if and $found (kindIs "map" $node) (hasKey $node $key) }}
{{- $node = index $node $key }}
{{- else }}
{{- $found = false }}
{{- end }}
{{- end }}
{{- if and $found (not (kindIs "string" $node)) }}
{{- fail (printf "%s is a %s (%v), not a string" $path (kindOf $node) $node) }}
{{- end }}
{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-values
data:
  user.json: |
    {{- toJson $user | nindent 4 }}
  merged.json: |
    {{- toJson $merged | nindent 4 }}
"""
STRING_PATHS = [
    "global.meshID",
    "global.network",
    "global.multiCluster.clusterName",
    "networkGateway",
    "meshConfig.trustDomain",
    "name",
    "service.type",
]
CHARTS = ("base", "istiod", "gateway")


@pytest.fixture(scope="session")
def charts(
    upstream: Path, tmp_path_factory: pytest.TempPathFactory, tools: dict[str, Path]
) -> dict[str, Path]:
    """Local charts made of the upstream chart's metadata, defaults and schema plus the dump."""
    root = tmp_path_factory.mktemp("charts")
    template = DUMP_TEMPLATE.replace("STRING_PATHS", " ".join(f'"{p}"' for p in STRING_PATHS))
    built = {}
    for chart in CHARTS:
        source = upstream / "istio" / ISTIO_VERSION / "charts" / chart
        target = root / chart
        (target / "templates").mkdir(parents=True)
        for name in ("Chart.yaml", "values.yaml", "values.schema.json"):
            if (source / name).is_file():
                shutil.copyfile(source / name, target / name)
        (target / "templates" / "meshgen-values.yaml").write_text(template, encoding="utf-8")
        built[chart] = target
    # The gateway schema (additionalProperties: false) is what makes a typo fail.
    assert (built["gateway"] / "values.schema.json").is_file()
    return built


@dataclass(frozen=True)
class HelmReading:
    user: dict[str, Any]
    merged: dict[str, Any]


def helm_read(chart_dir: Path, chart: str, values_file: Path, kube_version: str) -> HelmReading:
    profile = library.load().chart_profiles[chart]
    output = helm.template(
        chart_dir, profile.release, profile.namespace, [values_file], kube_version=kube_version
    )
    (configmap,) = load_all(output, f"helm template {chart} -f {values_file}")
    return HelmReading(
        user=json.loads(configmap["data"]["user.json"]),
        merged=json.loads(configmap["data"]["merged.json"]),
    )


def expected_values(mesh: spec.Mesh, cluster: spec.Cluster, chart: str) -> dict[str, Any]:
    """What the merged values must say, from the mesh model (dotted path -> value)."""
    if chart == "base":
        return {"base.validationFailurePolicy": "Fail"}
    if chart == "istiod":
        dns = "meshConfig.defaultConfig.proxyMetadata.ISTIO_META_DNS_CAPTURE"
        # An external control plane's istiod runs as the cluster it serves (its config cluster).
        served = [c for c in mesh.clusters if c.control_plane == cluster.name]
        identity = served[0] if cluster.role == "external-control-plane" else cluster
        return {
            "global.meshID": mesh.mesh_id,
            "global.multiCluster.clusterName": identity.name,
            "global.network": identity.network,
            "meshConfig.trustDomain": mesh.trust_domain,
            dns: "true" if mesh.dns_capture else None,
            "base.validationFailurePolicy": "Fail",
            "hub": mesh.hub,
            "global.hub": mesh.hub,
        }
    gateway = cluster.east_west_gateway
    expected = {
        "networkGateway": cluster.network,
        "name": "istio-eastwestgateway",
        "autoscaling.enabled": gateway.autoscaled,
        "service.type": gateway.service_type,
        "service.annotations": dict(gateway.annotations),
    }
    if gateway.autoscaled:
        expected["autoscaling.minReplicas"] = gateway.min_replicas
        expected["autoscaling.maxReplicas"] = gateway.max_replicas
    else:
        expected["replicaCount"] = gateway.replicas
    return expected


def expected_charts(mesh: spec.Mesh, cluster: spec.Cluster) -> list[str]:
    """base and istiod for every data-plane cluster (a remote too: with profile remote), the
    gateway where enabled; only istiod on an external control plane, once it serves a cluster."""
    if cluster.role == "external-control-plane":
        return ["istiod"] if any(c.control_plane == cluster.name for c in mesh.clusters) else []
    return ["base", "istiod"] + (["gateway"] if cluster.east_west_gateway.enabled else [])


def test_values_files_are_the_expected_ones(repo: RenderedRepo) -> None:
    expected = set()
    for cluster in repo.mesh.clusters:
        charts_of = expected_charts(repo.mesh, cluster)
        expected |= {f"clusters/{cluster.name}/values/{chart}.yaml" for chart in charts_of}
    actual = {p for p in repo.files if re.fullmatch(r"clusters/[^/]+/values/[^/]+", p)}
    assert actual == expected


def test_helm_reads_every_values_file_as_meant(repo: RenderedRepo, charts: dict[str, Path]) -> None:
    """Every values file passes real ``helm template`` (and the gateway schema); Helm reads it
    exactly as a YAML 1.2 reader does, and the merged values carry the mesh's identity."""
    jobs = []
    for cluster in repo.mesh.clusters:
        for chart in CHARTS:
            rel = f"clusters/{cluster.name}/values/{chart}.yaml"
            if rel in repo.files:
                jobs.append((cluster, chart, rel))
    assert jobs

    def run(job: tuple[spec.Cluster, str, str]) -> HelmReading | MeshgenError:
        _, chart, rel = job
        try:
            return helm_read(charts[chart], chart, repo.root / rel, repo.mesh.kubernetes_version)
        except MeshgenError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        readings = list(pool.map(run, jobs))

    problems = []
    for (cluster, chart, rel), reading in zip(jobs, readings, strict=True):
        if isinstance(reading, MeshgenError):
            problems.append(f"{rel}: {reading}")
            continue
        as_written = load_one(repo.files[rel], rel)
        if _canonical(reading.user) != _canonical(as_written):
            diff = _first_difference(reading.user, as_written)
            problems.append(f"{rel}: Helm reads it differently: {diff}")
        for path, want in expected_values(repo.mesh, cluster, chart).items():
            got = dig(reading.merged, path)
            if _canonical(got) != _canonical(want):
                problems.append(f"{rel}: {path} is {got!r}, expected {want!r}")
    assert not problems, "\n".join(problems)


def test_yaml_trap_names_come_back_as_strings(rendered: Any, charts: dict[str, Path]) -> None:
    """Cluster and network names like yes/no/on/0755/1e3/0x1f/null stay those strings in Helm."""
    repo = rendered("yaml-traps")
    kube = repo.mesh.kubernetes_version
    for cluster_name, network, gateway in TRAPS:
        values = repo.root / "clusters" / cluster_name / "values"
        istiod = helm_read(charts["istiod"], "istiod", values / "istiod.yaml", kube).merged
        assert istiod["global"]["multiCluster"]["clusterName"] == cluster_name
        assert istiod["global"]["network"] == network
        assert istiod["global"]["meshID"] == "true"
        if gateway:
            gw = helm_read(charts["gateway"], "gateway", values / "gateway.yaml", kube).merged
            assert gw["networkGateway"] == network


def test_dump_chart_rejects_non_string_identity(charts: dict[str, Path], tmp_path: Path) -> None:
    """The check bites: unquoted ``no`` / ``0755`` are a bool / an int to Helm and the dump
    template fails, while the same files with the values quoted pass."""
    values = tmp_path / "istiod.yaml"
    for network, cluster in (("no", "c1"), ("n1", "0755"), ("n1", "1e3")):
        values.write_text(
            f'global:\n  network: "{network}"\n  multiCluster:\n    clusterName: "{cluster}"\n'
        )
        merged = helm_read(charts["istiod"], "istiod", values, "1.33").merged
        assert dig(merged, "global.network") == network
        assert dig(merged, "global.multiCluster.clusterName") == cluster
        values.write_text(
            f"global:\n  network: {network}\n  multiCluster:\n    clusterName: {cluster}\n"
        )
        # meshgen's helm adapter reports helm's last stderr line only, which for a template
        # `fail` is a hint about --debug, so the failure itself is what is asserted here.
        with pytest.raises(MeshgenError, match="helm template failed"):
            helm_read(charts["istiod"], "istiod", values, "1.33")


def test_gateway_schema_rejects_typos(charts: dict[str, Path], tmp_path: Path) -> None:
    """The check bites: the upstream schema refuses an unknown key and a wrongly typed value."""
    values = tmp_path / "gateway.yaml"
    values.write_text("networkGatway: network1\n")
    with pytest.raises(MeshgenError, match="networkGatway"):
        helm_read(charts["gateway"], "gateway", values, "1.33")
    values.write_text("networkGateway: network1\nautoscaling:\n  enabled: 'false'\n")
    with pytest.raises(MeshgenError, match="enabled"):
        helm_read(charts["gateway"], "gateway", values, "1.33")


# --------------------------------------------------------------------------------------------
# 2. Every key meshgen sets exists in the upstream chart defaults


def unknown_value_paths(values: dict[str, Any], defaults: Any) -> list[str]:
    """Dotted key paths of ``values`` that the chart defaults do not have (validate's check)."""
    return [".".join(path) for path in helm_values.unknown_value_paths(values, defaults)]


@pytest.fixture(scope="session")
def chart_defaults(upstream: Path) -> dict[str, dict[str, Any]]:
    defaults = {}
    for chart in CHARTS:
        path = upstream / "istio" / ISTIO_VERSION / "charts" / chart / "values.yaml"
        values = _reader(None).load(path.read_text(encoding="utf-8"))
        defaults[chart] = values["_internal_defaults_do_not_set"]
    return defaults


def test_every_values_key_exists_upstream(
    repo: RenderedRepo, chart_defaults: dict[str, dict[str, Any]]
) -> None:
    problems = []
    checked = 0
    for path, text in repo.files.items():
        match = re.fullmatch(r"clusters/[^/]+/values/([^/]+)\.yaml", path)
        if not match:
            continue
        chart = match.group(1)
        assert chart in chart_defaults, f"{path}: no upstream chart {chart!r}"
        unknown = unknown_value_paths(load_one(text, path), chart_defaults[chart])
        problems += [f"{path}: {key} is not a key of the upstream {chart} chart" for key in unknown]
        checked += 1
    assert checked == sum(len(expected_charts(repo.mesh, c)) for c in repo.mesh.clusters)
    assert not problems, "\n".join(problems)


def test_key_checker_catches_typos(chart_defaults: dict[str, dict[str, Any]]) -> None:
    istiod = chart_defaults["istiod"]
    assert unknown_value_paths({"global": {"multicluster": {"clusterName": "c1"}}}, istiod) == [
        "global.multicluster"
    ]
    assert unknown_value_paths({"global": {"multiCluster": {"clustername": "c1"}}}, istiod) == [
        "global.multiCluster.clustername"
    ]
    assert unknown_value_paths({"pilot": {"env": {}}}, istiod) == ["pilot"]
    # The allow-list is exact: a neighbour of an allowed key is still caught.
    assert unknown_value_paths({"base": {"validationFailurePolicyy": "Fail"}}, istiod) == [
        "base.validationFailurePolicyy"
    ]
    assert unknown_value_paths({"service": {"typ": "ClusterIP"}}, chart_defaults["gateway"]) == [
        "service.typ"
    ]
    # And what is right passes, including data keys inside free-form maps.
    right = {
        "global": {"multiCluster": {"clusterName": "c1"}, "network": "n1", "meshID": "m"},
        "meshConfig": {"trustDomain": "x", "defaultConfig": {"proxyMetadata": {"A": "1"}}},
        "base": {"validationFailurePolicy": "Fail"},
    }
    assert unknown_value_paths(right, istiod) == []


# --------------------------------------------------------------------------------------------
# 3. Every built object validates against its upstream CRD


@pytest.fixture(scope="session")
def crds(upstream: Path) -> CrdIndex:
    return CrdIndex(
        [
            upstream / "argocd" / ARGOCD_VERSION / "crds" / "application-crd.yaml",
            upstream / "argocd" / ARGOCD_VERSION / "crds" / "appproject-crd.yaml",
            upstream
            / "external-secrets"
            / EXTERNAL_SECRETS_VERSION
            / "crds"
            / "external-secrets.io_externalsecrets.yaml",
            upstream / "istio" / ISTIO_VERSION / "crds" / "crd-all.gen.yaml",
            *sorted(
                (upstream / "sealed-secrets").glob(
                    f"{SEALED_SECRETS_VERSION}/crds/bitnami.com_*.yaml"
                )
            ),
        ]
    )


CLUSTER_SCOPED = {("", "Namespace")}
# Core kinds (Namespace) go through kubernetes-validate at the scenarios' Kubernetes version.
CORE = schemas.CoreSchemas(spec.DEFAULT_KUBERNETES_VERSION)


def object_problems(obj: Any, crds: CrdIndex) -> list[str]:
    """What validate's schema check says about one object ("unchecked: ..." when no schema)."""
    return schemas.object_problems(obj, crds, CORE)


def _label(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name')}"


def test_every_built_object_matches_its_crd(repo: RenderedRepo, crds: CrdIndex) -> None:
    folders = repo.kustomization_dirs()
    assert "bootstrap/argocd" in folders
    results = repo.build_many(folders)
    failed = [f"{folder}: {out}" for folder, out in results.items() if isinstance(out, Exception)]
    assert not failed, "\n".join(failed)

    problems = []
    kinds = set()
    for folder in folders:
        for obj in repo.objects(folder):
            kinds.add(obj.get("kind"))
            problems += [f"{folder}: {_label(obj)}: {p}" for p in object_problems(obj, crds)]
    assert not problems, "\n".join(problems)

    mesh = repo.mesh
    expected = {"Application", "AppProject", "Namespace"}
    if mesh.secrets_provider == "external-secrets" and mesh.clusters:
        expected.add("ExternalSecret")  # cacerts per cluster, remote secrets from two on
    if any(c.east_west_gateway.enabled for c in mesh.clusters):
        expected.add("Gateway")
    if any(c.east_west_gateway.enabled and mesh.remotes_of(c.name) for c in mesh.clusters):
        expected.add("VirtualService")  # expose-istiod, for the remotes
    assert kinds == expected


def _application(rendered: Any, crds: CrdIndex, component: str) -> dict[str, Any]:
    repo = rendered("two-networks")
    for obj in repo.objects("clusters/cluster-2"):
        if obj["metadata"]["labels"].get("meshgen.io/component") == component:
            assert object_problems(obj, crds) == []
            return copy.deepcopy(obj)
    raise AssertionError(f"no {component} Application in clusters/cluster-2")


def _built(rendered: Any, folder: str, kind: str) -> dict[str, Any]:
    obj = next(o for o in rendered("two-networks").objects(folder) if o["kind"] == kind)
    return copy.deepcopy(obj)


def _break_prune(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    app = _application(rendered, crds, "istiod")
    app["spec"]["syncPolicy"]["automated"]["prune"] = "yes"
    return app, "spec.syncPolicy.automated.prune: 'yes' is not of type 'boolean'"


def _drop_destination(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    app = _application(rendered, crds, "istio-system")
    del app["spec"]["destination"]
    return app, "spec: 'destination' is a required property"


def _unknown_spec_field(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    app = _application(rendered, crds, "istio-system")
    app["spec"]["syncPolicies"] = app["spec"].pop("syncPolicy")
    return app, "'syncPolicies' was unexpected"


def _typo_value_files(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    app = _application(rendered, crds, "istiod")
    helm_source = app["spec"]["sources"][0]["helm"]
    helm_source["valueFile"] = helm_source.pop("valueFiles")
    return app, "spec.sources.0.helm: Additional properties are not allowed ('valueFile'"


def _bool_label(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    app = _application(rendered, crds, "istiod")
    app["metadata"]["labels"]["meshgen.io/network"] = False
    return app, "label meshgen.io/network=False is not a valid label value"


def _project_destination_typo(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    project = _built(rendered, "bootstrap/argocd", "AppProject")
    project["spec"]["destinations"][0]["namspace"] = "argocd"
    return project, "'namspace' was unexpected"


def _gateway_port_as_text(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    gateway = _built(rendered, "clusters/cluster-2/mesh-config", "Gateway")
    gateway["spec"]["servers"][0]["port"]["number"] = "15443"
    return gateway, "spec.servers.0.port.number: '15443' is not of type 'integer'"


def _secret_bad_policy(crds: CrdIndex, rendered: Any) -> tuple[dict[str, Any], str]:
    secret = _built(rendered, "clusters/cluster-2/istio-system", "ExternalSecret")
    secret["spec"]["target"]["creationPolicy"] = "Always"
    return secret, "spec.target.creationPolicy: 'Always' is not one of"


@pytest.mark.parametrize(
    "breaker",
    [
        _break_prune,
        _drop_destination,
        _unknown_spec_field,
        _typo_value_files,
        _bool_label,
        _project_destination_typo,
        _gateway_port_as_text,
        _secret_bad_policy,
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_crd_check_rejects_broken_objects(
    breaker: Callable[[CrdIndex, Any], tuple[dict[str, Any], str]],
    crds: CrdIndex,
    rendered: Any,
) -> None:
    """The check bites: a valid generated object, broken in one field, no longer passes."""
    broken, expected = breaker(crds, rendered)
    problems = object_problems(broken, crds)
    assert any(expected in problem for problem in problems), problems


# --------------------------------------------------------------------------------------------
# 4. The app-of-apps walk, as Argo CD would do it

WAVE_ORDER = ["istio-system", "istio-base", "istiod", "istio-eastwestgateway", "mesh-config"]


def _allowed(patterns: list[dict[str, Any]], name: str, namespace: str) -> bool:
    """Argo CD's AppProject destination match (globs on name and namespace)."""
    return any(
        fnmatch.fnmatchcase(name, d.get("name", ""))
        and fnmatch.fnmatchcase(namespace, d["namespace"])
        for d in patterns
    )


def _repo_allowed(project: dict[str, Any], url: str) -> bool:
    return any(fnmatch.fnmatchcase(url, pattern) for pattern in project["spec"]["sourceRepos"])


def _cluster_resource_allowed(project: dict[str, Any], group: str, kind: str) -> bool:
    return any(
        fnmatch.fnmatchcase(group, entry["group"]) and fnmatch.fnmatchcase(kind, entry["kind"])
        for entry in project["spec"].get("clusterResourceWhitelist", [])
    )


def test_bootstrap_lists_every_root_once(repo: RenderedRepo) -> None:
    kustomization = load_one(
        repo.files["bootstrap/argocd/kustomization.yaml"], "bootstrap/argocd/kustomization.yaml"
    )
    resources = kustomization["resources"]
    roots = sorted(p for p in repo.files if p.startswith("bootstrap/argocd/roots/"))
    listed = [r for r in resources if r.startswith("roots/")]
    assert sorted(listed) == [p.removeprefix("bootstrap/argocd/") for p in roots]
    assert len(listed) == len(set(listed))
    assert len(roots) == len(repo.mesh.clusters)
    built = [o for o in repo.objects("bootstrap/argocd") if o["kind"] == "Application"]
    names = [o["metadata"]["name"] for o in built]
    assert len(names) == len(set(names))
    for path in roots:
        root = load_one(repo.files[path], path)
        assert names.count(root["metadata"]["name"]) == 1, path


def test_app_of_apps_walk(repo: RenderedRepo) -> None:
    mesh = repo.mesh
    bootstrap = repo.objects("bootstrap/argocd")
    (project,) = [o for o in bootstrap if o["kind"] == "AppProject"]
    project_name = project["metadata"]["name"]
    destinations = project["spec"]["destinations"]
    clusters = {c.name: c for c in mesh.clusters}
    problems: list[str] = []

    def check_common(app: dict[str, Any], where: str) -> list[dict[str, Any]]:
        spec_ = app["spec"]
        if app["metadata"].get("namespace") != project["metadata"]["namespace"]:
            problems.append(f"{where}: not in the Argo CD namespace of the AppProject")
        if spec_["project"] != project_name:
            problems.append(f"{where}: project {spec_['project']!r}, not {project_name!r}")
        dest = spec_["destination"]
        if not _allowed(destinations, dest["name"], dest["namespace"]):
            problems.append(f"{where}: destination {dest} is not allowed by the AppProject")
        sources = spec_.get("sources") or [spec_["source"]]
        for source in sources:
            if not _repo_allowed(project, source["repoURL"]):
                problems.append(f"{where}: repo {source['repoURL']} not in sourceRepos")
        return sources

    def check_path(source: dict[str, Any], dest: dict[str, Any], where: str) -> None:
        if source["repoURL"] != mesh.repo_url or source["targetRevision"] != mesh.revision:
            problems.append(f"{where}: path source is not this repository at {mesh.revision}")
        folder = source["path"]
        if not (repo.root / folder).is_dir():
            problems.append(f"{where}: path {folder} does not exist")
            return
        try:
            objects = repo.objects(folder)
        except MeshgenError as exc:
            problems.append(f"{where}: {exc}")
            return
        if not objects:
            problems.append(f"{where}: {folder} builds to nothing")
        for obj in objects:
            group = obj["apiVersion"].rpartition("/")[0]
            namespace = obj["metadata"].get("namespace")
            if (group, obj["kind"]) in CLUSTER_SCOPED:
                if not _cluster_resource_allowed(project, group, obj["kind"]):
                    problems.append(f"{where}: {_label(obj)} is not in clusterResourceWhitelist")
            elif namespace not in (None, dest["namespace"]):
                problems.append(f"{where}: {_label(obj)} outside {dest['namespace']}")

    roots = sorted(p for p in repo.files if p.startswith("bootstrap/argocd/roots/"))
    reached: list[str] = []
    for root_path in roots:
        root = load_one(repo.files[root_path], root_path)
        (root_source,) = check_common(root, root_path)
        folder = root_source["path"]
        repo.build_many([folder])  # warm the cache for the children below, concurrently
        check_path(root_source, root["spec"]["destination"], root_path)
        children = [o for o in repo.objects(folder) if o["kind"] == "Application"]
        if not children:
            problems.append(f"{root_path}: {folder} has no child Applications")
            continue
        targets = {c["spec"]["destination"]["name"] for c in children}
        if len(targets) != 1 or not targets <= set(clusters):
            problems.append(f"{root_path}: children target {sorted(targets)}, not one cluster")
            continue
        (cluster_name,) = targets
        cluster = clusters[cluster_name]
        reached.append(cluster_name)
        path_sources = [
            s for c in children for s in (c["spec"].get("sources") or [c["spec"]["source"]])
        ]
        repo.build_many({s["path"] for s in path_sources if "path" in s})
        waves = {}
        for child in children:
            where = f"{folder}: {child['metadata']['name']}"
            component = child["metadata"]["labels"].get("meshgen.io/component")
            waves[component] = int(child["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
            sources = check_common(child, where)
            dest = child["spec"]["destination"]
            refs = {s["ref"]: s for s in sources if "ref" in s}
            for source in sources:
                if "chart" in source:
                    for value_file in source["helm"]["valueFiles"]:
                        ref, _, rel = value_file.partition("/")
                        ref_source = refs.get(ref.removeprefix("$"))
                        if not ref.startswith("$") or ref_source is None:
                            problems.append(f"{where}: {value_file} names no ref source")
                            continue
                        if (ref_source["repoURL"], ref_source["targetRevision"]) != (
                            mesh.repo_url,
                            mesh.revision,
                        ):
                            problems.append(f"{where}: ${ref} is not this repository")
                        if rel not in repo.files:
                            problems.append(f"{where}: {value_file} is not in the repository")
                            continue
                        values = load_one(repo.files[rel], rel)
                        served = [c.name for c in mesh.clusters if c.control_plane == cluster_name]
                        identity = (
                            served[0] if cluster.role == "external-control-plane" else cluster_name
                        )
                        if source["chart"] == "istiod" and (
                            dig(values, "global.multiCluster.clusterName") != identity
                        ):
                            problems.append(f"{where}: {rel} is not {cluster_name}'s istiod")
                        if source["chart"] == "gateway" and (
                            values.get("networkGateway") != cluster.network
                        ):
                            problems.append(f"{where}: {rel} is not {cluster.network}'s gateway")
                        if PurePosixPath(rel).stem != source["chart"]:
                            problems.append(f"{where}: chart {source['chart']} gets {rel}")
                elif "path" in source:
                    check_path(source, dest, where)
                elif "ref" not in source:
                    problems.append(f"{where}: a source with neither chart, path nor ref")
        releases = {"base": "istio-base", "istiod": "istiod", "gateway": "istio-eastwestgateway"}
        external = "external-control-plane" in (
            cluster.role,
            mesh.cluster(cluster.control_plane).role if cluster.control_plane else None,
        )
        expected = [
            "external-istiod" if external else "istio-system",
            *(releases[chart] for chart in expected_charts(mesh, cluster)),
            *(["mesh-config"] if cluster.east_west_gateway.enabled else []),
        ]
        if sorted(waves, key=lambda c: (waves[c], c)) != expected or len(
            set(waves.values())
        ) != len(waves):
            problems.append(f"{root_path}: sync waves {waves}, expected strictly {expected}")
    if sorted(reached) != sorted(clusters):
        problems.append(f"roots reach {sorted(reached)}, the mesh has {sorted(clusters)}")
    (bootstrap_app,) = [
        o
        for o in bootstrap
        if o["kind"] == "Application" and o["spec"]["source"]["path"] == "bootstrap/argocd"
    ]
    (bootstrap_source,) = check_common(bootstrap_app, "bootstrap Application")
    check_path(bootstrap_source, bootstrap_app["spec"]["destination"], "bootstrap Application")
    assert not problems, "\n".join(problems)


def exposed_networks(repo: RenderedRepo, cluster: str) -> list[str]:
    """Networks for which ``cluster`` runs an east-west gateway *and* exposes it.

    Exposed means: a gateway-chart Application whose values make it the network gateway, plus a
    cross-network Gateway (15443, AUTO_PASSTHROUGH) in the cluster's overlays whose selector
    matches the gateway pods' labels (the chart labels them app=<name>, istio=<name without
    the istio- prefix>, unless labels.istio is set).
    """
    apps = [o for o in repo.objects(f"clusters/{cluster}") if o["kind"] == "Application"]
    sources = [s for a in apps for s in (a["spec"].get("sources") or [a["spec"]["source"]])]
    pod_labels = {}
    for source in sources:
        if source.get("chart") != "gateway":
            continue
        for value_file in source["helm"]["valueFiles"]:
            rel = value_file.partition("/")[2]
            values = load_one(repo.files[rel], rel)
            name = values.get("name") or source["helm"]["releaseName"]
            labels = {"app": name, "istio": name.removeprefix("istio-")}
            labels.update(values.get("labels") or {})
            pod_labels[values.get("networkGateway")] = labels
    exposed = []
    for network, labels in pod_labels.items():
        for source in sources:
            if "path" not in source:
                continue
            for obj in repo.objects(source["path"]):
                if obj["kind"] != "Gateway":
                    continue
                selector = obj["spec"].get("selector") or {}
                passthrough = any(
                    server["port"]["number"] == 15443
                    and (server.get("tls") or {}).get("mode") == "AUTO_PASSTHROUGH"
                    for server in obj["spec"].get("servers", [])
                )
                if passthrough and selector and selector.items() <= labels.items():
                    exposed.append(network)
    return sorted(set(exposed))


def test_east_west_gateways_are_exposed(repo: RenderedRepo) -> None:
    """A cluster with a gateway serves its own network and its Gateway selects those pods."""
    for cluster in repo.mesh.clusters:
        expected = [cluster.network] if cluster.east_west_gateway.enabled else []
        assert exposed_networks(repo, cluster.name) == expected, cluster.name


def test_networks_without_an_east_west_gateway_are_exactly_the_ones_warned_about(
    repo: RenderedRepo,
) -> None:
    """Istio's multi-network install (reference §3.2) runs an east-west gateway per network;
    without one, the other networks cannot reach that network's services, so meshgen must say
    which networks are one-way, and only those. In the README scenario, the change that brings
    network2 also gives cluster-1 (network1) its gateway: nothing is one-way there."""
    networks = {c.network for c in repo.mesh.clusters}
    served = {n for c in repo.mesh.clusters for n in exposed_networks(repo, c.name)}
    readme = repo.files["README.md"]
    warned = {n for n in networks if f"network {n} has no east-west gateway" in readme}
    expected = networks - served if len(networks) > 1 else set()
    assert warned == expected
    if repo.name == "two-networks":
        assert warned == set() and served == {"network1", "network2"}


def test_meshgen_seal_output_matches_the_sealed_secrets_crd(crds: CrdIndex) -> None:
    """What `meshgen seal` writes (built by the same function) against the upstream CRD."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from meshgen.trust import kubeseal

    if crds.validator("bitnami.com/v1alpha1", "SealedSecret") is None:
        pytest.skip(f"sealed-secrets {SEALED_SECRETS_VERSION} CRD not in the upstream data")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    sealed = kubeseal.sealed_secret(
        key,
        "istio-remote-secret-cluster-2",
        "istio-system",
        {"cluster-2": b"kubeconfig"},
        labels={"istio/multiCluster": "true"},
        annotations={"networking.istio.io/cluster": "cluster-2"},
    )
    assert object_problems(sealed, crds) == []
    broken = copy.deepcopy(sealed)
    broken["spec"]["template"]["type"] = 1
    del broken["spec"]["encryptedData"]
    problems = object_problems(broken, crds)
    assert "spec: 'encryptedData' is a required property" in problems
    assert any(p.startswith("spec.template.type: 1 is not of type 'string'") for p in problems)


# --------------------------------------------------------------------------------------------
# 5. `meshgen validate` itself finds nothing to say about any scenario


def test_validate_finds_nothing_in_any_scenario(repo: RenderedRepo, upstream: Path) -> None:
    """With every chart and CRD given, validate reports no problem and leaves nothing
    unchecked, for each scenario (the negative cases are in tests/commands/test_validate.py)."""
    crds = (
        upstream / "argocd" / ARGOCD_VERSION / "crds" / "application-crd.yaml",
        upstream / "argocd" / ARGOCD_VERSION / "crds" / "appproject-crd.yaml",
        upstream / "external-secrets" / EXTERNAL_SECRETS_VERSION / "crds",
        upstream / "istio" / ISTIO_VERSION / "crds",
    )
    assert_validates_clean(repo.root, crds, upstream)


def assert_validates_clean(root: Path, crds: tuple[Path, ...], upstream: Path) -> None:
    """``meshgen validate`` of ``root``, with these CRDs and the upstream Istio charts, finds
    nothing: no problem, nothing unchecked."""
    from meshgen.commands import validate

    options = validate.Options(
        repo=root, crds=crds, charts=upstream / "istio" / ISTIO_VERSION / "charts", jobs=WORKERS
    )
    findings = validate.collect(options)
    # Only what the release catalogue says about the pinned release (a known defect).
    mesh = spec.parse((root / spec.MESH_FILE).read_text()).mesh
    expected = releases.version_notices(
        library.istio_releases(),
        mesh.istio_version,
        mesh.kubernetes_version,
        datetime.datetime.now(datetime.timezone.utc).date(),
    )
    about_release = [(n.message, "warning") for n in expected]
    assert [(f.message, f.severity) for f in findings if f.check == "mesh"] == about_release
    findings = [f for f in findings if f.check != "mesh"]
    assert findings == [], "\n".join(f"{f.where()}: {f.message}" for f in findings)
