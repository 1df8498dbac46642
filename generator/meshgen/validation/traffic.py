"""Check 2: the traffic files (``traffic/``) against their schema and the mesh: every broken
rule of every file, where ``render`` stops at the first."""

from __future__ import annotations

from pathlib import Path

from meshgen import mesh_repo, spec, traffic
from meshgen.validation import Finding

FIX = "edit the traffic file as the message says (its schema is .meshgen/traffic.schema.json)"


def check(root: Path, mesh: spec.Mesh) -> list[Finding]:
    policies, problems = traffic.parse_files_collecting(mesh_repo.read_traffic(root))
    problems += traffic.problems(mesh, policies)
    return [
        Finding(
            check="traffic",
            message=f"{problem.field}: {problem.message}",
            fix=FIX,
            file=problem.source,
            line=problem.line,
        )
        for problem in problems
    ]
