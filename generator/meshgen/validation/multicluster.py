"""Check 7: what the objects Helm renders mean for a multi-cluster mesh.

The values of every release may be valid for their chart (check 4) and still build a mesh that
does not work: an east-west gateway whose pods carry no network, a Service without 15443, a
cross-network Gateway that selects no pods, an istiod that names another mesh, a remote whose
webhooks call someone else. This check reads the objects ``helm template`` produced in check 4
(handed over, not rendered again) together with each cluster's kustomize-built objects, and
compares what they say with what ``mesh.yaml`` means:

- east-west gateway: pods and Service carry ``topology.istio.io/network`` of the cluster's
  network (and the proxy requests that network's view); the Service exposes 15443, 15012/15017
  where the gateway exposes istiod, and every port a Gateway on those pods listens on; a webhook
  of the cluster injects its pods;
- the cross-network and expose-istiod ``Gateway`` select the gateway's pods; a VirtualService
  names Gateways of the cluster and routes to a Service the cluster renders, on a port it has;
- every istiod's ``istio`` ConfigMap carries the mesh ID and trust domain, its injector the
  mesh ID, cluster name and network, its Deployment ``CLUSTER_ID``; the proxies' discovery
  address resolves where they run;
- a remote renders no istiod Deployment; its injection path names it and its network; its
  webhooks and its ``istiod`` Service (EndpointSlice or ExternalName) reach its control plane's
  discovery address;
- the system namespace carries the cluster's network, a remote's the annotation that lets its
  control plane manage it; an istiod with remotes runs with ``EXTERNAL_ISTIOD``;
- istiod and gateway Deployments: no duplicate environment variable, and every ConfigMap they
  mount (not optional) is one the cluster renders.

A release whose chart is not available is reported as unchecked; one whose values have
findings of their own (check 4) is left out, and so are the checks that need its objects.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from meshgen.render.plan import system_namespace
from meshgen.spec import EXTERNAL_CONTROL_PLANE, REMOTE, Cluster, Mesh
from meshgen.validation import UNCHECKED, Finding, cluster_of, object_label
from meshgen.validation.engines import HelmRelease
from meshgen.validation.helm_values import Render
from meshgen.validation.repository import RepoView, load_fast, split_documents

CHECK = "multicluster"
NETWORK_LABEL = "topology.istio.io/network"
GATEWAY_PORT_LABEL = "networking.istio.io/gatewayPort"
NETWORK_VIEW = "ISTIO_META_REQUESTED_NETWORK_VIEW"
CONTROL_PLANES = "topology.istio.io/controlPlaneClusters"
CROSS_NETWORK_PORT = 15443
XDS_PORT = 15012
WEBHOOK_PORT = 15017
_CRD = re.compile(r"^kind:\s*CustomResourceDefinition\s*$", re.M)
_SERVICE_HOST = re.compile(r"^([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?$")


# ------------------------------------------------------------------------------ what is read


def rendered_objects(text: str) -> list[dict[str, Any]]:
    """The objects of ``helm template`` output, CRDs left out (large, and nothing here reads
    them)."""
    objects = []
    for _line, doc in split_documents(text):
        if _CRD.search(doc):
            continue
        value = load_fast(doc)
        if isinstance(value, dict):
            objects.append(value)
    return objects


def _stored_objects(view: RepoView, key: str) -> list[dict[str, Any]] | None:
    """The objects parsed from the render cached under ``key``, read once per run."""
    memo: dict[str, list[dict[str, Any]]] = view.context.setdefault("rendered-objects", {})
    if key not in memo:
        stored = view.cache.get("helm-objects", key)
        if not isinstance(stored, list):
            return None
        memo[key] = stored
    return memo[key]


def has_parsed(view: RepoView, key: str) -> bool:
    """Whether the objects of the render cached under ``key`` are at hand without its text:
    parsed in this run, or in the cache (read only when a cluster's findings are computed;
    should the entry be gone by then, the text is read or rendered again)."""
    return key in view.context.get("rendered-objects", {}) or view.cache.has("helm-objects", key)


def parsed_render(view: RepoView, render: Render) -> list[dict[str, Any]]:
    """:func:`rendered_objects` of a ``helm template`` output, parsed once per run and kept in
    the cache under the output's own key (primaries share their base release's output)."""
    from meshgen.validation.cache import is_plain

    objects = _stored_objects(view, render.key)
    if objects is None:
        objects = rendered_objects(render.text())
        view.context["rendered-objects"][render.key] = objects
        if view.cache.enabled and is_plain(objects):
            view.cache.put("helm-objects", render.key, objects)
    return list(objects)  # the checks read objects, never change them


@dataclass
class Release:
    """One release of a cluster with the objects Helm rendered for it."""

    helm: HelmRelease
    objects: list[dict[str, Any]]

    @property
    def values_file(self) -> str:
        return self.helm.value_files[-1] if self.helm.value_files else self.helm.file

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") in kinds]


@dataclass
class ClusterObjects:
    """Everything a cluster gets: its releases by chart, and its kustomize-built objects."""

    cluster: Cluster
    releases: dict[str, list[Release]] = field(default_factory=dict)
    overlays: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (folder, object)
    unrendered: set[str] = field(default_factory=set)  # charts whose objects are missing

    def complete(self, *charts: str) -> bool:
        """Whether the objects of these charts (of every chart when none is named) are all
        here: a check that reads them cannot tell "missing" from "not rendered" otherwise."""
        return not (self.unrendered & set(charts)) if charts else not self.unrendered

    def charts(self, chart: str) -> list[Release]:
        return self.releases.get(chart, [])

    def helm_objects(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for rs in self.releases.values() for r in rs for o in r.of_kind(*kinds)]

    def services(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(_namespace(s), _name(s)): s for s in self.helm_objects("Service")}

    def overlay_objects(self, kind: str, group: str | None = None) -> list[tuple[str, Any]]:
        return [
            (folder, o)
            for folder, o in self.overlays
            if o.get("kind") == kind
            and (group is None or str(o.get("apiVersion", "")).startswith(f"{group}/"))
        ]


def _map(obj: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


def _list(obj: Any, *keys: str) -> list[Any]:
    for key in keys[:-1]:
        obj = obj.get(key) if isinstance(obj, dict) else None
    value = obj.get(keys[-1]) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def _name(obj: dict[str, Any]) -> str:
    return str(_map(obj, "metadata").get("name", ""))


def _namespace(obj: dict[str, Any]) -> str:
    return str(_map(obj, "metadata").get("namespace", ""))


def _pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return {
        str(k): str(v) for k, v in _map(workload, "spec", "template", "metadata", "labels").items()
    }


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = _map(workload, "spec", "template", "spec")
    return [c for c in _list(spec, "containers") if isinstance(c, dict)]


def _env(container: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (str(e.get("name")), e.get("value")) for e in _list(container, "env") if isinstance(e, dict)
    ]


def _workloads(release: Release) -> list[dict[str, Any]]:
    return release.of_kind("Deployment", "DaemonSet")


# ------------------------------------------------------------------------------ the identity


@dataclass(frozen=True)
class Identity:
    """Who an istiod is in the mesh: an external control plane's runs as the cluster it
    serves (its config cluster)."""

    cluster: str
    network: str


def identity(mesh: Mesh, cluster: Cluster) -> Identity:
    if cluster.role == EXTERNAL_CONTROL_PLANE:
        served = mesh.remotes_of(cluster.name)
        if served:
            return Identity(served[0].name, served[0].network)
    return Identity(cluster.name, cluster.network)


# ------------------------------------------------------------------------------ findings


@dataclass
class Report:
    view: RepoView
    findings: list[Finding] = field(default_factory=list)
    locate: Callable[..., tuple[str | None, int | None]] | None = None  # else view.locate

    def add(
        self,
        cluster: Cluster,
        message: str,
        fix: str,
        file: str | None = None,
        obj: dict[str, Any] | None = None,
        line: int | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                check=CHECK,
                message=message,
                fix=fix,
                cluster=cluster.name,
                file=file,
                line=line,
                obj=object_label(obj) if obj is not None else None,
            )
        )

    def add_built(
        self, cluster: Cluster, message: str, fix: str, folder: str, obj: dict[str, Any]
    ) -> None:
        """A finding about a kustomize-built object: where it is written, else its overlay."""
        file, line = (self.locate or self.view.locate)(obj, near=folder)
        self.add(cluster, message, fix, file or f"{folder}/kustomization.yaml", obj, line)


RENDER_FIX = "run `meshgen render` to restore the value meshgen renders for it"


# ------------------------------------------------------------------------------ selectors


def _expression_matches(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator = str(expression.get("key")), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def label_selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (an absent selector matches everything)."""
    if not isinstance(selector, dict):
        return True
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    expressions = selector.get("matchExpressions") or []
    return all(_expression_matches(e, labels) for e in expressions if isinstance(e, dict))


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """An Istio workload selector (a plain label map): empty selects nothing here."""
    return bool(selector) and all(labels.get(str(k)) == str(v) for k, v in selector.items())


# ------------------------------------------------------------------------------ east-west gateway


def _gateway_pods(objects: ClusterObjects) -> list[tuple[Release, dict[str, Any]]]:
    return [(r, w) for r in objects.charts("gateway") for w in _workloads(r)]


def _check_gateway(mesh: Mesh, objects: ClusterObjects, report: Report) -> None:
    cluster = objects.cluster
    network = cluster.network
    set_network = f"set `networkGateway: {network}` in {{file}}; " + RENDER_FIX
    for release in objects.charts("gateway"):
        file = release.values_file
        workloads = _workloads(release)
        if not workloads:
            report.add(
                cluster,
                f"the east-west gateway release {release.helm.release} renders no Deployment",
                f"check `kind` in {file}; " + RENDER_FIX,
                file,
            )
        # The network label, on the pods and on the Service: what it means when it is wrong.
        labelled = [
            (w, _pod_labels(w), "pods carry", "their endpoints count as another network's")
            for w in workloads
        ] + [
            (
                s,
                _map(s, "metadata", "labels"),
                "Service carries",
                f"istiod does not announce it as {network}'s gateway",
            )
            for s in release.of_kind("Service")
        ]
        for obj, labels, what, meaning in labelled:
            value = labels.get(NETWORK_LABEL)
            if value != network:
                report.add(
                    cluster,
                    f"the east-west gateway's {what} {_network_label(value)}, not "
                    f"{network}: {meaning}",
                    set_network.format(file=file),
                    file,
                    obj,
                )
        for workload in workloads:
            for container in _containers(workload):
                if container.get("name") != "istio-proxy":
                    continue
                view = dict(_env(container)).get(NETWORK_VIEW)
                if view != network:
                    said = f"{NETWORK_VIEW}={view}" if view is not None else f"no {NETWORK_VIEW}"
                    report.add(
                        cluster,
                        f"the east-west gateway's proxy has {said}, not {network}: it may pass "
                        "traffic for this network on to other networks",
                        set_network.format(file=file),
                        file,
                        workload,
                    )
        services = release.of_kind("Service")
        if not services:
            report.add(
                cluster,
                f"the east-west gateway release {release.helm.release} renders no Service: "
                "other networks cannot reach it",
                f"remove `service.type: None` from {file}",
                file,
            )
        for service in services:
            _check_gateway_ports(mesh, objects, release, service, report)


def _network_label(value: Any) -> str:
    return f"{NETWORK_LABEL}={value}" if value is not None else f"no {NETWORK_LABEL} label"


def _service_ports(service: dict[str, Any]) -> set[int]:
    ports = [p.get("port") for p in _list(service, "spec", "ports") if isinstance(p, dict)]
    return {p for p in ports if isinstance(p, int)}


def _check_gateway_ports(
    mesh: Mesh,
    objects: ClusterObjects,
    release: Release,
    service: dict[str, Any],
    report: Report,
) -> None:
    cluster = objects.cluster
    exposed = _service_ports(service)
    gateway_port = _map(service, "metadata", "labels").get(GATEWAY_PORT_LABEL)
    wanted: dict[int, str] = {}
    try:
        wanted[int(gateway_port or CROSS_NETWORK_PORT)] = "cross-network traffic (mTLS, SNI)"
    except ValueError:
        wanted[CROSS_NETWORK_PORT] = "cross-network traffic (mTLS, SNI)"
    if mesh.remotes_of(cluster.name):
        remotes = ", ".join(r.name for r in mesh.remotes_of(cluster.name))
        wanted.setdefault(XDS_PORT, f"xDS and certificates for its remotes ({remotes})")
        wanted.setdefault(WEBHOOK_PORT, f"the webhooks of its remotes ({remotes})")
    pods = [_pod_labels(w) for w in _workloads(release)]
    for _folder, gateway in objects.overlay_objects("Gateway", "networking.istio.io"):
        selector = _map(gateway, "spec", "selector")
        if not any(_selects(selector, labels) for labels in pods):
            continue
        for server in _list(gateway, "spec", "servers"):
            number = _map(server, "port").get("number")
            if isinstance(number, int):
                wanted.setdefault(number, f"Gateway {_namespace(gateway)}/{_name(gateway)}")
    for port, purpose in sorted(wanted.items()):
        if port not in exposed:
            report.add(
                cluster,
                f"the east-west gateway's Service does not expose {port}, needed for {purpose} "
                f"(it exposes {', '.join(map(str, sorted(exposed))) or 'nothing'})",
                f"expose port {port} (the gateway chart's networkGatewayPorts, or service.ports "
                f"without networkGateway) in {release.values_file}; " + RENDER_FIX,
                release.values_file,
                service,
            )


def _check_gateway_injection(objects: ClusterObjects, report: Report) -> None:
    """The gateway's container is ``image: auto``: without injection its pods never start."""
    cluster = objects.cluster
    if not objects.complete("istiod"):
        return
    webhooks = [
        w
        for mwc in objects.helm_objects("MutatingWebhookConfiguration")
        for w in _list(mwc, "webhooks")
        if isinstance(w, dict)
    ]
    namespaces = {_name(o): o for _f, o in objects.overlay_objects("Namespace")}
    for release, workload in _gateway_pods(objects):
        namespace = _namespace(workload) or release.helm.namespace
        ns_labels = {
            "kubernetes.io/metadata.name": namespace,
            **{
                str(k): str(v)
                for k, v in _map(namespaces.get(namespace), "metadata", "labels").items()
            },
        }
        pod = _pod_labels(workload)
        injected = any(
            label_selector_matches(w.get("namespaceSelector"), ns_labels)
            and label_selector_matches(w.get("objectSelector"), pod)
            for w in webhooks
        )
        if not injected:
            revision = pod.get("istio.io/rev")
            report.add(
                cluster,
                "no injection webhook of this cluster selects the east-west gateway's pods "
                f"(istio.io/rev={revision or '(none)'}): they keep `image: auto` and never start",
                f"give the gateway the revision of the cluster's istiod (`revision:` in "
                f"{release.values_file}); " + RENDER_FIX,
                release.values_file,
                workload,
            )


# ------------------------------------------------------------------------------ mesh config objects


def _check_selectors(objects: ClusterObjects, report: Report) -> None:
    """Istio Gateways select the east-west gateway's pods; VirtualServices name those Gateways
    and route to Services the cluster renders."""
    cluster = objects.cluster
    if not objects.complete("gateway", "istiod"):
        return
    pods = [(r, _pod_labels(w)) for r, w in _gateway_pods(objects)]
    gateways = objects.overlay_objects("Gateway", "networking.istio.io")
    known = {(_namespace(g), _name(g)) for _f, g in gateways}
    for folder, gateway in gateways:
        selector = {str(k): str(v) for k, v in _map(gateway, "spec", "selector").items()}
        if any(_selects(selector, labels) for _r, labels in pods):
            continue
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) or "(nothing)"
        have = "; ".join(
            ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k in ("app", "istio"))
            for _r, labels in pods
        )
        values = pods[0][0].values_file if pods else None
        report.add_built(
            cluster,
            f"Gateway {_namespace(gateway)}/{_name(gateway)} selects {wanted}, which no east-west "
            "gateway pod of the cluster carries"
            + (
                f" (they are labelled {have})"
                if pods
                else " (the cluster has no east-west gateway)"
            ),
            (
                "name the gateway `istio-eastwestgateway` (or set `labels.istio: "
                f"eastwestgateway`) in {values}; " + RENDER_FIX
            )
            if values
            else f"enable the cluster's east-west gateway in mesh.yaml, or remove {folder}",
            folder,
            gateway,
        )
    services = objects.services()
    for folder, service in objects.overlay_objects("VirtualService", "networking.istio.io"):
        namespace = _namespace(service)
        bound = [str(ref) for ref in _list(service, "spec", "gateways") if ref != "mesh"]
        if not bound:
            continue  # sidecar routing (traffic policies): not through the east-west gateway
        for ref in bound:
            ns, _, name = ref.rpartition("/")
            if (ns or namespace, name) not in known:
                report.add_built(
                    cluster,
                    f"VirtualService {namespace}/{_name(service)} is bound to Gateway {ref}, "
                    "which the cluster does not have",
                    "bind it to a Gateway of the cluster; " + RENDER_FIX,
                    folder,
                    service,
                )
        for route in [*_list(service, "spec", "tls"), *_list(service, "spec", "tcp")]:
            for destination in _list(route, "route"):
                target = _map(destination, "destination")
                host = str(target.get("host", ""))
                match = _SERVICE_HOST.match(host)
                if not match:
                    continue
                found = services.get((match.group(2), match.group(1)))
                port = _map(target, "port").get("number")
                if found is None:
                    problem = "which the cluster does not render"
                elif port is not None and port not in _service_ports(found):
                    problem = f"which has no port {port}"
                else:
                    continue
                report.add_built(
                    cluster,
                    f"VirtualService {namespace}/{_name(service)} routes to {host}, {problem} "
                    "(remotes cannot reach istiod through the east-west gateway)",
                    "route to the istiod Service of the cluster's revision; " + RENDER_FIX,
                    folder,
                    service,
                )


# ------------------------------------------------------------------------------ istiod


def _mesh_config(configmap: dict[str, Any]) -> dict[str, Any] | None:
    text = _map(configmap, "data").get("mesh")
    if not isinstance(text, str):
        return None
    try:
        value = load_fast(text)
    except Exception:
        return None
    return value if isinstance(value, dict) else {}


def _injector_values(configmap: dict[str, Any]) -> dict[str, Any] | None:
    text = _map(configmap, "data").get("values")
    if not isinstance(text, str) or "config" not in _map(configmap, "data"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else {}


CONSEQUENCE = {
    "global.meshID": "join another mesh",
    "global.multiCluster.clusterName": "report another cluster, so locality and endpoints "
    "are attributed to it",
    "global.network": "report another network: traffic to them skips (or needlessly takes) the "
    "east-west gateway",
}


def _check_istiod_identity(mesh: Mesh, objects: ClusterObjects, report: Report) -> None:
    cluster = objects.cluster
    who = identity(mesh, cluster)
    for release in objects.charts("istiod"):
        file = release.values_file
        for configmap in release.of_kind("ConfigMap"):
            config = _mesh_config(configmap)
            if config is not None:
                _check_mesh_config(mesh, cluster, config, configmap, file, report)
            values = _injector_values(configmap)
            if values is None:
                continue
            found = {
                "global.meshID": _map(values, "global").get("meshID"),
                "global.multiCluster.clusterName": _map(values, "global", "multiCluster").get(
                    "clusterName"
                ),
                "global.network": _map(values, "global").get("network"),
            }
            wanted = {
                "global.meshID": mesh.mesh_id,
                "global.multiCluster.clusterName": who.cluster,
                "global.network": who.network,
            }
            for key, want in wanted.items():
                if found[key] != want:
                    report.add(
                        cluster,
                        f"the sidecar injector gives pods {key} {found[key]!r}, not {want!r}: "
                        f"their proxies {CONSEQUENCE[key]}",
                        f"set `{key}: {want}` in {file}; " + RENDER_FIX,
                        file,
                        configmap,
                    )
        for workload in _workloads(release):
            for container in _containers(workload):
                if container.get("name") != "discovery":
                    continue
                for name, value in _env(container):
                    if name == "CLUSTER_ID" and value != who.cluster:
                        report.add(
                            cluster,
                            f"istiod runs as cluster {value!r} (CLUSTER_ID), not {who.cluster!r}:"
                            " remote secrets and endpoints are attributed to the wrong cluster",
                            f"set `global.multiCluster.clusterName: {who.cluster}` in {file}"
                            " and no `env.CLUSTER_ID`; " + RENDER_FIX,
                            file,
                            workload,
                        )


def _check_mesh_config(
    mesh: Mesh,
    cluster: Cluster,
    config: dict[str, Any],
    configmap: dict[str, Any],
    file: str,
    report: Report,
) -> None:
    mesh_id = _map(config, "defaultConfig").get("meshId")
    if mesh_id != mesh.mesh_id:
        report.add(
            cluster,
            f"the mesh config gives proxies meshId {mesh_id!r}, not {mesh.mesh_id!r}: clusters "
            "that disagree on the mesh ID do not form one mesh",
            f"set `global.meshID: {mesh.mesh_id}` in {file}; " + RENDER_FIX,
            file,
            configmap,
        )
    trust_domain = config.get("trustDomain")
    if trust_domain != mesh.trust_domain:
        report.add(
            cluster,
            f"the mesh config has trust domain {trust_domain!r}, not {mesh.trust_domain!r}: "
            "workloads of other clusters fail authorization",
            f"set `meshConfig.trustDomain: {mesh.trust_domain}` in {file}; " + RENDER_FIX,
            file,
            configmap,
        )
    aliases = sorted(str(a) for a in config.get("trustDomainAliases") or [])
    if aliases != sorted(mesh.trust_domain_aliases):
        report.add(
            cluster,
            f"the mesh config accepts trust domain aliases {aliases}, not "
            f"{sorted(mesh.trust_domain_aliases)} as mesh.yaml says",
            f"set `meshConfig.trustDomainAliases` in {file}; " + RENDER_FIX,
            file,
            configmap,
        )


def discovery_addresses(release: Release) -> list[tuple[dict[str, Any], str]]:
    """(ConfigMap, host) of every mesh config's ``defaultConfig.discoveryAddress``."""
    found = []
    for configmap in release.of_kind("ConfigMap"):
        config = _mesh_config(configmap)
        address = _map(config, "defaultConfig").get("discoveryAddress")
        if isinstance(address, str) and address:
            found.append((configmap, address.rsplit(":", 1)[0].strip("[]")))
    return found


def _check_discovery_address(
    mesh: Mesh, cluster_objects: ClusterObjects, inputs: _Inputs, report: Report
) -> None:
    """Proxies dial the mesh config's discovery address from the cluster they run in: a
    ``<service>.<namespace>.svc`` name must be a Service there (in each remote too, whose
    pods the control plane injects: the remotes that use its revision), anything else its
    control plane's address."""
    cluster = cluster_objects.cluster
    name = cluster.name
    control = mesh.control_plane_of(cluster)
    revision_of = {p.release: p.revision for p in mesh.control_planes_of(cluster)}
    for release in cluster_objects.charts("istiod"):
        revision = revision_of.get(release.helm.release)
        for configmap, host in discovery_addresses(release):
            where = [cluster_objects]
            if cluster.role != REMOTE:
                where += [
                    inputs.objects(r.name)
                    for r in mesh.remotes_of(name)
                    if inputs.has(r.name) and _uses(mesh, r, revision)
                ]
            match = _SERVICE_HOST.match(host)
            if match is None:
                allowed = {c.discovery.address for c in (cluster, control) if c and c.discovery}
                if host not in allowed:
                    report.add(
                        cluster,
                        f"the mesh config sends proxies to {host}, which is neither a Service "
                        "of the cluster nor its control plane's discovery address",
                        "set `meshConfig.defaultConfig.discoveryAddress` to the control "
                        f"plane's address in {release.values_file}; " + RENDER_FIX,
                        release.values_file,
                        configmap,
                    )
                continue
            for target in where:
                if not target.complete() or (match.group(2), match.group(1)) in (target.services()):
                    continue
                report.add(
                    target.cluster,
                    f"proxies{'' if target is cluster_objects else f' injected by {name}'} "
                    f"dial {host} (discoveryAddress of ConfigMap {_namespace(configmap)}/"
                    f"{_name(configmap)}), a Service the cluster does not render",
                    "give istiod in every cluster of the control plane the same revision, "
                    "or set `meshConfig.defaultConfig.discoveryAddress` in "
                    f"{release.values_file}; " + RENDER_FIX,
                    release.values_file,
                    configmap,
                )


def _uses(mesh: Mesh, remote: Cluster, revision: str | None) -> bool:
    """Whether ``remote``'s webhooks call its control plane's istiod of ``revision`` (during
    an upgrade a control plane may run a revision its remotes do not use yet)."""
    return revision is None or any(p.revision == revision for p in mesh.control_planes_of(remote))


def _check_namespace(mesh: Mesh, objects: ClusterObjects, report: Report) -> None:
    """The system namespace names the cluster's network (the default network of its
    endpoints), and a remote's names the control plane allowed to manage it."""
    cluster = objects.cluster
    if cluster.role == EXTERNAL_CONTROL_PLANE:
        return  # it runs no workloads of the mesh
    name = system_namespace(mesh, cluster)
    built = [(f, o) for f, o in objects.overlay_objects("Namespace") if _name(o) == name]
    for folder, namespace in built:
        labels = _map(namespace, "metadata", "labels")
        value = labels.get(NETWORK_LABEL)
        if value != cluster.network and (value is not None or len(mesh.networks_in_use()) > 1):
            report.add(
                cluster,
                f"Namespace {name} carries {_network_label(value)}, not {cluster.network}: "
                "endpoints without a network of their own count as another network's",
                f"label it `{NETWORK_LABEL}: {cluster.network}`; " + RENDER_FIX,
                f"{folder}/kustomization.yaml",  # where the cluster's namespace is put together
                namespace,
            )
        control = mesh.control_plane_of(cluster)
        if cluster.role != REMOTE or control is None or control.role == EXTERNAL_CONTROL_PLANE:
            continue  # an external istiod reads its config cluster as its own
        annotation = str(_map(namespace, "metadata", "annotations").get(CONTROL_PLANES, ""))
        allowed = {a.strip() for a in annotation.split(",") if a.strip()}
        if not allowed & {control.name, "*"}:
            report.add(
                cluster,
                f"Namespace {name} has {CONTROL_PLANES}={annotation or '(none)'}: "
                f"{control.name}'s istiod does not manage this remote's webhooks and namespaces",
                f"annotate it `{CONTROL_PLANES}: {control.name}`; " + RENDER_FIX,
                f"{folder}/kustomization.yaml",
                namespace,
            )


def _check_external_istiod(mesh: Mesh, objects: ClusterObjects, report: Report) -> None:
    """An istiod that manages other clusters (remotes, or its config cluster) runs with
    EXTERNAL_ISTIOD: without it, it patches no webhook there and signs no certificate for
    them."""
    cluster = objects.cluster
    if not mesh.remotes_of(cluster.name):
        return
    for release in objects.charts("istiod"):
        for workload in release.of_kind("Deployment"):
            for container in _containers(workload):
                if container.get("name") != "discovery":
                    continue
                if dict(_env(container)).get("EXTERNAL_ISTIOD") == "true":
                    continue
                remotes = ", ".join(r.name for r in mesh.remotes_of(cluster.name))
                report.add(
                    cluster,
                    f"istiod runs without EXTERNAL_ISTIOD=true although it is the control plane "
                    f"of {remotes}: their webhooks and certificates are not managed",
                    f"set `global.externalIstiod: true` in {release.values_file}; " + RENDER_FIX,
                    release.values_file,
                    workload,
                )


def _check_workloads(objects: ClusterObjects, report: Report) -> None:
    """Duplicate env names (server-side apply refuses them; otherwise the last silently wins)
    and ConfigMaps a pod mounts that nothing renders (the pod never starts)."""
    cluster = objects.cluster
    if not objects.complete():
        return
    configmaps = {(_namespace(c), _name(c)) for c in objects.helm_objects("ConfigMap")}
    configmaps |= {(_namespace(c), _name(c)) for _f, c in objects.overlay_objects("ConfigMap")}
    for chart in ("istiod", "gateway"):
        for release in objects.charts(chart):
            for workload in _workloads(release):
                namespace = _namespace(workload) or release.helm.namespace
                for container in _containers(workload):
                    names = [n for n, _v in _env(container)]
                    for duplicate in sorted({n for n in names if names.count(n) > 1}):
                        report.add(
                            cluster,
                            f"container {container.get('name')} sets {duplicate} "
                            f"{names.count(duplicate)} times: server-side apply refuses the "
                            "Deployment (duplicate key); elsewhere the last one silently wins",
                            f"remove `env.{duplicate}` from {release.values_file} where the "
                            "chart sets it already; " + RENDER_FIX,
                            release.values_file,
                            workload,
                        )
                spec = _map(workload, "spec", "template", "spec")
                for volume in _list(spec, "volumes"):
                    source = _map(volume, "configMap")
                    if not source or source.get("optional") is True:
                        continue
                    wanted = str(source.get("name"))
                    if (namespace, wanted) not in configmaps:
                        report.add(
                            cluster,
                            f"the pods mount ConfigMap {namespace}/{wanted} (volume "
                            f"{volume.get('name')}), which the cluster does not render: they "
                            "never start",
                            f"mount a ConfigMap the release renders (with a revision, its name "
                            f"carries it) in {release.values_file}; " + RENDER_FIX,
                            release.values_file,
                            workload,
                        )


# ------------------------------------------------------------------------------ remotes


@dataclass(frozen=True)
class Target:
    """Where a call ends up: hosts and port, or why that cannot be told."""

    hosts: frozenset[str] = frozenset()
    port: int | None = None
    via: str = ""
    problem: str | None = None

    def reaches(self, address: str, port: int | None = None) -> bool:
        return address in self.hosts and (port is None or self.port == port)


def resolve(
    client: dict[str, Any],
    services: dict[tuple[str, str], dict[str, Any]],
    slices: list[dict[str, Any]],
) -> Target:
    """Where the API server sends a webhook call (``clientConfig``), as the Kubernetes
    service resolver does: a URL as written; a Service by its EndpointSlices, or by its
    external name (port 443 only)."""
    url = client.get("url")
    if isinstance(url, str):
        parts = urlsplit(url)
        return Target(frozenset({parts.hostname or ""}), parts.port or 443, f"URL {url}")
    ref = _map(client, "service")
    namespace, name = str(ref.get("namespace")), str(ref.get("name"))
    port = ref.get("port", 443)
    return resolve_service(namespace, name, port, services, slices, webhook=True)


def resolve_service(
    namespace: str,
    name: str,
    port: Any,
    services: dict[tuple[str, str], dict[str, Any]],
    slices: list[dict[str, Any]],
    webhook: bool = False,
) -> Target:
    """Where a call to the Service's ``port`` goes. Pods resolve an ExternalName by DNS and
    keep the port; the API server calls a webhook behind one on the external name, port 443
    only."""
    via = f"Service {namespace}/{name}"
    service = services.get((namespace, name))
    if service is None:
        return Target(via=via, problem=f"{via}, which the cluster does not render")
    spec = _map(service, "spec")
    if spec.get("type") == "ExternalName":
        external = str(spec.get("externalName"))
        if _is_ip(external):
            return Target(via=via, problem=f"{via}, an ExternalName to an IP address")
        if not webhook:
            return Target(frozenset({external}), port, f"{via} (ExternalName {external})")
        if port != 443:
            return Target(via=via, problem=f"{via} (ExternalName) on port {port}: only 443 works")
        return Target(frozenset({external}), 443, f"{via} (ExternalName {external})")
    if spec.get("selector"):
        return Target(via=via, problem=f"{via}, which selects local pods")
    ports = [p for p in _list(spec, "ports") if isinstance(p, dict)]
    entry = next((p for p in ports if p.get("port") == port), None)
    if entry is None:
        return Target(via=via, problem=f"{via}, which has no port {port}")
    hosts: set[str] = set()
    target_port = None
    for endpoint_slice in slices:
        labels = _map(endpoint_slice, "metadata", "labels")
        if (
            _namespace(endpoint_slice) != namespace
            or labels.get("kubernetes.io/service-name") != name
        ):
            continue
        for slice_port in _list(endpoint_slice, "ports"):
            if isinstance(slice_port, dict) and slice_port.get("name") == entry.get("name"):
                target_port = slice_port.get("port")
        for endpoint in _list(endpoint_slice, "endpoints"):
            hosts |= {str(a) for a in _list(endpoint, "addresses")}
    if not hosts:
        return Target(via=via, problem=f"{via}, which has no endpoints")
    return Target(frozenset(hosts), target_port, f"{via} (EndpointSlice)")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_remote(mesh: Mesh, objects: ClusterObjects, report: Report) -> None:
    cluster = objects.cluster
    control = mesh.control_plane_of(cluster)
    if cluster.role != REMOTE or control is None or control.discovery is None:
        return
    if not objects.complete("istiod"):
        return  # the base chart's webhooks go through istiod's Service
    address = control.discovery.address
    services = objects.services()
    slices = objects.helm_objects("EndpointSlice")
    istiod = objects.charts("istiod")
    own = False  # an istiod of its own: what its webhooks call follows from that
    for release in istiod:
        for workload in release.of_kind("Deployment"):
            own = True
            report.add(
                cluster,
                f"the istiod release of a remote renders Deployment {_name(workload)}: the "
                f"cluster runs an istiod of its own instead of using {control.name}'s",
                f"set `profile: remote` in {release.values_file}; " + RENDER_FIX,
                release.values_file,
                workload,
            )
        for mwc in release.of_kind("MutatingWebhookConfiguration"):
            for webhook in _list(mwc, "webhooks"):
                client = _map(webhook, "clientConfig")
                _check_injection_path(cluster, client, release, mwc, report)
    if own:
        return
    reported = _check_discovery_service(mesh, objects, report)
    for chart in ("base", "istiod"):
        for release in objects.charts(chart):
            for configuration in release.of_kind(
                "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"
            ):
                wrong: dict[str, list[str]] = {}  # where the calls go -> webhooks
                for webhook in _list(configuration, "webhooks"):
                    target = resolve(_map(webhook, "clientConfig"), services, slices)
                    if target.problem is None and target.reaches(address, WEBHOOK_PORT):
                        continue
                    if target.via in reported:
                        continue  # the Service itself is reported
                    reached = target.problem or (
                        f"{', '.join(sorted(target.hosts))}:{target.port} ({target.via})"
                    )
                    wrong.setdefault(reached, []).append(str(_map(webhook).get("name")))
                for reached, names in wrong.items():
                    report.add(
                        cluster,
                        f"webhooks {', '.join(names)} call {reached}, not the control plane "
                        f"{control.name} at {address}:{WEBHOOK_PORT}",
                        _address_fix(control, release.values_file),
                        release.values_file,
                        configuration,
                    )


def _check_discovery_service(mesh: Mesh, objects: ClusterObjects, report: Report) -> set[str]:
    """A remote's proxies dial ``istiod[-rev].<ns>.svc:15012``: that Service must lead to the
    control plane (an EndpointSlice with its IP, or an ExternalName with its hostname).
    Returns the Services reported (``Service ns/name``)."""
    cluster = objects.cluster
    control = mesh.control_plane_of(cluster)
    assert control is not None and control.discovery is not None
    address = control.discovery.address
    istiod = objects.charts("istiod")
    if not istiod:
        return set()
    file = istiod[0].values_file
    services = objects.services()
    slices = objects.helm_objects("EndpointSlice")
    remote = [s for r in istiod for s in r.of_kind("Service") if not _map(s, "spec", "selector")]
    if not remote:
        report.add(
            cluster,
            f"the remote renders no istiod Service: its proxies cannot reach {control.name}",
            _address_fix(control, file),
            file,
        )
    reported = set()
    for service in remote:
        target = resolve_service(_namespace(service), _name(service), XDS_PORT, services, slices)
        if target.problem is None and target.reaches(address):
            continue
        reported.add(target.via)
        external = _map(service, "spec").get("externalName")
        if isinstance(external, str) and _is_ip(external):
            report.add(
                cluster,
                f"the istiod chart renders the remote's istiod Service as an ExternalName to the "
                f"IP address {external}, which the API server rejects: its charts before 1.30 "
                "take only IPv4 addresses as addresses, so proxies and webhooks cannot reach "
                f"{control.name}",
                f"use Istio 1.30 or later (istio.version in mesh.yaml), or give {control.name} "
                "an IPv4 discovery address or a DNS name with a trusted certificate",
                file,
                service,
            )
            continue
        reached = target.problem or ", ".join(sorted(target.hosts))
        report.add(
            cluster,
            f"the remote's istiod Service leads to {reached}, not to {control.name}'s "
            f"discovery address {address}: its proxies (15012) and the webhooks through it "
            "(15017) do not reach their control plane",
            _address_fix(control, file),
            file,
            service,
        )
    return reported


def _address_fix(control: Cluster, file: str) -> str:
    assert control.discovery is not None
    return (
        f"set `global.remotePilotAddress: {control.discovery.address}` (and, with a trusted "
        f"certificate, `istiodRemote.injectionURL` and `base.validationURL` on that host, port "
        f"{WEBHOOK_PORT}) in {file}; " + RENDER_FIX
    )


def injection_parameters(path: str) -> dict[str, str] | None:
    """``/inject/cluster/c1/net/n1`` → {cluster: c1, net: n1}; None for another path."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] != "inject" or len(parts) % 2 == 0:
        return None
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _check_injection_path(
    cluster: Cluster,
    client: dict[str, Any],
    release: Release,
    mwc: dict[str, Any],
    report: Report,
) -> None:
    url = client.get("url")
    path = urlsplit(url).path if isinstance(url, str) else str(_map(client, "service").get("path"))
    parameters = injection_parameters(path) or {}
    wanted = {"cluster": cluster.name, "net": cluster.network}
    if all(parameters.get(k) == v for k, v in wanted.items()):
        return
    report.add(
        cluster,
        f"the injection webhook calls {path}: pods of this remote are injected with "
        f"cluster {parameters.get('cluster')!r} and network {parameters.get('net')!r}, not "
        f"{cluster.name!r} and {cluster.network!r}",
        f"set `istiodRemote.injectionPath: /inject/cluster/{cluster.name}/net/{cluster.network}` "
        f"(or the same path in injectionURL) in {release.values_file}; " + RENDER_FIX,
        release.values_file,
        mwc,
    )


# ------------------------------------------------------------------------------ the check


def cluster_objects(
    mesh: Mesh,
    view: RepoView,
    releases: Iterable[HelmRelease],
    rendered: dict[HelmRelease, Render | None],
) -> dict[str, ClusterObjects]:
    inputs = _Inputs(view, mesh, releases, rendered)
    return {c.name: inputs.objects(c.name) for c in mesh.clusters}


class _Inputs:
    """What each cluster's checks read besides ``mesh.yaml``: its releases (with the cache key
    of each one's ``helm template`` output) and its kustomize builds (with each build's key);
    the objects themselves are parsed, or read from the cache, only for a cluster whose
    findings are computed."""

    def __init__(
        self,
        view: RepoView,
        mesh: Mesh,
        releases: Iterable[HelmRelease],
        rendered: dict[HelmRelease, Render | None],
    ) -> None:
        self.view, self.rendered = view, rendered
        self.releases: dict[str, list[HelmRelease]] = {c.name: [] for c in mesh.clusters}
        for release in releases:
            if release.cluster in self.releases:
                self.releases[release.cluster].append(release)
        self.folders: dict[str, list[str]] = {name: [] for name in self.releases}
        for folder in sorted(view.builds):
            name = cluster_of(folder)
            if name in self.folders:
                self.folders[name].append(folder)
        self._objects: dict[str, ClusterObjects] = {}
        self._by_name = {c.name: c for c in mesh.clusters}
        self._keys: dict[str, list[Any] | None] = {}
        # what each read of the mesh gives now, by read (see _still_holds): the clusters'
        # replays verify the same facts (the mesh's identity, shared control planes)
        self.mesh_reads: dict[str, str] = {}

    def has(self, name: str) -> bool:
        """Whether ``name`` is a cluster of the mesh."""
        return name in self._by_name

    def reached(self, name: str) -> bool:
        """Whether a release reaches the cluster (else the gitops check says why, and there
        is nothing to compare)."""
        return bool(self.releases.get(name))

    def key(self, name: str) -> list[Any] | None:
        """What the cluster's objects are made of, as cache keys; None when a build's key
        is not known (the cluster's findings are then always computed)."""
        if name in self._keys:  # a primary's key holds those of its remotes: asked again
            return self._keys[name]
        build_keys = self.view.context.get("build-keys", {})
        parts: list[Any] = []
        for release in self.releases.get(name, []):
            render = self.rendered.get(release)
            parts.append([release.key_fields(), render.key if render else None])
        for folder in self.folders.get(name, []):
            parts.append([folder, build_keys[folder]] if folder in build_keys else None)
        self._keys[name] = None if None in parts else parts
        return self._keys[name]

    def objects(self, name: str) -> ClusterObjects:
        if name in self._objects:
            return self._objects[name]
        found = self._objects[name] = ClusterObjects(self._by_name[name])
        for release in self.releases.get(name, []):
            render = self.rendered.get(release)
            if render is None:
                found.unrendered.add(release.chart)
                continue
            found.releases.setdefault(release.chart, []).append(
                Release(release, parsed_render(self.view, render))
            )
        seen: set[tuple[str, str, str]] = set()
        for folder in self.folders.get(name, []):
            for obj in self.view.objects(folder):
                key = (str(obj.get("kind")), _namespace(obj), _name(obj))
                if key in seen:
                    continue
                seen.add(key)
                found.overlays.append((folder, obj))
        return found


class _MeshReads:
    """The mesh as one cluster's checks see it: every attribute they read and method they
    call, with a digest of what it gave, is recorded, so that a replay of their findings can
    prove that each of those facts still holds in the current ``mesh.yaml``."""

    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh
        self.reads: dict[str, list[Any]] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._mesh, name)
        if not callable(value):
            self._note(name, [], value)
            return value

        def call(*args: Any) -> Any:
            result = value(*args)
            self._note(name, [_argument(a) for a in args], result)
            return result

        return call

    def _note(self, name: str, args: list[Any], result: Any) -> None:
        from meshgen.validation.cache import digest

        entry = [name, args, digest(repr(result))]
        self.reads[json.dumps(entry[:2])] = entry


def _argument(value: Any) -> Any:
    """A method's argument as JSON: a cluster by its name (looked up again on replay)."""
    if isinstance(value, Cluster):
        return {"cluster": value.name}
    if isinstance(value, str) or value is None:
        return value
    raise TypeError(f"a mesh method called with {type(value).__name__}: not recorded")


def _still_holds(mesh: Mesh, reads: Any, known: dict[str, str] | None = None) -> bool:
    """Whether every recorded read of the mesh gives what it gave when it was recorded;
    ``known`` keeps the digest of what each read gives now, for the next replay (the mesh
    does not change during a run)."""
    from meshgen.validation.cache import digest

    for name, args, expected in reads:
        read = json.dumps([name, args])
        found = known.get(read) if known is not None else None
        if found is None:
            value = getattr(mesh, name)
            if callable(value):
                actual = [mesh.cluster(a["cluster"]) if isinstance(a, dict) else a for a in args]
                value = value(*actual)
            found = digest(repr(value))
            if known is not None:
                known[read] = found
        if found != expected:
            return False
    return True


class _LocateReads:
    """``view.locate`` for one cluster's findings, recording each answer: where an object is
    written depends on every YAML file of the repository, so a replay asks again."""

    def __init__(self, view: RepoView) -> None:
        self.view = view
        self.reads: list[Any] = []

    def __call__(self, obj: Any, near: str | None = None) -> tuple[str | None, int | None]:
        file, line = self.view.locate(obj, near=near)
        self.reads.append([_written_as(obj), near, file, line])
        return file, line


def _written_as(obj: Any) -> dict[str, Any]:
    """The fields of an object that :meth:`RepoView.locate` looks it up by."""
    meta = _map(obj, "metadata")
    stub: dict[str, Any] = {"kind": obj.get("kind") if isinstance(obj, dict) else None}
    stub["metadata"] = {k: meta[k] for k in ("namespace", "name") if k in meta}
    return stub


def _cluster_checks(mesh: Any, inputs: _Inputs, name: str, report: Report) -> None:
    """Every check of one cluster, and the discovery address of its istiods (in its remotes
    too), with ``mesh`` as they may read it."""
    cluster_objs = inputs.objects(name)
    _check_gateway(mesh, cluster_objs, report)
    _check_gateway_injection(cluster_objs, report)
    _check_selectors(cluster_objs, report)
    _check_istiod_identity(mesh, cluster_objs, report)
    _check_remote(mesh, cluster_objs, report)
    _check_namespace(mesh, cluster_objs, report)
    _check_external_istiod(mesh, cluster_objs, report)
    _check_workloads(cluster_objs, report)
    _check_discovery_address(mesh, cluster_objs, inputs, report)


def _replayed_cluster(view: RepoView, mesh: Mesh, inputs: _Inputs, name: str) -> list[Finding]:
    """One cluster's findings, replayed from the cache when what they were computed from is
    unchanged: the objects of the cluster and of its remotes (by their cache keys), the
    cluster's entry in ``mesh.yaml``, every other fact of ``mesh.yaml`` the checks read (each
    verified again, see :class:`_MeshReads`) and where the objects reported are written."""
    from meshgen import library
    from meshgen.validation.cache import digest
    from meshgen.validation.helm_values import _dump_finding, _load_finding

    cluster = mesh.cluster(name)
    parts = [inputs.key(name)] + [inputs.key(r.name) for r in mesh.remotes_of(name)]
    key = None
    if view.cache.enabled and all(p is not None for p in parts):
        key = digest(CHECK, library.code_fingerprint(), repr(cluster), parts)
    root = str(view.root)
    if key is not None:
        entry = view.cache.get(CHECK, key, name)
        try:
            if (
                isinstance(entry, dict)
                and _still_holds(mesh, entry["mesh"], inputs.mesh_reads)
                and all(
                    view.locate(obj, near=near) == (file, line)
                    for obj, near, file, line in entry["locate"]
                )
            ):
                return [_load_finding(f, root) for f in entry["findings"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # an entry of another shape, or a cluster no longer there: computed again
        if entry is not None:
            view.cache.stale(CHECK, name)
    reads, locate = _MeshReads(mesh), _LocateReads(view)
    report = Report(view, locate=locate)
    _cluster_checks(reads, inputs, name, report)
    if key is not None:
        view.cache.put(
            CHECK,
            key,
            {
                "mesh": list(reads.reads.values()),
                "locate": locate.reads,
                "findings": [_dump_finding(f, root) for f in report.findings],
            },
        )
    return report.findings


def check(
    view: RepoView, releases: list[HelmRelease], rendered: dict[HelmRelease, Render | None]
) -> list[Finding]:
    """Findings about what the rendered objects mean for the mesh; releases whose chart was
    not available (absent from ``rendered``) are listed as unchecked.

    Each cluster's findings are replayed from the cache while their inputs stay the same (see
    :func:`_replayed_cluster`): after a change to one cluster, only its findings (and those
    of its control plane, which also checks what its remotes' proxies dial) are computed, and
    only their objects are read."""
    mesh = view.mesh
    if mesh is None:
        return []
    findings: list[Finding] = []
    missing = [r for r in releases if r not in rendered]
    if missing:
        clusters = sorted({r.cluster for r in missing if r.cluster})
        findings.append(
            Finding(
                check=CHECK,
                message=f"the charts of {len(missing)} releases are not available: what their "
                f"objects mean for the mesh is not checked ({', '.join(clusters)})",
                fix="pass --charts DIR with the unpacked charts, or run with --pull",
                severity=UNCHECKED,
            )
        )
    inputs = _Inputs(view, mesh, releases, rendered)
    for cluster in mesh.clusters:
        if inputs.reached(cluster.name):
            findings += _replayed_cluster(view, mesh, inputs, cluster.name)
    return findings
