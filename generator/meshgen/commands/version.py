"""``meshgen version``: meshgen's version, the Istio version it renders by default, and the
versions of the helm and kubectl (kustomize) it pins. Offline and instant: nothing is run."""

from __future__ import annotations

from typing import Any

from meshgen import __version__, output
from meshgen.adapters import toolchain


def default_istio_version() -> str:
    """The Istio version ``meshgen init`` writes when ``--istio-version`` is not given."""
    from meshgen import spec

    return spec.DEFAULT_ISTIO_VERSION


def version_document() -> dict[str, Any]:
    return {
        "meshgenVersion": __version__,
        "defaultIstioVersion": default_istio_version(),
        "pinnedTools": {
            "helm": toolchain.HELM_VERSION,
            "kubectl": toolchain.KUBECTL_VERSION,
            "kustomize": toolchain.KUSTOMIZE_VERSION,
        },
        "platform": toolchain.platform_key(),
    }


def version_text() -> str:
    info = version_document()
    tools = info["pinnedTools"]
    return "\n".join(
        [
            f"meshgen   {info['meshgenVersion']}",
            f"istio     {info['defaultIstioVersion']}  (rendered by default; --istio-version)",
            f"helm      {tools['helm']}  (pinned)",
            f"kubectl   {tools['kubectl']}  (pinned; kustomize {tools['kustomize']})",
            f"platform  {info['platform']}",
        ]
    )


def run(output_format: str) -> int:
    if output_format == "text":
        output.raw(version_text() + "\n")
    else:
        output.document(version_document(), output_format)
    return 0
