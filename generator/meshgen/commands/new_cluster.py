"""``meshgen new-cluster``: add a cluster to mesh.yaml, render, and commit on a new branch."""

from __future__ import annotations

from meshgen import meshdiff, spec
from meshgen.commands import _change


def run(request: spec.NewCluster, options: _change.BranchOptions) -> int:
    proposal = _change.open_proposal(options, f"meshgen/add-cluster-{request.name}")
    document = proposal.document
    before = document.mesh
    updated, _ = spec.add_cluster(document, request)
    changes = proposal.plan(updated)
    summary = meshdiff.summarize(before, updated.mesh) + proposal.moves
    title = f"Add cluster {request.name} to mesh {updated.mesh.mesh_id}"
    base_branch = proposal.apply(changes, title, summary, "new-cluster")
    proposal.report(
        f"Added cluster {request.name} to mesh {updated.mesh.mesh_id}",
        summary,
        (before, updated.mesh),
        changes,
        base_branch,
    )
    return 0
