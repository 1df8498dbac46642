"""Part of check 1 (``mesh``): the Istio release and the places charts and images come from.

Against meshgen's release catalogue (``charts/istio-releases.yaml``): a version the catalogue
does not know is an error (unless ``--allow-unknown-version``); a pre-release, a known
multi-cluster defect, a release past its end of support, a ``kubernetesVersion`` outside the
release's range, and a chart repository or image hub Istio retires (named in mesh.yaml or still
in the generated files by an old default) are warnings.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path

from meshgen import library, mesh_repo, releases, spec
from meshgen.spec.locations import line_of
from meshgen.validation import Finding


def _line(document: spec.MeshDocument, field: str | None) -> int | None:
    """The line of a dotted mesh.yaml field, when the file sets it."""
    if field is None:
        return None
    path = field.split(".")
    node = document.tree
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return line_of(document.tree, path) if node is not None else None


def check(
    root: Path,
    document: spec.MeshDocument,
    today: datetime.date,
    allow_unknown: bool,
    rendered: Iterable[str] = (),
) -> list[Finding]:
    """The findings about the release and locations; ``rendered`` are the generated paths a
    render would rewrite (read for what earlier defaults left in them)."""
    mesh = document.mesh
    notices = releases.version_notices(
        library.istio_releases(),
        mesh.istio_version,
        mesh.kubernetes_version,
        today,
        allow_unknown=allow_unknown,
    )
    notices += mesh_repo.location_notices(root, document, rendered)
    return [
        Finding(
            check="mesh",
            message=n.message,
            fix=n.fix,
            file=spec.MESH_FILE,
            line=_line(document, n.field),
            severity=n.severity,
        )
        for n in notices
    ]
