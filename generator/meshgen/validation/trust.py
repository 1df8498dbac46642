"""Check 9: trust material. Every cluster running istiod has its ``cacerts`` placeholder
(an ExternalSecret, a SealedSecret, ...) in the repository, and, given the CA folders
(``--ca``), no intermediate CA expires within 30 days.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from meshgen import spec
from meshgen.render.secrets import missing_cacerts, provider_for
from meshgen.trust.ca import expiry_findings
from meshgen.validation import WARNING, Finding, cluster_of


def check(
    root: Path, mesh: spec.Mesh, ca_dirs: tuple[Path, ...], now: datetime.datetime
) -> list[Finding]:
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
    for ca_dir in ca_dirs:
        for expiring in expiry_findings(ca_dir, now):
            text = str(expiring)
            where, _, rest = text.partition(": ")
            message, _, fix = rest.partition("; ")
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
    return findings
