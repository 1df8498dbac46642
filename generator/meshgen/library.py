"""meshgen's own static knowledge: the input schemas (mesh.yaml, traffic files), chart
profiles, the Istio release catalogue and vendored overlays.

In a source checkout these live at the top of the repository (``schemas/``, ``charts/``,
``overlays/``); in an installed wheel they travel inside the package as ``meshgen/_data/``.
Everything is read once and cached: the rendering core receives it as plain data.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from meshgen.releases import Catalogue, parse_catalogue

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The folder ``name`` (charts, overlays, schemas) of the installed package or the checkout."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"meshgen data folder {name!r} is missing; reinstall meshgen")


@cache
def mesh_schema_text() -> str:
    return (data_dir("schemas") / "mesh.schema.json").read_text(encoding="utf-8")


@cache
def mesh_schema() -> dict[str, Any]:
    return json.loads(mesh_schema_text())


@cache
def traffic_schema() -> dict[str, Any]:
    """The JSON Schema of a TrafficPolicy document (``traffic/*.yaml``)."""
    return json.loads((data_dir("schemas") / "traffic.schema.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class ChartProfile:
    """How meshgen installs one upstream Istio chart (from ``charts/<chart>/meshgen.yaml``)."""

    chart: str
    release: str
    namespace: str
    sync_wave: int
    values: dict[str, Any] = field(default_factory=dict)
    ignore_webhook_drift: bool = False


@cache
def chart_profiles() -> dict[str, ChartProfile]:
    from ruamel.yaml import YAML

    reader = YAML(typ="safe", pure=True)
    profiles = {}
    for path in sorted(data_dir("charts").glob("*/meshgen.yaml")):
        raw = reader.load(path.read_text(encoding="utf-8"))
        profiles[raw["chart"]] = ChartProfile(
            chart=raw["chart"],
            release=raw["release"],
            namespace=raw["namespace"],
            sync_wave=int(raw["syncWave"]),
            values=raw.get("values") or {},
            ignore_webhook_drift=bool(raw.get("ignoreWebhookDrift", False)),
        )
    return profiles


RELEASES_FILE = "istio-releases.yaml"


def read_catalogue(text: str, fast: bool = True) -> Any:
    """The release catalogue's data: read by libyaml (every command reads the catalogue at
    start-up: 2 ms instead of ruamel's 30), or by ruamel's pure-Python reader without
    libyaml or with ``fast=False``. ``tests/test_releases.py`` holds the two to the same data
    (the file uses nothing on which YAML 1.1 and 1.2 differ)."""
    if fast:
        try:
            from yaml import CSafeLoader
            from yaml import load as libyaml_load
        except ImportError:
            pass
        else:
            return libyaml_load(text, Loader=CSafeLoader)
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


@cache
def istio_releases() -> Catalogue:
    """The Istio release catalogue (``charts/istio-releases.yaml``)."""
    path = data_dir("charts") / RELEASES_FILE
    raw = read_catalogue(path.read_text(encoding="utf-8"))
    try:
        return parse_catalogue(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise RuntimeError(f"{path}: broken release catalogue ({exc}); reinstall meshgen") from exc


@cache
def vendored_overlays() -> dict[str, str]:
    """Every file under ``overlays/``, keyed by its path relative to that folder (POSIX)."""
    root = data_dir("overlays")
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "README.md"
    }


def load() -> Any:
    """Everything the rendering core needs from meshgen's data folders."""
    from meshgen.render import Library

    return Library(
        chart_profiles=chart_profiles(),
        vendored_overlays=vendored_overlays(),
        mesh_schema=mesh_schema(),
        traffic_schema=traffic_schema(),
    )


@cache
def code_fingerprint() -> str:
    """The SHA-256 of what meshgen's results are made of besides their inputs: this meshgen's
    code and data files (path, size, modification time), its version and Python's. Caches
    kept between runs (the render memo, validate's cache) key on it, so an edited or
    reinstalled meshgen never replays an older one's results."""
    from meshgen import __version__

    parts = [__version__, sys.version]
    folders = [Path(__file__).resolve().parent]
    folders += [data_dir(name) for name in ("charts", "overlays", "schemas")]
    for folder in folders:
        for current, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(name for name in dirnames if name != "__pycache__")
            for name in sorted(filenames):
                info = os.stat(os.path.join(current, name))
                parts.append(f"{current}/{name} {info.st_size} {info.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()
