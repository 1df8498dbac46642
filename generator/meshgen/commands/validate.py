"""``meshgen validate``: prove before merge that every cluster's config will sync and work.

Runs the check families of :mod:`meshgen.validation` in order (mesh, traffic files, drift,
kustomize, Helm values, object schemas, GitOps wiring, what the rendered objects mean for the
mesh, secrets, trust) and reports every finding grouped by cluster, as text or JSON. Exit 0:
clean; 1: findings; 2: bad usage. Checks that cannot run (a broken mesh.yaml, a chart or CRD
not available) are reported as unchecked, never passed silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from meshgen import mesh_repo, output, spec
from meshgen.adapters import helm, toolchain, workspace
from meshgen.errors import CheckFailed, MeshgenError
from meshgen.validation import CHECKS, ERROR, UNCHECKED, WARNING, Finding, sort_key
from meshgen.validation.cache import Cache, FileDigests, default_dir
from meshgen.validation.engines import HelmRelease
from meshgen.validation.progress import Emit, Progress
from meshgen.validation.repository import RepoView

if TYPE_CHECKING:
    from meshgen.validation.schema_worker import SchemaWorker
    from meshgen.validation.schemas import CrdIndex

CHART_CACHE_ENV = "MESHGEN_CHART_CACHE"
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    repo: Path | None = None
    crds: tuple[Path, ...] = ()
    charts: Path | None = None
    pull: bool = False
    format: str = "text"
    jobs: int | None = None
    ca_dirs: tuple[Path, ...] = ()  # CA folders (from `meshgen ca issue --out`) to check expiry
    allow_unknown_version: bool = False  # an istio.version not in the catalogue is no error
    today: datetime.date | None = None  # for end of support (default: today, UTC)
    cache_dir: Path | None = None  # the validate cache (default: cache.default_dir())
    use_cache: bool = True  # False (--no-cache): compute everything, store nothing


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

INVALID_TRAFFIC = (
    "the traffic files are not valid",
    "fix them first (see the traffic findings), then validate again",
)


def _no_engine(engine: str) -> tuple[str, str]:
    return (
        f"meshgen has no checks for GitOps engine {engine}",
        "nothing to fix in the repository; these checks need support for the engine in meshgen",
    )


def _missing_tools() -> dict[str, str]:
    """The tools the checks run (kubectl for kustomize, helm) that cannot be found, each
    with the reason."""
    missing = {}
    for name in ("kubectl", "helm"):
        try:
            toolchain.find(name)
        except MeshgenError as exc:
            missing[name] = str(exc)
    return missing


def _tool_findings(missing: dict[str, str]) -> list[Finding]:
    """One finding per missing tool, naming the checks that therefore did not run."""
    needs = {
        "kubectl": "kustomize, helm-values, schema, gitops, multicluster and ambient",
        "helm": "helm-values and multicluster",
    }
    return [
        Finding(
            check="kustomize" if name == "kubectl" else "helm-values",
            message=f"{reason.split(':', 1)[0]}, so the {needs[name]} checks did not run",
            fix="run `meshgen tools install` (or set "
            f"{toolchain.ENV_VARS[name]} to a {name} binary), then validate again",
            severity=UNCHECKED,
        )
        for name, reason in sorted(missing.items())
    ]


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


class _Background(Generic[T]):
    """Work (a check, the tools' versions) run in a thread from :meth:`start`, or where
    :meth:`result` is asked for when it was never started; an error it raised is raised by
    :meth:`result`."""

    def __init__(self, run: Callable[[], T]) -> None:
        self._run = run
        self._thread: threading.Thread | None = None
        self._outcome: T | BaseException | None = None
        self._done = False

    def _target(self) -> None:
        try:
            self._outcome = self._run()
        except BaseException as exc:  # handed to the caller of result()
            self._outcome = exc
        self._done = True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._target, name="validate", daemon=True)
            self._thread.start()

    def result(self) -> T:
        if self._thread is None and not self._done:
            self._target()
        elif self._thread is not None:
            self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome  # type: ignore[return-value]


def collect(
    options: Options,
    emit: Emit | None = None,
    crds: CrdIndex | None = None,
    helm_output: dict[HelmRelease, str | None] | None = None,
    cache: Cache | None = None,
    worker: SchemaWorker | None = None,
) -> list[Finding]:
    """Every finding of every check, in report order. Bad usage raises MeshgenError.

    ``emit(fraction, check)`` hears how far the checks have come (see
    :mod:`meshgen.validation.progress`); ``crds``: the index of ``options.crds``, when the
    caller has read it already; ``helm_output`` (when given) receives what ``helm template``
    rendered for each release; ``cache``: where results are kept between runs (default: as
    ``options`` say; see :mod:`meshgen.validation.cache`); ``worker``: a schema worker
    started for this run (see :func:`run`), ended with it when no check took it.
    """
    from meshgen.validation import schemas

    views: list[RepoView] = []  # the run's view, once made
    try:
        return _collect(options, emit, crds, helm_output, cache, views, worker)
    finally:  # a schema worker no check took (the run stopped early) ends with the run
        for view in views:
            schemas.close_worker(view)
        if worker is not None:
            worker.close()


def _collect(
    options: Options,
    emit: Emit | None,
    crds: CrdIndex | None,
    helm_output: dict[HelmRelease, str | None] | None,
    cache: Cache | None,
    views: list[RepoView],
    worker: SchemaWorker | None,
) -> list[Finding]:
    # The checks that run before kubectl starts; the others are imported while it builds
    # (see while_building): importing them first delayed kubectl's start by 20 to 30 ms.
    from meshgen.validation import kustomize, mesh, schemas, traffic, trust
    from meshgen.validation.engines import engine_module

    root = mesh_repo.find_root(options.repo)
    walked = workspace.require_no_links_out(root)  # (and the files it found, for the view)
    if options.charts is not None and not options.charts.is_dir():
        raise MeshgenError(f"--charts {options.charts}: no such folder; pass unpacked charts")
    if cache is None:
        cache = open_cache(options)
    if crds is None:
        crds = schemas.crd_index(options.crds, cache)
    # kubectl and helm run as processes while meshgen parses what the others wrote: twice as
    # many jobs as cores keeps the cores busy (100 clusters, 2 cores: 16.5 s instead of 21 s).
    jobs = max(1, options.jobs or 2 * (os.cpu_count() or 1))

    document, findings = mesh.check(root)
    progress = Progress(CHECKS, len(document.mesh.clusters) if document else 0, emit)
    step = progress.start
    step("mesh")
    mesh_model = document.mesh if document is not None else None
    kube_version = mesh_model.kubernetes_version if mesh_model else spec.DEFAULT_KUBERNETES_VERSION
    step("traffic")
    traffic_ok = document is not None
    if document is not None:
        model = document.mesh
        found = _guarded("traffic", lambda: traffic.check(root, model))
        traffic_ok = not any(f.severity == ERROR for f in found)
        findings += found
    else:
        findings.append(_skipped("traffic", *INVALID_MESH))

    def render_checks() -> list[Finding]:
        """What the render of mesh.yaml says (drift, and what old defaults left in the
        files): run while kubectl builds the overlays, the builds not waiting for it."""
        from meshgen.validation import drift, release

        found: list[Finding] = []
        changes = None
        if document is not None:
            try:  # one render for the drift check and for what old defaults left in the files
                changes = mesh_repo.plan_render(root, document) if traffic_ok else None
            except MeshgenError:
                changes = None  # a hand-written file where a generated one goes: drift says so
            today = options.today or datetime.datetime.now(datetime.timezone.utc).date()
            loaded, rendered = document, list(changes.write) if changes is not None else []
            found += _guarded(
                "mesh",
                lambda: release.check(root, loaded, today, options.allow_unknown_version, rendered),
            )
        if document is not None and traffic_ok:
            found += _guarded("drift", lambda: drift.check(root, document, changes))
        elif document is not None:
            found.append(_skipped("drift", *INVALID_TRAFFIC))
        else:
            found.append(_skipped("drift", *INVALID_MESH))
        return found

    rendered_findings: list[list[Finding]] = []

    def while_building() -> None:
        """Once the overlays are keyed and kubectl builds the missing ones: the secrets scan
        starts in its thread, the render checks run, and what the checks after the builds
        read from the cache whatever changed (what was kept of each build, where objects are
        written) is read while kubectl runs."""
        secrets_check.start()
        if not rendered_findings:
            if not view.context.get(kustomize.BUILT):  # no new objects: no schema worker
                schemas.close_worker(view)
            rendered_findings.append(render_checks())
            with contextlib.suppress(Exception):  # read again, and reported, when used
                view.prefetch()
            from meshgen.validation import ambient, helm_values, multicluster  # noqa: F401

    step("drift")
    engine = engine_module(mesh_model.engine) if mesh_model else None
    releases: list[HelmRelease] = []
    read_releases: list[bool] = []  # set once the engine's releases were read
    view = RepoView(root=root, document=document, progress=progress, cache=cache)
    view.walked(walked)
    views.append(view)
    if worker is not None:
        view.context[schemas.WORKER_KEY] = worker
    view.offline_copy = lambda url: _offline_copy(url, crds)
    if engine is not None and hasattr(engine, "stand_ins"):
        module = engine  # builds get what only the engine's bootstrap writes (flux-system/)
        view.stand_ins = _guarded_stand_ins(lambda: module.stand_ins(view))
    for folder, files in _guarded_stand_ins(lambda: trust.stand_ins(view)).items():
        view.stand_ins.setdefault(folder, {}).update(files)  # missing encrypted files
    missing_tools = _missing_tools()
    findings += _tool_findings(missing_tools)
    # The secrets scan reads files and asks git: it runs while kubectl and helm do, from
    # when the overlays are keyed (before, it slowed the keying kubectl waits for); so do
    # the render checks (see while_building).
    digests = view.files  # made here: the secrets thread and the kustomize check share it
    secrets_check = _Background(
        lambda: _guarded("secrets", lambda: _secrets_check(root, cache, digests))
    )
    step("kustomize")
    if "kubectl" not in missing_tools:
        findings += _guarded("kustomize", lambda: kustomize.check(view, jobs, while_building))
    while_building()  # when kubectl is missing, or the check stopped before
    findings += rendered_findings[0]
    from meshgen.validation import ambient, helm_values, multicluster  # imported by now

    charts = helm_values.Charts(options.charts, chart_cache(), helm.pull if options.pull else None)
    schema_check = _Background(
        lambda: _guarded("schema", lambda: schemas.check(view, crds, kube_version))
    )
    step("helm-values")  # needs both tools; a missing one was reported once, above
    templates: dict[HelmRelease, helm_values.Render | None] = {}  # for multicluster
    if mesh_model is None:
        findings.append(_skipped("helm-values", *INVALID_MESH))
    elif engine is None:
        findings.append(_skipped("helm-values", *_no_engine(mesh_model.engine)))
    elif "kubectl" not in missing_tools:  # the releases need builds; their check, helm too
        module = engine

        def check_values() -> list[Finding]:
            releases.extend(module.helm_releases(view, jobs))
            read_releases.append(True)
            if missing_tools:
                return []
            # Every build the schema check reads is done now (helm-values builds nothing):
            # it runs in Python on one core while helm's processes use the others.
            schema_check.start()
            return helm_values.check(
                view,
                releases,
                charts,
                kube_version,
                jobs,
                templates,
                parse_early,
                lambda key: multicluster.has_parsed(view, key),
            )

        def parse_early(render: helm_values.Render) -> None:
            """Parse a new render for multicluster (once per output) while others render;
            what cannot be parsed is left for multicluster to report. A replayed one is read
            only if multicluster computes its cluster's findings."""
            if render.known():
                with contextlib.suppress(Exception):
                    multicluster.parsed_render(view, render)

        findings += _guarded("helm-values", check_values)
    step("schema")  # in its thread, waiting for the schema worker: joined after ambient
    step("gitops")
    if mesh_model is None:
        findings.append(_skipped("gitops", *INVALID_MESH))
    elif engine is None:
        findings.append(_skipped("gitops", *_no_engine(mesh_model.engine)))
    elif "kubectl" not in missing_tools:
        module = engine
        findings += _guarded("gitops", lambda: module.wiring(view, jobs))
    step("multicluster")  # reads what helm-values rendered
    if mesh_model is None:
        findings.append(_skipped("multicluster", *INVALID_MESH))
    elif engine is None:
        findings.append(_skipped("multicluster", *_no_engine(mesh_model.engine)))
    elif not missing_tools:
        findings += _guarded("multicluster", lambda: multicluster.check(view, releases, templates))
    step("ambient")
    if mesh_model is None:
        findings.append(_skipped("ambient", *INVALID_MESH))
    elif engine is None:
        findings.append(_skipped("ambient", *_no_engine(mesh_model.engine)))
    elif "kubectl" in missing_tools:
        pass  # reported once, above
    elif not read_releases:
        findings.append(
            _skipped(
                "ambient",
                "the Helm releases could not be read (see the helm-values finding)",
                "fix what helm-values reports, then validate again",
            )
        )
    else:
        model = mesh_model
        findings += _guarded("ambient", lambda: ambient.check(view, model, releases, crds))
    if "kubectl" not in missing_tools:
        findings += schema_check.result()
    step("secrets")
    findings += secrets_check.result()
    step("trust")
    if mesh_model is None:
        findings.append(_skipped("trust", *INVALID_MESH))
    else:
        model, source = mesh_model, document
        now = datetime.datetime.now(datetime.timezone.utc)
        assert source is not None  # the model comes from it

        def lines(path: list[Any]) -> int:
            return mesh.field_line(source, path)

        findings += _guarded("trust", lambda: trust.check(root, model, options.ca_dirs, now, lines))
    if helm_output is not None:  # the texts, for the caller
        helm_output.update({r: None if t is None else t.text() for r, t in templates.items()})
    view.store()
    progress.finish()
    if cache.written:
        cache.prune()
    return sorted(set(findings), key=sort_key)


def _offline_copy(url: str, crds: CrdIndex) -> str | None:
    """:func:`meshgen.validation.ambient.offline_copy` (imported when a remote resource asks)."""
    from meshgen.validation import ambient

    return ambient.offline_copy(url, crds)


def _secrets_check(root: Path, cache: Cache, digests: FileDigests) -> list[Finding]:
    """:func:`meshgen.validation.secrets.check`, imported in the scan's own thread."""
    from meshgen.validation import secrets

    return secrets.check(root, cache, digests)


def open_cache(options: Options) -> Cache:
    """The cache ``options`` ask for: ``--cache-dir``, else ``$MESHGEN_CACHE_DIR``, else
    ``~/.cache/meshgen/validate``; disabled by ``--no-cache``."""
    if not options.use_cache:
        return Cache.disabled()
    return Cache(options.cache_dir.expanduser() if options.cache_dir else default_dir())


def tool_statuses(cache: Cache) -> list[toolchain.ToolStatus]:
    """:func:`meshgen.adapters.toolchain.describe`, replayed from the cache while each tool
    resolves to the same binary (path, size and modification time, as in every cache key):
    their version commands start two Go processes, a tenth of a second of CPU per run."""
    from meshgen.validation.cache import digest, tool_identity

    try:
        where = [toolchain.located(name) for name in toolchain.TOOL_NAMES]
    except MeshgenError:
        return toolchain.describe()  # which says what is wrong
    key = digest(
        "tool-statuses",
        [None if w is None else [*tool_identity(w[0]), str(w[0]), w[1]] for w in where],
    )
    stored = cache.get("tool-statuses", key)
    try:
        if len(stored) != len(toolchain.TOOL_NAMES):
            raise TypeError("not this entry")
        return [
            toolchain.ToolStatus(
                name=s["name"],
                path=Path(s["path"]) if s["path"] is not None else None,
                source=s["source"],
                version=s["version"],
                problem=s["problem"],
            )
            for s in stored
        ]
    except (KeyError, TypeError):
        pass  # no entry, or one of another shape
    statuses = toolchain.describe()
    if any(s.version is None or s.problem is not None for s in statuses):
        return statuses  # a failed version command is asked again next time
    cache.put(
        "tool-statuses",
        key,
        [
            {
                "name": s.name,
                "path": None if s.path is None else str(s.path),
                "source": s.source,
                "version": s.version,
                "problem": s.problem,
            }
            for s in statuses
        ],
    )
    return statuses


def _cache_line(cache: Cache) -> str:
    """What the cache saved: ``cache DIR: 318 of 323 overlay builds, 205 of 210 Helm releases
    reused``."""
    summary = cache.summary()
    parts = []
    for kind, label in (("kustomize", "overlay builds"), ("helm-release", "Helm releases")):
        reused, computed = summary["reused"].get(kind, 0), summary["computed"].get(kind, 0)
        if reused + computed:
            parts.append(f"{reused} of {reused + computed} {label}")
    line = f"cache {summary['folder']}: {', '.join(parts) or 'nothing'} reused"
    if any(summary["computed"].values()) and not summary["written"]:
        # Not an error (validate ran in full), but a mistyped --cache-dir would go unnoticed.
        line += "; nothing could be written there, so the next run starts cold"
    return line


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


def _affected(errors: list[Finding]) -> str:
    """Where the problems are: ``2 clusters affected``, ``mesh-wide``, or both."""
    clusters = len({f.cluster for f in errors if f.cluster})
    mesh_wide = sum(1 for f in errors if not f.cluster)
    if not clusters:
        return "mesh-wide"
    affected = f"{output.counted(clusters, 'cluster')} affected"
    return f"{affected}, {mesh_wide} mesh-wide" if mesh_wide else affected


def _work_tree(repo: Path | None) -> Path | None:
    """``--repo`` as given; else the work tree holding the current folder (found once, and
    without GitPython in the plain case); None when there is none, so that
    :func:`meshgen.mesh_repo.find_root` says why after bad usage was reported."""
    if repo is not None:
        return repo
    try:
        return mesh_repo.find_root_unchecked(None)
    except MeshgenError:
        return None


def run(options: Options, worker: SchemaWorker | None = None) -> int:
    """``meshgen validate``; ``worker``: a schema worker the caller started for this run
    (see :func:`collect`), ended here when the run does not get to use it."""
    try:
        return _run(options, worker)
    finally:
        if worker is not None:
            worker.close()  # (nothing to end when a check took it)


def _run(options: Options, worker: SchemaWorker | None) -> int:
    from meshgen.commands.tools import summary, tools_document
    from meshgen.validation import schemas

    options = dataclasses.replace(options, repo=_work_tree(options.repo))

    # Bad usage is said before anything else is printed.
    if options.charts is not None and not options.charts.is_dir():
        raise MeshgenError(f"--charts {options.charts}: no such folder; pass unpacked charts")
    cache = open_cache(options)
    # `helm version` and `kubectl version` (when the cache does not know the binaries) run
    # while the CRDs are read and the checks run.
    describe = _Background(lambda: tool_statuses(cache))
    describe.start()
    crds = schemas.crd_index(options.crds, cache)
    if options.format == "text" and (mesh_repo.find_root(options.repo) / spec.MESH_FILE).is_file():
        output.info(summary(describe.result()))  # which helm and kubectl the checks run
    with output.progress(enabled=options.format == "text") as show:
        findings = collect(options, show, crds, cache=cache, worker=worker)
    root = mesh_repo.find_root(options.repo)
    errors = [f for f in findings if f.severity == ERROR]
    unchecked = sum(1 for f in findings if f.severity == UNCHECKED)
    if options.format in ("json", "yaml"):
        document = {
            "repository": str(root),
            "errors": len(errors),
            "unchecked": unchecked,
            "warnings": sum(1 for f in findings if f.severity == WARNING),
            "findings": [f.as_json() for f in findings],
            "tools": tools_document(describe.result())["tools"],
            "cache": cache.summary(),
        }
        output.document(document, options.format)
    else:
        _print_text(root, findings)
        if cache.enabled:
            output.info(_cache_line(cache))
        if not errors:
            not_checked = f"{output.counted(unchecked, 'thing')} could not be checked"
            output.info(
                f"{root}: no problems found"
                + (f" ({not_checked}, listed above)" if unchecked else "")
            )
    if errors:
        raise CheckFailed(
            f"{root}: {output.counted(len(errors), 'problem')} found ({_affected(errors)}); "
            "fix them as each finding says, then run `meshgen validate` again"
        )
    return 0
