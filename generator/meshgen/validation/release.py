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
from meshgen.validation import Finding
from meshgen.validation.mesh import field_line


def _line(document: spec.MeshDocument, field: str | None) -> int | None:
    """The line of a dotted mesh.yaml field, when the file sets it."""
    if field is None:
        return None
    path = field.split(".")
    node = document.data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return field_line(document, path) if node is not None else None


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
    findings = [
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
    return findings + _cluster_versions(document, today, allow_unknown)


def _cluster_versions(
    document: spec.MeshDocument, today: datetime.date, allow_unknown: bool
) -> list[Finding]:
    """The same notes for the versions clusters run of their own (``clusters[].istio``, during
    an upgrade), each once, at the first cluster that names it."""
    mesh = document.mesh
    seen = {mesh.istio_version}
    findings = []
    for index, cluster in enumerate(mesh.clusters):
        if not cluster.istio:
            continue
        for version in mesh.versions_of(cluster):
            if version in seen:
                continue
            seen.add(version)
            for notice in releases.version_notices(
                library.istio_releases(),
                version,
                mesh.kubernetes_version,
                today,
                allow_unknown=allow_unknown,
            ):
                findings.append(
                    Finding(
                        check="mesh",
                        message=f"{cluster.name} runs {version}: {notice.message}",
                        fix=notice.fix.replace("istio.version", f"{cluster.name}'s version"),
                        file=spec.MESH_FILE,
                        line=field_line(document, ["clusters", index, "istio"]),
                        cluster=cluster.name,
                        severity=notice.severity,
                    )
                )
    return findings
