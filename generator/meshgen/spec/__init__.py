"""The one home of ``mesh.yaml``: every command reads, checks and edits it through this package.

One module per job:

- :mod:`~meshgen.spec.model`: the frozen :class:`Mesh` the rendering core sees, its defaults,
  and :func:`build_model` (schema-valid tree in, model out);
- :mod:`~meshgen.spec.yamlio`: :func:`parse` text (migrate, schema, model, invariants) and
  :func:`to_text` it back, comments and key order kept;
- :mod:`~meshgen.spec.migrate`: older ``apiVersion`` trees brought up to the current one;
- :mod:`~meshgen.spec.schema`: the JSON Schema check, errors naming line and field;
- :mod:`~meshgen.spec.invariants`: the rules the schema cannot express;
- :mod:`~meshgen.spec.edits`: add, change or remove a cluster, record trust material, each
  undone on an invalid result;
- :mod:`~meshgen.spec.locations`: line numbers and field names for errors;
- :mod:`~meshgen.spec.urls`: repository and API server URLs: accepted forms, no credentials.

Callers import from the package (``from meshgen import spec``; ``spec.parse(...)``); the names
below are its public surface. Those of :mod:`~meshgen.spec.edits` and
:mod:`~meshgen.spec.textedits` are imported when first used: ``validate`` only reads the
mesh, and importing them (their dataclasses and regular expressions) cost it 4 to 5 ms.
"""

from typing import TYPE_CHECKING, Any

from meshgen.spec.invariants import (
    check_invariants,
    minors_apart,
    skew_problems,
    unreachable_networks,
)
from meshgen.spec.migrate import MIGRATIONS, migrate, rename_key
from meshgen.spec.model import (
    AMBIENT,
    API_VERSION,
    DEFAULT_ARGOCD_NAMESPACE,
    DEFAULT_CHART_REPOSITORY,
    DEFAULT_HUB,
    DEFAULT_ISTIO_VERSION,
    DEFAULT_KUBERNETES_VERSION,
    DEFAULT_README,
    DEFAULT_REVISION,
    DEFAULT_SOPS_SECRET,
    DEFAULT_STORE,
    DEFAULT_TAG,
    DEFAULT_TRUST_DOMAIN,
    ENGINES_WITH_SOPS,
    EXTERNAL_CONTROL_PLANE,
    EXTERNAL_ISTIOD_NAMESPACE,
    ISTIO_SYSTEM,
    KIND,
    MESH_FILE,
    PRIMARY,
    REMOTE,
    SCHEMA_COMMENT,
    SIDECAR,
    UNREVISIONED,
    WAYPOINT_FOR,
    Cluster,
    ControlPlane,
    Discovery,
    EastWestGateway,
    GatewayAPI,
    GlobalService,
    IstioState,
    Mesh,
    MeshDocument,
    TrustRecord,
    Waypoint,
    build_model,
)
from meshgen.spec.schema import validate_schema
from meshgen.spec.yamlio import MAX_BYTES, from_tree, parse, to_text

if TYPE_CHECKING:
    from meshgen.spec.edits import (
        ClusterSettings,
        IstioChange,
        NewCluster,
        Removal,
        add_cluster,
        gateways_to_open,
        record_meshgen_version,
        record_trust,
        remove_cluster,
        set_cluster,
        set_istio_states,
    )
    from meshgen.spec.textedits import layout_record, restore_layout

_EDITING = {
    "meshgen.spec.edits": (
        "ClusterSettings",
        "IstioChange",
        "NewCluster",
        "Removal",
        "add_cluster",
        "gateways_to_open",
        "record_meshgen_version",
        "record_trust",
        "remove_cluster",
        "set_cluster",
        "set_istio_states",
    ),
    "meshgen.spec.textedits": ("layout_record", "restore_layout"),
}
_LAZY = {name: module for module, names in _EDITING.items() for name in names}


def __getattr__(name: str) -> Any:
    """A name of the editing modules, imported on first use (see above)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AMBIENT",
    "API_VERSION",
    "DEFAULT_ARGOCD_NAMESPACE",
    "DEFAULT_CHART_REPOSITORY",
    "DEFAULT_HUB",
    "DEFAULT_ISTIO_VERSION",
    "DEFAULT_KUBERNETES_VERSION",
    "DEFAULT_README",
    "DEFAULT_REVISION",
    "DEFAULT_SOPS_SECRET",
    "DEFAULT_STORE",
    "DEFAULT_TAG",
    "DEFAULT_TRUST_DOMAIN",
    "ENGINES_WITH_SOPS",
    "EXTERNAL_CONTROL_PLANE",
    "EXTERNAL_ISTIOD_NAMESPACE",
    "ISTIO_SYSTEM",
    "KIND",
    "MAX_BYTES",
    "MESH_FILE",
    "MIGRATIONS",
    "PRIMARY",
    "REMOTE",
    "SCHEMA_COMMENT",
    "SIDECAR",
    "UNREVISIONED",
    "WAYPOINT_FOR",
    "Cluster",
    "ClusterSettings",
    "ControlPlane",
    "Discovery",
    "EastWestGateway",
    "GatewayAPI",
    "GlobalService",
    "IstioChange",
    "IstioState",
    "Mesh",
    "MeshDocument",
    "NewCluster",
    "Removal",
    "TrustRecord",
    "Waypoint",
    "add_cluster",
    "build_model",
    "check_invariants",
    "from_tree",
    "gateways_to_open",
    "layout_record",
    "migrate",
    "minors_apart",
    "parse",
    "record_meshgen_version",
    "record_trust",
    "remove_cluster",
    "rename_key",
    "restore_layout",
    "set_cluster",
    "set_istio_states",
    "skew_problems",
    "to_text",
    "unreachable_networks",
    "validate_schema",
]
