"""Which kubeconfig files to read, and how several become one, as kubectl does (pure).

kubectl reads ``--kubeconfig FILE`` alone when given; else every file of ``$KUBECONFIG`` (a
list separated like PATH; empty entries and files that do not exist are skipped); else
``~/.kube/config``. Several files merge into one: for clusters, contexts and users, the first
file that names one wins; so does the first file that sets ``current-context``. A relative
file path inside a file (``certificate-authority``, ``client-certificate``, ``client-key``,
``tokenFile``) is relative to that file, so it is made absolute while merging.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAMED_SECTIONS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))
PATH_FIELDS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


def default_paths(kubeconfig_env: str | None, home: Path) -> list[Path]:
    """The files kubectl reads without ``--kubeconfig``, in merge order."""
    if kubeconfig_env:
        seen: list[Path] = []
        for entry in kubeconfig_env.split(os.pathsep):
            if entry and Path(entry) not in seen:
                seen.append(Path(entry))
        return seen
    return [home / ".kube" / "config"]


def merge(files: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """One kubeconfig from several parsed ones (``(path, config)`` in merge order)."""
    merged: dict[str, Any] = {"kind": "Config", "apiVersion": "v1"}
    for section, _ in NAMED_SECTIONS:
        merged[section] = []
    names: dict[str, set[object]] = {section: set() for section, _ in NAMED_SECTIONS}
    for path, config in files:
        if "current-context" not in merged and config.get("current-context"):
            merged["current-context"] = config["current-context"]
        for section, kind in NAMED_SECTIONS:
            for entry in config.get(section) or []:
                if not isinstance(entry, dict) or entry.get("name") in names[section]:
                    continue
                names[section].add(entry.get("name"))
                merged[section].append(_resolved(entry, kind, path.parent))
    return merged


def _resolved(entry: dict[str, Any], kind: str, base: Path) -> dict[str, Any]:
    body = entry.get(kind)
    if not isinstance(body, dict):
        return entry
    fixed = dict(body)
    for field in PATH_FIELDS.get(kind, ()):
        value = fixed.get(field)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            fixed[field] = str(base / value)
    return {**entry, kind: fixed}


def load(
    paths: list[Path], read_text: Callable[[Path], str | None], parse: Callable[[str, str], Any]
) -> tuple[dict[str, Any], str]:
    """The merged kubeconfig of ``paths`` and a label naming them for messages.

    ``read_text(path)`` returns None for a file that does not exist (skipped, as kubectl does).
    """
    found = []
    for path in paths:
        text = read_text(path)
        if text is not None:
            found.append((path, parse(text, str(path))))
    label = ":".join(str(p) for p, _ in found) or ":".join(str(p) for p in paths)
    return merge(found), label
