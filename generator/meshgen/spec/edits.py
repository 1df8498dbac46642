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
from meshgen.spec.locations import line_of
from meshgen.spec.model import (
    EXTERNAL_CONTROL_PLANE,
    PRIMARY,
    REMOTE,
    Cluster,
    IstioState,
    MeshDocument,
)
from meshgen.spec.yamlio import from_tree


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


def add_cluster(document: MeshDocument, request: NewCluster) -> tuple[MeshDocument, bool]:
    """The document with the cluster appended (and its network declared when new).

    Returns the new document and whether the east-west gateway was turned on. The default is
    on when the mesh has, or gets, more than one network; it is always written explicitly, so
    a cluster's gateway never flips later when another network joins.

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
    tree = document.tree
    undo: list[Callable[[], None]] = []
    if request.discovery_address:
        undo.append(_set_discovery_address(document, request))
    networks = tree.setdefault("networks", CommentedSeq())
    if request.network not in {n["name"] for n in networks}:
        entry = CommentedMap()
        entry["name"] = _quoted(request.network)
        undo.append(_append_before_trailing_comments(networks, entry))
    in_use = {c.network for c in document.mesh.clusters if c.role != EXTERNAL_CONTROL_PLANE} | {
        request.network
    }
    external = {c.name for c in document.mesh.clusters if c.role == EXTERNAL_CONTROL_PLANE}
    enabled = request.east_west_gateway
    if enabled is None:
        enabled = (
            len(in_use) > 1
            and request.role != EXTERNAL_CONTROL_PLANE
            and request.control_plane not in external
        )
    cluster = CommentedMap()
    cluster["name"] = _quoted(request.name)
    cluster["network"] = _quoted(request.network)
    cluster["role"] = request.role
    if request.control_plane:
        cluster["controlPlane"] = _quoted(request.control_plane)
    if request.revision:
        cluster["revision"] = _quoted(request.revision)
    gateway = CommentedMap()
    gateway["enabled"] = enabled
    cluster["eastWestGateway"] = gateway
    if request.api_server:
        cluster["apiServer"] = _quoted(request.api_server)
    if request.pod_cidrs:
        cluster["podCIDRs"] = CommentedSeq(_quoted(c) for c in request.pod_cidrs)
    if request.service_cidrs:
        cluster["serviceCIDRs"] = CommentedSeq(_quoted(c) for c in request.service_cidrs)
    if request.region:
        cluster["region"] = _quoted(request.region)
    if request.zone:
        cluster["zone"] = _quoted(request.zone)
    control = next((c for c in document.mesh.clusters if c.name == request.control_plane), None)
    if request.role == REMOTE and control is not None and control.istio:
        # A remote uses its control plane's revisions (and versions): it joins as it runs.
        cluster["istio"] = _state_node(control.istio)
    clusters = tree.setdefault("clusters", CommentedSeq())
    undo.append(_append_before_trailing_comments(clusters, cluster))
    try:
        return from_tree(tree, document.source), enabled
    except MeshgenError:
        for step in reversed(undo):
            step()
        raise


def _set_at_end(mapping: Any, key: str, value: Any) -> None:
    """Set ``mapping[key]``; a new key goes last, before comments that belong to what follows."""
    if key in mapping:
        mapping[key] = value
        return
    token = _pop_trailing_comment(mapping)
    mapping[key] = value
    slot = _last_scalar_slot(mapping)
    if token is not None and slot is not None:
        container, last, position = slot
        container.ca.items.setdefault(last, [None, None, None, None])[position] = token


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
        known = ", ".join(names) or "none"
        raise MeshgenError(
            f"{document.source}: cluster {name!r} is not in the mesh (clusters: {known}); "
            "check the name"
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


def _state_node(state: IstioState) -> Any:
    """``clusters[].istio`` as written: versions quoted, as ``init`` writes istio.version."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    node = CommentedMap()
    if state.version:
        node["version"] = DoubleQuotedScalarString(state.version)
    if state.revisions:
        node["revisions"] = CommentedMap(
            (_quoted(name), DoubleQuotedScalarString(version)) for name, version in state.revisions
        )
    if state.tags:
        node["tags"] = CommentedMap((_quoted(tag), _quoted(rev)) for tag, rev in state.tags)
    return node


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
    _set_at_end(mapping, key, value)

    def drop() -> None:
        del mapping[key]

    return drop


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
