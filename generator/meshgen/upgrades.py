"""The plan of an Istio upgrade across the mesh (pure): which clusters move and how, the checks
made before anything is written, and the order in which the engine applies each change.

An upgrade is a sequence of steps, each one pull request, each one a new ``mesh.yaml`` state
(``clusters[].istio``, see :class:`meshgen.spec.IstioState`) from which ``render`` makes every
file:

- **in place**: the named clusters (default: all) get the new version; the engine upgrades
  their releases in place, base (CRDs) first, then istiod, then the east-west gateway;
- **revision**: next to each named cluster's control plane, istiod of the new version runs
  under a revision named after it (``1.31.0-rc.0`` → ``1-31-0-rc-0``); the tags ``default``
  and ``stable`` stay on the old revision and ``canary`` names the new one. ``promote`` moves
  every tag of the old revision to the new one (the east-west gateway follows ``default``);
  ``finish`` removes the old revision once nothing points at it.

A remote follows its control plane: it moves together with it or after it, never alone, and
uses the same revisions. Every step is checked against the release catalogue, the upgrade
paths upstream supports (one minor version at a time in place, two with revisions) and the
version-skew rules of :func:`meshgen.spec.skew_problems` before anything is written.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from meshgen import meshdiff, spec
from meshgen.errors import MeshgenError
from meshgen.releases import Catalogue, Version, parse_version
from meshgen.render.plan import ClusterPlan, Component, component_version

IN_PLACE = "in-place"
REVISION = "revision"
STRATEGIES = (IN_PLACE, REVISION)
STABLE_TAG = "stable"
CANARY_TAG = "canary"
MAX_IN_PLACE_MINORS = 1
MAX_REVISION_MINORS = 2


class UpgradeRefused(MeshgenError):
    """A step meshgen will not propose (exit 2): the message says why and what to do."""


def _semver(version: str) -> Version:
    parsed = parse_version(version)
    if parsed is None:
        raise UpgradeRefused(f"{version!r} is not an Istio version (such as 1.31.1)")
    return parsed


def revision_name(version: str) -> str:
    """The revision a version runs under: ``1.31.0-rc.0`` → ``1-31-0-rc-0``."""
    name = re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")
    if not name or len(name) > 40:
        raise UpgradeRefused(f"Istio {version} gives no usable revision name ({name!r})")
    return name


@dataclass(frozen=True)
class Step:
    """One pull request of an upgrade: what ``mesh.yaml`` becomes, and how to present it."""

    kind: str  # "upgrade", "promote" or "finish"
    target: str
    clusters: tuple[str, ...]  # the clusters that move, in file order
    change: spec.IstioChange
    title: str
    branch: str


@dataclass(frozen=True)
class UpgradeRequest:
    target: str
    strategy: str = REVISION
    clusters: tuple[str, ...] = ()  # empty: every cluster not at the target yet
    canary: str | None = None


def apply(mesh: spec.Mesh, change: spec.IstioChange) -> spec.Mesh:
    """``mesh`` as it is once ``change`` is written (for the checks; render reads mesh.yaml)."""
    clusters = []
    for cluster in mesh.clusters:
        if cluster.name in change.states:
            cluster = dataclasses.replace(cluster, istio=change.states[cluster.name])
        if cluster.name in change.drop_revision:
            cluster = dataclasses.replace(cluster, revision=None)
        clusters.append(cluster)
    version = change.mesh_version or mesh.istio_version
    return dataclasses.replace(mesh, clusters=tuple(clusters), istio_version=version)


def _refuse_skew(after: spec.Mesh, verb: str) -> None:
    problems = spec.skew_problems(after)
    if problems:
        raise UpgradeRefused(f"{verb} refused: {problems[0][1]}")


def _known(mesh: spec.Mesh, names: tuple[str, ...]) -> list[spec.Cluster]:
    found = []
    for name in names:
        try:
            found.append(mesh.cluster(name))
        except KeyError:
            raise UpgradeRefused(
                f"cluster {name!r} is not in the mesh ({mesh.clusters_hint(name)}); check the name"
            ) from None
    return found


def _in_file_order(mesh: spec.Mesh, names: set[str]) -> tuple[str, ...]:
    return tuple(c.name for c in mesh.clusters if c.name in names)


def _normalized(mesh: spec.Mesh, change: spec.IstioChange, target: str) -> spec.IstioChange:
    """Once every cluster runs only ``target``, ``istio.version`` becomes ``target`` and the
    clusters upgraded in place drop their own ``version``: the file reads as if the mesh had
    been made at the new version (revisions stay: their names are in the clusters)."""
    after = apply(mesh, change)
    if any(after.versions_of(c) != (target,) for c in after.clusters) or not after.clusters:
        return change
    states = dict(change.states)
    for cluster in after.clusters:
        if cluster.istio.version == target:
            states[cluster.name] = dataclasses.replace(cluster.istio, version=None)
    mesh_version = target if mesh.istio_version != target else None
    return dataclasses.replace(change, states=states, mesh_version=mesh_version)


def _check_target(target: str, catalogue: Catalogue) -> None:
    if catalogue.get(target) is None:
        known = ", ".join(r.version for r in catalogue.releases)
        raise UpgradeRefused(
            f"Istio {target} is not in meshgen's release catalogue ({known}); pick one of "
            f"those (newest GA: {catalogue.newest_ga().version})"
        )


def _check_path(cluster: spec.Cluster, current: str, target: str, strategy: str) -> None:
    older, newer = _semver(current), _semver(target)
    if newer < older:
        raise UpgradeRefused(
            f"{cluster.name} runs {current}, newer than {target}: meshgen does not downgrade; "
            "to roll back, revert the merge commit of the step that brought it"
        )
    apart = spec.minors_apart(current, target)
    limit = MAX_IN_PLACE_MINORS if strategy == IN_PLACE else MAX_REVISION_MINORS
    if apart > limit:
        if strategy == IN_PLACE:
            hint = "use --strategy revision (up to two minor versions at once), or upgrade to "
            hint += f"{older.major}.{older.minor + 1}.x first"
        else:
            hint = f"upgrade to {older.major}.{older.minor + 2}.x first"
        raise UpgradeRefused(
            f"{cluster.name}: {current} -> {target} skips {apart - 1} minor version(s); "
            f"upstream supports {limit} minor version(s) at a time {strategy}: {hint}"
        )


def _check_revision_strategy(mesh: spec.Mesh, cluster: spec.Cluster) -> None:
    if mesh.ambient:
        raise UpgradeRefused(
            "the mesh runs the ambient data plane, which meshgen upgrades in place only "
            "(istio-cni and ztunnel run once per node, without revisions); pass "
            "--strategy in-place"
        )
    control = mesh.control_plane_of(cluster)
    if spec.EXTERNAL_CONTROL_PLANE in (cluster.role, control.role if control else None):
        raise UpgradeRefused(
            f"{cluster.name} is part of an external control plane, which meshgen upgrades in "
            "place only; pass --strategy in-place"
        )
    served = control if control is not None else cluster
    remotes = mesh.remotes_of(served.name)
    if remotes and served.discovery is not None and served.discovery.valid_certificate:
        raise UpgradeRefused(
            f"the remotes of {served.name} reach its istiod by injectionURL "
            "(discovery.validCertificate), which cannot tell revisions apart; pass "
            "--strategy in-place"
        )


def plan_upgrade(mesh: spec.Mesh, request: UpgradeRequest, catalogue: Catalogue) -> Step:
    """The step that moves the named clusters (default: every cluster not at the target)."""
    target, strategy = request.target, request.strategy
    if strategy not in STRATEGIES:
        raise UpgradeRefused(f"--strategy {strategy}: use {' or '.join(STRATEGIES)}")
    _check_target(target, catalogue)
    if not mesh.clusters and not (request.canary or request.clusters):
        if mesh.istio_version == target:
            raise UpgradeRefused(f"nothing to upgrade: the mesh is at Istio {target} already")
        change = spec.IstioChange(states={}, mesh_version=target)
        return Step(
            "upgrade", target, (), change, f"Use Istio {target}", f"meshgen/upgrade-istio-{target}"
        )
    named = (request.canary,) if request.canary else request.clusters
    candidates = _known(mesh, named) if named else list(mesh.clusters)
    new_revision = revision_name(target)
    states: dict[str, spec.IstioState] = {}
    for cluster in candidates:
        planes = mesh.control_planes_of(cluster)
        if len(planes) > 1:
            if not named and target in mesh.versions_of(cluster):
                continue  # already has the target next to its old revision
            revisions = ", ".join(f"{p.revision} ({p.version})" for p in planes)
            raise UpgradeRefused(
                f"{cluster.name} is in the middle of a revision-based upgrade ({revisions}); "
                "finish it first (meshgen upgrade --promote, then --finish)"
            )
        plane = planes[0]
        if plane.version == target:
            if named:
                raise UpgradeRefused(f"{cluster.name} already runs Istio {target}")
            continue
        _check_path(cluster, plane.version, target, strategy)
        if strategy == IN_PLACE:
            states[cluster.name] = _in_place_state(cluster, plane, target)
        else:
            _check_revision_strategy(mesh, cluster)
            if plane.revision == new_revision:
                raise UpgradeRefused(
                    f"{cluster.name} already runs a revision named {new_revision} "
                    f"({plane.version}); upgrade it in place (--strategy in-place)"
                )
            states[cluster.name] = _canary_state(cluster, plane, target, new_revision)
    if not states:
        raise UpgradeRefused(f"nothing to upgrade: every cluster already runs Istio {target}")
    moving = set(states)
    change = _normalized(mesh, spec.IstioChange(states=states), target)
    after = apply(mesh, change)
    for name in _in_file_order(mesh, moving):
        _check_not_alone(mesh, after, mesh.cluster(name), target)
    _refuse_skew(after, "upgrade")
    clusters = _in_file_order(mesh, moving)
    if strategy == IN_PLACE:
        title = f"Upgrade Istio to {target} in place: {meshdiff.name_list(clusters)}"
    else:
        title = f"Add Istio {target} (revision {new_revision}) next to the running control "
        title += f"plane: {meshdiff.name_list(clusters)}"
    if request.canary:
        title += " (canary)"
        branch = f"meshgen/upgrade-istio-{target}-canary-{request.canary}"
    elif named:
        branch = f"meshgen/upgrade-istio-{target}-{'-'.join(clusters[:3])}"
    else:
        branch = f"meshgen/upgrade-istio-{target}"
    return Step("upgrade", target, clusters, change, title, branch)


def _in_place_state(
    cluster: spec.Cluster, plane: spec.ControlPlane, target: str
) -> spec.IstioState:
    if cluster.istio.revisions:  # a revisioned cluster keeps its revision's name
        return dataclasses.replace(cluster.istio, revisions=((plane.revision, target),))
    return dataclasses.replace(cluster.istio, version=target)


def _canary_state(
    cluster: spec.Cluster, plane: spec.ControlPlane, target: str, new_revision: str
) -> spec.IstioState:
    """The old control plane keeps ``default`` (injection-enabled namespaces, validation, the
    east-west gateway) and ``stable``; ``canary`` lets namespaces try the new one."""
    tags = dict(cluster.istio.tags)
    tags.setdefault(spec.DEFAULT_TAG, plane.revision)
    tags.setdefault(STABLE_TAG, tags[spec.DEFAULT_TAG])
    tags[CANARY_TAG] = new_revision
    return spec.IstioState(
        revisions=((plane.revision, plane.version), (new_revision, target)),
        tags=tuple(tags.items()),
    )


def _check_not_alone(mesh: spec.Mesh, after: spec.Mesh, remote: spec.Cluster, target: str) -> None:
    """A remote moves with its control plane or after it, never before: what it will use must
    already run there, at its version or newer."""
    control = after.control_plane_of(remote)
    if remote.role != spec.REMOTE or control is None:
        return
    served = {p.revision: p.version for p in after.control_planes_of(control)}
    for plane in after.control_planes_of(after.cluster(remote.name)):
        version = served.get(plane.revision)
        if version is None or _semver(version) < _semver(plane.version):
            raise UpgradeRefused(
                f"{remote.name} is a remote of {control.name}, which does not run Istio "
                f"{target} yet: a remote never moves alone; name both (--clusters "
                f"{control.name},{remote.name}) or upgrade {control.name} first"
            )


# ----------------------------------------------------------------------------- promote, finish


def _upgrading(mesh: spec.Mesh) -> list[spec.Cluster]:
    return [c for c in mesh.clusters if len(mesh.control_planes_of(c)) > 1]


def upgrade_target(mesh: spec.Mesh, target: str | None) -> str:
    """The version a revision-based upgrade in progress goes to (the newest one running next
    to another), or ``target`` when given."""
    if target is not None:
        return target
    versions = {
        max((p.version for p in mesh.control_planes_of(c)), key=_semver) for c in _upgrading(mesh)
    }
    if not versions:
        raise UpgradeRefused(
            "no revision-based upgrade is in progress (no cluster runs two revisions); start "
            "one with meshgen upgrade --istio-version V, see meshgen upgrade --status"
        )
    if len(versions) > 1:
        raise UpgradeRefused(
            f"clusters are being upgraded to {', '.join(sorted(versions, key=_semver))}; say "
            "which with --istio-version"
        )
    return versions.pop()


def _old_and_new(
    mesh: spec.Mesh, cluster: spec.Cluster, target: str
) -> tuple[spec.ControlPlane, spec.ControlPlane] | None:
    planes = mesh.control_planes_of(cluster)
    new = [p for p in planes if p.version == target]
    old = [p for p in planes if p.version != target]
    if len(planes) != 2 or len(new) != 1:
        return None
    return old[0], new[0]


def plan_promote(mesh: spec.Mesh, names: tuple[str, ...], target: str | None) -> Step:
    """Move every tag of the old revision to the new one in the named clusters (default:
    every cluster); each must already run the new revision."""
    target = upgrade_target(mesh, target)
    new_revision = revision_name(target)
    candidates = _known(mesh, names) if names else list(mesh.clusters)
    states: dict[str, spec.IstioState] = {}
    missing = []
    for cluster in candidates:
        pair = _old_and_new(mesh, cluster, target)
        if pair is None:
            if mesh.versions_of(cluster) != (target,):
                missing.append(cluster.name)
            continue
        old, new = pair
        tags = dict(cluster.istio.tags)
        moved = [tag for tag, revision in tags.items() if revision == old.revision]
        if not moved:
            continue
        for tag in moved:
            tags[tag] = new.revision
        states[cluster.name] = dataclasses.replace(cluster.istio, tags=tuple(tags.items()))
    if missing:
        add = f"meshgen upgrade --istio-version {target}"
        if len(missing) <= meshdiff.NAMED_HOLDERS:
            add += f" --clusters {','.join(missing)}"
        raise UpgradeRefused(
            f"{meshdiff.name_list(missing)} not rendered at the new revision {new_revision} "
            f"yet (Istio {target}): add it first ({add}), or promote only the others with "
            "--clusters"
        )
    if not states:
        raise UpgradeRefused(f"nothing to promote: every tag already points at Istio {target}")
    moving = set(states)
    after = apply(mesh, spec.IstioChange(states=states))
    for cluster in after.clusters:
        control = after.control_plane_of(cluster)
        if cluster.name not in moving or control is None or control.name in moving:
            continue
        if after.default_revision_of(control) != after.default_revision_of(cluster):
            raise UpgradeRefused(
                f"{cluster.name} is a remote of {control.name}, whose tags still point at its "
                f"old revision: a remote never moves alone; promote both (--clusters "
                f"{control.name},{cluster.name}) or {control.name} first"
            )
    _refuse_skew(after, "promote")
    clusters = _in_file_order(mesh, moving)
    title = f"Promote Istio {target}: tags move to revision {new_revision} in "
    title += meshdiff.name_list(clusters)
    return Step(
        "promote",
        target,
        clusters,
        spec.IstioChange(states=states),
        title,
        f"meshgen/upgrade-istio-{target}-promote",
    )


def plan_finish(mesh: spec.Mesh, names: tuple[str, ...], target: str | None) -> Step:
    """Remove the old revision from the named clusters (default: every cluster running two),
    once no tag, default label or east-west gateway points at it."""
    target = upgrade_target(mesh, target)
    candidates = _known(mesh, names) if names else _upgrading(mesh)
    states: dict[str, spec.IstioState] = {}
    drop: set[str] = set()
    for cluster in candidates:
        pair = _old_and_new(mesh, cluster, target)
        if pair is None:
            if mesh.versions_of(cluster) == (target,):
                continue
            raise UpgradeRefused(
                f"{cluster.name} does not run Istio {target} next to its old revision; add it "
                f"and promote it first (meshgen upgrade --istio-version {target} --clusters "
                f"{cluster.name})"
            )
        old, new = pair
        still = sorted(tag for tag, revision in cluster.istio.tags if revision == old.revision)
        if still:
            raise UpgradeRefused(
                f"{cluster.name}: tag{'s' if len(still) > 1 else ''} {', '.join(still)} still "
                f"point{'' if len(still) > 1 else 's'} at revision {old.revision} "
                f"({old.version}); promote first (meshgen upgrade --promote) or move "
                f"{'them' if len(still) > 1 else 'it'} in mesh.yaml"
            )
        if (mesh.default_revision_of(cluster) or spec.UNREVISIONED) == old.revision:
            raise UpgradeRefused(
                f"{cluster.name}: namespaces labelled istio-injection=enabled, config validation "
                f"and the east-west gateway still use revision {old.revision} ({old.version}); "
                f"promote first (meshgen upgrade --promote)"
            )
        states[cluster.name] = dataclasses.replace(
            cluster.istio, revisions=((new.revision, new.version),)
        )
        if cluster.revision == old.revision:
            drop.add(cluster.name)
    if not states:
        raise UpgradeRefused(f"nothing to finish: no cluster runs a revision older than {target}")
    change = _normalized(
        mesh, spec.IstioChange(states=states, drop_revision=frozenset(drop)), target
    )
    after = apply(mesh, change)
    for cluster in after.clusters:
        control = after.control_plane_of(cluster)
        if control is not None and control.name in states and cluster.name not in states:
            served = {p.revision for p in after.control_planes_of(control)}
            gone = [
                p.revision for p in after.control_planes_of(cluster) if p.revision not in served
            ]
            if gone:
                raise UpgradeRefused(
                    f"remote {cluster.name} still uses revision {gone[0]} of {control.name}: "
                    f"finish both (--clusters {control.name},{cluster.name}), or move "
                    f"{cluster.name} first"
                )
    _refuse_skew(after, "finish")
    clusters = _in_file_order(mesh, set(states))
    return Step(
        "finish",
        target,
        clusters,
        change,
        f"Finish the upgrade to Istio {target}: old revisions go from "
        f"{meshdiff.name_list(clusters)}",
        f"meshgen/upgrade-istio-{target}-finish",
    )


# ------------------------------------------------------------------------------------ status


def _planes_text(planes: tuple[spec.ControlPlane, ...]) -> str:
    return " + ".join(
        f"{p.version} ({'unrevisioned' if not p.revisioned else 'revision ' + p.revision}"
        + (f"; tags {', '.join(p.tags)}" if p.tags else "")
        + ")"
        for p in planes
    )


@dataclass(frozen=True)
class Progress:
    """Where the mesh stands: the version it is going to (None: not upgrading), the clusters
    not there yet, and the next command."""

    target: str | None
    behind: tuple[str, ...]
    next_step: str | None
    summary: str


def progress(mesh: spec.Mesh) -> Progress:
    upgrading = _upgrading(mesh)
    versions = sorted({v for c in mesh.clusters for v in mesh.versions_of(c)}, key=_semver)
    if upgrading:
        target = max((p.version for c in upgrading for p in mesh.control_planes_of(c)), key=_semver)
    elif len(versions) > 1:  # an in-place upgrade part of the way
        target = versions[-1]
    else:
        shown = ", ".join(versions) or "-"
        return Progress(None, (), None, f"No upgrade in progress; the mesh runs Istio {shown}.")
    behind = tuple(c.name for c in mesh.clusters if target not in mesh.versions_of(c))
    if not upgrading:
        step = f"meshgen upgrade --istio-version {target} --strategy in-place"
        summary = f"Clusters run Istio {', '.join(versions)}; next: {step}"
        return Progress(target, behind, step, f"{summary} (for {meshdiff.name_list(behind)}).")
    old_tags = [
        c.name
        for c in upgrading
        if (pair := _old_and_new(mesh, c, target))
        and any(r == pair[0].revision for _, r in c.istio.tags)
    ]
    if behind:
        step, why = (
            f"meshgen upgrade --istio-version {target}",
            f" (for {meshdiff.name_list(behind)})",
        )
    elif old_tags:
        step, why = "meshgen upgrade --promote", ""
    else:
        step = "meshgen upgrade --finish"
        why = " (once no workload runs a proxy of the old revisions)"
    return Progress(
        target, behind, step, f"Upgrade to Istio {target} in progress; next: {step}{why}."
    )


def status_lines(mesh: spec.Mesh) -> list[str]:
    """Where every cluster stands, from mesh.yaml, and the next step."""
    width = max((len(c.name) for c in mesh.clusters), default=0)
    lines = []
    for cluster in mesh.clusters:
        role = cluster.role if cluster.role != spec.REMOTE else f"remote of {cluster.control_plane}"
        lines.append(
            f"{cluster.name.ljust(width)}  {role}: {_planes_text(mesh.control_planes_of(cluster))}"
        )
    return [*lines, progress(mesh).summary]


def status_document(mesh: spec.Mesh) -> dict[str, object]:
    """``--status`` as data (``-o json|yaml``)."""
    state = progress(mesh)
    return {
        "istioVersion": mesh.istio_version,
        "clusters": [
            {
                "name": cluster.name,
                "role": cluster.role,
                "controlPlane": cluster.control_plane,
                "defaultRevision": mesh.default_revision_of(cluster) or spec.UNREVISIONED,
                "controlPlanes": [
                    {
                        "revision": p.revision,
                        "version": p.version,
                        "release": p.release,
                        "tags": list(p.tags),
                    }
                    for p in mesh.control_planes_of(cluster)
                ],
            }
            for cluster in mesh.clusters
        ],
        "upgrade": None
        if state.target is None
        else {"target": state.target, "behind": list(state.behind), "next": state.next_step},
    }


# -------------------------------------------------------------------------------- apply order


def _chart_components(plan: ClusterPlan) -> dict[str, Component]:
    return {c.name: c for c in plan.components}


def apply_order(
    engine: str,
    before: tuple[spec.Mesh, list[ClusterPlan], dict[str, str]],
    after: tuple[spec.Mesh, list[ClusterPlan], dict[str, str]],
) -> list[str]:
    """Per cluster that changes, its releases and overlays in the order the engine applies
    them (Argo CD: sync waves; Flux: the ``dependsOn`` chain of ``istio-charts``, then
    ``mesh-config``), each with what changes; clusters that change alike share a line.
    ``before``/``after``: mesh, plans, rendered files."""
    old_mesh, old_plans, old_files = before
    new_mesh, new_plans, new_files = after
    changed = sorted(
        path
        for path in old_files.keys() | new_files.keys()
        if old_files.get(path) != new_files.get(path)
    )
    old_by_cluster = {p.cluster.name: p for p in old_plans}
    lines: list[tuple[str, str]] = []
    for plan in new_plans:
        old_plan = old_by_cluster.get(plan.cluster.name)
        if old_plan is None:
            continue
        folder = plan.folder + "/"
        mine = [path for path in changed if path.startswith(folder)]
        old_components = _chart_components(old_plan)
        new_components = _chart_components(plan)
        names = list(new_components) + [n for n in old_components if n not in new_components]
        order = sorted(
            names,
            key=lambda n: (
                (new_components.get(n) or old_components[n]).sync_wave,
                names.index(n),
            ),
        )
        steps = []
        for name in order:
            text = _component_change(
                (old_mesh, old_components.get(name), old_files),
                (new_mesh, new_components.get(name), new_files),
                mine,
            )
            if text is None:
                continue
            component = new_components.get(name) or old_components[name]
            where = f"wave {component.sync_wave}" if engine == "argocd" else None
            steps.append(f"{name} ({where}): {text}" if where else f"{name}: {text}")
        if steps:
            lines.append((plan.cluster.name, ": " + "; then ".join(steps)))
    return meshdiff.grouped(lines)


def _component_change(
    old: tuple[spec.Mesh, Component | None, dict[str, str]],
    new: tuple[spec.Mesh, Component | None, dict[str, str]],
    changed: list[str],
) -> str | None:
    """What changes for one component; ``changed``: the cluster's changed files."""
    (old_mesh, before, old_files), (new_mesh, after, new_files) = old, new
    if after is None:
        assert before is not None
        was = f" (was {component_version(old_mesh, before)})" if before.chart else ""
        return f"removed{was}"
    if before is None:
        return f"added, {component_version(new_mesh, after)}" if after.chart else "added"
    parts = []
    if after.chart is not None:
        previous, version = component_version(old_mesh, before), component_version(new_mesh, after)
        if previous != version:
            parts.append(f"{previous} -> {version}")
    own = [path for path in changed if _belongs(path, before, after)]
    if after.chart is not None and after.values_path in own:
        keys = changed_keys(old_files.get(after.values_path, ""), new_files[after.values_path])
        parts.append(f"values {', '.join(keys)}" if keys else "values")
    elif own:
        parts.append(", ".join(path.rsplit("/", 1)[-1] for path in own))
    return "; ".join(parts) or None


def changed_keys(old_text: str, new_text: str) -> list[str]:
    """The dotted keys whose value differs between two values files (lists as one value)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there is one
    found: list[str] = []

    def walk(a: object, b: object, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(a) + [k for k in b if k not in a]:
                walk(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        elif a != b:
            found.append(prefix)

    walk(yaml.load(old_text, Loader=loader) or {}, yaml.load(new_text, Loader=loader) or {}, "")
    return found


def _belongs(path: str, before: Component, after: Component) -> bool:
    """Whether ``path`` is the values file or an overlay file of the component."""
    for component in (before, after):
        if component.values_path == path:
            return True
        if component.overlay_path and path.startswith(component.overlay_path + "/"):
            return True
    return False
