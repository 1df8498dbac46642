"""Rendering only the clusters a change reaches gives exactly the full render.

For each rendering fixture of ``test_tree_hashes`` (both engines, every secrets provider,
primaries, remotes, external control planes, ambient, upgrade states, the bench mesh) and for
each change ``new-cluster`` and ``remove-cluster`` can make, the full render of the mesh
before, with the reached clusters' and shared files replaced as
:func:`meshgen.render.incremental.render_change` says, must be byte for byte the full render
after (the file record included). A second test holds the claim the module rests on: a
cluster's own files are the same when rendered from a mesh that holds only the clusters its
inputs name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from meshgen import library, manifest, spec
from meshgen.errors import MeshgenError
from meshgen.render import incremental, overlays, render_repository, values
from meshgen.render.engines import engine_for
from meshgen.render.plan import plan_mesh
from meshgen.render.secrets import provider_for
from render.test_tree_hashes import CASES

# The fixtures without traffic policies (with them, render_change is not used).
NAMES = [name for name in CASES if name != "traffic/reviews" and "scale-100" not in name]


def document_of(name: str) -> spec.MeshDocument:
    document, _ = CASES[name]()
    return spec.parse(spec.to_text(document))


def changes_of(name: str) -> list[tuple[str, spec.MeshDocument]]:
    """Every edit the two commands make on the fixture that gives a valid mesh (each on a
    fresh document: the round-trip path edits its tree in place)."""
    mesh = document_of(name).mesh
    networks = list(mesh.networks)
    primaries = [c.name for c in mesh.clusters if c.role == spec.PRIMARY]
    requests = [
        spec.NewCluster("added-primary", networks[0]),
        spec.NewCluster("added-elsewhere", networks[-1], east_west_gateway=True),
        spec.NewCluster("added-network", "added-net", east_west_gateway=True),
    ]
    requests += [
        spec.NewCluster(f"added-remote-{p}", networks[0], role=spec.REMOTE, control_plane=p)
        for p in primaries[:2]
    ]
    edits = []
    for request in requests:
        try:
            added, _ = spec.add_cluster(document_of(name), request)
        except MeshgenError:
            continue
        edits.append((f"add {request.name}", added))
    for cluster in mesh.clusters:
        try:
            removed, _ = spec.remove_cluster(document_of(name), cluster.name, force=True)
        except MeshgenError:
            continue
        edits.append((f"remove {cluster.name}", removed))
    return edits


def applied(before_files: dict[str, str], change: incremental.Change) -> dict[str, str]:
    """The full render before, with ``change`` applied as the command applies it."""
    recorded = manifest.RenderedRecord(before_files[manifest.PATH])
    files = {p: t for p, t in before_files.items() if p not in change.before}
    files.update(change.after)
    digests = {path: manifest.digest(text.encode()) for path, text in change.after.items()}
    record, listed = incremental.record_after(recorded, change, digests)
    files[manifest.PATH] = record
    assert listed == len(files) - 1  # every file but the record itself
    return dict(sorted(files.items()))


@pytest.mark.parametrize("name", NAMES)
def test_a_change_rendered_for_the_reached_clusters_equals_the_full_render(name: str) -> None:
    lib = library.load()
    document = document_of(name)
    before_files = render_repository(document.mesh, lib)
    taken = 0
    for label, after in changes_of(name):
        change = incremental.render_change(document.mesh, after.mesh, lib)
        if change is None:
            continue
        taken += 1
        before_plans = plan_mesh(document.mesh, lib.chart_profiles)
        reused, reached = incremental.plans_after(document.mesh, after.mesh, before_plans, lib)
        assert reused == plan_mesh(after.mesh, lib.chart_profiles), f"{name}: {label}"
        # Reached: the clusters whose plan or relations differ, worked out from both plans.
        old = {
            p.cluster.name: (p, *incremental.relations(document.mesh, p.cluster)[1:])
            for p in before_plans
        }
        new = {
            p.cluster.name: (p, *incremental.relations(after.mesh, p.cluster)[1:]) for p in reused
        }
        differ = {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
        assert reached == differ == set(change.reached), f"{name}: {label}"
        expected = render_repository(after.mesh, lib)
        assert applied(before_files, change) == expected, f"{name}: {label}"
        # Only the clusters added or removed and a few related ones are rendered.
        moved = abs(len(after.mesh.clusters) - len(document.mesh.clusters))
        assert len(change.reached) <= moved + 3, f"{name}: {label} reached {change.reached}"
    if document.mesh.secrets_provider in incremental.PROVIDERS:
        assert taken, f"{name}: no change was rendered incrementally"


def test_what_cannot_be_vouched_for_is_declined() -> None:
    lib = library.load()
    document = document_of("example/two-networks/sealed-secrets")
    after, _ = spec.add_cluster(document, spec.NewCluster("c9", "network1"))
    assert incremental.render_change(document.mesh, after.mesh, lib) is None
    document = document_of("bench/scale-10")
    after, _ = spec.add_cluster(document, spec.NewCluster("c9", "brand-new-network"))
    assert incremental.render_change(document.mesh, after.mesh, lib) is None  # networks


def own_files(mesh: spec.Mesh, name: str) -> dict[str, str]:
    """The files render_repository writes for cluster ``name`` alone (its folder, and its parts
    of the provider's shared files)."""
    lib = library.load()
    plan = next(p for p in plan_mesh(mesh, lib.chart_profiles) if p.cluster.name == name)
    provider, engine = provider_for(mesh), engine_for(mesh)
    files = values.cluster_values_files(mesh, plan, istiod_extra=None)
    files.update(overlays.cluster_files(mesh, plan, provider))
    files.update(engine.cluster_files(mesh, plan))
    aggregates = provider.shared_files(mesh, only=())
    files.update(
        (path, text)
        for path, text in provider.shared_files(mesh, only={name}).items()
        if path not in aggregates
    )
    return files


def named_by_inputs(mesh: spec.Mesh, cluster: spec.Cluster) -> list[Any]:
    """The clusters :func:`incremental.relations` names for ``cluster``: itself, its
    control plane, its remotes, and (for the remote-secret aggregate) one other primary."""
    names = {cluster.name}
    control = mesh.control_plane_of(cluster)
    if control is not None:
        names.add(control.name)
    names |= {r.name for r in mesh.remotes_of(cluster.name)}
    others = [c.name for c in mesh.primaries if c.name != cluster.name]
    if cluster.role == spec.PRIMARY and others:
        names.add(others[0])
    return [c for c in mesh.clusters if c.name in names]


@pytest.mark.parametrize("name", NAMES)
def test_a_clusters_files_depend_only_on_what_its_inputs_name(name: str) -> None:
    mesh = document_of(name).mesh
    if mesh.secrets_provider not in incremental.PROVIDERS:
        pytest.skip(f"{mesh.secrets_provider}: incremental rendering declines it")
    for cluster in mesh.clusters:
        alone = dataclasses.replace(mesh, clusters=tuple(named_by_inputs(mesh, cluster)))
        assert own_files(alone, cluster.name) == own_files(mesh, cluster.name), cluster.name
