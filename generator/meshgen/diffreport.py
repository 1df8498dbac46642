"""The report of ``meshgen diff`` (pure): per-cluster changes, the raw file diff, three formats.

The command renders both sides and builds their overlays; this module compares what it is
given and writes text, Markdown (a pull-request comment) or JSON. Everything is sorted, so the
same two meshes always give the same report.
"""

from __future__ import annotations

import difflib
import functools
import json
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Any

from meshgen.output import counted
from meshgen.render import yamltext

# GitHub refuses comments over 65,536 characters; leave room for what CI adds around it.
MARKDOWN_LIMIT = 60_000
ABSENT = "(absent)"


@dataclass(frozen=True)
class ValueChange:
    file: str  # the values file, e.g. istiod.yaml
    key: str  # dotted path, e.g. global.externalIstiod
    before: str
    after: str


@dataclass(frozen=True)
class ObjectChange:
    source: str  # what delivers it: an overlay folder
    object: str  # Kind namespace/name
    change: str  # added, removed, changed
    diff: tuple[str, ...] = ()


@dataclass
class ClusterChange:
    name: str
    status: str  # added, removed, changed
    values: list[ValueChange] = field(default_factory=list)
    objects: list[ObjectChange] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def headline(self) -> str:
        parts = [self.status]
        if self.values:
            parts.append(counted(len(self.values), "value"))
        counts: dict[str, int] = {}
        for change in self.objects:
            counts[change.change] = counts.get(change.change, 0) + 1
        parts += [f"{counted(n, 'object')} {kind}" for kind, n in sorted(counts.items())]
        if self.files:
            parts.append(counted(len(self.files), "file"))
        return f"{self.name}: " + ", ".join(parts)


@dataclass
class Report:
    base: str  # what was compared: the ref as given and its commit
    summary: list[str]
    clusters: list[ClusterChange]
    files: dict[str, str]  # path -> added, removed, changed
    diff: list[str]  # unified diff lines of every changed file
    graph: str  # Mermaid of the new state


# --------------------------------------------------------------------------- comparing


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _load_all(text: str) -> list[Any]:
    """Every document, read with libyaml's C parser when present (as kubectl reads YAML): the
    built objects of a large mesh take minutes to parse in pure Python."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for doc in yaml.load_all(text, Loader=loader) if doc is not None]


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return json.dumps(value) if not isinstance(value, str) else value


def values_changes(before: str | None, after: str | None, file: str) -> list[ValueChange]:
    """Leaf by leaf (lists count as one value), sorted by key."""
    old = _flatten(_load_all(before)[0]) if before else {}
    new = _flatten(_load_all(after)[0]) if after else {}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key, ABSENT) != new.get(key, ABSENT) or (key in old) != (key in new):
            changes.append(
                ValueChange(
                    file,
                    key,
                    _show(old[key]) if key in old else ABSENT,
                    _show(new[key]) if key in new else ABSENT,
                )
            )
    return changes


def _objects(built: str | list[Any] | None) -> dict[str, Any]:
    found = {}
    docs = built if isinstance(built, list) else _load_all(built or "")
    for doc in docs:
        meta = doc.get("metadata", {})
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        found[f"{doc.get('kind')} {where}{meta.get('name')}"] = doc
    return found


def object_changes(
    source: str, before: str | list[Any] | None, after: str | list[Any] | None
) -> list[ObjectChange]:
    """Objects of two builds of one overlay (their YAML, or the objects already parsed),
    matched by kind, namespace and name."""
    old, new = _objects(before), _objects(after)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in old:
            changes.append(ObjectChange(source, key, "added"))
        elif key not in new:
            changes.append(ObjectChange(source, key, "removed"))
        elif old[key] != new[key]:
            lines = difflib.unified_diff(
                yamltext.dump(old[key]).splitlines(),
                yamltext.dump(new[key]).splitlines(),
                "before",
                "after",
                lineterm="",
                n=2,
            )
            changes.append(ObjectChange(source, key, "changed", tuple(list(lines)[2:])))
    return changes


def file_changes(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    changes = {}
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            changes[path] = "added"
        elif path not in after:
            changes[path] = "removed"
        elif before[path] != after[path]:
            changes[path] = "changed"
    return changes


def unified_diff(before: dict[str, str], after: dict[str, str], paths: list[str]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        old, new = before.get(path), after.get(path)
        lines += difflib.unified_diff(
            (old or "").splitlines(),
            (new or "").splitlines(),
            f"a/{path}" if old is not None else "/dev/null",
            f"b/{path}" if new is not None else "/dev/null",
            lineterm="",
        )
    return lines


@functools.lru_cache(maxsize=4096)
def _kustomization(text: str) -> dict[str, Any]:
    """A kustomization file's content, parsed once per text: ``diff`` reads the same shared
    kustomizations for every cluster on both sides. Callers must not change it."""
    document = (_load_all(text) or [{}])[0]
    return document if isinstance(document, dict) else {}


def kustomization_inputs(files: dict[str, str], folder: str) -> dict[str, str]:
    """Every file the kustomization in ``folder`` reads (resources, components, patch files,
    followed through other kustomizations), with its text. Two renders whose inputs for an
    overlay are equal build it the same, so ``diff`` skips building it."""
    found: dict[str, str] = {}
    pending = [folder]
    seen = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        kustomization = f"{current}/kustomization.yaml"
        if kustomization not in files:
            continue
        found[kustomization] = files[kustomization]
        document = _kustomization(files[kustomization])
        entries = [*document.get("resources", []), *document.get("components", [])]
        entries += [p["path"] for p in document.get("patches", []) if "path" in p]
        for entry in entries:
            path = posixpath.normpath(posixpath.join(current, entry))
            if path in files:
                found[path] = files[path]
            else:
                pending.append(path)
    return found


# --------------------------------------------------------------------------- formats


def _cluster_lines(cluster: ClusterChange) -> list[str]:
    lines = []
    for value in cluster.values:
        lines.append(f"{value.file} {value.key}: {value.before} -> {value.after}")
    for change in cluster.objects:
        lines.append(f"{change.source}: {change.object} {change.change}")
        lines += [f"    {line}" for line in change.diff]
    return lines


def to_text(report: Report) -> str:
    out = [f"meshgen diff against {report.base}", "", "Mesh:"]
    out += [f"  {line}" for line in report.summary] or ["  no mesh-level change"]
    out += ["", "Clusters:"]
    if not report.clusters:
        out.append("  no cluster receives anything different")
    for cluster in report.clusters:
        out.append(f"  {cluster.headline()}")
        out += [f"    {line}" for line in _cluster_lines(cluster)]
    out += ["", f"Files: {len(report.files)} changed", *report.diff]
    return "\n".join(out) + "\n"


def _fence(lines: list[str], language: str) -> str:
    body = "\n".join(lines).replace("```", "`\u200b``")
    return f"```{language}\n{body}\n```\n"


def to_markdown(report: Report, limit: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment: summary, graph, one collapsible section per cluster, raw diff.

    Over ``limit`` characters, the raw diff is cut first, then cluster sections are left out,
    and a note says so (the summary always fits).
    """
    head = [f"### meshgen diff against `{report.base}`", ""]
    head += [f"- {line}" for line in report.summary] or ["No mesh-level change."]
    head += ["", "<details open><summary>The mesh after this change</summary>", ""]
    head += [_fence(report.graph.rstrip("\n").splitlines(), "mermaid"), "</details>", ""]
    text = "\n".join(head) + "\n"
    sections = []
    for cluster in report.clusters:
        body = _cluster_lines(cluster)
        sections.append(
            f"<details><summary>{cluster.headline()}</summary>\n\n"
            + (_fence(body, "text") if body else "Only Argo CD objects change.\n")
            + (f"\nFiles: {', '.join(f'`{f}`' for f in cluster.files)}\n" if cluster.files else "")
            + "\n</details>\n\n"
        )
    note = (
        "\n> **Truncated:** this report is over {limit:,} characters; {left}. "
        "Run `meshgen diff` locally for all of it.\n"
    )
    shown = 0
    for section in sections:
        if len(text) + len(section) + 200 > limit:
            break
        text += section
        shown += 1
    if shown < len(sections):
        left = f"{counted(len(sections) - shown, 'cluster section')} and the file diff are left out"
        return text + note.format(limit=limit, left=left)
    diff_head = f"<details><summary>Files: {len(report.files)} changed</summary>\n\n"
    tail = "\n</details>\n"
    room = limit - len(text) - len(diff_head) - len(tail) - 300
    lines, size = [], 0
    for line in report.diff:
        if size + len(line) + 1 > room:
            break
        lines.append(line)
        size += len(line) + 1
    text += diff_head + _fence(lines, "diff") + tail
    if len(lines) < len(report.diff):
        shown_of = f"{len(report.diff) - len(lines)} of {counted(len(report.diff), 'diff line')}"
        left = f"{shown_of} are left out"
        text += note.format(limit=limit, left=left)
    return text


def to_json(report: Report) -> str:
    return json.dumps(asdict(report), indent=2, sort_keys=True) + "\n"
