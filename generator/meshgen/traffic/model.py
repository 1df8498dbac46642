"""The frozen model of the traffic files: one :class:`TrafficPolicy` per document, and the
:class:`TrafficPolicies` of a repository with the queries commands and renderers ask.

A policy is about one Kubernetes Service (``metadata.name`` in ``metadata.namespace``). Its
``clients`` are the clusters whose outbound traffic to the service it governs; left out, that is
every cluster of the mesh that runs workloads (see :meth:`TrafficPolicy.clients_in`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from meshgen.errors import SpecError
from meshgen.spec import EXTERNAL_CONTROL_PLANE, Mesh

API_VERSION = "meshgen.io/v1alpha1"
KIND = "TrafficPolicy"
FOLDER = "traffic"
SCHEMA_PATH = ".meshgen/traffic.schema.json"
CLUSTER_DOMAIN = "svc.cluster.local"
HTTP = "http"
TCP = "tcp"
GLOBAL = "global"
CLUSTER_LOCAL = "cluster-local"

# Label keys of failover priorities whose values mesh.yaml knows.
CLUSTER_LABEL = "topology.istio.io/cluster"
NETWORK_LABEL = "topology.istio.io/network"
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
SUBZONE_LABEL = "topology.istio.io/subzone"


def schema_comment(path: str) -> str:
    """The editor hint for a traffic file at ``path`` (relative to the repository root)."""
    up = "../" * path.count("/")
    return f"# yaml-language-server: $schema={up}{SCHEMA_PATH}"


@dataclass(frozen=True, order=True)
class Service:
    """A Kubernetes Service, the unit a policy is about."""

    namespace: str
    name: str

    @property
    def host(self) -> str:
        """The fully qualified host Istio objects name (never the short name: it would be
        read in the namespace of the object, not of the service)."""
        return f"{self.name}.{self.namespace}.{CLUSTER_DOMAIN}"

    def __str__(self) -> str:
        return f"{self.name}.{self.namespace}"

    @classmethod
    def parse(cls, text: str) -> Service:
        """``name.namespace`` (or ``name``, in ``default``) as written on the command line."""
        name, _, namespace = text.partition(".")
        return cls(namespace=namespace or "default", name=name)


@dataclass(frozen=True)
class Destination:
    """One entry of ``split``: a share of the traffic for endpoints of one cluster (and labels)."""

    cluster: str
    labels: tuple[tuple[str, str], ...]  # sorted by key
    weight: int
    subset: str  # the DestinationRule subset (given, or derived from cluster and label values)
    explicit_subset: bool = False

    @property
    def label(self) -> str:
        """How reviews read it: ``cluster2/v3`` (cluster, then the label values)."""
        values = ",".join(value for _key, value in self.labels)
        return f"{self.cluster}/{values}" if values else self.cluster

    @property
    def selector(self) -> dict[str, str]:
        """The subset's labels: the cluster's (set by istiod on every endpoint), then the user's."""
        return {CLUSTER_LABEL: self.cluster, **dict(self.labels)}


def derived_subset(cluster: str, labels: tuple[tuple[str, str], ...]) -> str:
    """``cluster2-v3``: the cluster and the label values, lower case, as one DNS label."""
    parts = [cluster, *(value for _key, value in labels if value)]
    name = "-".join(parts).lower().replace("_", "-").replace(".", "-")
    return name[:63].strip("-")


@dataclass(frozen=True)
class Failover:
    priority: tuple[str, ...] = ()  # failoverPriority: label keys, or key=value
    regions: tuple[tuple[str, str], ...] = ()  # failover: (from region, to region)


@dataclass(frozen=True)
class Distribution:
    """One ``distribute`` entry: clients in ``origin`` send these shares to these localities."""

    origin: str  # region, region/zone, or *
    to: tuple[tuple[str, int], ...]  # (locality, weight), in file order


@dataclass(frozen=True)
class Retries:
    attempts: int | None = None
    per_try_timeout: str | None = None
    retry_on: str | None = None
    retry_remote_localities: bool | None = None


@dataclass(frozen=True)
class TrafficPolicy:
    """One TrafficPolicy document, schema-valid and with its defaults filled in."""

    source: str  # the file, relative to the repository root
    line: int  # where the document starts
    service: Service
    clients: tuple[str, ...] | None  # None: every cluster that runs workloads
    protocol: str = HTTP
    split: tuple[Destination, ...] = ()
    failover: Failover | None = None
    distribute: tuple[Distribution, ...] = ()
    outlier_detection: tuple[tuple[str, Any], ...] = ()  # as written, in file order
    retries: Retries | None = None
    timeout: str | None = None
    scope: str = GLOBAL
    tree: Any = field(default=None, compare=False, repr=False, hash=False)

    def clients_in(self, mesh: Mesh) -> tuple[str, ...]:
        """The client clusters: as listed, else every cluster of ``mesh`` running workloads."""
        if self.clients is not None:
            return self.clients
        return tuple(c.name for c in mesh.clusters if c.role != EXTERNAL_CONTROL_PLANE)

    @property
    def locality_settings(self) -> tuple[Any, ...]:
        """What a DestinationRule's ``trafficPolicy`` gets from this policy, and the scope: the
        settings that hold for every client of one istiod (compared between policies)."""
        return (self.failover, self.distribute, self.outlier_detection, self.scope)

    @property
    def sets_locality(self) -> bool:
        return bool(self.failover or self.distribute or self.outlier_detection) or (
            self.scope == CLUSTER_LOCAL
        )

    @property
    def routes_traffic(self) -> bool:
        """Whether the policy needs a VirtualService route (a split, retries or a timeout)."""
        return bool(self.split or self.retries or self.timeout)

    def line_of(self, path: list[Any]) -> int:
        """Line of a field of this document (``path`` from the document's root)."""
        from meshgen.spec.locations import line_of

        return line_of(self.tree, path) if self.tree is not None else self.line

    def named_clusters(self) -> dict[str, list[str]]:
        """Clusters the file names, each with the fields that name it (for remove-cluster)."""
        named: dict[str, list[str]] = {}
        for index, client in enumerate(self.clients or ()):
            named.setdefault(client, []).append(f"spec.clients[{index}]")
        for index, destination in enumerate(self.split):
            named.setdefault(destination.cluster, []).append(f"spec.split[{index}].cluster")
        for index, entry in enumerate(self.failover.priority if self.failover else ()):
            key, _, value = entry.partition("=")
            if key == CLUSTER_LABEL and value:
                named.setdefault(value, []).append(f"spec.failover.priority[{index}]")
        return named


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a traffic file: where, and what (with how to fix it)."""

    source: str
    line: int | None
    field: str
    message: str

    def error(self) -> SpecError:
        return SpecError(self.source, self.line, self.field, self.message)


@dataclass(frozen=True)
class TrafficPolicies:
    """Every TrafficPolicy of a repository, sorted by service, then file and line."""

    policies: tuple[TrafficPolicy, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.policies)

    def __iter__(self) -> Any:
        return iter(self.policies)

    def __len__(self) -> int:
        return len(self.policies)

    @functools.cached_property
    def _by_service(self) -> dict[Service, tuple[TrafficPolicy, ...]]:
        grouped: dict[Service, list[TrafficPolicy]] = {}
        for policy in self.policies:
            grouped.setdefault(policy.service, []).append(policy)
        return {service: tuple(group) for service, group in sorted(grouped.items())}

    def services(self) -> list[Service]:
        """Every service with a policy, sorted by namespace and name."""
        return list(self._by_service)

    def for_service(self, service: Service) -> tuple[TrafficPolicy, ...]:
        return self._by_service.get(service, ())

    def policy_for(self, mesh: Mesh, service: Service, client: str) -> TrafficPolicy | None:
        """The policy that governs ``client``'s traffic to ``service`` (the checks make sure
        there is at most one)."""
        for policy in self.for_service(service):
            if client in policy.clients_in(mesh):
                return policy
        return None

    def exported_services(self) -> list[Service]:
        """Services served across clusters: those no policy keeps cluster-local. Ambient
        meshes label them ``istio.io/global``; sidecar meshes serve them everywhere."""
        return [
            service
            for service, group in self._by_service.items()
            if all(policy.scope == GLOBAL for policy in group)
        ]

    def destinations(self, service: Service) -> list[str]:
        """Clusters that ``service``'s split sends traffic to, sorted."""
        return sorted({d.cluster for p in self.for_service(service) for d in p.split})

    def naming(self, clusters: set[str]) -> dict[str, list[str]]:
        """Files that name any of ``clusters`` (clients, split, failover), each with the
        fields, sorted by file."""
        found: dict[str, list[str]] = {}
        for policy in self.policies:
            for cluster, fields in policy.named_clusters().items():
                if cluster in clusters:
                    found.setdefault(policy.source, []).extend(fields)
        return dict(sorted(found.items()))

    def without_clusters(self, clusters: set[str]) -> TrafficPolicies:
        """The policies that name none of ``clusters``."""
        return TrafficPolicies(
            tuple(p for p in self.policies if not set(p.named_clusters()) & clusters)
        )


NO_POLICIES = TrafficPolicies()
