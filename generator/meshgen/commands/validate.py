"""``meshgen validate``: prove before merge that every cluster's config will sync and work.

Runs the check families of :mod:`meshgen.validation` in order (mesh, drift, kustomize, Helm
values, object schemas, GitOps wiring, secrets) and reports every finding grouped by cluster,
as text or JSON. Exit 0: clean; 1: findings; 2: bad usage. Checks that cannot run (a broken
mesh.yaml, a chart or CRD not available) are reported as unchecked, never passed silently.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meshgen import mesh_repo, output, spec
from meshgen.adapters import helm, toolchain, workspace
from meshgen.errors import CheckFailed, MeshgenError
from meshgen.validation import CHECKS, ERROR, UNCHECKED, WARNING, Finding, sort_key
from meshgen.validation.repository import RepoView

CHART_CACHE_ENV = "MESHGEN_CHART_CACHE"


@dataclass(frozen=True)
class Options:
    repo: Path | None = None
    crds: tuple[Path, ...] = ()
    charts: Path | None = None
    pull: bool = False
    format: str = "text"
    jobs: int | None = None
    ca_dirs: tuple[Path, ...] = ()  # CA folders (from `meshgen ca issue --out`) to check expiry


def chart_cache() -> Path:
    """Where ``--pull`` unpacks charts: ``$MESHGEN_CHART_CACHE``, else beside the tools."""
    configured = os.environ.get(CHART_CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return toolchain.tools_dir().parent / "charts"


def _skipped(check: str, reason: str, fix: str) -> Finding:
    return Finding(
        check=check,
        message=f"not run: {reason}",
        fix=fix,
        file=spec.MESH_FILE,
        severity=UNCHECKED,
    )


INVALID_MESH = (
    "mesh.yaml is not valid",
    "fix mesh.yaml first (see the mesh finding), then validate again",
)


def _no_engine(engine: str) -> tuple[str, str]:
    return (
        f"meshgen has no checks for GitOps engine {engine}",
        "nothing to fix in the repository; these checks need support for the engine in meshgen",
    )


def _guarded_stand_ins(make: Callable[[], dict[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    """The engine's stand-ins; none when the repository is too odd to tell (the checks that
    read it report why)."""
    try:
        return make()
    except MeshgenError:
        raise
    except Exception:
        return {}


def _guarded(check: str, run: Callable[[], list[Finding]]) -> list[Finding]:
    """The check's findings; a crash on a hand-made repository shape becomes a finding too.

    Bad usage (MeshgenError, e.g. a failed --pull) still ends the command.
    """
    try:
        return run()
    except MeshgenError:
        raise
    except Exception as exc:  # a check must not turn odd input into a traceback
        return [
            Finding(
                check=check,
                message=f"the check stopped on unexpected content: {type(exc).__name__}: {exc}",
                fix="look for a hand-edited file of an unexpected shape; if there is none, "
                "report this as a meshgen bug",
            )
        ]


def collect(options: Options, step: Callable[[str], None] = lambda _name: None) -> list[Finding]:
    """Every finding of every check, in report order. Bad usage raises MeshgenError."""
    from meshgen.validation import drift, helm_values, kustomize, mesh, schemas, secrets, trust
    from meshgen.validation.engines import engine_module

    root = mesh_repo.find_root(options.repo)
    workspace.require_no_links_out(root)
    if options.charts is not None and not options.charts.is_dir():
        raise MeshgenError(f"--charts {options.charts}: no such folder; pass unpacked charts")
    crds = schemas.CrdIndex(schemas.crd_files(options.crds))
    jobs = max(1, options.jobs or os.cpu_count() or 1)
    charts = helm_values.Charts(options.charts, chart_cache(), helm.pull if options.pull else None)

    step("mesh")
    document, findings = mesh.check(root)
    mesh_model = document.mesh if document is not None else None
    kube_version = mesh_model.kubernetes_version if mesh_model else spec.DEFAULT_KUBERNETES_VERSION
    step("drift")
    if document is not None:
        findings += _guarded("drift", lambda: drift.check(root, document))
    else:
        findings.append(_skipped("drift", *INVALID_MESH))
    engine = engine_module(mesh_model.engine) if mesh_model else None
    view = RepoView(root=root, document=document)
    if engine is not None and hasattr(engine, "stand_ins"):
        module = engine  # builds get what only the engine's bootstrap writes (flux-system/)
        view.stand_ins = _guarded_stand_ins(lambda: module.stand_ins(view))
    step("kustomize")
    findings += _guarded("kustomize", lambda: kustomize.check(view, jobs))
    step("helm-values")
    if mesh_model is None:
        findings.append(_skipped("helm-values", *INVALID_MESH))
    elif engine is None:
        findings.append(_skipped("helm-values", *_no_engine(mesh_model.engine)))
    else:
        module = engine
        findings += _guarded(
            "helm-values",
            lambda: helm_values.check(
                view, module.helm_releases(view, jobs), charts, kube_version, jobs
            ),
        )
    step("schema")
    findings += _guarded("schema", lambda: schemas.check(view, crds, kube_version))
    step("gitops")
    if mesh_model is None:
        findings.append(_skipped("gitops", *INVALID_MESH))
    elif engine is None:
        findings.append(_skipped("gitops", *_no_engine(mesh_model.engine)))
    else:
        module = engine
        findings += _guarded("gitops", lambda: module.wiring(view, jobs))
    step("secrets")
    findings += _guarded("secrets", lambda: secrets.check(root))
    step("trust")
    if mesh_model is None:
        findings.append(_skipped("trust", *INVALID_MESH))
    else:
        model = mesh_model
        now = datetime.datetime.now(datetime.timezone.utc)
        findings += _guarded("trust", lambda: trust.check(root, model, options.ca_dirs, now))
    return sorted(set(findings), key=sort_key)


def _print_text(root: Path, findings: list[Finding]) -> None:
    groups: dict[str | None, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.cluster, []).append(finding)
    for cluster in sorted(groups, key=lambda c: (c is not None, c or "")):
        output.heading(f"cluster {cluster}" if cluster else "mesh-wide")
        for finding in groups[cluster]:
            mark = finding.check if finding.severity == ERROR else finding.severity
            output.info(f"  [{mark}] {finding.where()}: {finding.message}")
            output.info(f"      fix: {finding.fix}")
            for line in finding.detail:
                output.info(f"      {line}")


def run(options: Options) -> int:
    steps = len(CHECKS)
    with output.progress(steps, enabled=options.format == "text") as advance:
        findings = collect(options, advance)
    root = mesh_repo.find_root(options.repo)
    errors = [f for f in findings if f.severity == ERROR]
    unchecked = sum(1 for f in findings if f.severity == UNCHECKED)
    if options.format == "json":
        document = {
            "repository": str(root),
            "errors": len(errors),
            "unchecked": unchecked,
            "warnings": sum(1 for f in findings if f.severity == WARNING),
            "findings": [f.as_json() for f in findings],
        }
        output.info(json.dumps(document, indent=2, sort_keys=True))
    else:
        _print_text(root, findings)
        if not errors:
            output.info(
                f"{root}: no problems found"
                + (f" ({unchecked} things could not be checked, listed above)" if unchecked else "")
            )
    if errors:
        clusters = len({f.cluster for f in errors if f.cluster})
        raise CheckFailed(
            f"{root}: {len(errors)} problems found ({clusters} clusters affected); "
            "fix them as each finding says, then run `meshgen validate` again"
        )
    return 0
