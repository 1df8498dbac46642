"""The validated model of ``mesh.yaml`` that the rendering core sees, and how it is built.

:func:`build_model` turns a schema-valid round-trip tree into the frozen :class:`Mesh`, filling
in every default; the constants here are the defaults and the names the rest of meshgen shares.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from meshgen import library
from meshgen.frozen import fields_at_once

T = TypeVar("T")

MESH_FILE = "mesh.yaml"
API_VERSION = "meshgen.io/v1alpha1"
KIND = "Mesh"
SCHEMA_COMMENT = "# yaml-language-server: $schema=./.meshgen/mesh.schema.json"

# Istio defaults come from the release catalogue (charts/istio-releases.yaml): the newest GA
# release, and where Istio publishes charts and images today.
DEFAULT_ISTIO_VERSION = library.istio_releases().newest_ga().version
DEFAULT_CHART_REPOSITORY = library.istio_releases().helm_repository
DEFAULT_HUB = library.istio_releases().hub
DEFAULT_README = "README.md"
DEFAULT_TRUST_DOMAIN = "cluster.local"
# Inside the Kubernetes range of every catalogued Istio line (1.28: 1.29-1.34 ... 1.31:
# 1.32-1.36), and the version of the pinned kubectl.
DEFAULT_KUBERNETES_VERSION = "1.33"
DEFAULT_REVISION = "main"
DEFAULT_ARGOCD_NAMESPACE = "argocd"
DEFAULT_STORE = "meshgen-secrets"
DEFAULT_SOPS_SECRET = "sops-age"
ENGINES_WITH_SOPS = ("flux",)


# The gateway chart's own autoscaler bounds (values.yaml of charts/gateway).
DEFAULT_MIN_REPLICAS = 1
DEFAULT_MAX_REPLICAS = 5


@fields_at_once
@dataclass(frozen=True)
class EastWestGateway:
    """The east-west gateway of a cluster. It is autoscaled between ``min_replicas`` and
    ``max_replicas`` (the chart's default, 1 to 5) unless ``replicas`` fixes its size."""

    enabled: bool
    explicit: bool = True  # mesh.yaml says enabled: true/false (rather than leaving it out)
    replicas: int | None = None  # a fixed number of pods, autoscaler off
    min_replicas: int = DEFAULT_MIN_REPLICAS
    max_replicas: int = DEFAULT_MAX_REPLICAS
    service_type: str = "LoadBalancer"
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def autoscaled(self) -> bool:
        return self.replicas is None


PRIMARY = "primary"
REMOTE = "remote"
EXTERNAL_CONTROL_PLANE = "external-control-plane"
ISTIO_SYSTEM = "istio-system"
EXTERNAL_ISTIOD_NAMESPACE = "external-istiod"

# The data plane of the whole mesh: sidecar proxies, or ambient (ztunnel on every node,
# waypoints where L7 is needed).
SIDECAR = "sidecar"
AMBIENT = "ambient"
WAYPOINT_FOR = ("service", "workload", "all")


@dataclass(frozen=True)
class GlobalService:
    """A Service reachable from every cluster (ambient): labelled ``istio.io/global=true``."""

    namespace: str
    name: str


@dataclass(frozen=True)
class Waypoint:
    """A waypoint proxy (ambient): a Gateway of class ``istio-waypoint`` named ``name`` in
    ``namespace``, for ``traffic_for`` (``istio.io/waypoint-for``), in ``clusters`` (empty:
    every cluster of the mesh)."""

    namespace: str
    name: str = "waypoint"
    traffic_for: str = "service"
    clusters: tuple[str, ...] = ()


@dataclass(frozen=True)
class GatewayAPI:
    """Where an ambient mesh's Gateway API CRDs come from: meshgen installs ``version``
    (None: the release the mesh's Istio is built against), unless ``install`` is off because
    the clusters already have them (a managed platform, another team)."""

    version: str | None = None
    install: bool = True


@fields_at_once
@dataclass(frozen=True)
class Discovery:
    """Where remotes reach a control plane's istiod (15012 xDS, 15017 webhooks)."""

    address: str
    valid_certificate: bool = False

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            return False
        return True


@dataclass(frozen=True)
class TrustRecord:
    """When a cluster's secret material was issued (UTC, ``YYYY-MM-DDTHH:MM:SSZ``), for rotation.

    Written by ``meshgen ca issue``, ``remote-secret`` and ``seal``; ``sealed`` maps the name
    of each SealedSecret committed in the cluster's folder to when it was sealed.
    """

    ca_issued: str | None = None
    ca_expires: str | None = None
    remote_secret_issued: str | None = None
    remote_secret_expires: str | None = None
    sealed: dict[str, str] = field(default_factory=dict)


# The unrevisioned istiod (its objects carry istio.io/rev=default), and the revision tag that
# serves namespaces labelled istio-injection=enabled and validates config by default.
UNREVISIONED = "default"
DEFAULT_TAG = "default"


@dataclass(frozen=True)
class IstioState:
    """A cluster's own Istio state (``clusters[].istio``), written by ``meshgen upgrade``.

    Empty for a cluster that runs the mesh's ``istio.version``. ``version``: upgraded in place
    to another version. ``revisions``: control planes side by side, ``(revision, version)``
    in file order (``default`` is the unrevisioned istiod); ``tags``: ``(tag, revision)``.
    """

    version: str | None = None
    revisions: tuple[tuple[str, str], ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.version or self.revisions or self.tags)


@dataclass(frozen=True)
class ControlPlane:
    """One istiod of a cluster: revision (``default``: unrevisioned), version, Helm release,
    and the revision tags rendered from that release."""

    revision: str
    version: str
    release: str
    tags: tuple[str, ...] = ()

    @property
    def revisioned(self) -> bool:
        return self.revision != UNREVISIONED


@fields_at_once
@dataclass(frozen=True)
class Cluster:
    name: str
    network: str
    role: str
    east_west_gateway: EastWestGateway
    control_plane: str | None = None
    discovery: Discovery | None = None
    revision: str | None = None
    api_server: str | None = None
    pod_cidrs: tuple[str, ...] = ()
    service_cidrs: tuple[str, ...] = ()
    region: str | None = None
    zone: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    trust: TrustRecord = field(default_factory=TrustRecord)
    istio: IstioState = field(default_factory=IstioState)

    @property
    def runs_istiod(self) -> bool:
        """Whether an istiod runs in this cluster (for itself or, external, for another)."""
        return self.role != REMOTE


LISTED_CLUSTERS = 10  # an error about an unknown cluster lists the clusters up to this many


@dataclass(frozen=True)
class Mesh:
    """The validated mesh, with every default filled in. Clusters keep their file order."""

    mesh_id: str
    trust_domain: str
    trust_domain_aliases: tuple[str, ...]
    istio_version: str
    istio_revision: str | None
    chart_repository: str
    hub: str
    dns_capture: bool
    kubernetes_version: str
    repo_url: str
    revision: str
    engine: str
    argocd_namespace: str
    argocd_project: str
    secrets_provider: str
    secret_store_name: str
    secret_store_kind: str
    secret_key_prefix: str
    secret_refresh_interval: str
    secret_cacerts_prefix: str
    networks: tuple[str, ...]
    clusters: tuple[Cluster, ...]
    sops_age_recipients: tuple[str, ...] = ()
    sops_decryption_secret: str = DEFAULT_SOPS_SECRET
    meshgen_version: str | None = None  # the meshgen that rendered the repository (None: older)
    readme: str = DEFAULT_README  # where the generated guide goes (repository.readme)
    dataplane: str = SIDECAR
    global_services: tuple[GlobalService, ...] = ()
    waypoints: tuple[Waypoint, ...] = ()
    gateway_api: GatewayAPI = field(default_factory=GatewayAPI)

    @property
    def ambient(self) -> bool:
        return self.dataplane == AMBIENT

    def gateway_api_version(self) -> str:
        """The Gateway API release the clusters get: mesh.yaml's, else the catalogue's for
        the mesh's Istio version."""
        return self.gateway_api.version or library.istio_releases().gateway_api_for(
            self.istio_version
        )

    def waypoints_in(self, cluster: Cluster) -> tuple[Waypoint, ...]:
        """The waypoints ``cluster`` runs, sorted by namespace and name."""
        return tuple(
            sorted(
                (w for w in self.waypoints if not w.clusters or cluster.name in w.clusters),
                key=lambda w: (w.namespace, w.name),
            )
        )

    @functools.cached_property
    def derived(self) -> dict[Any, Any]:
        """What functions of this mesh alone (it never changes) keep for their next call, each
        under a key of its own (see :meth:`derive`)."""
        return {}

    def derive(self, key: str, make: Callable[[], T]) -> T:
        """What ``make()`` gives, made on the first call with ``key`` and kept in
        :attr:`derived` for the next ones."""
        derived = self.derived
        if key not in derived:
            derived[key] = make()
        return cast(T, derived[key])

    @functools.cached_property
    def _by_name(self) -> dict[str, Cluster]:
        return {cluster.name: cluster for cluster in self.clusters}

    @functools.cached_property
    def _remotes(self) -> dict[str, tuple[Cluster, ...]]:
        grouped: dict[str, list[Cluster]] = {}
        for cluster in self.clusters:
            if cluster.control_plane is not None:
                grouped.setdefault(cluster.control_plane, []).append(cluster)
        return {name: tuple(sorted(g, key=lambda c: c.name)) for name, g in grouped.items()}

    def clusters_hint(self, name: str, none: str = "none") -> str:
        """For an error about ``name``, which is not a cluster of the mesh: the clusters, when
        a few (up to :data:`LISTED_CLUSTERS`); else how many, and the names closest to it."""
        names = [c.name for c in self.clusters]
        if len(names) <= LISTED_CLUSTERS:
            return f"clusters: {', '.join(names) or none}"
        close = difflib.get_close_matches(name, names, n=3)
        guess = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"{len(names):,} clusters{guess}"

    def cluster(self, name: str) -> Cluster:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(name) from None

    def remotes_of(self, name: str) -> tuple[Cluster, ...]:
        """The clusters whose control plane is ``name``, sorted by name."""
        return self._remotes.get(name, ())

    def control_plane_of(self, cluster: Cluster) -> Cluster | None:
        return self._by_name.get(cluster.control_plane) if cluster.control_plane else None

    def revision_of(self, cluster: Cluster) -> str | None:
        """The Istio revision of ``cluster`` (``None``: the default, unrevisioned install)."""
        revision = cluster.revision or self.istio_revision
        return None if revision in (None, "default") else revision

    def control_planes_of(self, cluster: Cluster) -> tuple[ControlPlane, ...]:
        """The istiod releases of ``cluster`` (a remote's: its ``profile: remote`` ones), in
        ``mesh.yaml`` order. The revision the cluster ran before its first revision-based
        upgrade keeps the release name ``istiod`` (renaming would reinstall it); each revision
        added next to it is the release ``istiod-<revision>``. Asked for several times per
        cluster while rendering: the answer is kept per cluster object."""
        known = self._control_planes.get(cluster.name)
        if known is not None and known[0] is cluster:
            return known[1]
        planes = self._make_control_planes(cluster)
        self._control_planes[cluster.name] = (cluster, planes)
        return planes

    @functools.cached_property
    def _control_planes(self) -> dict[str, tuple[Cluster, tuple[ControlPlane, ...]]]:
        return {}

    @functools.cached_property
    def _plain_control_planes(self) -> dict[str, tuple[ControlPlane, ...]]:
        return {}

    def _make_control_planes(self, cluster: Cluster) -> tuple[ControlPlane, ...]:
        state = cluster.istio
        base = self.revision_of(cluster) or UNREVISIONED
        if not state:  # most clusters: one istiod of the mesh's version, made once per revision
            plain = self._plain_control_planes.get(base)
            if plain is None:
                plain = (ControlPlane(base, self.istio_version, "istiod"),)
                self._plain_control_planes[base] = plain
            return plain
        entries = state.revisions or ((base, state.version or self.istio_version),)
        tags = dict(state.tags)
        return tuple(
            ControlPlane(
                revision=revision,
                version=version,
                release="istiod" if revision == base else f"istiod-{revision}",
                tags=tuple(sorted(t for t, target in tags.items() if target == revision)),
            )
            for revision, version in entries
        )

    def default_revision_of(self, cluster: Cluster) -> str | None:
        """The revision serving ``istio-injection=enabled`` and default validation, which the
        east-west gateway follows: the ``default`` tag's, else the cluster's revision as
        before upgrades (``None``: the unrevisioned istiod)."""
        revision = dict(cluster.istio.tags).get(DEFAULT_TAG)
        if revision is None:
            return self.revision_of(cluster)
        return None if revision == UNREVISIONED else revision

    def versions_of(self, cluster: Cluster) -> tuple[str, ...]:
        """The Istio versions ``cluster`` runs (two during a revision-based upgrade). A
        cluster without an Istio state of its own (most of them) runs the mesh's version:
        its one control plane is not made to say so (a check of the whole mesh asks this
        of every cluster)."""
        if not cluster.istio:
            return (self.istio_version,)
        return tuple(dict.fromkeys(p.version for p in self.control_planes_of(cluster)))

    @functools.cached_property
    def primaries(self) -> tuple[Cluster, ...]:
        return tuple(sorted((c for c in self.clusters if c.role == PRIMARY), key=lambda c: c.name))

    def networks_in_use(self) -> list[str]:
        return sorted({cluster.network for cluster in self.clusters})

    def clusters_by_network(self) -> dict[str, list[Cluster]]:
        """Every declared network with its clusters (file order), in one pass."""
        grouped: dict[str, list[Cluster]] = {network: [] for network in self.networks}
        for cluster in self.clusters:
            grouped.setdefault(cluster.network, []).append(cluster)
        return grouped


class MeshDocument:
    """``mesh.yaml`` as loaded: the round-trip tree (for edits) and the model (for rendering).

    A document read by libyaml (:meth:`from_text`) holds the text and a plain tree; its
    round-trip ``tree`` is parsed from the text when first asked for. Reading it needs only
    :attr:`data`."""

    def __init__(
        self, source: str, tree: Any, mesh: Mesh, migrated_from: str | None = None
    ) -> None:
        self.source = source
        self._tree = tree
        self._text: str | None = None
        self._plain: Any = None
        self._written = False
        # Of a text read by libyaml: the line of each top-level key whose line holds the
        # whole entry, ``key: plain-scalar`` from column 0 (see yamlio.with_version_line).
        self.entry_lines: dict[str, int] | None = None
        # Of the text, when known (else None): how textedits reads its lines (a
        # textedits.Layout, or textedits.NOT_EDITABLE), noted with the parsed data or
        # carried over by the edit that made the text; see textedits.layout_of.
        self.text_layout: Any = None
        # Its plain data is what JSON gives back exactly (no tuples, floats or keys that are
        # not strings): read from the parsed-mesh note, or edited from such data in the text.
        self.json_exact = False
        self.mesh = mesh
        self.migrated_from = migrated_from  # the apiVersion the file had, when migrated

    @classmethod
    def from_text(
        cls,
        source: str,
        text: str,
        plain: Any,
        mesh: Mesh,
        written: bool = False,
        entry_lines: dict[str, int] | None = None,
    ) -> MeshDocument:
        """A current-version document read without the round-trip parser (see above);
        ``written``: ``text`` is what meshgen writes for it (an edit made in the text)."""
        document = cls(source, None, mesh)
        document._text, document._plain, document._written = text, plain, written
        document.entry_lines = entry_lines
        return document

    @property
    def tree(self) -> Any:
        """The round-trip tree (comments, order, quotes), to edit and write back."""
        if self._tree is None and self._text is not None:
            from meshgen.spec.yamlio import round_trip_tree

            self._tree = round_trip_tree(self._text)
            self._plain = None  # the tree is the truth now (and memory stays flat)
        return self._tree

    @tree.setter
    def tree(self, value: Any) -> None:
        self._tree, self._text, self._plain = value, None, None

    @property
    def data(self) -> Any:
        """The tree to read from: plain data when read by libyaml, else the round-trip tree."""
        return self._plain if self._plain is not None else self.tree

    @property
    def text(self) -> str | None:
        """The text the document was read from, while nothing edited it (else None)."""
        return self._text if self._tree is None else None

    @property
    def written_text(self) -> str | None:
        """The text to write, when an edit was made in the text itself (else None: the
        round-trip tree is written)."""
        return self._text if self._written and self._tree is None else None

    def __repr__(self) -> str:
        return f"MeshDocument(source={self.source!r}, mesh={self.mesh!r})"


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts/lists (for the frozen model)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def build_model(tree: Any, plain: bool = False) -> Mesh:
    """The :class:`Mesh` of a schema-valid tree, with defaults filled in. ``plain``: the tree
    is plain dicts and lists with string keys already (not copied)."""
    data = tree if plain else _plain(tree)
    istio = data.get("istio", {})
    gitops = data.get("gitops", {})
    argocd = gitops.get("argocd", {})
    secrets = data.get("secrets", {})
    external = secrets.get("externalSecrets", {})
    store = external.get("storeRef", {})
    sops = secrets.get("sops", {})
    networks = tuple(n["name"] for n in data["networks"])
    clusters = []
    for raw in data["clusters"]:
        gateway = raw.get("eastWestGateway", {})
        discovery = raw.get("discovery")
        clusters.append(
            Cluster(
                name=raw["name"],
                network=raw["network"],
                role=raw.get("role", PRIMARY),
                control_plane=raw.get("controlPlane"),
                discovery=Discovery(
                    address=discovery["address"],
                    valid_certificate=discovery.get("validCertificate", False),
                )
                if discovery
                else None,
                revision=raw.get("revision"),
                east_west_gateway=_east_west_gateway(gateway),
                api_server=raw.get("apiServer"),
                pod_cidrs=tuple(raw.get("podCIDRs", ())),
                service_cidrs=tuple(raw.get("serviceCIDRs", ())),
                region=raw.get("region"),
                zone=raw.get("zone"),
                labels=dict(raw.get("labels", {})),
                trust=_trust_record(raw.get("trust", {})),
                istio=_istio_state(raw.get("istio", {})),
            )
        )
    mesh_id = data["meshID"]
    return Mesh(
        mesh_id=mesh_id,
        trust_domain=data.get("trustDomain", DEFAULT_TRUST_DOMAIN),
        trust_domain_aliases=tuple(data.get("trustDomainAliases", ())),
        istio_version=str(istio.get("version", DEFAULT_ISTIO_VERSION)),
        istio_revision=istio.get("revision"),
        chart_repository=istio.get("chartRepository", DEFAULT_CHART_REPOSITORY),
        hub=istio.get("hub", DEFAULT_HUB),
        dns_capture=istio.get("dnsCapture", True),
        kubernetes_version=str(data.get("kubernetesVersion", DEFAULT_KUBERNETES_VERSION)),
        repo_url=data["repository"]["url"],
        revision=data["repository"].get("revision", DEFAULT_REVISION),
        engine=gitops.get("engine", "argocd"),
        argocd_namespace=argocd.get("namespace", DEFAULT_ARGOCD_NAMESPACE),
        argocd_project=argocd.get("project", mesh_id),
        secrets_provider=secrets.get("provider", "external-secrets"),
        secret_store_name=store.get("name", DEFAULT_STORE),
        secret_store_kind=store.get("kind", "ClusterSecretStore"),
        secret_key_prefix=external.get("keyPrefix", f"meshgen/{mesh_id}/remote-secrets"),
        secret_refresh_interval=external.get("refreshInterval", "1h"),
        secret_cacerts_prefix=external.get("cacertsKeyPrefix", f"meshgen/{mesh_id}/cacerts"),
        networks=networks,
        clusters=tuple(clusters),
        sops_age_recipients=tuple(sops.get("ageRecipients", ())),
        sops_decryption_secret=sops.get("decryptionSecret", DEFAULT_SOPS_SECRET),
        meshgen_version=data.get("meshgenVersion"),
        readme=data["repository"].get("readme", DEFAULT_README),
        dataplane=data.get("dataplane", SIDECAR),
        global_services=tuple(
            GlobalService(namespace=s["namespace"], name=s["name"])
            for s in data.get("globalServices", ())
        ),
        waypoints=tuple(
            Waypoint(
                namespace=w["namespace"],
                name=w.get("name", "waypoint"),
                traffic_for=w.get("for", "service"),
                clusters=tuple(w.get("clusters", ())),
            )
            for w in data.get("waypoints", ())
        ),
        gateway_api=GatewayAPI(
            version=data.get("gatewayAPI", {}).get("version"),
            install=data.get("gatewayAPI", {}).get("install", True),
        ),
    )


# The records of the entries most clusters have, made once and shared (frozen, and nothing
# changes the dictionaries they hold): a model of a thousand clusters is built at the start
# of every command.
_NO_TRUST_RECORD = TrustRecord()
_NO_ISTIO_STATE = IstioState()
_PLAIN_GATEWAYS: dict[tuple[str, ...], EastWestGateway] = {}


def _east_west_gateway(raw: dict[str, Any]) -> EastWestGateway:
    """``eastWestGateway`` of a cluster: ``autoscaling: {minReplicas, maxReplicas}``, a fixed
    ``replicas``, or (the form meshgen wrote before) ``replicas`` with ``maxReplicas`` for
    autoscaling from ``replicas`` to ``maxReplicas``. Nothing: the chart's 1 to 5. The
    gateway of an entry that says only whether it is on (or nothing) is made once."""
    enabled = raw.get("enabled")
    if len(raw) == (enabled is not None) and enabled in (None, True, False):
        key = ("unset",) if enabled is None else ("enabled", str(enabled))
        known = _PLAIN_GATEWAYS.get(key)
        if known is None:
            known = _PLAIN_GATEWAYS[key] = _make_east_west_gateway(raw)
        return known
    return _make_east_west_gateway(raw)


def _make_east_west_gateway(raw: dict[str, Any]) -> EastWestGateway:
    autoscaling = raw.get("autoscaling", {})
    replicas = raw.get("replicas")
    if "maxReplicas" in raw:  # the earlier form: replicas is the autoscaler's minimum
        low, high, replicas = replicas or DEFAULT_MIN_REPLICAS, raw["maxReplicas"], None
    else:
        low = autoscaling.get("minReplicas", DEFAULT_MIN_REPLICAS)
        high = autoscaling.get("maxReplicas", max(DEFAULT_MAX_REPLICAS, low))
    return EastWestGateway(
        # Left out: off, and reported when the mesh spans several networks (a default that
        # followed the networks would flip when one is added).
        enabled=raw.get("enabled", False),
        explicit="enabled" in raw,
        replicas=replicas,
        min_replicas=low,
        max_replicas=high,
        service_type=raw.get("serviceType", "LoadBalancer"),
        annotations=dict(raw.get("annotations", {})),
    )


def _istio_state(raw: dict[str, Any]) -> IstioState:
    if not raw:
        return _NO_ISTIO_STATE
    version = raw.get("version")
    return IstioState(
        version=str(version) if version is not None else None,
        revisions=tuple((str(k), str(v)) for k, v in raw.get("revisions", {}).items()),
        tags=tuple((str(k), str(v)) for k, v in raw.get("tags", {}).items()),
    )


def _trust_record(raw: dict[str, Any]) -> TrustRecord:
    if not raw:
        return _NO_TRUST_RECORD
    ca = raw.get("ca", {})
    remote = raw.get("remoteSecret", {})
    return TrustRecord(
        ca_issued=ca.get("issued"),
        ca_expires=ca.get("expires"),
        remote_secret_issued=remote.get("issued"),
        remote_secret_expires=remote.get("expires"),
        sealed=dict(raw.get("sealed", {})),
    )
