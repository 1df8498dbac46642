"""Where traffic configuration must live, from the mesh's topology (pure).

Istio reads a client's DestinationRules and VirtualServices from the API server of the cluster
its istiod is configured from: its own cluster for a primary, the primary for a remote of a
primary, and the config cluster itself for the config cluster of an external control plane.
A remote of a primary never holds any. One istiod serves every cluster configured from the
same place, so a DestinationRule's ``trafficPolicy`` reaches all of them, while VirtualService
routes can be limited to some clients with ``sourceLabels`` on ``topology.istio.io/cluster``
(istiod sets it on every proxy).

Cross-network traffic to a subset enters the destination network through an east-west gateway
in ``AUTO_PASSTHROUGH`` mode, which routes by the SNI ``outbound_.<port>_.<subset>_.<host>``:
the gateway has a route for a subset only when its own istiod knows the DestinationRule. So
the subsets are also placed in the configuration of every east-west gateway of the networks
that split traffic crosses into.
"""

from __future__ import annotations

from dataclasses import dataclass

from meshgen.spec import EXTERNAL_CONTROL_PLANE, PRIMARY, REMOTE, Cluster, Mesh
from meshgen.spec import unreachable_networks as gatewayless_networks
from meshgen.traffic.model import Destination, Service, TrafficPolicies, TrafficPolicy


def config_cluster(mesh: Mesh, cluster: Cluster) -> Cluster:
    """The cluster whose API server holds the Istio configuration ``cluster``'s proxies get."""
    control = mesh.control_plane_of(cluster)
    if cluster.role == REMOTE and control is not None and control.role == PRIMARY:
        return control
    return cluster


def served_by(mesh: Mesh, config: Cluster) -> tuple[str, ...]:
    """The workload clusters configured from ``config`` (its istiod's clients), sorted."""
    if config.role == PRIMARY:
        return tuple(sorted([config.name, *(r.name for r in mesh.remotes_of(config.name))]))
    return (config.name,)


def runs_workloads(cluster: Cluster) -> bool:
    return cluster.role != EXTERNAL_CONTROL_PLANE


class Topology:
    """What the traffic rules ask of a mesh's topology, computed once per mesh (checks and
    placement ask it for every client and destination)."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.gatewayless = set(gatewayless_networks(mesh))
        self.primaries = {c.name for c in mesh.primaries}
        self._gateways: dict[str, list[Cluster]] = {}
        for cluster in sorted(mesh.clusters, key=lambda c: c.name):
            if cluster.east_west_gateway.enabled:
                self._gateways.setdefault(cluster.network, []).append(cluster)
        self._watched: dict[str, set[str]] = {}

    def gateways_on(self, network: str) -> list[Cluster]:
        """Clusters running an east-west gateway on ``network``, sorted by name."""
        return self._gateways.get(network, [])

    def watched_by(self, config: Cluster) -> set[str]:
        """Clusters whose endpoints the istiod configured from ``config`` discovers: a primary
        watches itself, the other primaries and its own remotes (the remote secrets it
        holds); an external control plane only its config cluster."""
        if config.name not in self._watched:
            if config.role != PRIMARY:
                self._watched[config.name] = {config.name}
            else:
                remotes = {r.name for r in self.mesh.remotes_of(config.name)}
                self._watched[config.name] = self.primaries | remotes
        return self._watched[config.name]

    def unreachable(self, client: Cluster, target: Cluster) -> str | None:
        """Why ``client``'s proxies cannot reach endpoints in ``target`` (None: they can).

        Same network: pods route directly. Another network: through the east-west gateways,
        so both networks need one (the rule ``new-cluster`` applies to networks). Then the
        client's istiod must discover the target's endpoints at all (a remote secret for it).
        """
        if client.network != target.network:
            for network in (target.network, client.network):
                if network in self.gatewayless:
                    return (
                        f"network {network} has no east-west gateway, so traffic between "
                        f"{client.network} and {target.network} has no way through"
                    )
        config = config_cluster(self.mesh, client)
        if target.name not in self.watched_by(config):
            return (
                f"the istiod that configures {client.name} (from {config.name}) does not "
                f"watch {target.name}, so it knows none of its endpoints"
            )
        return None


@dataclass(frozen=True)
class Route:
    """One policy's routes for some of the clients a config cluster serves."""

    policy: TrafficPolicy
    clients: tuple[str, ...]


@dataclass(frozen=True)
class ServiceConfig:
    """What one config cluster holds for one service.

    ``routes`` is empty when only a gateway needs the subsets there. ``whole`` is True when one
    policy covers every client the istiod serves, so its routes need no ``sourceLabels``.
    ``locality`` is the policy whose failover, distribute and outlier detection the
    DestinationRule carries (the checks make them the same for every client served here).
    """

    cluster: str
    service: Service
    routes: tuple[Route, ...]
    whole: bool
    locality: TrafficPolicy | None
    subsets: tuple[Destination, ...]
    gateways: tuple[str, ...]  # east-west gateways configured from here that need the subsets
    sources: tuple[str, ...]  # the files this configuration comes from


def _known(mesh: Mesh, name: str) -> Cluster | None:
    try:
        return mesh.cluster(name)
    except KeyError:
        return None


def service_configs(
    mesh: Mesh, policies: TrafficPolicies, service: Service, topology: Topology | None = None
) -> dict[str, ServiceConfig]:
    """Per config cluster (sorted by name), what it holds for ``service``. Names the mesh does
    not know are skipped here (the checks report them)."""
    topology = topology or Topology(mesh)
    governed: dict[str, dict[str, TrafficPolicy]] = {}
    gateway_subsets: dict[str, dict[str, Destination]] = {}
    gateway_names: dict[str, set[str]] = {}
    sources: dict[str, set[str]] = {}
    for policy in policies.for_service(service):
        crossings: set[tuple[str, str]] = set()  # (client network, subset) already placed
        for name in policy.clients_in(mesh):
            client = _known(mesh, name)
            if client is None or not runs_workloads(client):
                continue
            config = config_cluster(mesh, client)
            governed.setdefault(config.name, {}).setdefault(client.name, policy)
            sources.setdefault(config.name, set()).add(policy.source)
            for destination in policy.split:
                target = _known(mesh, destination.cluster)
                if target is None or target.network == client.network:
                    continue
                if (client.network, destination.subset) in crossings:
                    continue
                crossings.add((client.network, destination.subset))
                for gateway in topology.gateways_on(target.network):
                    holder = config_cluster(mesh, gateway).name
                    gateway_subsets.setdefault(holder, {}).setdefault(
                        destination.subset, destination
                    )
                    gateway_names.setdefault(holder, set()).add(gateway.name)
                    sources.setdefault(holder, set()).add(policy.source)
    found = {}
    for name in sorted(governed.keys() | gateway_subsets.keys()):
        clients = governed.get(name, {})
        by_policy: dict[int, list[str]] = {}
        order: list[TrafficPolicy] = []
        for client_name, governing in sorted(clients.items()):
            if id(governing) not in by_policy:
                by_policy[id(governing)] = []
                order.append(governing)
            by_policy[id(governing)].append(client_name)
        order.sort(key=lambda p: (p.source, p.line))
        routes = tuple(Route(p, tuple(by_policy[id(p)])) for p in order)
        served = set(served_by(mesh, mesh.cluster(name)))
        whole = len(routes) == 1 and set(routes[0].clients) == served
        subsets: dict[str, Destination] = {}
        for route in routes:
            for destination in route.policy.split:
                subsets.setdefault(destination.subset, destination)
        for subset, destination in gateway_subsets.get(name, {}).items():
            subsets.setdefault(subset, destination)
        found[name] = ServiceConfig(
            cluster=name,
            service=service,
            routes=routes,
            whole=whole,
            locality=next((r.policy for r in routes if r.policy.sets_locality), None),
            subsets=tuple(subsets[s] for s in sorted(subsets)),
            gateways=tuple(sorted(gateway_names.get(name, ()))),
            sources=tuple(sorted(sources[name])),
        )
    return found


def placements(mesh: Mesh, policies: TrafficPolicies) -> dict[str, list[ServiceConfig]]:
    """Every config cluster's service configurations, by cluster name (sorted), each list
    sorted by service."""
    by_cluster: dict[str, list[ServiceConfig]] = {}
    topology = Topology(mesh)
    for service in policies.services():
        for name, config in service_configs(mesh, policies, service, topology).items():
            by_cluster.setdefault(name, []).append(config)
    return dict(sorted(by_cluster.items()))


def service_settings_holders(mesh: Mesh, client: Cluster) -> list[str]:
    """Clusters whose istiod values carry the ``meshConfig`` that ``client``'s istiod reads:
    its config cluster, and for the config cluster of an external control plane the external
    istiod too (it shares that cluster's mesh config)."""
    config = config_cluster(mesh, client)
    holders = [config.name]
    control = mesh.control_plane_of(config)
    if control is not None and control.role == EXTERNAL_CONTROL_PLANE:
        holders.append(control.name)
    return holders
