"""Errors about a command-line value named by its flag, not by a mesh.yaml line it has none of.

``new-cluster`` and ``set-cluster`` put their options into ``mesh.yaml`` and let the spec check
the result. A value that breaks a rule is the option's fault: the line the spec names exists
only in memory, so the error names the option instead (``--api-server: ...``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from meshgen.errors import MeshgenError, SpecError

# mesh.yaml keys of a cluster entry, and the option (or argument) that sets each.
FLAG_OF_KEY = {
    "name": "NAME",
    "network": "--network",
    "role": "--role",
    "controlPlane": "--control-plane",
    "revision": "--istio-revision",
    "eastWestGateway": "--east-west-gateway/--no-east-west-gateway",
    "apiServer": "--api-server",
    "podCIDRs": "--pod-cidr",
    "serviceCIDRs": "--service-cidr",
    "region": "--region",
    "zone": "--zone",
    "discovery": "--discovery-address",
}
_FIELD = re.compile(r"^(clusters|networks)\[(\d+)\]\.?([A-Za-z]*)")


@contextmanager
def named_by_flag(
    clusters: dict[int, Collection[str]], network_index: int | None = None
) -> Iterator[None]:
    """Turn a SpecError about a key the command set (``clusters``: cluster index -> keys) or
    about the network it declared (at ``network_index``) into an error naming the option."""
    try:
        yield
    except SpecError as error:
        match = _FIELD.match(error.field)
        if match is None:
            raise
        section, index, key = match.group(1), int(match.group(2)), match.group(3)
        if section == "networks" and index == network_index:
            flag: str | None = FLAG_OF_KEY["network"]
        elif section == "clusters" and key in clusters.get(index, ()):
            flag = FLAG_OF_KEY.get(key)
        else:
            flag = None
        if flag is None:
            raise
        raise MeshgenError(f"{flag}: {error.detail}") from None
