"""``meshgen new-cluster``: add a cluster to mesh.yaml, render, and commit on a new branch."""

from __future__ import annotations

import dataclasses

from meshgen import meshdiff, output, spec
from meshgen.commands import _change
from meshgen.spec import urls


def run(request: spec.NewCluster, options: _change.BranchOptions) -> int:
    if request.api_server:
        api_server, removed = urls.without_credentials(request.api_server)
        if removed:
            output.warn(
                f"--api-server: left out {' and '.join(removed)}: credentials are never "
                f"committed; istiod reaches {api_server} with the token of its remote secret"
            )
            request = dataclasses.replace(request, api_server=api_server)
    proposal = _change.open_proposal(options, f"meshgen/add-cluster-{request.name}")
    document = proposal.document
    before = document.mesh
    updated, _ = spec.add_cluster(document, request)
    changes = proposal.plan(updated)
    summary = meshdiff.summarize(before, updated.mesh)
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
