"""What meshgen knows about the Kubernetes Gateway API, which Istio's ambient mode builds on.

Pure: the release asset a cluster installs the CRDs from, versions compared as numbers, and the
Gateway classes and ports Istio's ambient data plane uses. The release an Istio line is built
against comes from the release catalogue (``charts/istio-releases.yaml``, ``gatewayAPI``).
"""

from __future__ import annotations

import re

GROUP = "gateway.networking.k8s.io"
API_VERSION = f"{GROUP}/v1"
# The standard channel, as upstream's ambient multicluster install applies it. The release
# asset concatenates the channel's CRDs (and, from v1.5, the safe-upgrades admission policy).
CHANNEL = "standard"
RELEASE_URL = "https://github.com/kubernetes-sigs/gateway-api/releases/download/{version}/{asset}"
ASSET = f"{CHANNEL}-install.yaml"
BUNDLE_VERSION = f"{GROUP}/bundle-version"
CHANNEL_ANNOTATION = f"{GROUP}/channel"

# Istio's Gateway classes (istiod registers istio-east-west only with AMBIENT_ENABLE_MULTI_NETWORK).
EAST_WEST_CLASS = "istio-east-west"
WAYPOINT_CLASS = "istio-waypoint"
HBONE_PORT = 15008
EAST_WEST_NAME = "istio-eastwestgateway"
WAYPOINT_FOR = "istio.io/waypoint-for"
GLOBAL_LABEL = "istio.io/global"

_URL = re.compile(
    r"^https://github\.com/kubernetes-sigs/gateway-api/releases/download/"
    r"(?P<version>v[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?)/(?P<asset>[a-z-]+\.yaml)$"
)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def release_url(version: str) -> str:
    """Where the standard-channel CRDs of ``version`` (``v1.4.1``) are published."""
    return RELEASE_URL.format(version=version, asset=ASSET)


def release_of_url(url: str) -> tuple[str, str] | None:
    """(version, channel) of a Gateway API release asset URL; None for any other URL."""
    match = _URL.match(url)
    if match is None:
        return None
    channel = match["asset"].removesuffix("-install.yaml")
    return (match["version"], channel) if channel in ("standard", "experimental") else None


def version_key(version: str) -> tuple[int, int, int] | None:
    """``v1.4.1`` as (1, 4, 1), to compare; None when it is not a version."""
    match = _VERSION.match(str(version).strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def older(version: str, than: str) -> bool:
    """Whether ``version`` is an older Gateway API release than ``than`` (unreadable: no)."""
    a, b = version_key(version), version_key(than)
    return a is not None and b is not None and a < b
