"""Flux: ``flux bootstrap --path=clusters/<cluster>`` syncs each cluster's folder.

``flux bootstrap`` writes ``clusters/<cluster>/flux-system/`` (the controllers and the
``flux-system`` GitRepository and Kustomization) and meshgen never touches that folder. The
``flux-system`` Kustomization builds ``clusters/<cluster>/kustomization.yaml``, which meshgen
writes: it lists ``flux-system`` (so Flux keeps managing itself) and ``stages.yaml``, the Flux
Kustomizations that install the mesh in order:

1. one per overlay synced before the charts (``istio-system``: the namespace with its network
   label, and the remote secrets), with ``wait``;
2. ``istio-charts`` (``clusters/<cluster>/charts/``): the chart source and one HelmRelease per
   upstream chart, chained with ``dependsOn`` (base, istiod, gateway), so the gateway never
   starts before the sidecar injector; with ``wait``, it is Ready only when every release is;
3. one per overlay synced after the charts (``mesh-config``), which waits for ``istio-charts``.

An ambient mesh adds ``gateway-api-crds`` before the charts, chains ``istio-cni`` and
``ztunnel`` after ``istiod``, and syncs ``east-west-gateway`` and ``waypoints-<namespace>``
after them (each waypoint namespace is created when missing, by ``namespaces.yaml``).

The HelmReleases take their values from the very files meshgen renders: a
``configMapGenerator`` next to them (``values/kustomization.yaml``) turns each values file into
a ConfigMap with a content hash in its name, and ``charts/kustomizeconfig.yaml`` teaches
kustomize to rewrite ``valuesFrom`` to that name, so every values change rolls the release.

The chart source follows ``istio.chartRepository``: a Helm repository (``https://``) is one
``HelmRepository`` that each HelmRelease's ``chart.spec`` names; an OCI registry (``oci://``)
is, as Flux recommends (``HelmRepository`` of ``type: oci`` is in maintenance), one
``OCIRepository`` per chart, pinned to the Istio version by tag, that each HelmRelease names
in ``chartRef``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from meshgen.releases import is_oci
from meshgen.render.files import cluster_labels, kustomization, yaml_file
from meshgen.render.plan import (
    TRAFFIC_PREFIX,
    WAYPOINTS_PREFIX,
    ClusterPlan,
    Component,
    component_version,
)
from meshgen.spec import Mesh

SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
HELM_API = "helm.toolkit.fluxcd.io/v2"
NAMESPACE = "flux-system"  # where flux bootstrap installs Flux and its GitRepository
BOOTSTRAP_FOLDER = "flux-system"
GIT_SOURCE = {"kind": "GitRepository", "name": "flux-system"}
HELM_REPOSITORY = "istio"
HELM_REPOSITORY_FILE = "helm-repository.yaml"
OCI_REPOSITORIES_FILE = "oci-repositories.yaml"
# The layer of an OCI artifact that holds a Helm chart; copied as the .tgz helm-controller reads.
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
CHARTS_STAGE = "istio-charts"
VALUES_KEY = "values.yaml"
NAMESPACES_FILE = "namespaces.yaml"  # application namespaces that stages apply into

# Teaches kustomize that HelmRelease.spec.valuesFrom[].name refers to a ConfigMap, so the
# hashed names of generated ConfigMaps are written into the HelmReleases.
KUSTOMIZE_CONFIG = {
    "nameReference": [
        {
            "kind": "ConfigMap",
            "version": "v1",
            "fieldSpecs": [{"path": "spec/valuesFrom/name", "kind": "HelmRelease"}],
        }
    ]
}


_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+@)?(?P<host>[^/:]+):(?P<path>(?!//).+)$")


def bootstrap_url(url: str) -> str:
    """The URL ``flux bootstrap`` records: Flux's GitRepository takes only http(s):// and
    ssh:// URLs, so the scp-like ``git@host:path`` becomes ``ssh://git@host/path``."""
    match = _SCP_LIKE.match(url)
    if match is None or "://" in url:
        return url
    return f"ssh://{match['user'] or ''}{match['host']}/{match['path']}"


def values_config_map(component: Component) -> str:
    """The ConfigMap (before kustomize's hash suffix) holding a chart's values file."""
    return f"{component.name}-values"


def _metadata(mesh: Mesh, plan: ClusterPlan, name: str, component: str) -> dict[str, Any]:
    labels = cluster_labels(mesh, plan)
    labels["meshgen.io/component"] = component
    return {"name": name, "namespace": NAMESPACE, "labels": labels}


def helm_repository(mesh: Mesh, plan: ClusterPlan) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "HelmRepository",
        "metadata": _metadata(mesh, plan, HELM_REPOSITORY, CHARTS_STAGE),
        "spec": {"interval": "1h", "url": mesh.chart_repository},
    }


def oci_repository_name(chart: str, component: Component | None = None) -> str:
    """``istio-chart-<chart>``; a second istiod release (another revision) has its own,
    ``istio-chart-<release>``, since it pulls another version."""
    if component is None or component.chart is None or component.name == component.chart.release:
        return f"istio-chart-{chart}"
    return f"istio-chart-{component.name}"


def oci_repository(mesh: Mesh, plan: ClusterPlan, component: Component) -> dict[str, Any]:
    """The chart of one release, from the OCI registry, at its version."""
    assert component.chart is not None
    chart = component.chart.chart
    return {
        "apiVersion": SOURCE_API,
        "kind": "OCIRepository",
        "metadata": _metadata(mesh, plan, oci_repository_name(chart, component), CHARTS_STAGE),
        "spec": {
            "interval": "1h",
            "url": f"{mesh.chart_repository.rstrip('/')}/{chart}",
            "ref": {"tag": component_version(mesh, component)},
            "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"},
        },
    }


def _chart(mesh: Mesh, component: Component) -> dict[str, Any]:
    """The HelmRelease fields that name its chart: ``chartRef`` to the chart's OCIRepository,
    or ``chart.spec`` in the HelmRepository."""
    assert component.chart is not None
    chart = component.chart.chart
    if is_oci(mesh.chart_repository):
        name = oci_repository_name(chart, component)
        return {"chartRef": {"kind": "OCIRepository", "name": name}}
    return {
        "chart": {
            "spec": {
                "chart": chart,
                "version": component_version(mesh, component),
                "sourceRef": {"kind": "HelmRepository", "name": HELM_REPOSITORY},
            }
        }
    }


def helm_release(
    mesh: Mesh, plan: ClusterPlan, component: Component, after: Component | None
) -> dict[str, Any]:
    assert component.chart is not None
    spec: dict[str, Any] = {
        "interval": "30m",
        "releaseName": component.name,
        "targetNamespace": component.namespace,
        "storageNamespace": component.namespace,
        **_chart(mesh, component),
    }
    if after is not None:
        spec["dependsOn"] = [{"name": after.name}]
    spec["valuesFrom"] = [
        {"kind": "ConfigMap", "name": values_config_map(component), "valuesKey": VALUES_KEY}
    ]
    spec["install"] = {"remediation": {"retries": 3}}
    spec["upgrade"] = {"remediation": {"retries": 3}}
    return {
        "apiVersion": HELM_API,
        "kind": "HelmRelease",
        "metadata": _metadata(mesh, plan, component.name, component.name),
        "spec": spec,
    }


def flux_kustomization(
    mesh: Mesh,
    plan: ClusterPlan,
    name: str,
    path: str,
    depends_on: str | None,
    decryption_secret: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": "10m",
        "retryInterval": "1m",
        "timeout": "10m",
        "path": f"./{path}",
        "prune": True,
        "wait": True,
        "sourceRef": dict(GIT_SOURCE),
    }
    if depends_on is not None:
        spec["dependsOn"] = [{"name": depends_on}]
    if decryption_secret is not None:
        spec["decryption"] = {"provider": "sops", "secretRef": {"name": decryption_secret}}
    return {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": _metadata(mesh, plan, name, name),
        "spec": spec,
    }


def _values_kustomization(mesh: Mesh, plan: ClusterPlan, charts: list[Component]) -> dict[str, Any]:
    doc = kustomization(labels=cluster_labels(mesh, plan))
    doc["namespace"] = NAMESPACE
    doc["configMapGenerator"] = [
        {
            "name": values_config_map(c),
            "files": [f"{VALUES_KEY}={posixpath.basename(c.values_path or '')}"],
        }
        for c in charts
    ]
    return doc


def _chart_files(mesh: Mesh, plan: ClusterPlan, charts: list[Component]) -> dict[str, str]:
    """The values ConfigMaps, the chart repository and the chained releases."""
    values_folder = posixpath.dirname(charts[0].values_path or "")
    charts_folder = f"{plan.folder}/charts"
    files = {
        f"{values_folder}/kustomization.yaml": yaml_file(_values_kustomization(mesh, plan, charts))
    }
    if is_oci(mesh.chart_repository):
        sources = [oci_repository(mesh, plan, c) for c in charts if c.chart]
        release_files = [OCI_REPOSITORIES_FILE]
    else:
        sources = [helm_repository(mesh, plan)]
        release_files = [HELM_REPOSITORY_FILE]
    files[f"{charts_folder}/{release_files[0]}"] = yaml_file(*sources)
    previous: Component | None = None
    for component in charts:
        release_files.append(f"{component.name}.yaml")
        files[f"{charts_folder}/{component.name}.yaml"] = yaml_file(
            helm_release(mesh, plan, component, previous)
        )
        previous = component
    charts_doc = kustomization(
        resources=[posixpath.relpath(values_folder, charts_folder), *release_files]
    )
    charts_doc["configurations"] = ["kustomizeconfig.yaml"]
    files[f"{charts_folder}/kustomization.yaml"] = yaml_file(charts_doc)
    files[f"{charts_folder}/kustomizeconfig.yaml"] = yaml_file(KUSTOMIZE_CONFIG)
    return files


def cluster_files(mesh: Mesh, plan: ClusterPlan, decryption_secret: str | None) -> dict[str, str]:
    folder = plan.folder
    components = sorted(plan.components, key=lambda c: c.sync_wave)
    charts = [c for c in components if c.chart is not None]
    files = _chart_files(mesh, plan, charts) if charts else {}

    # The stages, each waiting for the one before: overlays before the charts, the charts,
    # overlays after them. Overlays of one wave (the traffic namespaces) wait for the same
    # stage, not for each other.
    stages = []
    previous: str | None = None
    wave: tuple[int, str | None] | None = None  # (sync wave, what its stages wait for)
    for component in components:
        is_chart = component.chart is not None
        if is_chart and component is not charts[0]:
            continue
        if is_chart:
            name, path, secret = CHARTS_STAGE, f"{folder}/charts", None
        else:
            assert component.overlay_path is not None
            name, path = component.name, component.overlay_path
            secret = decryption_secret if component is plan.namespace_component else None
        if wave is None or wave[0] != component.sync_wave or is_chart:
            wave = (component.sync_wave, previous)
        stages.append(flux_kustomization(mesh, plan, name, path, wave[1], secret))
        previous = name
    files[f"{folder}/stages.yaml"] = yaml_file(*stages)
    resources = [BOOTSTRAP_FOLDER, "stages.yaml"]
    namespaces = application_namespaces(plan)
    if namespaces:
        files[f"{folder}/{NAMESPACES_FILE}"] = yaml_file(*namespaces)
        resources.append(NAMESPACES_FILE)
    files[f"{folder}/kustomization.yaml"] = yaml_file(kustomization(resources=resources))
    return files


def application_namespaces(plan: ClusterPlan) -> list[dict[str, Any]]:
    """The application namespaces the traffic and waypoint stages apply into, each once,
    created when missing and never changed or pruned by Flux (unlike Argo CD's
    CreateNamespace, a Kustomization cannot create its target namespace; deleting an
    application's namespace with a policy would be a disaster)."""
    namespaces = dict.fromkeys(
        c.namespace
        for c in plan.components
        if c.name.startswith((TRAFFIC_PREFIX, WAYPOINTS_PREFIX))  # both may share one
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "annotations": {
                    "kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent",
                    "kustomize.toolkit.fluxcd.io/prune": "disabled",
                },
            },
        }
        for namespace in namespaces
    ]


def _ambient_rows(mesh: Mesh) -> list[str]:
    rows: list[str] = []
    if mesh.gateway_api.install:
        rows.append(
            f"| {len(rows) + 2} | `gateway-api-crds` | the Gateway API CRDs "
            f"{mesh.gateway_api_version()} (standard channel, the release's own manifest) |"
        )
    step = len(rows) + 2
    rows += [
        f"| {step} | `{CHARTS_STAGE}` | HelmReleases `istio-base` → `istiod` → `istio-cni` → "
        "`ztunnel`, chained with `dependsOn` |",
        f"| {step + 1} | `east-west-gateway` | the ambient east-west Gateway (class "
        "`istio-east-west`, HBONE on 15008; east-west gateway clusters only) |",
        f"| {step + 2} | `waypoints-<namespace>` | the waypoints of that namespace (Gateways of "
        "class `istio-waypoint`; `namespaces.yaml` creates the namespace when missing) |",
    ]
    return rows


class FluxEngine:
    name = "flux"
    display_name = "Flux"

    def files(self, mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, str]:
        files: dict[str, str] = {}
        for plan in plans:
            files.update(self.cluster_files(mesh, plan))
        return files

    def cluster_files(self, mesh: Mesh, plan: ClusterPlan) -> dict[str, str]:
        """The files of one cluster (a pure function of the mesh's settings and its plan)."""
        from meshgen.render.secrets import provider_for

        return cluster_files(mesh, plan, provider_for(mesh).decryption_secret(mesh))

    def shared_files(self, mesh: Mesh, plans: list[ClusterPlan]) -> dict[str, str]:
        """None: every Flux file belongs to one cluster."""
        return {}

    def layout_rows(self) -> list[tuple[str, str]]:
        return [
            (
                "clusters/<cluster>/kustomization.yaml",
                "what Flux syncs in the cluster: `flux-system/` (written by `flux bootstrap`, "
                "never by meshgen) and `stages.yaml`, the cluster's Flux Kustomizations",
            ),
            (
                "clusters/<cluster>/charts/",
                "the chart source (HelmRepository, or an OCIRepository per chart) and the "
                "HelmReleases, with values from "
                "`clusters/<cluster>/values/` (`values/kustomization.yaml` makes the ConfigMaps)",
            ),
        ]

    def after_merge(self) -> str:
        return (
            "once it is merged, Flux installs Istio on the new cluster and updates the others. "
            "Run\n`flux bootstrap` for the new cluster (above), before or after the merge."
        )

    def after_removal(self) -> str:
        return (
            "Flux in the removed cluster then syncs a path that no longer exists and\nstops; "
            "uninstall what it installed there (`flux uninstall`, after deleting the\n"
            "HelmReleases if Istio should go too)"
        )

    def readme_section(self, mesh: Mesh, plans: list[ClusterPlan]) -> str:
        rows = []
        rows.append(
            "| 1 | `istio-system` | the namespace (network label), `cacerts` and remote secrets |"
        )
        if mesh.ambient:
            rows += _ambient_rows(mesh)
        else:
            rows.append(
                f"| 2 | `{CHARTS_STAGE}` | HelmReleases `istio-base` → `istiod` → "
                "`istio-eastwestgateway` (where enabled), chained with `dependsOn` |"
            )
            rows.append("| 3 | `mesh-config` | Istio config (east-west gateway clusters only) |")
        if any(c.name.startswith(TRAFFIC_PREFIX) for plan in plans for c in plan.components):
            rows.append(
                f"| {len(rows) + 1} | `traffic-<namespace>` | DestinationRules and "
                "VirtualServices from `traffic/` (each waits for the stage before; "
                "`namespaces.yaml` creates their namespaces when missing) |"
            )
        table = "\n".join(rows)
        return f"""## Bootstrap Flux (once per cluster)

Run `flux bootstrap` against each cluster with its own path; it writes
`clusters/<cluster>/flux-system/` (commit it; meshgen never touches that folder) and starts
syncing `clusters/<cluster>/`:

```sh
flux bootstrap git --url={bootstrap_url(mesh.repo_url)} --branch={mesh.revision} \\
  --path=clusters/<cluster> --context=<kube-context of the cluster>
```

`clusters/<cluster>/kustomization.yaml` lists `flux-system`, so it builds only once bootstrap
has written that folder; Flux keeps managing itself from there. The cluster then applies its
Flux Kustomizations (namespace `{NAMESPACE}`, labelled `meshgen.io/cluster: <cluster>`) in this
order, each waiting until the previous one is Ready:

| step | Kustomization | what it applies |
| --- | --- | --- |
{table}

The charts come from `{mesh.chart_repository}`, version `{mesh.istio_version}`; each
HelmRelease reads the values file `clusters/<cluster>/values/<chart>.yaml` through a ConfigMap
whose name carries a hash of its content, so a values change upgrades the release.
"""
