"""``meshgen upgrade``: Istio upgrades across the mesh, one pull request per step.

``--istio-version V`` moves the named clusters (in place, or a new revision next to the running
one), ``--promote`` moves the revision tags to the new revision, ``--finish`` removes the old
revision, ``--status`` says where every cluster stands. Each step edits ``clusters[].istio`` in
``mesh.yaml`` (see :mod:`meshgen.upgrades` for the plan and its checks), renders, and commits
on a branch with the shared proposal machinery; nothing is written when a check refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from meshgen import library, mesh_repo, meshdiff, output, spec, upgrades
from meshgen.adapters import git as gitops
from meshgen.commands import _change
from meshgen.errors import MeshgenError
from meshgen.render import render_repository
from meshgen.render.engines import engine_for
from meshgen.render.plan import cluster_folder, plan_mesh


@dataclass(frozen=True)
class Options:
    istio_version: str | None = None
    clusters: tuple[str, ...] = ()
    canary: str | None = None
    strategy: str | None = None  # None: revision
    promote: bool = False
    finish: bool = False
    status: bool = False
    output_format: str = "text"  # -o json|yaml: --status as data
    proposal: _change.BranchOptions = field(default_factory=_change.BranchOptions)


def _check_usage(options: Options) -> None:
    modes = [
        flag
        for flag, on in (
            ("--promote", options.promote),
            ("--finish", options.finish),
            ("--status", options.status),
        )
        if on
    ]
    if len(modes) > 1:
        raise MeshgenError(f"{' and '.join(modes)} are separate steps; pass one of them")
    if not modes and not options.istio_version:
        raise MeshgenError(
            "say what to do: --istio-version V (start or extend an upgrade), --promote, "
            "--finish or --status"
        )
    if options.canary and options.clusters:
        raise MeshgenError("--canary names the one cluster that goes first; drop --clusters")
    if modes and options.canary:
        raise MeshgenError(f"--canary starts an upgrade; it does not go with {modes[0]}")
    if modes and options.strategy:
        raise MeshgenError(f"--strategy is chosen when the upgrade starts, not with {modes[0]}")
    if options.status and options.clusters:
        raise MeshgenError("--status shows every cluster; drop --clusters")
    if options.output_format != "text" and not options.status:
        raise MeshgenError(f"-o {options.output_format} prints --status as data; add --status")


def _plan(mesh: spec.Mesh, options: Options) -> upgrades.Step:
    if options.promote:
        return upgrades.plan_promote(mesh, options.clusters, options.istio_version)
    if options.finish:
        return upgrades.plan_finish(mesh, options.clusters, options.istio_version)
    assert options.istio_version is not None
    request = upgrades.UpgradeRequest(
        target=options.istio_version,
        strategy=options.strategy or upgrades.REVISION,
        clusters=options.clusters,
        canary=options.canary,
    )
    return upgrades.plan_upgrade(mesh, request, library.istio_releases())


def _require_rendered(
    root: Path, mesh: spec.Mesh, desired: dict[str, str], step: upgrades.Step
) -> None:
    """``--promote`` moves tags only to a revision whose files are in the repository as
    ``render`` makes them (``desired``: merged before, not just written into mesh.yaml)."""
    for name in step.clusters:
        cluster = mesh.cluster(name)
        release = next(
            p.release for p in mesh.control_planes_of(cluster) if p.version == step.target
        )
        folder = cluster_folder(name) + "/"
        for path in sorted(p for p in desired if p.startswith(folder)):
            if PurePosixPath(path).stem != release:
                continue
            target = root / path
            if not target.is_file() or target.read_text(encoding="utf-8") != desired[path]:
                raise MeshgenError(
                    f"promote refused: {name} has not been rendered at the new revision "
                    f"({path} {'differs' if target.is_file() else 'is missing'}); run "
                    "`meshgen render`, commit and merge it, then promote"
                )


def _next_step(after: spec.Mesh, when: str) -> str:
    """The step after this one, as ``--status`` will name it once this one is merged: the
    clusters still behind before ``--promote``, and so on."""
    progress = upgrades.progress(after)
    if progress.next_step is None:
        return "Nothing follows: every cluster runs the new version."
    behind = f" (for {meshdiff.name_list(progress.behind)})" if progress.behind else ""
    return f"Next: {progress.next_step}{behind}, {when}."


def _notes(step: upgrades.Step, before: spec.Mesh, after: spec.Mesh, engine: str) -> list[str]:
    """What happens after the merge, and what a person still does."""
    clusters = meshdiff.name_list(step.clusters)
    if step.kind == "upgrade" and all(
        len(after.control_planes_of(after.cluster(c))) == 1 for c in step.clusters
    ):
        return [
            f"After merge, {engine} upgrades each cluster's releases in the order above. "
            f"Restart workloads (kubectl rollout restart) in {clusters} to move their sidecars "
            f"to {step.target}; until then they keep working with the newer istiod.",
            _next_step(after, "once these clusters behave"),
        ]
    revision = upgrades.revision_name(step.target)
    if step.kind == "upgrade":
        return [
            f"After merge, istiod {step.target} runs as revision {revision} next to the running "
            f"one in {clusters}; no sidecar changes. Namespaces labelled istio.io/rev=canary get "
            f"{step.target} sidecars on their next restart; istio-injection=enabled and "
            "istio.io/rev=stable stay on the old revision.",
            _next_step(after, "once the new revision behaves"),
        ]
    if step.kind == "promote":
        return [
            f"After merge, the tags point at revision {revision}: restart workloads in "
            "namespaces labelled istio-injection=enabled or istio.io/rev=<tag> to move their "
            "sidecars (the east-west gateways roll by themselves).",
            "Next: meshgen upgrade --finish, once no pod runs a proxy of the old revision.",
        ]
    old = sorted(
        {
            p.revision
            for c in step.clusters
            for p in before.control_planes_of(before.cluster(c))
            if p.version != step.target
        }
    )
    return [
        "Before merging, check that no pod still runs a proxy of the old revision (their "
        "istiod goes with the merge): kubectl get pods -A -l "
        + " / ".join(f"istio.io/rev={r}" for r in old)
        + ", or istioctl proxy-status.",
        _next_step(after, "once this is merged"),
    ]


def _status(repo: Path | None, output_format: str) -> int:
    root = mesh_repo.find_root(repo)
    mesh = mesh_repo.load(root).mesh
    if output_format != "text":
        output.document(upgrades.status_document(mesh), output_format)
        return 0
    output.heading(f"Istio in mesh {mesh.mesh_id} (istio.version {mesh.istio_version})")
    for line in upgrades.status_lines(mesh):
        output.info(f"  {line}")
    return 0


def run(options: Options) -> int:
    _check_usage(options)
    if options.status:
        return _status(options.proposal.repo, options.output_format)
    proposal = _change.open_proposal(options.proposal, "meshgen/upgrade-istio")
    document = proposal.document
    before = document.mesh
    step = _plan(before, options)
    # An upgrade changes no cluster's membership: the traffic policies hold before and after.
    policies = mesh_repo.load_traffic(proposal.root, before)
    knowledge = library.load()
    old_files = render_repository(before, knowledge, policies)
    if options.promote:
        _require_rendered(proposal.root, before, old_files, step)
    if not options.proposal.branch:
        proposal.branch = step.branch
        if options.proposal.commit:
            gitops.validate_branch_name(proposal.repo, proposal.branch)
    updated = spec.set_istio_states(document, step.change)
    changes = proposal.plan(updated, policies)
    after = updated.mesh
    order = upgrades.apply_order(
        before.engine,
        (before, plan_mesh(before, knowledge.chart_profiles), old_files),
        (
            after,
            plan_mesh(after, knowledge.chart_profiles),
            render_repository(after, knowledge, policies),
        ),
    )
    engine = engine_for(after).display_name
    summary = meshdiff.summarize(before, after) + proposal.moves
    notes = _notes(step, before, after, engine)
    body = [*summary, "", f"Order {engine} applies it in, per cluster:"]
    body += [f"- {line}" for line in order] + ["", *notes]
    base_branch = proposal.apply(changes, step.title, body, "upgrade")
    proposal.report(step.title, summary, (before, after), changes, base_branch)
    output.info(f"Order {engine} applies it in, per cluster:")
    for line in order:
        output.info(f"  {line}")
    for note in notes:
        output.info(note)
    return 0
