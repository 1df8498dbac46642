"""Check 3: every kustomize overlay builds with the real ``kubectl kustomize``.

Only entry points are built: folders no other kustomization lists as a resource (what Argo CD
or Flux point at, and anything nothing uses). A folder that others include is built as part of
them, and its failure shows up there. Builds are batched (see
:func:`meshgen.adapters.kustomize.build_batches`); folders generated from the same template
for different clusters or networks (``clusters/*/istio-system``) produce the same object ids,
so they go to different batches.

Each build is cached (:mod:`meshgen.validation.cache`) under the sha256 of what it reads
(:func:`build_inputs`): every file of each kustomization folder it reaches, every file or
folder a kustomization names, the stand-ins given for those folders, and the kubectl binary.
A build whose inputs did not change since a run that built it, in this repository or another,
is replayed, its failure included; so after a change to one cluster only the overlays that
read a changed file are built again (a change to a shared overlay or remote-secret aggregate
reaches every cluster that includes it). The key is made of one digest per kustomization
folder the build reaches (:func:`_node_digest`). A replayed build's objects are read from the
cache only when a check needs them: the checks that read every build keep what they read of
each (:meth:`~meshgen.validation.repository.RepoView.summary`) by the build's key.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from meshgen import library
from meshgen.adapters import kustomize, toolchain
from meshgen.errors import MeshgenError
from meshgen.render import yamltext
from meshgen.validation import UNCHECKED, Finding, cluster_of
from meshgen.validation.repository import RepoView, StoredBuild, load_documents

if TYPE_CHECKING:
    from meshgen.validation.cache import Table

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomizations(view: RepoView) -> tuple[dict[str, dict[str, Any]], list[Finding]]:
    """Every kustomization file's folder and content; unreadable ones as findings."""
    found: dict[str, dict[str, Any]] = {}
    findings = []
    for path in view.yaml_files():
        if posixpath.basename(path) not in KUSTOMIZATION_NAMES:
            continue
        folder = posixpath.dirname(path)
        try:
            content, _named = _kustomization(view, path)
        except Exception as exc:  # ruamel raises several unrelated error types
            findings.append(
                Finding(
                    check="kustomize",
                    message=f"not valid YAML ({str(exc).splitlines()[0]})",
                    fix="fix the YAML syntax (or run `meshgen render` for generated files)",
                    cluster=cluster_of(path),
                    file=path,
                )
            )
            continue
        found[folder] = content
    return found, findings


def _kustomization(view: RepoView, path: str) -> tuple[dict[str, Any], frozenset[str]]:
    """The content of a kustomization file and what it names (:func:`_named_paths`), replayed
    by the sha256 of its bytes: an unchanged file is neither read nor parsed again. Raises
    when it is not YAML."""
    import hashlib

    from meshgen.validation.cache import Table, digest, is_plain

    table = view.context.get("kustomization-table")
    if table is None:
        context = digest("kustomizations", library.code_fingerprint())
        table = view.context["kustomization-table"] = Table(view.cache, "kustomizations", context)
    sha = view.digest(path)
    stored = table.get(sha) if sha != "-" else None
    if (
        isinstance(stored, dict)
        and isinstance(stored.get("content"), dict)
        and isinstance(stored.get("named"), list)
    ):
        return stored["content"], frozenset(stored["named"])
    text = view.text(path) or ""
    docs = _documents(text)
    content = docs[0][1] if docs and isinstance(docs[0][1], dict) else {}
    named = frozenset(_named_paths(text))
    if text and is_plain(content):  # keyed by what was read (it may have changed since)
        read = hashlib.sha256(text.encode("utf-8")).hexdigest()
        table.set(read, {"content": content, "named": sorted(named)})
    return content, named


def _store_kustomizations(view: RepoView) -> None:
    table = view.context.get("kustomization-table")
    if table is not None:
        table.store()


def entry_points(found: dict[str, dict[str, Any]]) -> list[str]:
    """Kustomization folders (not Components) that no other kustomization includes."""
    included = set()
    for folder, content in found.items():
        for entry in [*(content.get("resources") or []), *(content.get("components") or [])]:
            if isinstance(entry, str) and "://" not in entry:
                included.add(posixpath.normpath(posixpath.join(folder, entry)))
    return sorted(
        folder
        for folder, content in found.items()
        if content.get("kind", "Kustomization") == "Kustomization" and folder not in included
    )


def _shape(folder: str) -> str:
    """The template a folder comes from: the cluster or network name replaced by ``*``."""
    parts = folder.split("/")
    if parts[0] == "clusters" and len(parts) >= 2:
        parts[1] = "*"
    elif len(parts) >= 2:
        parts[-1] = "*"
    return "/".join(parts)


def plan_batches(folders: list[str]) -> list[list[str]]:
    """Batches holding at most one folder of each shape (the i-th of each shape together)."""
    by_shape: dict[str, list[str]] = defaultdict(list)
    for folder in sorted(folders):
        by_shape[_shape(folder)].append(folder)
    batches: list[list[str]] = []
    for members in by_shape.values():
        for index, folder in enumerate(members):
            if index == len(batches):
                batches.append([])
            batches[index].append(folder)
    return batches


# Folders per renamed batch: kustomize's cost grows faster than the objects of a build. On
# the 212 entry points of a 100-cluster mesh, kubectl's CPU time was 17.9 s in batches of 3,
# 12.3 s of 10, 8.9 s of 30, 9.4 s of 50 and 11.7 s of 106.
PACK = 30
# What a renamed batch cannot hold: generators name objects by a hash of their name, kinds a
# prefix does not rename collide, and the rest may put names where no prefix is expected.
_UNRENAMED_KIND = re.compile(
    r"^kind:\s*[\"']?(CustomResourceDefinition|APIService)[\"']?\s*$", re.M
)
_NAMESPACE_KIND = re.compile(r"^kind:\s*[\"']?Namespace[\"']?\s*$", re.M)
_UNSAFE_FIELDS = re.compile(
    r"^(configMapGenerator|secretGenerator|generators|transformers|validators|replacements"
    r"|helmCharts|helmChartInflationGenerator|crds|openapi|vars)\s*:",
    re.M,
)


def renamable(view: RepoView, folder: str) -> bool:
    """Whether ``folder`` can share a renamed batch (see
    :func:`meshgen.adapters.kustomize.build_batches`): what it reads holds at most one
    Namespace, no CRD or APIService, and its kustomizations no generator, replacement or
    plugin."""
    namespaces = 0
    inputs = build_inputs(view, folder)
    texts = [view.text(path) for path, state in inputs if not state.startswith("stand-in:")]
    read = {path for path, _ in inputs}
    texts += [
        text
        for name, files in view.stand_ins.items()
        for path, text in files.items()
        if f"{name}/{path}" in read
    ]
    for text in texts:
        if not text:
            continue
        if _UNRENAMED_KIND.search(text) or _UNSAFE_FIELDS.search(text):
            return False
        namespaces += len(_NAMESPACE_KIND.findall(text))
    return namespaces <= 1


def plan_builds(
    view: RepoView, folders: list[str], jobs: int = 1
) -> tuple[list[list[str]], set[int]]:
    """The batches to build ``folders`` in, and which of them are renamed: folders that can
    be renamed go up to :data:`PACK` to a batch whatever their template (in at least ``jobs``
    batches, to keep the jobs busy); the others as :func:`plan_batches` puts them. One
    folder is built alone either way, so what it reads is not scanned to tell (a one-cluster
    change rebuilds ``bootstrap/argocd``, which reads every cluster's root Application)."""
    if len(folders) == 1:
        return [list(folders)], set()
    packable = sorted(f for f in folders if renamable(view, f))
    chosen = set(packable)
    batches = plan_batches([f for f in folders if f not in chosen])
    renamed = set()
    size = max(1, min(PACK, -(-len(packable) // max(1, jobs))))
    for start in range(0, len(packable), size):
        renamed.add(len(batches))
        batches.append(packable[start : start + size])
    return batches, renamed


def is_remote(entry: Any) -> bool:
    return isinstance(entry, str) and "://" in entry


def offline_stand_ins(view: RepoView, found: dict[str, dict[str, Any]]) -> list[Finding]:
    """Stand-ins for kustomizations that list remote resources, which validate never fetches:
    each is replaced by its offline copy (``view.offline_copy``) or left out, and recorded in
    ``view.remote_resources``; one left out is reported as unchecked."""
    findings = []
    for folder, content in sorted(found.items()):
        resources = content.get("resources") or []
        if not any(is_remote(entry) for entry in resources):
            continue
        replaced: list[Any] = []
        files: dict[str, str] = {}
        recorded = view.remote_resources.setdefault(folder, [])
        for entry in resources:
            if not is_remote(entry):
                replaced.append(entry)
                continue
            copy = view.offline_copy(entry) if view.offline_copy is not None else None
            recorded.append((entry, copy is not None))
            if copy is None:
                findings.append(
                    Finding(
                        check="kustomize",
                        message=f"remote resource {entry} is not fetched by validate, and no "
                        "offline copy was given: what it holds is not checked",
                        fix="pass what it holds with --crds (for the Gateway API, the CRDs of "
                        "that release and channel, e.g. config/crd/standard at its tag)",
                        cluster=cluster_of(folder),
                        file=f"{folder}/kustomization.yaml",
                        severity=UNCHECKED,
                    )
                )
                continue
            name = f"offline-copy-{len(files)}.yaml"
            files[name] = copy
            replaced.append(name)
        files["kustomization.yaml"] = yamltext.dump({**content, "resources": replaced})
        view.stand_ins[folder] = {**view.stand_ins.get(folder, {}), **files}
    return findings


def _strings(value: Any) -> Iterator[str]:
    """Every string of a parsed kustomization: keys and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _named_paths(text: str) -> set[str]:
    """What a kustomization may name as a file or folder: each of its strings, and the part
    after ``=`` (``configMapGenerator`` files are ``key=path``). Taken generously: a string
    that names nothing only adds a "missing" entry to the key, which stays deterministic."""
    memo = _NAMED.get(text)
    if memo is not None:
        return memo
    try:
        docs = _documents(text)
    except Exception:
        return set()
    named = set()
    for _line, doc in docs:
        for string in _strings(doc):
            if "\n" in string or "://" in string or len(string) > 1024 or not string.strip():
                continue
            named.add(string.strip())
            if "=" in string:
                named.add(string.split("=", 1)[1].strip())
    _NAMED[text] = named
    return named


_NAMED: dict[str, set[str]] = {}  # texts read in this process (overlays of a template repeat)


def _documents(text: str) -> list[tuple[int, Any]]:
    """:func:`load_documents` of a kustomization, parsed once per process (both
    :func:`kustomizations` and :func:`_named_paths` read each); raises when it is not YAML."""
    docs = _PARSED.get(text)
    if docs is None:
        docs = _PARSED[text] = load_documents(text)
    return docs


_PARSED: dict[str, list[tuple[int, Any]]] = {}


def _folder_files(view: RepoView, folder: str, recursive: bool) -> list[tuple[str, str]]:
    """(path, sha256) of the regular files in ``folder`` (with ``recursive``: below it too,
    leaving out ``.git``); devices, sockets and the like are never opened."""
    base = os.path.join(view.root, folder)
    entries = []
    try:
        if recursive:
            for top, dirs, names in os.walk(base):
                dirs[:] = sorted(d for d in dirs if d != ".git")
                rel_top = posixpath.normpath(
                    posixpath.join(folder, os.path.relpath(top, base).replace(os.sep, "/"))
                )
                for name in sorted(names):
                    if os.path.isfile(os.path.join(top, name)):
                        rel = posixpath.join(rel_top, name)
                        entries.append((rel, view.digest(rel)))
        else:
            with os.scandir(base) as found:
                for entry in sorted(found, key=lambda e: e.name):
                    if entry.is_file():
                        rel = posixpath.join(folder, entry.name)
                        entries.append((rel, view.digest(rel)))
    except OSError:
        return [(f"{folder}/", "unreadable")]
    return entries


def _inside(view: RepoView, rel: str) -> bool:
    """Whether a path named relative to the root stays in the repository."""
    return not (rel == ".." or rel.startswith("../") or posixpath.isabs(rel))


def _listing(view: RepoView, folder: str) -> dict[str, str] | None:
    """What a folder (relative to the root) holds: name -> "dir", "file" or "other", as
    ``os.path.isdir``/``isfile`` see them (links followed); None when it is no folder. Listed
    once per run: keying every overlay asked the file system 8,000 times at 100 clusters."""
    memo: dict[str, dict[str, str] | None] = view.context.setdefault("listings", {})
    if folder not in memo:
        found: dict[str, str] | None = {}
        try:
            with os.scandir(os.path.join(view.root, folder)) as entries:
                for entry in entries:
                    try:
                        kind = "dir" if entry.is_dir() else "file" if entry.is_file() else "other"
                    except OSError:
                        kind = "other"
                    found[entry.name] = kind  # type: ignore[index]
        except OSError:
            found = None
        memo[folder] = found
    return memo[folder]


def _kind_of(view: RepoView, rel: str) -> str | None:
    """ "dir", "file", "other" or None (absent) for a normalised path relative to the root."""
    if rel in (".", "") or rel == ".." or rel.startswith(("../", "/")) or "/../" in rel:
        path = os.path.join(view.root, rel)  # outside the repository, or the root itself
        return "dir" if os.path.isdir(path) else "file" if os.path.isfile(path) else None
    # posixpath.split's answer for a path without doubled or trailing slashes (keying a
    # 100-cluster mesh asks 8,000 times), the listing looked up in this run's memo directly
    if "//" in rel or rel.endswith("/"):
        parent, name = posixpath.split(rel)
    else:
        parent, _, name = rel.rpartition("/")
    listings: dict[str, dict[str, str] | None] | None = view.context.get("listings")
    folder = parent or "."
    listing = listings[folder] if listings is not None and folder in listings else None
    if listing is None:
        listing = _listing(view, folder)
    return listing.get(name) if listing is not None else None


def _is_dir(view: RepoView, rel: str) -> bool:
    return _kind_of(view, rel) == "dir"


def _is_file(view: RepoView, rel: str) -> bool:
    return _kind_of(view, rel) == "file"


def _join(folder: str, named: str) -> str:
    """``posixpath.join(folder, named)`` (a function call fewer per name, keying a
    100-cluster mesh joins 3,000 names)."""
    if named.startswith("/"):
        return named
    if not folder or folder.endswith("/"):
        return folder + named
    return f"{folder}/{named}"


def _folder_node(view: RepoView, folder: str) -> tuple[frozenset[tuple[str, str]], tuple[str, ...]]:
    """What one kustomization folder reads itself, and the kustomization folders it names
    (read in turn); computed once per folder and run."""
    nodes = view.context.setdefault("build-nodes", {})
    if folder in nodes:
        return nodes[folder]  # type: ignore[no-any-return]
    from meshgen.validation.cache import digest

    entries: set[tuple[str, str]] = set()
    children: list[str] = []
    if not _is_dir(view, folder):
        entries.add((f"{folder}/", "missing"))
    else:
        entries.update(_folder_files(view, folder, recursive=False))
        names: set[str] = set()
        for name in KUSTOMIZATION_NAMES:
            if _is_file(view, f"{folder}/{name}"):
                with contextlib.suppress(Exception):  # not YAML: it names nothing
                    names |= _kustomization(view, f"{folder}/{name}")[1]
        for name, text in sorted(view.stand_ins.get(folder, {}).items()):
            entries.add((f"{folder}/{name}", f"stand-in:{digest(text)}"))
            names |= _named_paths(text)
        for named in sorted(names):
            rel = posixpath.normpath(_join(folder, named))
            kind = _kind_of(view, rel)
            if kind == "dir":
                if any(_is_file(view, f"{rel}/{n}") for n in KUSTOMIZATION_NAMES):
                    children.append(rel)
                elif _inside(view, rel) and rel != ".":
                    entries.update(_folder_files(view, rel, recursive=True))
                else:  # not a kustomization, outside the repository: kustomize refuses it
                    entries.add((f"{rel}/", "folder"))
            elif kind == "file":
                entries.add((rel, view.digest(rel)))
            else:
                entries.add((rel, "missing"))
    nodes[folder] = (frozenset(entries), tuple(children))
    return nodes[folder]  # type: ignore[no-any-return]


def build_inputs(view: RepoView, folder: str) -> frozenset[tuple[str, str]]:
    """What building ``folder`` can read, as (path, sha256) pairs ("missing" for a path named
    but absent, "stand-in:<sha256>" for a file given instead of the repository's): every file
    in the folder, and, for every file or folder its kustomization names (resources,
    components, patches, generators, ...), that file, or that folder's inputs (a
    kustomization folder) or all its files (any other folder), transitively."""
    entries: set[tuple[str, str]] = set()
    stack, visited = [folder], set()
    while stack:
        current = stack.pop()
        if current in visited:
            continue
        visited.add(current)
        own, children = _folder_node(view, current)
        entries |= own
        stack.extend(children)
    return frozenset(entries)


ROOT_TOKEN = "\x00root\x00"  # the repository's path in a cached error, put back on replay
BUILT = "built-now"  # set in ``view.context`` once a build was not in the cache


def _build_key(view: RepoView, folder: str) -> str:
    from meshgen.validation.cache import digest, tool_identity

    tool = view.context.get("kubectl")
    if tool is None:
        tool = view.context["kubectl"] = tool_identity(toolchain.find("kubectl"))
    reached = sorted(_reachable(view, folder))
    return digest(
        "kustomize",
        library.code_fingerprint(),
        tool,
        folder,
        [[node, _node_digest(view, node)] for node in reached],
    )


def _reachable(view: RepoView, folder: str) -> set[str]:
    """The kustomization folders a build of ``folder`` reads: itself and those it names,
    transitively."""
    stack, visited = [folder], set()
    while stack:
        current = stack.pop()
        if current not in visited:
            visited.add(current)
            stack.extend(_folder_node(view, current)[1])
    return visited


def _node_digest(view: RepoView, folder: str) -> str:
    """The sha256 of what one kustomization folder reads itself and of the folders it names,
    once per folder and run. A build's key is made of those of the folders it reaches: the
    same key means the same reached folders with the same inputs, so the same
    :func:`build_inputs` (hashing each build's whole input list again took a third of the
    keying time at 100 clusters, where every overlay reaches the same shared folders)."""
    from meshgen.validation.cache import digest

    memo: dict[str, str] = view.context.setdefault("node-digests", {})
    if folder not in memo:
        own, children = _folder_node(view, folder)
        memo[folder] = digest(sorted(own), list(children))
    return memo[folder]


def cached_builds(
    view: RepoView,
    folders: list[str],
    jobs: int,
    on_built: Callable[[int], None] | None = None,
    on_keyed: Callable[[], object] | None = None,
) -> dict[str, list[dict[str, Any]] | MeshgenError | StoredBuild]:
    """The builds of ``folders``: replayed from the cache where their inputs are unchanged,
    else built (batched, see :func:`plan_batches`) and stored. Kubectl starts on the missing
    ones while the others are keyed; a replayed build is a :class:`StoredBuild`, whose
    objects are read only if a check needs them (one whose results about the build are
    replayed does not), and a failure is replayed as its error.

    ``on_keyed()`` is called once every folder is keyed and the missing builds have started:
    work the caller starts there runs beside kubectl instead of slowing the keying that
    kubectl waits for. When something was built, a schema worker is started once the builds
    are done, unless the run has one (see :func:`meshgen.validation.schemas.start_worker`)."""
    import threading

    results: dict[str, Any] = {}
    keys: dict[str, str] = {}
    root = str(view.root)

    def replayed(folder: str) -> bool:
        """Whether the folder's build is in the cache: a failure is read (it is small and
        reported), objects only when a check needs them (:class:`StoredBuild`)."""
        key = keys[folder]
        if view.cache.has("kustomize", _failed(key)):
            entry = view.cache.peek("kustomize", _failed(key))
            if not (isinstance(entry, dict) and isinstance(entry.get("error"), str)):
                view.cache.get("kustomize", key, folder)  # a miss, named
                return False
            view.cache.reused("kustomize", _failed(key))
            results[folder] = MeshgenError(entry["error"].replace(ROOT_TOKEN, root))
        elif view.cache.has("kustomize", key):
            view.cache.reused("kustomize", key)
            results[folder] = StoredBuild(key, lambda: _stored_objects(view, folder, key))
        else:
            view.cache.get("kustomize", key, folder)  # counted and named as recomputed
            return False
        if on_built is not None:
            on_built(1)
        return True

    workers: list[tuple[threading.Thread, list[Any]]] = []

    def start(missing: list[str]) -> None:
        outcome: list[Any] = []

        def build_missing() -> None:
            try:
                outcome.append(_build_and_store(view, keys, missing, jobs, on_built))
            except BaseException as exc:  # raised in the caller's thread, below
                outcome.append(exc)

        worker = threading.Thread(target=build_missing, name="kustomize", daemon=True)
        worker.start()
        workers.append((worker, outcome))

    # The folders outside the clusters' come first (bootstrap/argocd lists every cluster's
    # root Application, so every cluster's change reaches it): when they miss, kubectl
    # builds them while the clusters' folders are keyed. The first EARLY_BUILDS folders that
    # miss are built from the moment they are keyed, each alone (a one-cluster change: the
    # bootstrap folder and the cluster's, whose build started a third of the keying later
    # when it waited for the last cluster's key); the others wait for their group's keying,
    # to be built in batches (a full run: the two folders outside the clusters, alone as
    # before, then the clusters' in batches).
    ordered = sorted(folders, key=lambda f: cluster_of(f) is not None)
    early = 0  # builds started as soon as they were keyed
    try:
        for group in (
            [f for f in ordered if cluster_of(f) is None],
            [f for f in ordered if cluster_of(f) is not None],
        ):
            missing = []
            for folder in group:
                keys[folder] = _build_key(view, folder)
                if replayed(folder):
                    continue
                view.context[BUILT] = True
                if early < EARLY_BUILDS:  # built alone, from now
                    early += 1
                    start([folder])
                else:
                    missing.append(folder)
            if missing:
                start(missing)
        view.context.setdefault("build-keys", {}).update(keys)  # what each build's objects are
        if on_keyed is not None:
            on_keyed()
    finally:  # also on Ctrl-C: the builds' temporary folders go when they end
        for worker, _outcome in workers:
            worker.join()
    for _worker, outcome in workers:
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        results.update(outcome[0])
    if workers:  # once every build is done (they run in threads of their own)
        _document_memo(view).store()
    if workers:
        # New builds bring objects to check against their schemas: a run started without a
        # schema worker starts one now, to import the schema libraries on the other core
        # while the checks after the builds run here (not beside kubectl, which the run
        # waits for).
        from meshgen.validation.schemas import start_worker

        start_worker(view)
    return results


EARLY_BUILDS = 2  # see cached_builds


def _failed(key: str) -> str:
    """Where a build that failed keeps its error: apart from the objects of those that did
    not, so that replaying it (the error is reported) reads no objects."""
    from meshgen.validation.cache import digest

    return digest("failed", key)


def _stored_objects(view: RepoView, folder: str, key: str) -> list[dict[str, Any]] | MeshgenError:
    """The objects of a build the cache held when the run began; built again (and stored)
    when its entry is damaged or gone by now."""
    entry = view.cache.peek("kustomize", key)
    if isinstance(entry, dict) and isinstance(entry.get("objects"), list):
        objects: list[dict[str, Any]] = entry["objects"]
        return objects
    view.cache.stale("kustomize", folder)
    built = _build_and_store(view, {folder: key}, [folder], 1, None)[folder]
    _document_memo(view).store()
    return built


def _build_and_store(
    view: RepoView,
    keys: dict[str, str],
    todo: list[str],
    jobs: int,
    on_built: Callable[[int], None] | None,
) -> dict[str, list[dict[str, Any]] | MeshgenError]:
    from meshgen.validation.cache import is_plain

    if not todo:
        return {}
    root = str(view.root)
    batches, renamed = plan_builds(view, todo, jobs)
    documents = _document_memo(view)
    built = kustomize.build_batches(
        view.root,
        batches,
        jobs,
        view.stand_ins,
        on_built,
        renamed=renamed,
        parse_alone=lambda text: _parse_remembered(documents, text),
    )
    for folder, result in built.items():
        if isinstance(result, MeshgenError):
            view.cache.put(
                "kustomize", _failed(keys[folder]), {"error": str(result).replace(root, ROOT_TOKEN)}
            )
        elif view.cache.enabled and is_plain(result):
            view.cache.put("kustomize", keys[folder], {"objects": result})
    return built


def _document_memo(view: RepoView) -> Table:
    """What earlier runs parsed of the documents of folders built alone, by the sha256 of
    each document's text (see :func:`_parse_remembered`): one table for the run."""
    import yaml

    from meshgen.validation.cache import Table, digest

    with _MEMO_LOCK:
        table = view.context.get("kustomize-documents")
        if table is None:
            context = digest(
                "kustomize-documents",
                library.code_fingerprint(),
                yaml.__version__,
                bool(getattr(yaml, "__with_libyaml__", False)),
            )
            table = view.context["kustomize-documents"] = Table(
                view.cache, "kustomize-documents", context, limit=DOCUMENTS_KEPT
            )
    return table  # type: ignore[no-any-return]


_MEMO_LOCK = threading.Lock()
DOCUMENTS_KEPT = 20_000  # documents a table keeps from earlier runs (beyond what a run used)
# What kustomize never prints, and a plain split at "---" lines would not read as YAML does:
# other line breaks, a document end marker, directives, content after a marker.
_UNSPLIT = re.compile(r"\r|\x85|\u2028|\u2029|^\.\.\.|^%|^---[^\n]", re.M)


def _parse_remembered(memo: Table, text: str) -> list[Any]:
    """The documents of a kustomize build's output (``text``), as
    :func:`meshgen.yamlload.load_all` reads them, with each document's value taken from
    ``memo`` by the sha256 of its text when an earlier run parsed it (a one-cluster change
    rebuilds ``bootstrap/argocd``, whose 102 documents took 17 to 20 ms to parse, and changes
    one of them). Values are kept as JSON text, only those JSON gives back exactly; a text
    that cannot be split plainly at its ``---`` lines is parsed whole, and so is one with a
    document that is not YAML (for the error of the whole stream)."""
    import hashlib
    import json

    from meshgen import yamlload
    from meshgen.validation.cache import is_plain

    if _UNSPLIT.search(text):
        return list(yamlload.load_all(text))
    import yaml

    docs = []
    try:
        for part in text.split("\n---\n"):
            key = hashlib.sha256(part.encode("utf-8", "surrogatepass")).hexdigest()
            stored = memo.get(key)
            if isinstance(stored, str):
                docs.append(json.loads(stored))
                continue
            value = yamlload.load(part)
            docs.append(value)
            if is_plain(value):
                memo.set(key, json.dumps(value, separators=(",", ":")))
    except yaml.YAMLError:
        return list(yamlload.load_all(text))
    return docs


def check(view: RepoView, jobs: int, on_keyed: Callable[[], object] | None = None) -> list[Finding]:
    """Build every entry point into ``view.builds``; report those that fail. ``on_keyed``:
    see :func:`cached_builds`."""
    found, findings = kustomizations(view)
    findings += offline_stand_ins(view, found)
    folders = entry_points(found)
    view.progress.begin(len(folders))
    view.builds.update(cached_builds(view, folders, jobs, view.progress.advance, on_keyed))
    _store_kustomizations(view)
    for folder in folders:
        result = view.builds[folder]
        if isinstance(result, MeshgenError):
            message = str(result).removeprefix(f"{view.root / folder}: ")
            findings.append(
                Finding(
                    check="kustomize",
                    message=message,
                    fix=f"run `kubectl kustomize {folder}` and fix what it reports",
                    cluster=cluster_of(folder),
                    file=f"{folder}/kustomization.yaml",
                )
            )
    return findings


def ensure_built(view: RepoView, folders: list[str], jobs: int = 1) -> None:
    """Build the folders the checks need that check 3 did not (a folder others include)."""
    todo = sorted({f for f in folders if f not in view.builds and (view.root / f).is_dir()})
    if todo:
        view.builds.update(cached_builds(view, todo, jobs))
        _store_kustomizations(view)
