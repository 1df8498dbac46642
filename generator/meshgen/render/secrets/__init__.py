"""Secret providers: how each cluster's remote secrets (and later its CA) arrive without Git.

A provider contributes shared files, what a cluster's ``istio-system`` overlay includes, and
the README section that tells a person what to put where. Secret *values* never pass through
meshgen's rendering.
"""

from __future__ import annotations

from typing import Any, Protocol

from meshgen.spec import Cluster, Mesh

REMOTE_SECRET_PREFIX = "istio-remote-secret-"


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


class SecretProvider(Protocol):
    name: str

    def shared_files(self, mesh: Mesh) -> dict[str, str]: ...

    def cluster_resources(self, mesh: Mesh, cluster: Cluster) -> list[str]: ...

    def cluster_patches(self, mesh: Mesh, cluster: Cluster) -> list[dict[str, Any]]: ...

    def readme_section(self, mesh: Mesh) -> str: ...

    def decryption_secret(self, mesh: Mesh) -> str | None:
        """Secret (in the engine's namespace) with the keys to decrypt what this provider keeps
        encrypted in Git; None when nothing in Git is encrypted."""
        ...


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
    raise ValueError(f"unknown secrets provider {mesh.secrets_provider!r}")
