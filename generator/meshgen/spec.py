"""The one home of ``mesh.yaml``: parse, migrate, validate, model, edit and write it back.

Every command goes through this module; nothing else reads or writes ``mesh.yaml``. Edits are
made on ruamel.yaml's round-trip tree so comments and key order survive; the frozen
:class:`Mesh` model is what the rendering core sees.
"""

from __future__ import annotations

import difflib
import io
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from meshgen import library
from meshgen.errors import MeshgenError, SpecError

MESH_FILE = "mesh.yaml"
API_VERSION = "meshgen.io/v1alpha1"
KIND = "Mesh"
SCHEMA_COMMENT = "# yaml-language-server: $schema=./.meshgen/mesh.schema.json"

DEFAULT_ISTIO_VERSION = "1.30.3"
DEFAULT_CHART_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
DEFAULT_TRUST_DOMAIN = "cluster.local"
DEFAULT_KUBERNETES_VERSION = "1.33"
DEFAULT_REVISION = "main"
DEFAULT_ARGOCD_NAMESPACE = "argocd"
DEFAULT_STORE = "meshgen-secrets"


@dataclass(frozen=True)
class EastWestGateway:
    enabled: bool
    replicas: int = 1
    max_replicas: int | None = None
    service_type: str = "LoadBalancer"
    annotations: dict[str, str] = field(default_factory=dict)


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


@dataclass(frozen=True)
class Cluster:
    name: str
    network: str
    role: str
    east_west_gateway: EastWestGateway
    api_server: str | None = None
    pod_cidrs: tuple[str, ...] = ()
    service_cidrs: tuple[str, ...] = ()
    region: str | None = None
    zone: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    trust: TrustRecord = field(default_factory=TrustRecord)


@dataclass(frozen=True)
class Mesh:
    """The validated mesh, with every default filled in. Clusters keep their file order."""

    mesh_id: str
    trust_domain: str
    istio_version: str
    chart_repository: str
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

    def cluster(self, name: str) -> Cluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(name)

    def networks_in_use(self) -> list[str]:
        return sorted({cluster.network for cluster in self.clusters})

    def clusters_by_network(self) -> dict[str, list[Cluster]]:
        """Every declared network with its clusters (file order), in one pass."""
        grouped: dict[str, list[Cluster]] = {network: [] for network in self.networks}
        for cluster in self.clusters:
            grouped.setdefault(cluster.network, []).append(cluster)
        return grouped


@dataclass
class MeshDocument:
    """``mesh.yaml`` as loaded: the round-trip tree (for edits) and the model (for rendering)."""

    source: str
    tree: Any
    mesh: Mesh
    migrated_from: str | None = None  # the apiVersion the file had, when it was migrated


# --------------------------------------------------------------------------- YAML I/O


def _round_trip_yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def parse(text: str, source: str = MESH_FILE) -> MeshDocument:
    """Parse, migrate and validate ``mesh.yaml`` text; raise MeshgenError naming file and line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        tree = _round_trip_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise MeshgenError(
            f"{source}{line}: not valid YAML ({exc.problem or exc.context}); fix the syntax"
        ) from None
    except YAMLError as exc:
        raise MeshgenError(f"{source}: not valid YAML ({exc}); fix the syntax") from None
    if not isinstance(tree, dict):
        raise MeshgenError(
            f"{source}: expected a mapping with apiVersion: {API_VERSION} and kind: {KIND}; "
            "run `meshgen init` to create one"
        )
    return from_tree(tree, source)


def from_tree(tree: Any, source: str = MESH_FILE) -> MeshDocument:
    """Migrate and validate a round-trip tree (parsed, or edited in memory)."""
    original_version = tree.get("apiVersion")
    tree = migrate(tree, source)
    validate_schema(tree, source)
    mesh = build_model(tree)
    check_invariants(mesh, tree, source)
    migrated_from = original_version if original_version != API_VERSION else None
    return MeshDocument(source=source, tree=tree, mesh=mesh, migrated_from=migrated_from)


def to_text(document: MeshDocument) -> str:
    stream = io.StringIO()
    _round_trip_yaml().dump(document.tree, stream)
    return stream.getvalue()


# --------------------------------------------------------------------------- migration

# apiVersion -> function that turns a tree of that version into the next version's tree.
MIGRATIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {}


def rename_key(mapping: Any, old: str, new: str) -> None:
    """Rename a key of a round-trip mapping in place, keeping its position and its comments.

    For migrations: ruamel keeps a key's comments in ``ca.items[key]``, which a plain
    pop/insert would drop.
    """
    position = list(mapping).index(old)
    comments = mapping.ca.items.pop(old, None)
    mapping.insert(position, new, mapping.pop(old))
    if comments is not None:
        mapping.ca.items[new] = comments


def migrate(tree: Any, source: str) -> Any:
    """Bring an older ``mesh.yaml`` tree up to :data:`API_VERSION` (in place, comments kept)."""
    version = tree.get("apiVersion")
    seen = set()
    while version != API_VERSION:
        if version in MIGRATIONS and version not in seen:
            seen.add(version)
            version, step = MIGRATIONS[version]
            tree = step(tree)
            tree["apiVersion"] = version
            continue
        line = _line_of(tree, ["apiVersion"])
        raise MeshgenError(
            f"{source}:{line}: apiVersion {version!r} is not one this meshgen knows "
            f"(it reads {API_VERSION}); set apiVersion: {API_VERSION} or upgrade meshgen"
        )
    return tree


# --------------------------------------------------------------------------- validation


def _line_of(tree: Any, path: Iterable[Any]) -> int:
    """1-based line of the deepest node of ``path`` that the round-trip tree knows."""
    line = 0
    node = tree
    for key in path:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                line = lc.item(key)[0] if isinstance(key, int) else lc.key(key)[0]
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line + 1


def _field_name(path: Iterable[Any]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "(top level)"


def _describe_schema_error(error: Any) -> str:
    validator = error.validator
    schema = error.schema
    if validator == "pattern":
        hint = schema.get("description") or f"it must match {schema['pattern']}"
        return f"{error.instance!r} is not allowed: {hint}"
    if validator == "maxLength":
        return f"{error.instance!r} is longer than {schema['maxLength']} characters"
    if validator == "enum":
        allowed = ", ".join(str(v) for v in schema["enum"])
        return f"{error.instance!r} is not one of: {allowed}"
    if validator == "const":
        return f"must be {schema['const']!r}, not {error.instance!r}"
    if validator == "required":
        return error.message.replace("is a required property", "is required here; add it")
    if validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        unknown = _unknown_keys(error)[0]
        close = difflib.get_close_matches(unknown, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(known)}"
        return f"unknown key; {hint}"
    if validator == "type":
        return f"{error.instance!r} should be of type {schema['type']}"
    return error.message


def _unknown_keys(error: Any) -> list[str]:
    known = error.schema.get("properties", {})
    return sorted(str(k) for k in error.instance if k not in known)


def validate_schema(tree: Any, source: str = MESH_FILE) -> None:
    """Check the tree against ``schemas/mesh.schema.json``; report the first error with its line."""
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(library.mesh_schema())
    validator = validator_cls(library.mesh_schema())
    errors = sorted(validator.iter_errors(tree), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    path = list(error.absolute_path)
    if error.validator == "propertyNames":
        path = [*path, error.instance]
    elif error.validator == "additionalProperties":
        path = [*path, _unknown_keys(error)[0]]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise SpecError(
        source, _line_of(tree, path), _field_name(path), f"{_describe_schema_error(error)}{more}"
    )


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts/lists (for the frozen model)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def build_model(tree: Any) -> Mesh:
    """The :class:`Mesh` of a schema-valid tree, with defaults filled in."""
    data = _plain(tree)
    istio = data.get("istio", {})
    gitops = data.get("gitops", {})
    argocd = gitops.get("argocd", {})
    secrets = data.get("secrets", {})
    external = secrets.get("externalSecrets", {})
    store = external.get("storeRef", {})
    networks = tuple(n["name"] for n in data["networks"])
    multi_network = len({c["network"] for c in data["clusters"]}) > 1
    clusters = []
    for raw in data["clusters"]:
        gateway = raw.get("eastWestGateway", {})
        clusters.append(
            Cluster(
                name=raw["name"],
                network=raw["network"],
                role=raw.get("role", "primary"),
                east_west_gateway=EastWestGateway(
                    enabled=gateway.get("enabled", multi_network),
                    replicas=gateway.get("replicas", 1),
                    max_replicas=gateway.get("maxReplicas"),
                    service_type=gateway.get("serviceType", "LoadBalancer"),
                    annotations=dict(gateway.get("annotations", {})),
                ),
                api_server=raw.get("apiServer"),
                pod_cidrs=tuple(raw.get("podCIDRs", ())),
                service_cidrs=tuple(raw.get("serviceCIDRs", ())),
                region=raw.get("region"),
                zone=raw.get("zone"),
                labels=dict(raw.get("labels", {})),
                trust=_trust_record(raw.get("trust", {})),
            )
        )
    mesh_id = data["meshID"]
    return Mesh(
        mesh_id=mesh_id,
        trust_domain=data.get("trustDomain", DEFAULT_TRUST_DOMAIN),
        istio_version=str(istio.get("version", DEFAULT_ISTIO_VERSION)),
        chart_repository=istio.get("chartRepository", DEFAULT_CHART_REPOSITORY),
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
    )


def _trust_record(raw: dict[str, Any]) -> TrustRecord:
    ca = raw.get("ca", {})
    remote = raw.get("remoteSecret", {})
    return TrustRecord(
        ca_issued=ca.get("issued"),
        ca_expires=ca.get("expires"),
        remote_secret_issued=remote.get("issued"),
        remote_secret_expires=remote.get("expires"),
        sealed=dict(raw.get("sealed", {})),
    )


def check_invariants(mesh: Mesh, tree: Any = None, source: str = MESH_FILE) -> None:
    """Rules the schema cannot express. Raises MeshgenError at the first broken one."""

    def fail(path: list[Any], message: str) -> None:
        line = _line_of(tree, path) if tree is not None else None
        raise SpecError(source, line, _field_name(path), message)

    seen_networks: dict[str, int] = {}
    for index, name in enumerate(mesh.networks):
        if name in seen_networks:
            fail(["networks", index, "name"], f"network {name!r} is declared twice; remove one")
        seen_networks[name] = index
    seen_clusters: dict[str, int] = {}
    for index, cluster in enumerate(mesh.clusters):
        path = ["clusters", index]
        if cluster.name in seen_clusters:
            fail([*path, "name"], f"cluster {cluster.name!r} is declared twice; remove one")
        seen_clusters[cluster.name] = index
        if cluster.network not in seen_networks:
            fail(
                [*path, "network"],
                f"network {cluster.network!r} is not declared under networks; "
                f"add '- name: {cluster.network}' there",
            )
        gateway = cluster.east_west_gateway
        if gateway.max_replicas is not None and gateway.max_replicas < gateway.replicas:
            fail(
                [*path, "eastWestGateway", "maxReplicas"],
                f"maxReplicas {gateway.max_replicas} is below replicas {gateway.replicas}; "
                "raise maxReplicas or lower replicas",
            )
        for key, cidrs in (
            ("podCIDRs", cluster.pod_cidrs),
            ("serviceCIDRs", cluster.service_cidrs),
        ):
            for position, cidr in enumerate(cidrs):
                try:
                    ipaddress.ip_network(cidr, strict=True)
                except ValueError as exc:
                    fail([*path, key, position], f"{cidr!r} is not a valid CIDR ({exc})")


# --------------------------------------------------------------------------- edits


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


def _quoted(value: str) -> Any:
    """Quote strings that a YAML 1.1 reader would not read back as the same string."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from meshgen.render.yamltext import needs_quotes

    return DoubleQuotedScalarString(value) if needs_quotes(value) else value


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
    networks = tree.setdefault("networks", CommentedSeq())
    if request.network not in {n["name"] for n in networks}:
        entry = CommentedMap()
        entry["name"] = _quoted(request.network)
        undo.append(_append_before_trailing_comments(networks, entry))
    in_use = {c.network for c in document.mesh.clusters} | {request.network}
    enabled = request.east_west_gateway
    if enabled is None:
        enabled = len(in_use) > 1
    cluster = CommentedMap()
    cluster["name"] = _quoted(request.name)
    cluster["network"] = _quoted(request.network)
    cluster["role"] = "primary"
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
