"""Check 9: trust material. Every cluster running istiod has its ``cacerts`` placeholder
(an ExternalSecret, a SealedSecret, ...) in the repository; with provider ``sops``, every
encrypted remote secret the overlays include is there too; and no intermediate CA (or
remote-secret token) expires within 30 days, going by the dates ``mesh.yaml`` records under
``trust`` and by the bundles given with ``--ca``.

A missing encrypted file is reported here, once. The kustomize builds get a stand-in for it
(:func:`stand_ins`), so they check everything else in the overlay instead of failing on it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from meshgen import spec
from meshgen.render import yamltext
from meshgen.render.plan import system_namespace
from meshgen.render.secrets import CACERTS, missing_cacerts, provider_for, remote_secret_name
from meshgen.render.secrets.sops import CACERTS_FILE, ENCRYPTED_FILE, cacerts_path
from meshgen.validation import ERROR, WARNING, Finding, cluster_of
from meshgen.validation.repository import RepoView


def check(
    root: Path,
    mesh: spec.Mesh,
    ca_dirs: tuple[Path, ...],
    now: datetime.datetime,
    lines: Callable[[list[Any]], int] | None = None,
) -> list[Finding]:
    """Missing placeholders and encrypted files (errors), expiring material (warnings).
    ``lines`` gives the line of a mesh.yaml field (for recorded dates)."""
    findings = []
    for problem in missing_cacerts(mesh, provider_for(mesh), lambda p: (root / p).is_file()):
        path, _, message = problem.partition(": ")
        findings.append(
            Finding(
                check="trust",
                cluster=cluster_of(path),
                file=path,
                message=message.rsplit("; ", 1)[0],
                fix=message.rsplit("; ", 1)[-1],
            )
        )
    cacerts = {cacerts_path(mesh, c) for c in mesh.clusters}
    for warning in _missing_secrets(root, mesh):
        path, _, why = warning.partition(" is missing: ")
        if path in cacerts:
            continue  # reported above
        consequence, _, fix = why.partition("; ")
        findings.append(
            Finding(
                check="trust",
                file=path,
                message=f"the encrypted remote secret is missing: {consequence}",
                fix=fix,
                severity=ERROR,
            )
        )
    covered = set()
    for ca_dir in ca_dirs:
        from meshgen.trust.ca import expiry_findings  # (with --ca only)

        for expiring in expiry_findings(ca_dir, now):
            text = str(expiring)
            where, _, rest = text.partition(": ")
            message, _, fix = rest.partition("; ")
            covered.add(expiring.cluster)
            findings.append(
                Finding(
                    check="trust",
                    cluster=expiring.cluster,
                    file=where,
                    message=message,
                    fix=fix or "issue the bundle again with `meshgen ca issue`",
                    severity=WARNING,
                )
            )
    findings += recorded_expiry(mesh, now, lines, skip=covered)
    return findings


def _parse_time(value: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc)


def _missing_secrets(root: Path, mesh: spec.Mesh) -> list[str]:
    """:func:`meshgen.commands.encrypt_remote_secret.missing_secrets`: none but with provider
    ``sops``, whose command module (and what it imports) is imported only then."""
    if mesh.secrets_provider != "sops":
        return []
    from meshgen.commands.encrypt_remote_secret import missing_secrets

    return missing_secrets(root, mesh)


def _expiry_warning_days() -> int:
    from meshgen.trust.ca import EXPIRY_WARNING_DAYS

    return EXPIRY_WARNING_DAYS


def recorded_expiry(
    mesh: spec.Mesh,
    now: datetime.datetime,
    lines: Callable[[list[Any]], int] | None = None,
    skip: Collection[str | None] = (),
) -> list[Finding]:
    """Warnings from the expiry dates ``mesh.yaml`` records (``trust.ca.expires``, written by
    ``ca issue``/``encrypt-cacerts``; ``trust.remoteSecret.expires``, by ``remote-secret``), so
    CI warns without the CA folders. Clusters in ``skip`` were judged by their bundle;
    ``lines`` gives the line of a mesh.yaml field."""
    findings = []
    for index, cluster in enumerate(mesh.clusters):
        records = (
            ("ca", cluster.trust.ca_expires, "intermediate CA", _ca_fix(cluster.name)),
            (
                "remoteSecret",
                cluster.trust.remote_secret_expires,
                "remote-secret token",
                f"make a new token and remote secret with `meshgen remote-secret {cluster.name}`",
            ),
        )
        for key, recorded, what, fix in records:
            expires = _parse_time(recorded) if recorded else None
            if expires is None or (key == "ca" and cluster.name in skip):
                continue
            left = expires - now
            if left > datetime.timedelta(days=_expiry_warning_days()):
                continue
            state = (
                f"expired on {expires:%Y-%m-%d}"
                if left < datetime.timedelta(0)
                else f"expires on {expires:%Y-%m-%d} (in {left.days} days)"
            )
            path: list[Any] = ["clusters", index, "trust", key, "expires"]
            findings.append(
                Finding(
                    check="trust",
                    cluster=cluster.name,
                    file=spec.MESH_FILE,
                    line=lines(path) if lines is not None else None,
                    message=f"{cluster.name}'s {what} {state}, as mesh.yaml records",
                    fix=fix,
                    severity=WARNING,
                )
            )
    return findings


def _ca_fix(cluster: str) -> str:
    return (
        f"issue a new one with `meshgen ca issue {cluster}`, deliver it, "
        "then roll istiod and the workloads (README.md, Rotation)"
    )


def _stand_in_secret(name: str, namespace: str, path: str) -> str:
    return yamltext.dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "annotations": {"meshgen.io/stand-in": f"{path} is missing (meshgen validate)"},
            },
        }
    )


def stand_ins(view: RepoView) -> dict[str, dict[str, str]]:
    """Stand-ins (folder -> {file: text}) for the encrypted files provider ``sops`` includes
    but that are missing: a Secret of the same name without data. The file is reported once,
    by :func:`check`, and the overlays that include it still build and are checked."""
    mesh = view.mesh
    if mesh is None or mesh.secrets_provider != "sops":
        return {}
    found: dict[str, dict[str, str]] = {}
    for warning in _missing_secrets(view.root, mesh):
        path = warning.split(" is missing: ", 1)[0]
        folder, _, name = path.rpartition("/")
        if name == CACERTS_FILE:
            cluster = mesh.cluster(folder.split("/")[1])
            text = _stand_in_secret(CACERTS, system_namespace(mesh, cluster), path)
        elif name == ENCRYPTED_FILE:
            cluster_name = folder.rsplit("/", 1)[1]
            text = _stand_in_secret(remote_secret_name(cluster_name), spec.ISTIO_SYSTEM, path)
        else:
            continue
        found.setdefault(folder, {})[name] = text
    return found
