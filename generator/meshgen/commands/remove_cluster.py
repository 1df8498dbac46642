"""``meshgen remove-cluster``: take a cluster out of mesh.yaml, render, and commit on a branch.

Rendering again removes everything generated for the cluster: its folder, its root
Application, its remote-secret placeholder and every other cluster's reference to it. What
lives outside Git (the secret store, Argo CD's cluster registration, secrets applied by hand)
is listed for the person who merges.
"""

from __future__ import annotations

from pathlib import Path

from meshgen import mesh_repo, meshdiff, output, spec, traffic
from meshgen.commands import _change
from meshgen.errors import MeshgenError
from meshgen.render.plan import cluster_folder
from meshgen.render.secrets import ISTIO_KUBECONFIG, remote_secret_name
from meshgen.render.secrets.external_secrets import (
    cacerts_store_key,
    config_store_key,
    store_key,
)
from meshgen.render.secrets.sealed_secrets import sealed_path
from meshgen.render.secrets.sops import cacerts_path, encrypted_path


def cleanup_outside_git(before: spec.Mesh, removal: spec.Removal) -> list[str]:
    """What a person must remove by hand once the change is merged and the engine has synced."""
    steps = []
    for cluster in removal.clusters:
        name = cluster.name
        if before.engine == "flux":
            steps.append(
                f"Flux: in {name}, delete the HelmReleases (Istio goes with them), then "
                "`flux uninstall`: its flux-system Kustomization now syncs a path that is gone"
            )
        else:
            steps.append(
                f"Argo CD: once the root Application {name} and its children are gone (their "
                f"cascade finalizer uninstalls Istio from {name}), unregister the cluster: "
                f"argocd cluster rm {name}"
            )
        control = before.control_plane_of(cluster)
        external = control is not None and control.role == spec.EXTERNAL_CONTROL_PLANE
        if before.secrets_provider == "external-secrets":
            keys = [store_key(before, name)]
            if cluster.runs_istiod:
                keys.append(cacerts_store_key(before, name))
            if external:
                keys.append(config_store_key(before, name))
            steps.append(
                f"Secret store {before.secret_store_kind}/{before.secret_store_name}: delete "
                f"{' and '.join(keys)}"
            )
        elif before.secrets_provider == "manual":
            holders = sorted(meshdiff.holders_of(before, cluster))
            gone = {c.name for c in removal.clusters}
            holders = [h for h in holders if h not in gone]
            if holders:
                steps.append(
                    f"Remote secrets applied by hand: kubectl -n istio-system delete secret "
                    f"{remote_secret_name(name)} in {', '.join(holders)}"
                )
            if external and control is not None:
                steps.append(
                    f"Secret {ISTIO_KUBECONFIG} in {spec.EXTERNAL_ISTIOD_NAMESPACE} of "
                    f"{control.name}: delete it by hand"
                )
    return steps


def secret_files_of(root: Path, mesh: spec.Mesh, removal: spec.Removal) -> list[str]:
    """Files meshgen's commands wrote for the removed clusters that ``render`` does not own
    (they carry no generated mark): encrypted remote secrets and cacerts (``sops``), and the
    SealedSecrets in the clusters' folders and in every other cluster's for them
    (``sealed-secrets``)."""
    found = []
    gone = {c.name for c in removal.clusters}
    if mesh.secrets_provider == "sops":
        found += [encrypted_path(name) for name in sorted(gone)]
        found += [cacerts_path(mesh, c) for c in removal.clusters]
    if mesh.secrets_provider == "sealed-secrets":
        for cluster in mesh.clusters:
            if cluster.name in gone:
                folder = root / cluster_folder(cluster.name)
                found += [p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file()]
            else:
                found += [sealed_path(cluster.name, remote_secret_name(g)) for g in gone]
    return sorted(path for path in found if (root / path).is_file())


def traffic_naming(policies: traffic.TrafficPolicies, removal: spec.Removal) -> list[str]:
    """``file (fields)`` of each traffic file that names a removed cluster."""
    gone = {c.name for c in removal.clusters}
    return [f"{path} ({', '.join(fields)})" for path, fields in policies.naming(gone).items()]


def run(name: str, force: bool, options: _change.BranchOptions) -> int:
    proposal = _change.open_proposal(options, f"meshgen/remove-cluster-{name}")
    before = proposal.document.mesh
    policies = traffic.parse_files(mesh_repo.read_traffic(proposal.root))
    updated, removal = spec.remove_cluster(proposal.document, name, force)
    names = ", ".join(c.name for c in removal.clusters)
    naming = traffic_naming(policies, removal)
    if naming and not force:
        raise MeshgenError(
            f"{names} is named by traffic policies: {'; '.join(naming)}; change those files "
            "first, or pass --force to remove it anyway (their policies are then not rendered "
            "until the files are changed)"
        )
    kept = policies.without_clusters({c.name for c in removal.clusters})
    traffic.check(updated.mesh, kept)
    changes = proposal.plan(updated, kept)
    leftovers = secret_files_of(proposal.root, before, removal)
    changes.remove = sorted({*changes.remove, *leftovers})
    summary = meshdiff.summarize(before, updated.mesh) + proposal.moves
    summary += traffic.summarize(before, policies, updated.mesh, kept)
    cleanup = cleanup_outside_git(before, removal)
    title = f"Remove cluster {names} from mesh {updated.mesh.mesh_id}"
    stale = [
        f"Traffic: {entry} names {names}; its policy is left out until the file is changed."
        for entry in naming
    ]
    body = [*summary, *stale, "", "After merge, outside Git:", *(f"- {step}" for step in cleanup)]
    base_branch = proposal.apply(changes, title, body, "remove-cluster")

    forced = [c.name for c in removal.clusters[1:]]
    lines = [f"--force: {', '.join(forced)} removed too (remotes of {name})."] if forced else []
    lines += [f"--force: {line}" for line in stale]
    proposal.report(
        f"Removed {names} from mesh {updated.mesh.mesh_id}",
        [*lines, *summary],
        (before, updated.mesh),
        changes,
        base_branch,
    )
    output.info("After merge, clean up outside Git:")
    for step in cleanup:
        output.info(f"  - {step}")
    return 0
