"""Edits of ``mesh.yaml`` that commands make: add or remove a cluster, record trust material,
set each cluster's Istio state during an upgrade.

Edits work on ruamel.yaml's round-trip tree, in place, so comments and key order survive; each
one is undone when the result is invalid, leaving the document exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshgen.errors import MeshgenError, SpecError
from meshgen.spec import textedits
from meshgen.spec.locations import line_of
from meshgen.spec.model import (
    EXTERNAL_CONTROL_PLANE,
    EXTERNAL_ISTIOD_NAMESPACE,
    PRIMARY,
    REMOTE,
    Cluster,
    IstioState,
    Mesh,
    MeshDocument,
)
from meshgen.spec.textedits import Quoted, quoted_if_needed
from meshgen.spec.yamlio import from_tree, with_version_line


def _last_scalar_slot(node: Any) -> tuple[Any, Any, int] | None:
    """(container, key, comment slot) of the deepest last scalar under ``node``."""
    while isinstance(node, (dict, list)) and node:
        key = list(node)[-1] if isinstance(node, dict) else len(node) - 1
        child = node[key]
        if isinstance(child, (dict, list)) and child:
            node = child
            continue
        return node, key, 2 if isinstance(node, dict) else 0
    return None


def _pop_trailing_comment(node: Any) -> Any:
    """Detach the full-line comments that follow the deepest last scalar of ``node``.

    ruamel attaches comment lines that precede the *next* key to the last scalar of the
    previous block, so a naive ``append`` would land after them. The end-of-line part of the
    token stays where it is; only the following full-line comments are returned.
    """
    from ruamel.yaml.tokens import CommentToken

    slot = _last_scalar_slot(node)
    if slot is None:
        return None
    container, key, position = slot
    slots = container.ca.items.get(key)
    token = slots[position] if slots and len(slots) > position else None
    if token is None or "\n" not in token.value:
        return None
    end_of_line, _, following = token.value.partition("\n")
    if not following.strip():
        return None
    token.value = end_of_line + "\n"
    return CommentToken("\n" + following, token.start_mark, None)


def _append_before_trailing_comments(sequence: Any, item: Any) -> Callable[[], None]:
    """Append ``item`` to a block sequence, keeping trailing comments after the new last item.

    Returns a function that undoes the append, comments included.
    """
    previous = _last_scalar_slot(sequence)
    token = _pop_trailing_comment(sequence)
    sequence.append(item)
    slot = _last_scalar_slot(item)
    if token is not None and slot is not None:
        container, key, position = slot
        container.ca.items.setdefault(key, [None, None, None, None])[position] = token

    def undo() -> None:
        sequence.pop()
        if token is not None and previous is not None:
            container, key, position = previous
            kept = container.ca.items[key][position]
            kept.value = kept.value + token.value[1:]

    return undo


@dataclass(frozen=True)
class NewCluster:
    """What ``meshgen new-cluster`` asks for (``east_west_gateway=None``: decide by networks)."""

    name: str
    network: str
    east_west_gateway: bool | None = None
    api_server: str | None = None
    pod_cidrs: tuple[str, ...] = ()
    service_cidrs: tuple[str, ...] = ()
    region: str | None = None
    zone: str | None = None
    role: str = PRIMARY
    control_plane: str | None = None
    discovery_address: str | None = None  # recorded on the control plane, not on this cluster
    revision: str | None = None


def _quoted(value: str) -> Any:
    """Quote strings that a YAML 1.1 reader would not read back as the same string."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from meshgen.render.yamltext import needs_quotes

    return DoubleQuotedScalarString(value) if needs_quotes(value) else value


def _set_discovery_address(document: MeshDocument, request: NewCluster) -> Callable[[], None]:
    """Record ``request.discovery_address`` on the new cluster's control plane; return an undo."""
    from ruamel.yaml.comments import CommentedMap

    address = request.discovery_address
    if request.role != REMOTE or not request.control_plane or not address:
        raise MeshgenError(
            "--discovery-address is the address of a remote's control plane; "
            "use it with --role remote --control-plane PRIMARY"
        )
    names = [c.name for c in document.mesh.clusters]
    if request.control_plane not in names:
        raise MeshgenError(
            f"{document.source}: control plane {request.control_plane!r} is not a cluster of "
            "the mesh; add it first (meshgen new-cluster) or fix the name"
        )
    index = names.index(request.control_plane)
    entry = document.tree["clusters"][index]
    current = document.mesh.clusters[index].discovery
    if current is not None:
        if current.address != request.discovery_address:
            raise SpecError(
                document.source,
                line_of(document.tree, ["clusters", index, "discovery", "address"]),
                f"clusters[{index}].discovery.address",
                f"{request.control_plane} already has discovery address {current.address}, "
                f"not {request.discovery_address}; edit mesh.yaml to change it",
            )
        return lambda: None
    discovery = CommentedMap()
    discovery["address"] = _quoted(address)
    entry["discovery"] = discovery

    def undo() -> None:
        del entry["discovery"]

    return undo


def gateways_to_open(mesh: Mesh) -> list[str]:
    """The clusters that get an east-west gateway when a one-network mesh gains a second
    network: every primary of a network that has no gateway yet.

    Until then no cluster needs a gateway, so the first clusters were added without one; left
    so, the first network would be unreachable from the second. One gateway per network is
    enough for reachability (it forwards to every cluster of its flat network), but each
    primary gets its own, as clusters added later on a network of a multi-network mesh do: a
    network then stays reachable while one of its clusters is down. Remotes rely on their
    primary's gateway, and the clusters of an external control plane run none.
    """
    reachable: dict[str, bool] = {}
    for cluster in mesh.clusters:
        if cluster.role != EXTERNAL_CONTROL_PLANE:
            enabled = cluster.east_west_gateway.enabled
            reachable[cluster.network] = reachable.get(cluster.network, False) or enabled
    return [
        c.name for c in mesh.clusters if c.role == PRIMARY and not reachable.get(c.network, True)
    ]


def _set_gateway(entry: Any, enabled: bool) -> Callable[[], None]:
    """Set ``eastWestGateway.enabled`` of a cluster entry; return a function that undoes it."""
    from ruamel.yaml.comments import CommentedMap

    gateway = entry.get("eastWestGateway")
    if gateway is None:
        return _insert_after(
            entry, ("role", "network"), "eastWestGateway", CommentedMap([("enabled", enabled)])
        )
    had, previous = "enabled" in gateway, gateway.get("enabled")
    if had:
        gateway["enabled"] = enabled
    else:
        gateway.insert(0, "enabled", enabled)

    def undo() -> None:
        if had:
            gateway["enabled"] = previous
        else:
            del gateway["enabled"]

    return undo


def _insert_after(entry: Any, anchors: tuple[str, ...], key: str, value: Any) -> Callable[[], None]:
    """Insert ``key`` after the first of ``anchors`` the mapping has (at its end when none);
    return a function that removes it again."""
    keys = list(entry)
    anchor = next((keys.index(a) for a in anchors if a in entry), len(keys) - 1)
    if anchor + 1 >= len(keys):
        return _set_at_end(entry, key, value)
    entry.insert(anchor + 1, key, value)

    def undo() -> None:
        del entry[key]

    return undo


def _open_networks(document: MeshDocument, names: list[str]) -> list[Callable[[], None]]:
    """Turn the east-west gateway on for the named clusters; return the undo steps."""
    entries = {entry.get("name"): entry for entry in document.tree.get("clusters") or []}
    return [_set_gateway(entries[name], True) for name in names]


def _gateways_opened(mesh: Mesh, request: NewCluster) -> list[str]:
    """The clusters whose east-west gateway the new cluster turns on (see
    :func:`gateways_to_open`): when it brings a second network to a mesh of one."""
    in_use_before = {c.network for c in mesh.clusters if c.role != EXTERNAL_CONTROL_PLANE}
    if (
        request.east_west_gateway is not False
        and request.role != EXTERNAL_CONTROL_PLANE
        and len(in_use_before) == 1
        and len(in_use_before | {request.network}) == 2
    ):
        return gateways_to_open(mesh)
    return []


def _gateway_enabled(mesh: Mesh, request: NewCluster) -> bool:
    """The new cluster's ``eastWestGateway.enabled``: as asked, else on when the mesh has (or
    gets) more than one network, unless it is, or belongs to, an external control plane."""
    if request.east_west_gateway is not None:
        return request.east_west_gateway
    in_use = {c.network for c in mesh.clusters if c.role != EXTERNAL_CONTROL_PLANE}
    external = {c.name for c in mesh.clusters if c.role == EXTERNAL_CONTROL_PLANE}
    return (
        len(in_use | {request.network}) > 1
        and request.role != EXTERNAL_CONTROL_PLANE
        and request.control_plane not in external
    )


def _new_entry(request: NewCluster, enabled: bool, control: Cluster | None) -> dict[str, Any]:
    """The new cluster's entry, keys in the order written, strings that need quotes marked."""
    cluster: dict[str, Any] = {
        "name": quoted_if_needed(request.name),
        "network": quoted_if_needed(request.network),
        "role": request.role,
    }
    if request.control_plane:
        cluster["controlPlane"] = quoted_if_needed(request.control_plane)
    if request.revision:
        cluster["revision"] = quoted_if_needed(request.revision)
    cluster["eastWestGateway"] = {"enabled": enabled}
    if request.api_server:
        cluster["apiServer"] = quoted_if_needed(request.api_server)
    if request.pod_cidrs:
        cluster["podCIDRs"] = [quoted_if_needed(c) for c in request.pod_cidrs]
    if request.service_cidrs:
        cluster["serviceCIDRs"] = [quoted_if_needed(c) for c in request.service_cidrs]
    if request.region:
        cluster["region"] = quoted_if_needed(request.region)
    if request.zone:
        cluster["zone"] = quoted_if_needed(request.zone)
    if request.role == REMOTE and control is not None and control.istio:
        # A remote uses its control plane's revisions (and versions): it joins as it runs.
        cluster["istio"] = _state_entry(control.istio)
    return cluster


def _tree_value(value: Any) -> Any:
    """An entry of :func:`_new_entry` as round-trip nodes."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, Quoted):
        return DoubleQuotedScalarString(value.value)
    if isinstance(value, dict):
        return CommentedMap((_tree_value(k), _tree_value(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_tree_value(item) for item in value)
    return value


def _add_in_text(document: MeshDocument, request: NewCluster) -> tuple[MeshDocument, bool] | None:
    """:func:`add_cluster` made in the text (see :mod:`~meshgen.spec.textedits`), when it is
    only appends: no discovery address to record, no gateway of another cluster to open.
    None: the round-trip tree makes the edit (and words any error)."""
    mesh = document.mesh
    if document.text is None or request.discovery_address or _gateways_opened(mesh, request):
        return None
    enabled = _gateway_enabled(mesh, request)
    control = next((c for c in mesh.clusters if c.name == request.control_plane), None)
    additions: dict[str, dict[str, Any]] = {}
    if request.network not in mesh.networks:
        additions["networks"] = {"name": quoted_if_needed(request.network)}
    additions["clusters"] = _new_entry(request, enabled, control)
    edited = textedits.append_items(document, additions)
    return None if edited is None else (edited, enabled)


def add_cluster(document: MeshDocument, request: NewCluster) -> tuple[MeshDocument, bool]:
    """The document with the cluster appended (and its network declared when new).

    Returns the new document and whether the east-west gateway was turned on. The default is
    on when the mesh has, or gets, more than one network; it is always written explicitly, so
    a cluster's gateway never flips later when another network joins.

    When the cluster brings a second network to a mesh of one, the primaries of the first
    network get a gateway in the same change (see :func:`gateways_to_open`), unless
    ``request.east_west_gateway`` is False: then no gateway is added anywhere, and both
    networks reach only themselves.

    The round-trip tree is edited in place (copying it costs more than parsing the file again)
    and shared with the returned document; when the result is invalid, the edit is undone and
    ``document`` is exactly as before.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if any(c.name == request.name for c in document.mesh.clusters):
        raise MeshgenError(
            f"{document.source}: cluster {request.name!r} is already in the mesh; "
            "pick another name or edit its entry in mesh.yaml"
        )
    edited = _add_in_text(document, request)
    if edited is not None:
        return edited
    tree = document.tree
    undo: list[Callable[[], None]] = []
    if request.discovery_address:
        undo.append(_set_discovery_address(document, request))
    networks = tree.setdefault("networks", CommentedSeq())
    if request.network not in {n["name"] for n in networks}:
        entry = CommentedMap()
        entry["name"] = _quoted(request.network)
        undo.append(_append_before_trailing_comments(networks, entry))
    undo += _open_networks(document, _gateways_opened(document.mesh, request))
    enabled = _gateway_enabled(document.mesh, request)
    control = next((c for c in document.mesh.clusters if c.name == request.control_plane), None)
    cluster = _tree_value(_new_entry(request, enabled, control))
    clusters = tree.setdefault("clusters", CommentedSeq())
    undo.append(_append_before_trailing_comments(clusters, cluster))
    try:
        return from_tree(tree, document.source), enabled
    except MeshgenError:
        for step in reversed(undo):
            step()
        raise


def _set_at_end(mapping: Any, key: str, value: Any) -> Callable[[], None]:
    """Set ``mapping[key]``; a new key goes last, before comments that belong to what follows.

    Returns a function that removes a new key again, comments included (for a key that was
    there, the caller keeps what it needs)."""
    if key in mapping:
        mapping[key] = value
        return lambda: None
    previous = _last_scalar_slot(mapping)
    token = _pop_trailing_comment(mapping)
    mapping[key] = value
    slot = _last_scalar_slot(mapping)
    if token is not None and slot is not None:
        container, last, position = slot
        container.ca.items.setdefault(last, [None, None, None, None])[position] = token

    def undo() -> None:
        del mapping[key]
        if token is not None and previous is not None:  # the comments after go back
            container, last, position = previous
            kept = container.ca.items[last][position]
            kept.value = kept.value + token.value[1:]

    return undo


def record_trust(
    document: MeshDocument, cluster: str, section: str, values: dict[str, str]
) -> MeshDocument:
    """``document`` with ``clusters[cluster].trust.<section>`` updated by ``values``.

    ``section`` is ``ca``, ``remoteSecret`` or ``sealed``. The tree is edited in place and
    shared with the result (comments and key order survive); on an invalid result the caller
    must drop ``document``.
    """
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    entries = [c for c in document.tree.get("clusters") or [] if c.get("name") == cluster]
    if not entries:
        raise MeshgenError(
            f"{document.source}: cluster {cluster!r} is not in the mesh; "
            "add it with `meshgen new-cluster` first, or check the name"
        )
    entry = entries[0]
    quoted = CommentedMap((k, DoubleQuotedScalarString(v)) for k, v in values.items())
    # New mappings are inserted whole: comments that follow then move below their last value.
    if "trust" not in entry:
        _set_at_end(entry, "trust", CommentedMap([(section, quoted)]))
    elif section not in entry["trust"]:
        _set_at_end(entry["trust"], section, quoted)
    else:
        for key, value in quoted.items():
            _set_at_end(entry["trust"][section], key, value)
    return from_tree(document.tree, document.source)


def _trailing_token(node: Any) -> Any:
    """The comment token after the deepest last scalar of ``node`` (None: none, or flow style)."""
    slot = _last_scalar_slot(node)
    if slot is None:
        return None
    container, key, position = slot
    if container.fa.flow_style():
        return None
    slots = container.ca.items.get(key)
    return slots[position] if slots and len(slots) > position else None


def _remove_from_sequence(sequence: Any, index: int) -> Callable[[], None]:
    """Delete item ``index`` of a block sequence with the comment lines that introduce it; the
    comment lines that introduce the next item stay. Returns a function that undoes it."""
    item = sequence[index]
    previous = sequence[index - 1] if index > 0 else None
    before = _trailing_token(previous) if previous is not None else None
    after = _trailing_token(item)
    saved = [(token, token.value) for token in (before, after) if token is not None]
    own_slot = sequence.ca.items.get(index)
    following = None
    if after is not None and "\n" in after.value:
        following = after.value.partition("\n")[2]
    if before is not None and "\n" in before.value:
        before.value = before.value.partition("\n")[0] + "\n"
    del sequence[index]
    if following and following.strip() and before is not None:
        before.value += following

    def undo() -> None:
        sequence.insert(index, item)
        if own_slot is not None:
            sequence.ca.items[index] = own_slot
        for token, value in saved:
            token.value = value

    return undo


@dataclass(frozen=True)
class Removal:
    """What :func:`remove_cluster` took out of the mesh."""

    clusters: tuple[Cluster, ...]  # the cluster asked for first, then its remotes (--force)
    networks: tuple[str, ...]  # networks left without clusters, no longer declared


def _pop_key(mapping: Any, key: str) -> Callable[[], None]:
    """Remove ``key`` from a round-trip mapping; return a function that puts it back."""
    position, value = list(mapping).index(key), mapping.pop(key)

    def undo() -> None:
        mapping.insert(position, key, value)

    return undo


def _forget_sealed(entry: Any, secrets: set[str]) -> list[Callable[[], None]]:
    """Drop ``trust.sealed`` records of ``secrets`` from a cluster entry (and ``sealed``, then
    ``trust``, when left empty). Returns the undo steps."""
    trust: Any = entry.get("trust")
    sealed: Any = trust.get("sealed") if isinstance(trust, dict) else None
    if not isinstance(sealed, dict):
        return []
    undo = [_pop_key(sealed, key) for key in [k for k in sealed if k in secrets]]
    if not sealed:
        undo.append(_pop_key(trust, "sealed"))
    if not trust:
        undo.append(_pop_key(entry, "trust"))
    return undo


def _forgets_sealed(document: MeshDocument, gone: set[str], secrets: set[str]) -> bool:
    """Whether :func:`_forget_sealed` would change a remaining cluster's entry (a record of a
    removed cluster's secret, or an empty ``sealed`` or ``trust`` that it drops)."""
    for entry in document.data.get("clusters") or []:
        trust = entry.get("trust") if entry.get("name") not in gone else None
        if isinstance(trust, dict):
            sealed = trust.get("sealed")
            if not trust or (isinstance(sealed, dict) and (not sealed or secrets & set(sealed))):
                return True
    return False


def remove_cluster(
    document: MeshDocument, name: str, force: bool = False
) -> tuple[MeshDocument, Removal]:
    """The document without cluster ``name`` (and, with ``force``, without its remotes).

    A cluster that is the control plane of others is refused unless ``force``: its remotes run
    no istiod of their own and cannot stay without it, so ``force`` removes them too. A network
    left with no cluster is removed from ``networks`` (``new-cluster`` declares it again when a
    cluster joins it). Comment lines that introduce a removed entry go with it; those that
    introduce the next entry stay, except after the first entry of a list, where ruamel keeps
    no place for them.
    Like :func:`add_cluster`, the tree is edited in place and restored when the result is
    invalid.
    """
    mesh = document.mesh
    names = [c.name for c in mesh.clusters]
    if name not in names:
        raise MeshgenError(
            f"{document.source}: cluster {name!r} is not in the mesh "
            f"({mesh.clusters_hint(name)}); check the name"
        )
    cluster = mesh.cluster(name)
    remotes = mesh.remotes_of(name)
    if remotes and not force:
        index = names.index(name)
        raise SpecError(
            document.source,
            line_of(document.tree, ["clusters", index, "name"]),
            f"clusters[{index}]",
            f"{name} is the control plane of {', '.join(r.name for r in remotes)}, which run no "
            f"istiod of their own; remove them first (meshgen remove-cluster NAME) or pass "
            "--force to remove them together",
        )
    removed = (cluster, *remotes)
    gone = {c.name for c in removed}
    remaining = {c.network for c in mesh.clusters if c.name not in gone}
    emptied = tuple(sorted({c.network for c in removed} - remaining))
    removal = Removal(clusters=removed, networks=emptied)
    declared = list(mesh.networks)
    indexes = {
        "clusters": sorted(names.index(c.name) for c in removed),
        "networks": sorted(declared.index(n) for n in emptied if n in declared),
    }
    secrets = {f"istio-remote-secret-{c}" for c in gone}
    if document.text is not None and not _forgets_sealed(document, gone, secrets):
        edited = textedits.remove_items(document, indexes)
        if edited is not None:
            return edited, removal
    tree = document.tree
    undo: list[Callable[[], None]] = []
    for index in sorted((names.index(c.name) for c in removed), reverse=True):
        undo.append(_remove_from_sequence(tree["clusters"], index))
    declared = [n["name"] for n in tree.get("networks", [])]
    for index in sorted((declared.index(n) for n in emptied if n in declared), reverse=True):
        undo.append(_remove_from_sequence(tree["networks"], index))
    for entry in tree["clusters"]:
        undo += _forget_sealed(entry, {f"istio-remote-secret-{c}" for c in gone})
    try:
        return from_tree(tree, document.source), Removal(clusters=removed, networks=emptied)
    except MeshgenError:
        for step in reversed(undo):
            step()
        raise


def _state_entry(state: IstioState) -> dict[str, Any]:
    """``clusters[].istio`` as written: versions quoted, as ``init`` writes istio.version."""
    node: dict[str, Any] = {}
    if state.version:
        node["version"] = Quoted(state.version)
    if state.revisions:
        node["revisions"] = {
            quoted_if_needed(name): Quoted(version) for name, version in state.revisions
        }
    if state.tags:
        node["tags"] = {quoted_if_needed(tag): quoted_if_needed(rev) for tag, rev in state.tags}
    return node


def _state_node(state: IstioState) -> Any:
    """:func:`_state_entry` as round-trip nodes."""
    return _tree_value(_state_entry(state))


def _replace_key(mapping: Any, key: str, value: Any) -> Callable[[], None]:
    """Set (``value`` not None) or remove ``mapping[key]``; return a function that undoes it."""
    if key in mapping:
        position, old = list(mapping).index(key), mapping[key]
        if value is None:
            del mapping[key]
        else:
            mapping[key] = value

        def restore() -> None:
            if key in mapping:
                mapping[key] = old
            else:
                mapping.insert(position, key, old)

        return restore
    if value is None:
        return lambda: None
    return _set_at_end(mapping, key, value)


@dataclass(frozen=True)
class IstioChange:
    """What ``meshgen upgrade`` writes: each named cluster's new Istio state (an empty state
    removes ``clusters[].istio``), clusters whose ``revision`` key goes (their revision was
    removed), and a new ``istio.version`` (None: unchanged)."""

    states: dict[str, IstioState]
    drop_revision: frozenset[str] = frozenset()
    mesh_version: str | None = None


def set_istio_states(document: MeshDocument, change: IstioChange) -> MeshDocument:
    """The document with ``change`` applied. Like :func:`add_cluster`, the tree is edited in
    place (comments and key order survive) and restored when the result is invalid."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    tree = document.tree
    entries = {str(c.get("name")): c for c in tree.get("clusters") or []}
    unknown = sorted(set(change.states) - entries.keys())
    if unknown:
        raise MeshgenError(
            f"{document.source}: cluster {unknown[0]!r} is not in the mesh; check the name"
        )
    undo: list[Callable[[], None]] = []
    for name, state in change.states.items():
        undo.append(_replace_key(entries[name], "istio", _state_node(state) if state else None))
    for name in sorted(change.drop_revision):
        undo.append(_replace_key(entries[name], "revision", None))
    if change.mesh_version is not None:
        if "istio" not in tree:
            undo.append(_replace_key(tree, "istio", CommentedMap()))
        version = DoubleQuotedScalarString(change.mesh_version)
        undo.append(_replace_key(tree["istio"], "version", version))
    try:
        return from_tree(tree, document.source)
    except MeshgenError:
        for step in reversed(undo):
            step()
        raise


# The keys of a cluster entry in the order ``new-cluster`` writes them; a key that
# ``set-cluster`` adds goes after the ones before it here.
CLUSTER_KEY_ORDER = (
    "name",
    "network",
    "role",
    "controlPlane",
    "revision",
    "eastWestGateway",
    "apiServer",
    "podCIDRs",
    "serviceCIDRs",
    "region",
    "zone",
)
# What ``set-cluster --unset`` can remove, by the name used on the command line.
UNSETTABLE = {
    "api-server": "apiServer",
    "pod-cidrs": "podCIDRs",
    "service-cidrs": "serviceCIDRs",
    "region": "region",
    "zone": "zone",
}


@dataclass(frozen=True)
class ClusterSettings:
    """What ``meshgen set-cluster`` changes on an existing cluster; None leaves a setting."""

    name: str
    east_west_gateway: bool | None = None
    api_server: str | None = None
    pod_cidrs: tuple[str, ...] | None = None
    service_cidrs: tuple[str, ...] | None = None
    region: str | None = None
    zone: str | None = None
    role: str | None = None
    unset: tuple[str, ...] = ()  # keys of UNSETTABLE

    def keys(self) -> list[str]:
        """The mesh.yaml keys of the cluster entry this change sets or removes."""
        given = {
            "eastWestGateway": self.east_west_gateway,
            "apiServer": self.api_server,
            "podCIDRs": self.pod_cidrs,
            "serviceCIDRs": self.service_cidrs,
            "region": self.region,
            "zone": self.zone,
            "role": self.role,
        }
        return [key for key, value in given.items() if value is not None] + [
            UNSETTABLE[name] for name in self.unset
        ]


def _put(entry: Any, key: str, value: Any) -> Callable[[], None]:
    """Set ``entry[key]``; a new key goes where ``new-cluster`` would have written it.
    Returns a function that undoes it."""
    if key in entry:
        previous = entry[key]
        entry[key] = value

        def restore() -> None:
            entry[key] = previous

        return restore
    before = CLUSTER_KEY_ORDER[: CLUSTER_KEY_ORDER.index(key)]
    return _insert_after(entry, tuple(reversed(before)), key, value)


def _refuse_role_change(cluster: Cluster, role: str, mesh: Mesh) -> None:
    """Role changes that cannot be made in place, each with the reason and the way out."""
    change = f"{cluster.name}: role {cluster.role} -> {role} is refused"
    if EXTERNAL_CONTROL_PLANE in (cluster.role, role) or (
        cluster.role == REMOTE
        and (control := mesh.control_plane_of(cluster)) is not None
        and control.role == EXTERNAL_CONTROL_PLANE
    ):
        raise MeshgenError(
            f"{change}: an external control plane and its config cluster install istiod in "
            f"{EXTERNAL_ISTIOD_NAMESPACE}, a different layout that cannot be switched in "
            "place; remove the cluster (meshgen remove-cluster) and add it again in its new role"
        )
    if role == REMOTE:
        raise MeshgenError(
            f"{change}: the change would delete {cluster.name}'s own istiod while its "
            "workloads' proxies are connected to it, and sidecar injection would fail until "
            "another control plane takes over; move the workloads first, then remove the "
            "cluster and add it again with `meshgen new-cluster --role remote`"
        )


def set_cluster(document: MeshDocument, settings: ClusterSettings) -> MeshDocument:
    """The document with cluster ``settings.name``'s settings changed as asked.

    Role changes: remote -> primary is made (the cluster starts its own istiod and stops
    using its control plane's); primary -> remote and every change to or from an external
    control plane are refused, with the reason (see :func:`_refuse_role_change`). Like
    :func:`add_cluster`, the tree is edited in place and restored when the result is invalid.
    """
    from ruamel.yaml.comments import CommentedSeq

    mesh = document.mesh
    names = [c.name for c in mesh.clusters]
    if settings.name not in names:
        raise MeshgenError(
            f"{document.source}: cluster {settings.name!r} is not in the mesh "
            f"({mesh.clusters_hint(settings.name)}); check the name, or add it with "
            "`meshgen new-cluster`"
        )
    cluster = mesh.cluster(settings.name)
    entry = document.tree["clusters"][names.index(settings.name)]
    undo: list[Callable[[], None]] = []
    if settings.role is not None and settings.role != cluster.role:
        _refuse_role_change(cluster, settings.role, mesh)
        undo.append(_put(entry, "role", settings.role))
        if "controlPlane" in entry:
            undo.append(_pop_key(entry, "controlPlane"))
    if settings.east_west_gateway is not None:
        undo.append(_set_gateway(entry, settings.east_west_gateway))
    scalars = (("apiServer", settings.api_server), ("region", settings.region))
    for key, value in (*scalars, ("zone", settings.zone)):
        if value is not None:
            undo.append(_put(entry, key, _quoted(value)))
    for key, cidrs in (("podCIDRs", settings.pod_cidrs), ("serviceCIDRs", settings.service_cidrs)):
        if cidrs is not None:
            undo.append(_put(entry, key, CommentedSeq(_quoted(c) for c in cidrs)))
    for name in settings.unset:
        if UNSETTABLE[name] in entry:
            undo.append(_pop_key(entry, UNSETTABLE[name]))
    try:
        return from_tree(document.tree, document.source)
    except MeshgenError:
        for step in reversed(undo):
            step()
        raise


def record_meshgen_version(document: MeshDocument, version: str) -> MeshDocument:
    """``document`` with ``meshgenVersion: "<version>"``, the meshgen that renders it (a new
    key goes after ``kind``). Edited in place, like :func:`record_trust`; a document read by
    libyaml and not edited yet gets the line in its text instead (no round-trip parse)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    recorded = with_version_line(document, version)
    if recorded is not None:
        recorded.text_layout = textedits.layout_after_line(document, recorded.text or "")
        return recorded
    tree = document.tree
    value = DoubleQuotedScalarString(version)
    if "meshgenVersion" in tree:
        tree["meshgenVersion"] = value
    elif "kind" in tree:
        # The comment lines after kind introduce the next key: they move below the new one.
        following = tree.ca.items.pop("kind", None)
        tree.insert(list(tree).index("kind") + 1, "meshgenVersion", value)
        if following is not None:
            tree.ca.items["meshgenVersion"] = following
    else:
        tree.insert(0, "meshgenVersion", value)
    return from_tree(tree, document.source)
