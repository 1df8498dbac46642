"""``meshgen new-cluster``: add a cluster to mesh.yaml, render, and commit on a new branch."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from meshgen import mesh_repo, meshdiff, output, spec, traffic
from meshgen.commands import _change
from meshgen.commands._flags import FLAG_OF_KEY, named_by_flag
from meshgen.spec import urls


def _flag_fields(
    mesh: spec.Mesh, request: spec.NewCluster
) -> tuple[dict[int, Collection[str]], int | None]:
    """Where the request's values land in mesh.yaml: (cluster index -> keys, the index of the
    network it declares, if new), so that errors about them name the options."""
    names = [c.name for c in mesh.clusters]
    fields: dict[int, Collection[str]] = {len(names): list(FLAG_OF_KEY)}
    if request.control_plane in names:
        fields[names.index(request.control_plane)] = ["discovery"]
    network = None if request.network in mesh.networks else len(mesh.networks)
    return fields, network


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
    with named_by_flag(*_flag_fields(before, request)):
        updated, _ = spec.add_cluster(document, request)
    policies = mesh_repo.load_traffic(proposal.root, updated.mesh)
    changes = proposal.plan(updated, policies)
    summary = meshdiff.summarize(before, updated.mesh) + proposal.moves
    summary += traffic.summarize(before, policies, updated.mesh, policies)
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
