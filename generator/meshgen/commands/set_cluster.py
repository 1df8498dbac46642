"""``meshgen set-cluster``: change an existing cluster's settings, render, commit on a branch.

The settings a cluster can change in place: its east-west gateway, API server, pod and service
CIDRs, region and zone, and its role from remote to primary. The other role changes are
refused with the reason (see :func:`meshgen.spec.set_cluster`).
"""

from __future__ import annotations

from meshgen import meshdiff, output, spec
from meshgen.commands import _change
from meshgen.commands._flags import named_by_flag
from meshgen.errors import MeshgenError


def _check_request(settings: spec.ClusterSettings) -> None:
    """Usage errors: nothing asked for, or one setting both set and removed."""
    if not settings.keys():
        raise MeshgenError(
            "set-cluster: nothing to change; pass at least one of --east-west-gateway, "
            "--no-east-west-gateway, --api-server, --pod-cidr, --service-cidr, --region, "
            "--zone, --role or --unset"
        )
    given = {
        "api-server": settings.api_server,
        "pod-cidrs": settings.pod_cidrs,
        "service-cidrs": settings.service_cidrs,
        "region": settings.region,
        "zone": settings.zone,
    }
    both = [name for name in settings.unset if given[name] is not None]
    if both:
        raise MeshgenError(
            f"--unset {both[0]}: the same command also sets it; pass one or the other"
        )


def run(settings: spec.ClusterSettings, options: _change.BranchOptions) -> int:
    _check_request(settings)
    proposal = _change.open_proposal(options, f"meshgen/set-cluster-{settings.name}")
    document = proposal.document
    before = document.mesh
    names = [c.name for c in before.clusters]
    index = names.index(settings.name) if settings.name in names else -1
    with named_by_flag({index: settings.keys()}):
        updated = spec.set_cluster(document, settings)
    summary = meshdiff.summarize(before, updated.mesh)
    if not summary:
        proposal.require_clean()  # refused as before, though nothing would be written
        output.info(f"Nothing to change: {settings.name} already has these settings.")
        return 0
    changes = proposal.plan(updated)
    title = f"Change cluster {settings.name} in mesh {updated.mesh.mesh_id}"
    base_branch = proposal.apply(changes, title, summary, "set-cluster")
    proposal.report(
        f"Changed cluster {settings.name} in mesh {updated.mesh.mesh_id}",
        summary,
        (before, updated.mesh),
        changes,
        base_branch,
    )
    return 0
