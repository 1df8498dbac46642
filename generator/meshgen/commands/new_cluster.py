"""``meshgen new-cluster``: add a cluster to mesh.yaml, render, and commit on a new branch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshgen import meshdiff, output, spec
from meshgen.commands import _change
from meshgen.render.readme import network_reachability


@dataclass(frozen=True)
class Options:
    request: spec.NewCluster
    repo: Path | None = None
    branch: str | None = None
    commit: bool = True
    push: bool = False
    allow_dirty: bool = False


def run(options: Options) -> int:
    request = options.request
    proposal = _change.open_proposal(
        _change.BranchOptions(
            repo=options.repo,
            branch=options.branch,
            commit=options.commit,
            push=options.push,
            allow_dirty=options.allow_dirty,
        ),
        default_branch=f"meshgen/add-cluster-{request.name}",
    )
    document = proposal.document
    before = document.mesh
    updated, _ = spec.add_cluster(document, request)
    changes = proposal.plan(updated)
    summary = meshdiff.summarize(before, updated.mesh)
    warnings = [
        w for w in network_reachability(updated.mesh) if w not in network_reachability(before)
    ]
    title = f"Add cluster {request.name} to mesh {updated.mesh.mesh_id}"
    base_branch = proposal.apply(changes, title, summary, "new-cluster")

    output.heading(f"Added cluster {request.name} to mesh {updated.mesh.mesh_id}")
    for line in summary:
        output.info(f"  {line}")
    for warning in warnings:
        output.warn(warning)
    proposal.report(changes, base_branch)
    return 0
