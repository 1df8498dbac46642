"""Secret providers: how each cluster's remote secrets and its CA arrive without Git.

A provider contributes shared files, what a cluster's ``istio-system`` overlay includes, and
the README section that tells a person what to put where. Secret *values* never pass through
meshgen's rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from meshgen.spec import Cluster, Mesh

REMOTE_SECRET_PREFIX = "istio-remote-secret-"
CACERTS = "cacerts"  # istiod's plug-in CA Secret (security/pkg/pki/ca/ca.go CACertsSecret)


def remote_secret_name(cluster: str) -> str:
    """The Secret name ``istioctl create-remote-secret --name <cluster>`` would create."""
    return f"{REMOTE_SECRET_PREFIX}{cluster}"


def peers_of(mesh: Mesh, cluster: Cluster) -> list[str]:
    """Clusters whose remote secret ``cluster`` needs: every other cluster (multi-primary).

    This list is O(clusters); ask :func:`has_peers` when only its emptiness matters.
    """
    return sorted(c.name for c in mesh.clusters if c.name != cluster.name)


def has_peers(mesh: Mesh, cluster: Cluster) -> bool:
    """Whether ``cluster`` needs any remote secret (in multi-primary: any other cluster)."""
    return any(c.name != cluster.name for c in mesh.clusters[:2])


def runs_istiod(cluster: Cluster) -> bool:
    """Whether the cluster runs its own istiod, and so needs a ``cacerts`` Secret.

    Every cluster is a primary today; remote clusters (without istiod) will answer False.
    """
    return cluster.role == "primary"


def expected_secrets(mesh: Mesh, cluster: Cluster) -> list[str]:
    """Names of the Secrets ``cluster`` needs in ``istio-system``: cacerts, then remote secrets."""
    own = [CACERTS] if runs_istiod(cluster) else []
    return own + [remote_secret_name(peer) for peer in peers_of(mesh, cluster)]


@dataclass(frozen=True)
class Placeholder:
    """The repository file that brings a cluster's ``cacerts``, and how a person makes it."""

    path: str
    how_to_make: str


class SecretProvider(Protocol):
    name: str

    def shared_files(self, mesh: Mesh) -> dict[str, str]: ...

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]: ...

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]: ...

    def readme_section(self, mesh: Mesh) -> str: ...

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
                "istiod would start with a self-signed CA and cross-cluster mTLS fails; "
                f"{placeholder.how_to_make}"
            )
    return problems


def provider_for(mesh: Mesh) -> SecretProvider:
    if mesh.secrets_provider == "external-secrets":
        from meshgen.render.secrets.external_secrets import ExternalSecretsProvider

        return ExternalSecretsProvider()
    if mesh.secrets_provider == "manual":
        from meshgen.render.secrets.manual import ManualProvider

        return ManualProvider()
    if mesh.secrets_provider == "sealed-secrets":
        from meshgen.render.secrets.sealed_secrets import SealedSecretsProvider

        return SealedSecretsProvider()
    raise ValueError(f"unknown secrets provider {mesh.secrets_provider!r}")
