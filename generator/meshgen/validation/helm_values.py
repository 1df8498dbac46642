"""Check 4: every Helm values file meshgen wrote is valid for the chart and version it is for.

For each release the GitOps engine will install (chart, version, value files in order):

- when the chart's ``values.yaml`` is available (``--charts DIR`` or the ``--pull`` cache),
  every key set must exist in the chart's defaults (Istio nests them under
  ``_internal_defaults_do_not_set``) or be read by that chart's templates without a default
  (:func:`chart_reads`: ``.Values.a.b`` and ``dig "a" "b" <default> .Values``, such as
  ``global.readerServiceAccount`` from 1.31), or be one of the :data:`ALLOWED_UNLISTED` keys;
  :data:`FREE_FORM` maps are not descended into. The chart is the one of the release's
  version, so the keys accepted follow the version;
- when the chart ships ``values.schema.json``, the merged values must validate against it;
- ``helm template`` of the chart with exactly those value files, at the mesh's Kubernetes
  version, must succeed; its output is handed to the caller (``rendered``: the output, or
  None for a release with findings) for the checks of what the objects mean
  (:mod:`meshgen.validation.multicluster`).

A release whose chart is not available is reported as unchecked.

Each release's findings, and each distinct ``helm template`` output, are cached
(:mod:`meshgen.validation.cache`) under the sha256 of the chart's content and location, the
release, its value files' content in order, the Kubernetes version and the helm binary: a release
whose inputs did not change is not checked or rendered again, and its findings are replayed.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshgen import library
from meshgen.adapters import helm, toolchain
from meshgen.errors import MeshgenError
from meshgen.output import counted
from meshgen.validation import UNCHECKED, Finding
from meshgen.validation.engines import HelmRelease
from meshgen.validation.repository import RepoView, key_line, load_documents

if TYPE_CHECKING:
    from concurrent.futures import Future

    from meshgen.validation.cache import Table

INTERNAL_DEFAULTS = "_internal_defaults_do_not_set"

# Keys the charts read although values.yaml does not list them:
#   base.validationFailurePolicy: commented out in istiod's values.yaml, absent from base's,
#     read by both charts' validating webhook templates;
#   base.validationURL: absent from istiod's values.yaml, read by its validating webhook
#     template (where a remote's webhook calls its control plane);
#   profile, compatibilityVersion, platform: consumed by templates/zzz_profile.yaml.
ALLOWED_UNLISTED = {
    ("base", "validationFailurePolicy"),
    ("base", "validationURL"),
    ("profile",),
    ("compatibilityVersion",),
    ("platform",),
}
# Maps upstream documents for several charts with all their keys, where a chart's templates
# read only some of them (1.31's base reads global.readerServiceAccount.name, istiod also
# .namespace): accepted as a whole in a chart that reads any of their keys.
DOCUMENTED_MAPS = {
    ("global", "readerServiceAccount"): {"name", "namespace"},
}
# Maps whose keys are data, not chart settings: their own keys are not checked.
FREE_FORM = {
    ("meshConfig",),
    ("env",),
    ("labels",),
    ("annotations",),
    ("service", "annotations"),
    ("podAnnotations",),
}


# A template's reads of the values: ``.Values.a.b`` (also ``$.Values``), and ``dig "a" "b"
# <default> .Values`` (what Istio's charts use for keys they do not default).
_VALUES_REFERENCE = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_DIG = re.compile(r"\bdig((?:\s+(?:\"[^\"]*\"|[^\s\"()]+))+?)\s+\$?\.Values\b")
_DIG_ARGUMENT = re.compile(r'"([^"]*)"|[^\s"]+')


def template_reads(text: str) -> set[tuple[str, ...]]:
    """The value paths a template (or ``files/`` template) reads."""
    paths = {tuple(m.group(1).split(".")[1:]) for m in _VALUES_REFERENCE.finditer(text)}
    for match in _DIG.finditer(text):
        arguments = list(_DIG_ARGUMENT.finditer(match.group(1)))[:-1]  # the last is the default
        if arguments and all(a.group(1) is not None for a in arguments):
            paths.add(tuple(a.group(1) for a in arguments))
    return paths


# A chart whose templates/zzz_profile.yaml merges ``global`` onto its own keys (ztunnel and
# gateway do, with ``{{- if true }}`` under this comment): ``global.network`` is ``network``.
_FLATTENS_GLOBALS = re.compile(r"#\s*Flatten globals[^\n]*\n\{\{-?\s*if true\s*-?\}\}")


@functools.cache
def flattens_globals(chart_dir: Path) -> bool:
    profile = chart_dir / "templates" / "zzz_profile.yaml"
    try:
        return bool(_FLATTENS_GLOBALS.search(profile.read_text(encoding="utf-8")))
    except OSError:
        return False


def with_flattened_globals(
    defaults: dict[str, Any], reads: frozenset[tuple[str, ...]]
) -> tuple[dict[str, Any], frozenset[tuple[str, ...]]]:
    """Defaults and reads of a chart that flattens ``global``: every top-level key is also a
    key of ``global`` (the chart's own ``global`` keys win where both exist)."""
    own = defaults.get("global")
    own_global: dict[str, Any] = own if isinstance(own, dict) else {}
    top = {k: v for k, v in defaults.items() if k != "global"}
    extended = {**defaults, "global": {**top, **own_global}}
    return extended, reads | {("global", *read) for read in reads if read and read[0] != "global"}


@functools.cache
def chart_reads(chart_dir: Path) -> frozenset[tuple[str, ...]]:
    """Every value path the chart's templates and ``files/`` read."""
    found: set[tuple[str, ...]] = set()
    for folder in ("templates", "files"):
        for path in sorted((chart_dir / folder).rglob("*")):
            if path.is_file() and path.suffix in (".yaml", ".yml", ".tpl", ".txt", ".json"):
                found |= template_reads(path.read_text(encoding="utf-8", errors="replace"))
    for parent, keys in DOCUMENTED_MAPS.items():
        if any(read[: len(parent)] == parent and len(read) > len(parent) for read in found):
            found |= {(*parent, key) for key in keys}
    return frozenset(found)


def unknown_value_paths(
    values: dict[str, Any],
    defaults: Any,
    prefix: tuple[str, ...] = (),
    reads: frozenset[tuple[str, ...]] = frozenset(),
) -> list[tuple[str, ...]]:
    """Key paths of ``values`` that the chart defaults do not have and its templates
    (``reads``, see :func:`chart_reads`) do not read."""
    problems: list[tuple[str, ...]] = []
    for key, value in values.items():
        path = (*prefix, str(key))
        if path in ALLOWED_UNLISTED:
            continue
        if not isinstance(defaults, dict) or key not in defaults:
            if path in reads:
                continue  # read without a default: the chart takes whatever it is given
            if isinstance(value, dict) and any(r[: len(path)] == path for r in reads):
                problems += unknown_value_paths(value, None, path, reads)
                continue
            problems.append(path)
            continue
        if path in FREE_FORM or not isinstance(value, dict):
            continue
        default = defaults[key]
        if isinstance(default, dict) and default:
            problems += unknown_value_paths(value, default, path, reads)
        elif default != {}:  # an empty default map is free-form by upstream's own declaration
            problems.append(path)
    return problems


def deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value)
        return merged
    return copy.deepcopy(override)


class Charts:
    """Where unpacked charts are found: ``--charts DIR`` (``DIR/<version>/<chart>``,
    ``DIR/<version>/charts/<chart>`` or ``DIR/<chart>``), then the ``--pull`` cache (filled by
    ``pull``)."""

    def __init__(
        self,
        charts_dir: Path | None,
        cache_dir: Path,
        pull: Callable[[str, str, str, Path], Path] | None = None,
    ) -> None:
        self.charts_dir, self.cache_dir, self.pull = charts_dir, cache_dir, pull
        self._found: dict[tuple[str, str, str], Path | None] = {}  # looked up once per run

    def cache_folder(self, repo_url: str, version: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-." else "_" for c in repo_url)
        return self.cache_dir / safe / version

    def find(self, chart: str, version: str, repo_url: str) -> Path | None:
        key = (chart, version, repo_url)
        if key not in self._found:
            self._found[key] = self._find(chart, version, repo_url)
        return self._found[key]

    def _find(self, chart: str, version: str, repo_url: str) -> Path | None:
        candidates = []
        if self.charts_dir is not None:
            candidates += [
                self.charts_dir / version / chart,
                self.charts_dir / version / "charts" / chart,
                self.charts_dir / chart,
            ]
        candidates.append(self.cache_folder(repo_url, version) / chart)
        for candidate in candidates:
            if (candidate / "Chart.yaml").is_file():
                return candidate
        if self.pull is not None:
            return self.pull(chart, version, repo_url, self.cache_folder(repo_url, version))
        return None


def _chart_version_problem(chart_dir: Path, release: HelmRelease) -> str | None:
    """Chart.yaml must name the chart; its version must match (Istio's source tree carries the
    placeholder 1.0.0, which is taken as any version)."""
    try:
        meta = load_documents((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))[0][1]
    except Exception as exc:
        return f"{chart_dir}/Chart.yaml cannot be read ({exc})"
    if meta.get("name") != release.chart:
        return f"{chart_dir} holds chart {meta.get('name')!r}, not {release.chart!r}"
    version = str(meta.get("version"))
    if version not in (release.version, "1.0.0"):
        return f"{chart_dir} holds {release.chart} {version}, not {release.version}"
    return None


class Renders:
    """Each distinct ``helm template`` once per run: every primary's base release, every
    gateway of a network, have the same chart and values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[tuple[str, ...], Future[str]] = {}

    def once(self, key: tuple[str, ...], render: Callable[[], str]) -> str:
        from concurrent.futures import Future  # (imported when a render is needed, as in check)

        with self._lock:
            result = self._results.get(key)
            mine = result is None
            if result is None:
                result = self._results[key] = Future()
        if mine:
            try:
                result.set_result(render())
            except BaseException as exc:  # the same failure for every release that asks
                result.set_exception(exc)
        return result.result()


class Render:
    """What ``helm template`` rendered for one release: its key in the cache and its text,
    read from the cache only when first asked for (the checks after this one read the parsed
    objects, kept in the cache under the same key, so a run that replays every release never
    reads the 10 MB of text a 100-cluster mesh renders). ``again`` renders it once more when
    its entry is gone by the time the text is asked for (the cache was deleted meanwhile)."""

    def __init__(
        self,
        view: RepoView,
        key: str,
        text: str | None = None,
        again: Callable[[], str | None] | None = None,
    ) -> None:
        self.view, self.key, self._text, self._again = view, key, text, again

    def known(self) -> bool:
        """Whether the text is at hand (rendered or read in this run)."""
        return self._text is not None

    def text(self) -> str:
        """The output; raises ValueError when it is neither known, nor in the cache, nor
        rendered again."""
        if self._text is None:
            self._text = _stored_template(self.view, self.key)
            if self._text is None and self._again is not None:
                self._text = self._again()
            if self._text is None:
                raise ValueError(f"helm template output {self.key} is not in the cache")
        return self._text


def _finding(release: HelmRelease, message: str, fix: str, **where: Any) -> Finding:
    where.setdefault("file", release.file)
    if "obj" not in where and where["file"] == release.file:
        where["obj"] = release.obj
    return Finding(check="helm-values", message=message, fix=fix, cluster=release.cluster, **where)


def _chart_files(view: RepoView, chart_dir: Path) -> tuple[dict[str, Any], Any]:
    """The chart's ``values.yaml`` and ``values.schema.json`` (None without one), read once
    per run: every release of a chart checks against them (the checks never change them)."""
    with _CONTEXT_LOCK:
        memo = view.context.setdefault("chart-files", {})
        if chart_dir not in memo:
            raw = load_documents((chart_dir / "values.yaml").read_text(encoding="utf-8"))
            values = raw[0][1] if raw and isinstance(raw[0][1], dict) else {}
            schema_file = chart_dir / "values.schema.json"
            schema = (
                json.loads(schema_file.read_text(encoding="utf-8"))
                if schema_file.is_file()
                else None
            )
            memo[chart_dir] = (values, schema)
        return memo[chart_dir]  # type: ignore[no-any-return]


def _check_release(
    view: RepoView,
    release: HelmRelease,
    chart_dir: Path,
    kube_version: str,
    rendered: dict[HelmRelease, Render | None],
    renders: Renders,
) -> list[Finding]:
    import jsonschema

    rendered[release] = None  # until helm template succeeds

    problem = _chart_version_problem(chart_dir, release)
    if problem:
        return [_finding(release, problem, "pass charts of the version the release names")]
    chart_values, schema = _chart_files(view, chart_dir)
    defaults = chart_values.get(INTERNAL_DEFAULTS, chart_values)
    reads = chart_reads(chart_dir)
    if flattens_globals(chart_dir) and isinstance(defaults, dict):
        defaults, reads = with_flattened_globals(defaults, reads)
    findings = []
    merged: Any = chart_values
    present: list[tuple[str, str, bool]] = []  # (file, text, whether the text is the file's)
    for index, path in enumerate(release.value_files):
        own = release.value_text(index)
        text = own if own is not None else view.text(path)
        if text is None:
            continue  # a missing value file is a wiring finding (check 6)
        try:
            docs = load_documents(text)
        except Exception as exc:
            findings.append(
                _finding(release, f"not valid YAML ({exc})", "fix the YAML syntax", file=path)
            )
            continue
        values = docs[0][1] if docs and isinstance(docs[0][1], dict) else {}
        present.append((path, text, own is None))
        merged = deep_merge(merged, values)
        for unknown in unknown_value_paths(values, defaults, reads=reads):
            dotted = ".".join(unknown)
            findings.append(
                _finding(
                    release,
                    f"{dotted} is not a value of the {release.chart} chart {release.version}",
                    "correct the key (see the chart's values.yaml) or remove it",
                    file=path,
                    line=key_line(text, list(unknown)) if own is None else None,
                )
            )
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)  # Helm's dialect; $schema varies
        for error in sorted(validator.iter_errors(merged), key=lambda e: list(map(str, e.path))):
            key = list(error.absolute_path)
            layer = next((p for p in reversed(present) if key_line(p[1], key[:1])), None)
            dotted = ".".join(map(str, key)) or "(values)"
            findings.append(
                _finding(
                    release,
                    f"{dotted}: {error.message[:300]} (values.schema.json of {release.chart})",
                    "correct the value to match the chart's values.schema.json",
                    file=layer[0] if layer else release.file,
                    line=key_line(layer[1], key) if layer and layer[2] else None,
                )
            )
    if findings or len(present) != len(release.value_files):
        return findings
    try:
        with tempfile.TemporaryDirectory(prefix="meshgen-values-") as tmp:
            files = []
            for index, (path, text, is_file) in enumerate(present):
                if is_file:
                    files.append(view.root / path)
                else:  # resolved by the engine: Helm reads it from a temporary file
                    files.append(Path(tmp) / f"{index}.yaml")
                    files[-1].write_text(text, encoding="utf-8")
            texts = tuple(text for _path, text, _is_file in present)
            inputs = (str(chart_dir), release.release, release.namespace)
            template_key = _template_key(view, chart_dir, kube_version, release, texts)

            def render() -> str:
                return _cached_template(
                    view,
                    template_key,
                    lambda: helm.template(
                        chart_dir,
                        release.release,
                        release.namespace,
                        files,
                        kube_version=kube_version,
                    ),
                )

            text = renders.once((*inputs, *texts), render)
            rendered[release] = Render(view, template_key, text)
    except MeshgenError as exc:
        findings.append(
            _finding(
                release,
                str(exc).removeprefix(f"{chart_dir}: "),
                f"run `helm template` of {release.chart} {release.version} with these value "
                "files and fix what it reports",
            )
        )
    return findings


ROOT_TOKEN = "\x00root\x00"  # the repository's path in cached text, put back on replay


def _context(view: RepoView, chart_dir: Path, kube_version: str) -> tuple[Any, ...]:
    """What every cached result of a release with this chart depends on besides the release:
    meshgen, the helm binary, the chart's location and content, the Kubernetes version."""
    from meshgen.validation.cache import FileDigests, digest, tool_identity

    with _CONTEXT_LOCK:
        tool = view.context.get("helm")
        if tool is None:
            tool = view.context["helm"] = tool_identity(toolchain.find("helm"))
        charts = view.context.setdefault("charts", {})
        if chart_dir not in charts:
            # Each file by its sha256, not read again while its stat shows it unchanged
            # (a chart's hundred files, 1 MB, were read and hashed by every run).
            files = FileDigests(view.cache, chart_dir)
            names = sorted(p.relative_to(chart_dir).as_posix() for p in chart_dir.rglob("*"))
            charts[chart_dir] = digest(
                "chart files by sha256",
                [(name, files.digest(name)) for name in names if (chart_dir / name).is_file()],
            )
            files.store()
    return (library.code_fingerprint(), tool, str(chart_dir), charts[chart_dir], kube_version)


_CONTEXT_LOCK = threading.Lock()


def _template_key(
    view: RepoView, chart_dir: Path, kube_version: str, release: HelmRelease, texts: tuple[str, ...]
) -> str:
    from meshgen.validation.cache import digest

    context = _context(view, chart_dir, kube_version)
    return digest("helm-template", context, release.release, release.namespace, texts)


def _cached_template(view: RepoView, key: str, render: Callable[[], str]) -> str:
    """``render()`` (a ``helm template``), or its output from the cache; failures are not
    stored (they become the release's findings, which are)."""
    text = _stored_template(view, key)
    if text is None:
        text = render()
        view.cache.put("helm-template", key, {"text": text})
    return text


def _stored_template(view: RepoView, key: str) -> str | None:
    """A cached ``helm template`` output, read once per run (primaries share one)."""
    with _CONTEXT_LOCK:
        memo: dict[str, str] = view.context.setdefault("templates", {})
        if key not in memo:
            entry = view.cache.get("helm-template", key)
            if not (isinstance(entry, dict) and isinstance(entry.get("text"), str)):
                return None
            memo[key] = entry["text"]
        return memo[key]


def _dump_finding(finding: Finding, root: str) -> dict[str, Any]:
    data = finding.as_json()
    for name in ("message", "fix"):
        data[name] = data[name].replace(root, ROOT_TOKEN)
    data["detail"] = [line.replace(root, ROOT_TOKEN) for line in data["detail"]]
    return data


def _load_finding(data: dict[str, Any], root: str) -> Finding:
    for name in ("message", "fix"):
        data[name] = data[name].replace(ROOT_TOKEN, root)
    data["detail"] = tuple(line.replace(ROOT_TOKEN, root) for line in data["detail"])
    return Finding(**data)


def _release_key(view: RepoView, release: HelmRelease, chart_dir: Path, kube_version: str) -> str:
    """The cache key of a release's check: meshgen, helm, the chart's content, the
    Kubernetes version, the release's fields and its value files by the sha256 of their
    bytes (known without reading a file unchanged since it was hashed)."""
    from meshgen.validation.cache import digest

    values = [
        own if (own := release.value_text(index)) is not None else ["file", view.digest(path)]
        for index, path in enumerate(release.value_files)
    ]
    context = _context(view, chart_dir, kube_version)
    return digest("helm-release", context, release.key_fields(), values)


def _replayed_release(
    view: RepoView,
    release: HelmRelease,
    chart_dir: Path,
    kube_version: str,
    rendered: dict[HelmRelease, Render | None],
    has_objects: Callable[[str], bool] | None,
    key: str,
) -> list[Finding] | None:
    """The findings of a release checked before under ``key`` (its render given to
    ``rendered``), counted as reused; None when the cache does not hold them (nothing is
    counted then). The output of ``helm template`` is read back only when
    ``has_objects(key)`` does not know the objects parsed from it."""
    root = str(view.root)
    entry = release_table(view).get(key)
    try:
        if isinstance(entry, dict):
            findings = [_load_finding(dict(f), root) for f in entry["findings"]]
            render = None
            if entry["render"] is not None:
                stored = str(entry["render"])
                render = Render(
                    view,
                    stored,
                    again=lambda: _render_again(view, release, chart_dir, kube_version, stored),
                )
                if has_objects is None or not has_objects(render.key):
                    render.text()  # raises ValueError when the template's entry is gone
            rendered[release] = render
            view.cache.counted("helm-release", None)
            return findings
    except (KeyError, TypeError, ValueError):
        pass  # an entry of another shape: computed again
    return None


def _check_and_store(
    view: RepoView,
    release: HelmRelease,
    chart_dir: Path,
    kube_version: str,
    rendered: dict[HelmRelease, Render | None],
    renders: Renders,
    key: str,
) -> list[Finding]:
    """:func:`_check_release` of a release the cache could not replay
    (:func:`_replayed_release`), its findings and render stored under ``key``."""
    view.cache.counted("helm-release", f"{release.cluster}: {release.obj}")
    from meshgen.validation.schemas import prefetch

    prefetch()  # values.schema.json, then the objects of the render
    findings = _check_release(view, release, chart_dir, kube_version, rendered, renders)
    done = rendered.get(release)
    release_table(view).set(
        key,
        {
            "findings": [_dump_finding(f, str(view.root)) for f in findings],
            "render": done.key if done is not None else None,
        },
    )
    return findings


def release_table(view: RepoView) -> Table:
    """The checked releases' findings and which render each gave, by the release's key: one
    table (see :class:`meshgen.validation.cache.Table`), since reading 210 small entries,
    one file each, cost an incremental run of a 100-cluster mesh a tenth of a second."""
    from meshgen.validation.cache import Table, digest

    with _CONTEXT_LOCK:
        table = view.context.get("helm-release-table")
        if table is None:
            table = view.context["helm-release-table"] = Table(
                view.cache, "helm-releases", digest("helm-releases", 1)
            )
    return table  # type: ignore[no-any-return]


def _render_again(
    view: RepoView, release: HelmRelease, chart_dir: Path, kube_version: str, key: str
) -> str | None:
    """The text of a replayed release's render ``key`` whose cache entry is gone: rendered
    again (None when the release no longer renders to that output)."""
    scratch: dict[HelmRelease, Render | None] = {}
    _check_release(view, release, chart_dir, kube_version, scratch, Renders())
    fresh = scratch.get(release)
    return fresh.text() if fresh is not None and fresh.key == key else None


def _pull_source(chart: str, repo_url: str) -> str:
    """What ``helm pull`` takes for ``chart`` from ``repo_url``."""
    if repo_url.startswith("oci://"):
        return f"{repo_url.rstrip('/')}/{chart}"
    return f"{chart} --repo {repo_url}" if repo_url else f"istio/{chart}"


def check(
    view: RepoView,
    releases: list[HelmRelease],
    charts: Charts,
    kube_version: str,
    jobs: int,
    rendered: dict[HelmRelease, Render | None] | None = None,
    on_rendered: Callable[[Render], object] | None = None,
    has_objects: Callable[[str], bool] | None = None,
) -> list[Finding]:
    """Findings of every release; ``rendered`` receives the ``helm template`` output of each
    release whose chart is available (None where the values have findings), and
    ``on_rendered`` is called with each output in the worker thread that got it (to parse it
    while other releases render). ``has_objects(key)``: whether what is parsed from an
    output is at hand without its text (see :func:`_replayed_release`)."""
    rendered = {} if rendered is None else rendered
    renders = Renders()
    findings: list[Finding] = []
    work = []
    missing: dict[tuple[str, str], list[HelmRelease]] = {}
    for release in releases:
        chart_dir = charts.find(release.chart, release.version, release.repo_url)
        if chart_dir is None:
            missing.setdefault((release.chart, release.version), []).append(release)
        else:
            work.append((release, chart_dir))
    for (chart, version), group in sorted(missing.items()):
        findings.append(
            Finding(
                check="helm-values",
                message=f"chart {chart} {version} is not available: the values of "
                f"{counted(len(group), 'release')} are not checked against it",
                fix="pass --charts DIR with the unpacked chart (`helm pull "
                f"{_pull_source(chart, group[0].repo_url)} --version {version} --untar`), or "
                "run with --pull",
                severity=UNCHECKED,
            )
        )
    view.progress.begin(len(work))

    def done(release: HelmRelease) -> None:
        render = rendered.get(release)
        if on_rendered is not None and render is not None:
            on_rendered(render)
        view.progress.advance()

    # Releases checked before are replayed here, in order; only the others go to the pool
    # (handing 210 replays of a 100-cluster mesh to its threads cost more than replaying
    # them, the threads taking turns at the interpreter).
    results: list[list[Finding]] = []
    todo: dict[int, tuple[HelmRelease, Path, str]] = {}
    for release, chart_dir in work:
        key = _release_key(view, release, chart_dir, kube_version)
        found = _replayed_release(
            view, release, chart_dir, kube_version, rendered, has_objects, key
        )
        if found is None:
            todo[len(results)] = (release, chart_dir, key)
            found = []
        else:
            done(release)
        results.append(found)

    def check_one(item: tuple[HelmRelease, Path, str]) -> list[Finding]:
        release, chart_dir, key = item
        try:
            return _check_and_store(view, release, chart_dir, kube_version, rendered, renders, key)
        finally:
            done(release)

    if todo:  # (concurrent.futures, which imports logging, only when a release is checked)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
            for index, part in zip(todo, pool.map(check_one, todo.values()), strict=True):
                results[index] = part
    for part in results:
        findings += part
    release_table(view).store()
    return findings
