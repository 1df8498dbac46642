"""Secret providers: how each cluster's remote secrets and its CA arrive without Git.

A provider contributes shared files, what a cluster's ``istio-system`` overlay includes, and
the README section that tells a person what to put where. Secret *values* never pass through
meshgen's rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from meshgen.spec import PRIMARY, REMOTE, Cluster, Mesh

REMOTE_SECRET_PREFIX = "istio-remote-secret-"
CACERTS = "cacerts"  # istiod's plug-in CA Secret (security/pkg/pki/ca/ca.go CACertsSecret)


def remote_secret_name(cluster: str) -> str:
    """The Secret name ``istioctl create-remote-secret --name <cluster>`` would create."""
    return f"{REMOTE_SECRET_PREFIX}{cluster}"


def peers_of(mesh: Mesh, cluster: Cluster) -> list[str]:
    """Clusters whose remote secret ``cluster`` needs, sorted.

    A primary's istiod watches every other primary and its own remotes; a remote runs no istiod
    and needs none; an external control plane reads its config cluster through
    ``istio-kubeconfig`` instead. This list is O(clusters); renderers that run per cluster use
    :func:`other_primaries` and :meth:`Mesh.remotes_of` instead.
    """
    if cluster.role != PRIMARY:
        return []
    others = [c.name for c in mesh.primaries if c.name != cluster.name]
    return sorted(others + [r.name for r in mesh.remotes_of(cluster.name)])


def other_primaries(mesh: Mesh, cluster: Cluster) -> bool:
    """Whether a primary ``cluster`` shares the mesh with another primary (in O(1))."""
    return cluster.role == PRIMARY and len(mesh.primaries) > 1


def discovered_clusters(mesh: Mesh) -> list[Cluster]:
    """Every cluster some primary needs the remote secret of: the primaries (when there are
    several) and the remotes of primaries. Sorted by name. Worked out once per mesh (the
    provider's files and README ask for it several times), and a copy handed out."""
    return list(mesh.derive("render.secrets.discovered_clusters", lambda: _discovered(mesh)))


def _discovered(mesh: Mesh) -> tuple[Cluster, ...]:
    many = len(mesh.primaries) > 1
    chosen = [
        c for c in mesh.clusters if (c.role == PRIMARY and many) or _remote_of_a_primary(mesh, c)
    ]
    return tuple(sorted(chosen, key=lambda c: c.name))


def _remote_of_a_primary(mesh: Mesh, cluster: Cluster) -> bool:
    control = mesh.control_plane_of(cluster)
    return cluster.role == REMOTE and control is not None and control.role == PRIMARY


ISTIO_KUBECONFIG = "istio-kubeconfig"
REMOTE_SECRETS = "overlays/remote-secrets"


def placeholder_tree(
    mesh: Mesh, placeholder_files: list[str], only: Collection[str] | None = None
) -> dict[str, str]:
    """The shared placeholder folders: ``overlays/remote-secrets/<c>/`` for every cluster some
    primary watches, listing ``placeholder_files``, plus the aggregate of the primaries' folders
    that each primary includes (and deletes its own from, see :func:`own_placeholder_patch`).
    Adding a primary changes one line of the aggregate, so the repository grows linearly.
    ``only``: the folders of these clusters alone (the aggregate always)."""
    from meshgen.render.files import kustomization, yaml_file

    files = {}
    if len(mesh.primaries) > 1:
        names = [c.name for c in mesh.primaries]
        files[f"{REMOTE_SECRETS}/kustomization.yaml"] = yaml_file(kustomization(resources=names))
    for cluster in chosen(discovered_clusters(mesh), only):
        files[f"{REMOTE_SECRETS}/{cluster.name}/kustomization.yaml"] = yaml_file(
            kustomization(resources=placeholder_files)
        )
    return files


def chosen(clusters: Iterable[Cluster], only: Collection[str] | None) -> list[Cluster]:
    """``clusters``, or those named in ``only`` when given."""
    return [c for c in clusters if only is None or c.name in only]


def placeholder_resources(mesh: Mesh, cluster: Cluster) -> list[str]:
    """What a cluster's system-namespace overlay includes from :func:`placeholder_tree`."""
    from meshgen.render.overlays import relative_to_cluster_overlay

    if cluster.role != PRIMARY:
        return []
    resources = [REMOTE_SECRETS] if other_primaries(mesh, cluster) else []
    resources += [f"{REMOTE_SECRETS}/{remote.name}" for remote in mesh.remotes_of(cluster.name)]
    return [relative_to_cluster_overlay(path) for path in resources]


def own_placeholder_patch(
    mesh: Mesh, cluster: Cluster, api_version: str, kind: str
) -> list[dict[str, Any]]:
    """The patch deleting a primary's own placeholder from the aggregate it includes."""
    from meshgen.render import yamltext
    from meshgen.render.plan import ISTIO_NAMESPACE

    if not other_primaries(mesh, cluster):
        return []
    own = {
        "$patch": "delete",
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": remote_secret_name(cluster.name), "namespace": ISTIO_NAMESPACE},
    }
    return [{"patch": yamltext.dump(own)}]


def runs_istiod(cluster: Cluster) -> bool:
    """Whether an istiod runs in the cluster (a primary's, or an external control plane's for
    its config cluster), and so needs a ``cacerts`` Secret; a remote has none."""
    return cluster.runs_istiod


def expected_secrets(mesh: Mesh, cluster: Cluster) -> list[str]:
    """Names of the Secrets ``cluster`` needs in ``istio-system``: cacerts, then remote secrets."""
    own = [CACERTS] if runs_istiod(cluster) else []
    return own + [remote_secret_name(peer) for peer in peers_of(mesh, cluster)]


@dataclass(frozen=True)
class Placeholder:
    """The repository file that brings a cluster's ``cacerts``, how a person makes it, and
    what happens while it is missing."""

    path: str
    how_to_make: str
    while_missing: str = "istiod would start with a self-signed CA and cross-cluster mTLS fails"


class SecretProvider(Protocol):
    name: str

    def shared_files(self, mesh: Mesh, only: Collection[str] | None = None) -> dict[str, str]:
        """Files outside the clusters' folders: aggregates listing clusters, and per-cluster
        parts (a remote-secret placeholder, say), which are a function of the mesh's settings
        and the cluster's own inputs (see :mod:`meshgen.render.incremental`); ``only``: the
        parts of these clusters alone."""
        ...

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]: ...

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]: ...

    def readme_section(self, mesh: Mesh) -> str: ...

    def decryption_secret(self, mesh: Mesh) -> str | None:
        """Secret (in the engine's namespace) with the keys to decrypt what this provider keeps
        encrypted in Git; None when nothing in Git is encrypted."""
        ...

    def cacerts_placeholder(self, mesh: Mesh, cluster: Cluster) -> Placeholder | None:
        """The file that brings ``cluster``'s cacerts (None: the provider has none in Git)."""
        ...


def missing_cacerts(
    mesh: Mesh, provider: SecretProvider, exists: Callable[[str], bool]
) -> list[str]:
    """Warnings for clusters running istiod whose cacerts placeholder is not in the repository.

    Pure: ``exists(path)`` answers for repository paths. For ``meshgen validate``.
    """
    problems = []
    for cluster in sorted(mesh.clusters, key=lambda c: c.name):
        if not runs_istiod(cluster):
            continue
        placeholder = provider.cacerts_placeholder(mesh, cluster)
        if placeholder is not None and not exists(placeholder.path):
            problems.append(
                f"{placeholder.path}: cluster {cluster.name} has no cacerts placeholder, so "
                f"{placeholder.while_missing}; {placeholder.how_to_make}"
            )
    return problems


def provider_for(mesh: Mesh) -> SecretProvider:
    if mesh.secrets_provider == "external-secrets":
        from meshgen.render.secrets.external_secrets import ExternalSecretsProvider

        return ExternalSecretsProvider()
    if mesh.secrets_provider == "manual":
        from meshgen.render.secrets.manual import ManualProvider

        return ManualProvider()
    if mesh.secrets_provider == "sops":
        from meshgen.render.secrets.sops import SopsProvider

        return SopsProvider()
    if mesh.secrets_provider == "sealed-secrets":
        from meshgen.render.secrets.sealed_secrets import SealedSecretsProvider

        return SealedSecretsProvider()
    raise ValueError(f"unknown secrets provider {mesh.secrets_provider!r}")
