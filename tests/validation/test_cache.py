"""The validate cache: entries survive only intact, results are replayed only for unchanged
inputs, and an incremental run reports exactly what a run without the cache reports.

The repositories are rendered by the real core and validated with the real `kubectl kustomize`
and `helm` against Istio's charts and CRDs from ../shared/upstream (skipped when absent).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from commands.test_validate import ISTIO, upstream, upstream_options
from helpers import commit_rendered, edit, pin_istio
from meshgen import spec
from meshgen.commands import validate
from meshgen.validation import ERROR, Finding, cluster_of, helm_values, kustomize
from meshgen.validation.cache import FORMAT, Cache, FileDigests, Table, digest, is_plain
from meshgen.validation.engines import HelmRelease
from meshgen.validation.kustomize import build_inputs
from meshgen.validation.repository import RepoView

__all__ = ["upstream"]  # the module's fixture: Istio's charts and the CRDs, or a skip

# Two networks, each with a primary (east-west gateway, discovery address) and its remote.
MESH = """\
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: mesh1
repository:
  url: https://git.example.com/mesh.git
networks:
  - name: net-0
  - name: net-1
clusters:
  - name: cluster-0
    network: net-0
    eastWestGateway: {enabled: true}
    discovery: {address: 192.0.2.10}
  - name: cluster-1
    network: net-0
    role: remote
    controlPlane: cluster-0
    eastWestGateway: {enabled: false}
  - name: cluster-2
    network: net-1
    eastWestGateway: {enabled: true}
    discovery: {address: 192.0.2.20}
  - name: cluster-3
    network: net-1
    role: remote
    controlPlane: cluster-2
    eastWestGateway: {enabled: false}
"""


# ------------------------------------------------------------------------------ the store


def test_an_entry_is_read_back_as_written(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    value = {"objects": [{"kind": "Namespace", "metadata": {"name": "istio-system"}}]}
    cache.put("kustomize", digest("a"), value)
    assert cache.get("kustomize", digest("a")) == value
    assert cache.get("kustomize", digest("b"), "clusters/x") is None
    assert cache.recomputed == {"kustomize": ["clusters/x"]}
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # written through a renamed file


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated (a kill mid-write elsewhere)
        lambda data: b"",
        lambda data: b"\x00\xff garbage",
        lambda data: data.replace(b"istio-system", b"istio-systen"),  # bytes flipped: sha256
        lambda data: data.replace(b"meshgen-validate-cache/1", b"meshgen-validate-cache/0"),
    ],
)
def test_a_damaged_entry_is_a_miss(tmp_path: Path, damage: object) -> None:
    cache = Cache(tmp_path)
    key = digest("entry")
    cache.put("kustomize", key, {"objects": [{"metadata": {"name": "istio-system"}}]})
    (entry,) = tmp_path.rglob("*.json")
    entry.write_bytes(damage(entry.read_bytes()))  # type: ignore[operator]
    assert cache.get("kustomize", key) is None


def test_a_deleted_or_unwritable_folder_is_no_error(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    cache.put("schema", digest("x"), {"a": []})
    shutil.rmtree(tmp_path / "cache")
    assert cache.get("schema", digest("x")) is None
    cache.put("schema", digest("x"), {"a": []})  # the folder comes back
    assert cache.get("schema", digest("x")) == {"a": []}
    blocked = Cache(tmp_path / "file")
    (tmp_path / "file").write_text("not a folder")
    blocked.put("schema", digest("x"), {"a": []})
    assert blocked.get("schema", digest("x")) is None and blocked.written == 0


def test_prune_removes_the_least_recently_used_first(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    for name in ("old", "used", "new"):
        cache.put("helm-template", digest(name), {"text": "x" * 4000})
    entries = {
        name: next(tmp_path.rglob(f"{digest(name)}.json")) for name in ("old", "used", "new")
    }
    now = time.time()
    for age, name in enumerate(("new", "used", "old")):
        os.utime(entries[name], (now - 100 * (age + 1), now - 100 * (age + 1)))
    assert cache.get("helm-template", digest("used")) is not None  # a hit makes it recent
    size = entries["new"].stat().st_size
    assert cache.prune(limit=2 * size) == 1
    assert not entries["old"].exists() and entries["used"].exists() and entries["new"].exists()


def test_prune_scans_the_folder_only_when_it_may_be_above_the_bound(tmp_path: Path) -> None:
    first = Cache(tmp_path)
    first.put("helm-template", digest("a"), {"text": "x" * 4000})
    size = next(tmp_path.rglob(f"{digest('a')}.json")).stat().st_size
    assert first.prune(limit=3 * size) == 0  # scanned: one entry, within the bound
    # An entry a run does not account for (another writer): not seen while the record says
    # the folder is within the bound...
    shutil.copy(next(tmp_path.rglob(f"{digest('a')}.json")), tmp_path / "helm-template" / "x")
    second = Cache(tmp_path)
    second.put("helm-template", digest("b"), {"text": "y" * 4000})
    assert second.prune(limit=3 * size) == 0 and len(list(tmp_path.rglob("*.json"))) == 3
    # ...and removed first, the oldest, when the runs' writes reach the bound.
    old = time.time() - 1000
    os.utime(tmp_path / "helm-template" / "x", (old, old))
    third = Cache(tmp_path)
    third.put("helm-template", digest("c"), {"text": "z" * 8000})
    assert third.prune(limit=3 * size) == 2  # x, then a: the folder is below the bound
    left = {p.name for p in tmp_path.rglob("*") if p.is_file() and p.name != "usage.json"}
    assert left == {f"{digest('b')}.json", f"{digest('c')}.json"}
    # A damaged record means a scan, never an error.
    (tmp_path / "usage.json").write_text("{")
    big = next(tmp_path.rglob(f"{digest('c')}.json")).stat().st_size
    assert Cache(tmp_path).prune(limit=big) == 1 and len(list(tmp_path.rglob("*.json"))) == 2


def test_a_disabled_cache_stores_nothing(tmp_path: Path) -> None:
    cache = Cache(tmp_path, enabled=False)
    cache.put("schema", digest("x"), {})
    assert cache.get("schema", digest("x")) is None and not list(tmp_path.iterdir())


def test_a_table_keeps_what_a_run_used(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    table = Table(cache, "secrets", "context")
    table.set("a", [])
    table.store()
    again = Table(cache, "secrets", "context")
    assert again.get("a") == [] and again.get("b") is None


def test_a_few_results_added_to_a_large_table_go_to_its_delta(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    table = Table(cache, "schema", "context")
    for n in range(80):
        table.set(f"k{n}", n)
    table.store()
    base = next(p for p in tmp_path.rglob("*.json") if p.name != "usage.json")
    before = base.read_bytes()
    added = Table(cache, "schema", "context")
    added.set("new", "x")
    added.store()
    assert base.read_bytes() == before  # the large table is not written again
    again = Table(cache, "schema", "context")
    assert again.get("new") == "x" and again.get("k79") == 79
    # Another run writes the table whole (more than an eighth of it is new): the older delta
    # is void, so an entry that run did not keep is not read back from it.
    rewritten = Table(cache, "schema", "context")
    for n in range(20):
        rewritten.set(f"m{n}", n)
    rewritten.store()
    assert base.read_bytes() != before
    fresh = Table(cache, "schema", "context")
    assert fresh.get("m19") == 19 and fresh.get("new") == "x"  # kept: it was known
    void = Table(cache, "schema", "context")
    void.known.clear()
    void.set("gone", 1)
    void.store()  # a table of one entry, written whole under a new generation
    assert Table(cache, "schema", "context").get("new") is None


def test_only_what_json_gives_back_exactly_is_stored() -> None:
    import datetime

    assert is_plain({"a": [1, "b", None, True, 1.5]})
    assert not is_plain({1: "int key"})
    assert not is_plain({"date": datetime.date(2026, 1, 1)})
    assert not is_plain({"bytes": b"x"})
    # At any depth, and for subclasses of the plain types as for the types themselves.
    import collections

    class Name(str):
        pass

    deep = {"a": [{"b": [1, {"c": "d"}]}]}
    assert is_plain(deep) and is_plain([]) and is_plain(None) and is_plain(Name("x"))
    assert is_plain(collections.OrderedDict(x=[Name("y"), 2.0]))
    for bad in (float("nan"), float("inf"), ("a", "tuple"), {1}, {2: "x"}):
        assert not is_plain({"a": [{"b": [1, {"c": bad}]}]}), bad
        assert not is_plain(collections.OrderedDict(x=[bad]))


# ------------------------------------------------------------------------------ file digests


def files_written_a_while_ago(root: Path, texts: dict[str, str]) -> None:
    for name, text in texts.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    time.sleep(0.3)  # past FINE_SLACK_NS: their stat can be trusted once they are hashed


def test_file_digests_hash_a_file_once_and_trust_its_stat_afterwards(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files_written_a_while_ago(root, {"a.yaml": "a: 1\n", "dir/b.yaml": "b: 2\n"})
    cache = Cache(tmp_path / "cache")
    first = FileDigests(cache, root)
    assert first.digest("a.yaml") == digest_of(root / "a.yaml")
    assert first.digest("dir/b.yaml") == digest_of(root / "dir/b.yaml")
    assert first.digest("absent.yaml") == "-"
    assert first.digest("a.yaml") == digest_of(root / "a.yaml")  # asked again: one run's answer
    assert first.hashed == 2
    first.store()
    second = FileDigests(cache, root)
    assert second.digest("a.yaml") == digest_of(root / "a.yaml") and second.hashed == 0
    # Same size, the modification time set back: the change time still tells the next run.
    stat = (root / "a.yaml").stat()
    (root / "a.yaml").write_text("a: 2\n")
    os.utime(root / "a.yaml", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    third = FileDigests(cache, root)
    assert third.digest("a.yaml") == digest_of(root / "a.yaml") != first.digest("a.yaml")
    assert third.hashed == 1


def test_file_digests_do_not_trust_a_file_hashed_right_after_it_changed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    cache = Cache(tmp_path / "cache")
    (root / "fresh.yaml").write_text("x: 1\n")
    first = FileDigests(cache, root)
    first.digest("fresh.yaml")  # within the clock's slack: it could change unseen
    first.store()
    second = FileDigests(cache, root)
    assert second.digest("fresh.yaml") == digest_of(root / "fresh.yaml") and second.hashed == 1


def test_file_digests_survive_a_damaged_or_deleted_cache(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    files_written_a_while_ago(root, {"a.yaml": "a: 1\n"})
    cache = Cache(tmp_path / "cache")
    first = FileDigests(cache, root)
    first.digest("a.yaml")
    first.store()
    for entry in (tmp_path / "cache").rglob("*.json"):
        entry.write_bytes(entry.read_bytes()[:30])
    again = FileDigests(cache, root)
    assert again.digest("a.yaml") == digest_of(root / "a.yaml") and again.hashed == 1
    shutil.rmtree(tmp_path / "cache")
    assert FileDigests(cache, root).digest("a.yaml") == digest_of(root / "a.yaml")


# ------------------------------------------------------------------------------ the inputs


def test_a_build_reads_what_its_kustomizations_name(tmp_path: Path) -> None:
    root = commit_rendered(tmp_path / "mesh", spec.parse(MESH))
    view = RepoView(root=root, document=None)
    remote = {path for path, _ in build_inputs(view, "clusters/cluster-1/istio-system")}
    # its own files, the network overlay, the base overlay it reaches through it
    assert "clusters/cluster-1/istio-system/kustomization.yaml" in remote
    assert "overlays/networks/net-0/kustomization.yaml" in remote
    assert "overlays/base/istio-system/namespace.yaml" in remote
    assert not any(p.startswith(("clusters/cluster-0/", "overlays/networks/net-1")) for p in remote)
    # a generator's key=path file and a named file that does not exist count too
    folder = root / "clusters" / "cluster-1" / "istio-system"
    (folder / "kustomization.yaml").write_text(
        (folder / "kustomization.yaml").read_text()
        + "configMapGenerator:\n  - name: extra\n    files:\n      - key=../extra.txt\n"
        + "      - ../absent.txt\n"
    )
    (root / "clusters" / "cluster-1" / "extra.txt").write_text("x")
    inputs = dict(build_inputs(RepoView(root=root, document=None), str(folder.relative_to(root))))
    assert inputs["clusters/cluster-1/extra.txt"] == digest_of(
        root / "clusters/cluster-1/extra.txt"
    )
    assert inputs["clusters/cluster-1/absent.txt"] == "missing"


def digest_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ validate


def options(upstream: Path, root: Path, cache: Path | None) -> validate.Options:
    return upstream_options(upstream, root, cache_dir=cache, use_cache=cache is not None)


def run(upstream: Path, root: Path, cache: Path | None) -> tuple[list[Finding], Cache]:
    store = validate.open_cache(options(upstream, root, cache))
    return validate.collect(options(upstream, root, cache), cache=store), store


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return commit_rendered(tmp_path / "mesh", pin_istio(spec.parse(MESH), ISTIO))


def render(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from helpers import run_cli

    result = run_cli(capsys, "render", "--repo", str(root))
    assert result.exit_code == 0, result.stderr


def test_a_one_cluster_change_rechecks_what_it_reaches_and_reports_the_same(
    tmp_path: Path,
    upstream: Path,
    repo: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache"
    first, store = run(upstream, repo, cache)
    assert [f for f in first if f.severity == ERROR] == []
    assert "kustomize" in store.recomputed and "helm-release" in store.recomputed
    again, store = run(upstream, repo, cache)  # nothing changed: everything replayed
    assert again == first and store.recomputed == {}
    assert "helm-template" not in store.hits  # the parsed objects suffice: no text read back
    # Without the parsed objects, the text is read back and parsed again, to the same end.
    shutil.rmtree(cache / "helm-objects")
    without, store = run(upstream, repo, cache)
    assert without == first and store.hits["helm-template"] and store.recomputed == {}
    # A remote moves to another region: its Applications change, so its cluster folder and
    # the bootstrap folder that includes every cluster's root Application are rebuilt.
    edit(repo, "mesh.yaml", "  - name: cluster-1\n", "  - name: cluster-1\n    region: eu-1\n")
    render(repo, capsys)
    incremental, store = run(upstream, repo, cache)
    assert incremental == run(upstream, repo, None)[0]
    assert sorted(store.recomputed["kustomize"]) == ["bootstrap/argocd", "clusters/cluster-1"]
    assert "helm-release" not in store.recomputed  # no value file changed
    # What the rendered objects mean: the remote's, and its control plane's (which checks
    # what the remote's proxies dial); the other network's are replayed.
    assert sorted(store.recomputed["multicluster"]) == ["cluster-0", "cluster-1"]


def test_releases_replayed_beside_rechecked_ones_give_what_a_run_without_cache_gives(
    tmp_path: Path, upstream: Path, repo: Path, tools: dict[str, Path]
) -> None:
    """Releases the cache holds are replayed in the calling thread, the others checked by
    the pool: the render each release gave and the findings are those of a run without
    the cache."""
    cache = tmp_path / "cache"
    run(upstream, repo, cache)
    path = repo / "clusters/cluster-1/values/istiod.yaml"
    path.write_text(path.read_text() + "# reviewed\n")  # new bytes, the same values
    replayed: dict[HelmRelease, str | None] = {}
    store = validate.open_cache(options(upstream, repo, cache))
    incremental = validate.collect(
        options(upstream, repo, cache), helm_output=replayed, cache=store
    )
    fresh: dict[HelmRelease, str | None] = {}
    assert incremental == validate.collect(options(upstream, repo, None), helm_output=fresh)
    assert replayed == fresh and len(fresh) > 1
    assert store.recomputed["helm-release"] == ["cluster-1: Application argocd/cluster-1-istiod"]
    assert store.hits["helm-release"] == len(fresh) - 1


def test_a_one_cluster_change_reads_back_no_build_of_another_cluster(
    tmp_path: Path,
    upstream: Path,
    repo: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache"
    run(upstream, repo, cache)
    # Every stored build damaged in place: one read back would be found damaged, built
    # again and named as recomputed. The checks that read every build (schema, Argo CD
    # wiring, ambient) replay what they read of the unchanged ones by the builds' keys;
    # multicluster reads the builds of the clusters whose findings it computes again (the
    # remote and its control plane), and of no other.
    for entry in (cache / "kustomize").rglob("*.json"):
        entry.write_bytes(entry.read_bytes()[:-2])
    edit(repo, "mesh.yaml", "  - name: cluster-1\n", "  - name: cluster-1\n    region: eu-1\n")
    render(repo, capsys)
    incremental, store = run(upstream, repo, cache)
    assert incremental == run(upstream, repo, None)[0]
    rebuilt = set(store.recomputed["kustomize"])
    assert {"bootstrap/argocd", "clusters/cluster-1"} <= rebuilt
    assert {cluster_of(f) for f in rebuilt} - {None} == {"cluster-0", "cluster-1"}
    assert sorted(store.recomputed["multicluster"]) == ["cluster-0", "cluster-1"]
    # Without what the checks kept of each build, the builds are read, found damaged and
    # built again: the findings stay the same.
    shutil.rmtree(cache / "build-summaries")
    shutil.rmtree(cache / "schema")
    again, store = run(upstream, repo, cache)
    assert again == incremental
    assert len(store.recomputed["kustomize"]) > 2


@pytest.mark.parametrize(
    ("path", "old", "new", "added", "check", "message"),
    [
        # an Application of cluster-1 names another project (the Applications Argo CD
        # wiring reads of each build)
        (
            "clusters/cluster-1/applications/istio-base.yaml",
            "  project: mesh1\n",
            "  project: other\n",
            {},
            "gitops",
            "project 'other' is not 'mesh1'",
        ),
        # cluster-2's istio-system applies an object to another namespace (the kinds and
        # namespaces Argo CD wiring reads of each build)
        (
            "clusters/cluster-2/istio-system/kustomization.yaml",
            "resources:\n",
            "resources:\n  - stray.yaml\n",
            {
                "clusters/cluster-2/istio-system/stray.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                "metadata:\n  name: stray\n  namespace: elsewhere\n"
            },
            "gitops",
            "ConfigMap elsewhere/stray in clusters/cluster-2/istio-system is outside",
        ),
        # a waypoint Gateway in a sidecar mesh (the Gateways the ambient check reads of
        # each build)
        (
            "clusters/cluster-3/istio-system/kustomization.yaml",
            "resources:\n",
            "resources:\n  - waypoint.yaml\n",
            {
                "clusters/cluster-3/istio-system/waypoint.yaml": "apiVersion: "
                "gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n"
                "  namespace: istio-system\nspec:\n  gatewayClassName: istio-waypoint\n"
                "  listeners:\n  - name: mesh\n    port: 15008\n    protocol: HBONE\n"
            },
            "ambient",
            "a Gateway of class istio-waypoint is ambient-only",
        ),
        # istiod's values of cluster-2 turn on the ambient profile (the releases and the
        # merged values the ambient check reads are kept by the value files' sha256)
        (
            "clusters/cluster-2/values/istiod.yaml",
            "meshConfig:",
            "profile: ambient\nmeshConfig:",
            {},
            "ambient",
            "istiod sets the ambient setting profile: ambient in a sidecar mesh",
        ),
    ],
    ids=["application-project", "object-namespace", "waypoint-gateway", "istiod-values"],
)
def test_what_a_check_kept_of_a_build_follows_the_build(
    tmp_path: Path,
    upstream: Path,
    repo: Path,
    tools: dict[str, Path],
    path: str,
    old: str,
    new: str,
    added: dict[str, str],
    check: str,
    message: str,
) -> None:
    cache = tmp_path / "cache"
    first, _ = run(upstream, repo, cache)
    assert not [f for f in first if f.check == check and message in f.message]
    for name, text in added.items():
        (repo / name).write_text(text)
    edit(repo, path, old, new)
    incremental, store = run(upstream, repo, cache)
    assert incremental == run(upstream, repo, None)[0]
    assert [f for f in incremental if f.check == check and message in f.message], incremental
    cluster = path.split("/")[1]
    if "/values/" in path:  # no overlay reads it: the cluster's Helm releases are rechecked
        assert {r.split(":")[0] for r in store.recomputed["helm-release"]} == {cluster}
        assert "kustomize" not in store.recomputed
    else:
        assert {cluster_of(f) for f in store.recomputed["kustomize"]} - {None} == {cluster}
    # Undone: the first run's builds, and what was kept of them, apply again.
    for name in added:
        (repo / name).unlink()
    edit(repo, path, new, old)
    undone, store = run(upstream, repo, cache)
    assert undone == first and "kustomize" not in store.recomputed


def test_a_shared_overlay_change_rechecks_every_cluster_that_includes_it(
    tmp_path: Path, upstream: Path, repo: Path, tools: dict[str, Path]
) -> None:
    cache = tmp_path / "cache"
    run(upstream, repo, cache)
    # A hand edit of the base overlay every cluster's istio-system folder reaches (drift
    # reports it too): each of them is rebuilt, and a label value kustomize rejects is found.
    edit(
        repo,
        "overlays/base/istio-system/namespace.yaml",
        "  name: istio-system\n",
        "  name: istio-system\n  labels:\n    team: not a valid label\n",
    )
    incremental, store = run(upstream, repo, cache)
    assert incremental == run(upstream, repo, None)[0]
    rebuilt = set(store.recomputed["kustomize"])
    assert {f"clusters/cluster-{n}/istio-system" for n in range(4)} <= rebuilt
    assert "clusters/cluster-0" not in rebuilt  # the Applications do not read it
    schema = {f.cluster for f in incremental if f.check == "schema" and f.severity == ERROR}
    assert schema == {f"cluster-{n}" for n in range(4)}, incremental


def reaching(root: Path, path: str) -> set[str]:
    """The overlays validate builds (entry points) whose inputs hold ``path``: derived from
    the rendered kustomizations, as the cache keys are."""
    view = RepoView(root=root, document=None)
    found, _ = kustomize.kustomizations(view)
    return {
        folder
        for folder in kustomize.entry_points(found)
        if path in {p for p, _ in build_inputs(view, folder)}
    }


@pytest.mark.parametrize(
    ("path", "old", "new", "clusters"),
    [
        # the network overlay of net-1: its two clusters' istio-system, nothing of net-0
        (
            "overlays/networks/net-1/kustomization.yaml",
            "          topology.istio.io/network: net-1\n",
            "          topology.istio.io/network: net-1\n          team: not a valid label\n",
            {"cluster-2", "cluster-3"},
        ),
        # a remote secret every primary that watches cluster-1 aggregates
        (
            "overlays/remote-secrets/cluster-1/external-secret.yaml",
            "    meshgen.io/remote-cluster: cluster-1\n",
            "    meshgen.io/remote-cluster: cluster-1\n    team: not a valid label\n",
            None,
        ),
    ],
    ids=["network-overlay", "remote-secret-aggregate"],
)
def test_a_shared_input_change_rechecks_exactly_the_overlays_that_read_it(
    tmp_path: Path,
    upstream: Path,
    repo: Path,
    tools: dict[str, Path],
    path: str,
    old: str,
    new: str,
    clusters: set[str] | None,
) -> None:
    cache = tmp_path / "cache"
    run(upstream, repo, cache)
    readers = reaching(repo, path)
    assert readers and all(r.startswith("clusters/") for r in readers), readers
    edit(repo, path, old, new)
    incremental, store = run(upstream, repo, cache)
    assert incremental == run(upstream, repo, None)[0]
    assert set(store.recomputed["kustomize"]) == readers
    flagged = {f.cluster for f in incremental if f.check == "schema" and f.severity == ERROR}
    assert flagged == (clusters or {r.split("/")[1] for r in readers}), incremental
    if clusters is None:  # the aggregate reaches the primaries that watch the remote
        assert {r.split("/")[1] for r in readers} >= {"cluster-0"}


@pytest.mark.parametrize(
    ("path", "old", "new", "flagged", "recomputed"),
    [
        # mesh.yaml only (not rendered): cluster-0's discovery address, which its remote's
        # istiod Service and webhooks must reach
        (
            "mesh.yaml",
            "address: 192.0.2.10}",
            "address: 192.0.2.11}",
            {"cluster-1"},
            {"cluster-0", "cluster-1"},
        ),
        # mesh.yaml only: the mesh ID the primaries' istiod config and injector carry (the
        # remotes' checks never read it: their findings are replayed)
        (
            "mesh.yaml",
            "meshID: mesh1\n",
            "meshID: mesh2\n",
            {"cluster-0", "cluster-2"},
            {"cluster-0", "cluster-2"},
        ),
        # the network overlay of net-1 labels its clusters' namespace with another network
        (
            "overlays/networks/net-1/kustomization.yaml",
            "          topology.istio.io/network: net-1\n",
            "          topology.istio.io/network: net-9\n",
            {"cluster-2", "cluster-3"},
            {"cluster-2", "cluster-3"},
        ),
    ],
    ids=["discovery-address", "mesh-id", "network-overlay"],
)
def test_multicluster_findings_are_replayed_per_cluster_while_what_they_read_holds(
    tmp_path: Path,
    upstream: Path,
    repo: Path,
    tools: dict[str, Path],
    path: str,
    old: str,
    new: str,
    flagged: set[str],
    recomputed: set[str],
) -> None:
    cache = tmp_path / "cache"
    run(upstream, repo, cache)
    edit(repo, path, old, new)
    incremental, store = run(upstream, repo, cache)
    assert incremental == run(upstream, repo, None)[0]
    found = {f.cluster for f in incremental if f.check == "multicluster" and f.severity == ERROR}
    assert flagged <= found, incremental
    assert set(store.recomputed["multicluster"]) == recomputed, [
        f for f in incremental if f.check == "multicluster"
    ]
    # Replayed as they are, also from the cache of a run that found them.
    again, store = run(upstream, repo, cache)
    assert again == incremental and "multicluster" not in store.recomputed


def test_findings_are_replayed_from_the_cache(
    tmp_path: Path, upstream: Path, repo: Path, tools: dict[str, Path]
) -> None:
    cache = tmp_path / "cache"
    edit(repo, "clusters/cluster-2/values/istiod.yaml", "meshConfig:", "pilotz: {}\nmeshConfig:")
    edit(
        repo,
        "clusters/cluster-3/istio-system/kustomization.yaml",
        "resources:\n",
        "resources:\n  - missing.yaml\n",
    )
    first, _ = run(upstream, repo, cache)
    second, store = run(upstream, repo, cache)
    assert second == first and store.recomputed == {}  # nothing recomputed, all replayed
    values = [f for f in second if f.check == "helm-values" and f.severity == ERROR]
    assert [(f.cluster, f.file) for f in values] == [
        ("cluster-2", "clusters/cluster-2/values/istiod.yaml")
    ]
    assert "pilotz is not a value of the istiod chart" in values[0].message
    builds = [f for f in second if f.check == "kustomize" and f.severity == ERROR]
    assert [f.cluster for f in builds] == ["cluster-3"] and "missing.yaml" in builds[0].message


def test_a_cache_deleted_or_damaged_during_a_run_changes_nothing(
    tmp_path: Path, upstream: Path, repo: Path, tools: dict[str, Path]
) -> None:
    cache = tmp_path / "cache"
    reference, _ = run(upstream, repo, None)
    run(upstream, repo, cache)
    for entry in cache.rglob("*.json"):  # every entry truncated: all misses, no crash
        entry.write_bytes(entry.read_bytes()[:40])
    damaged, store = run(upstream, repo, cache)
    assert damaged == reference and store.recomputed["kustomize"]

    def delete_midway(_fraction: float, check: str) -> None:
        if check in ("helm-values", "schema", "multicluster"):
            shutil.rmtree(cache, ignore_errors=True)

    opts = options(upstream, repo, cache)
    deleted = validate.collect(opts, delete_midway, cache=validate.open_cache(opts))
    assert deleted == reference


def test_validate_names_its_cache_and_can_do_without(
    tmp_path: Path,
    upstream: Path,
    repo: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helpers import run_cli

    cache = tmp_path / "ci-cache"
    monkeypatch.setenv("MESHGEN_CACHE_DIR", str(cache))
    args = ["validate", "--repo", str(repo), "--charts", str(upstream / "istio" / ISTIO / "charts")]
    first = run_cli(capsys, *args, "-o", "json")
    report = json.loads(first.stdout)
    assert report["cache"]["folder"] == str(cache) and report["cache"]["computed"]["kustomize"]
    text = run_cli(capsys, *args)
    assert f"cache {cache}:" in text.stdout and " reused" in text.stdout
    entries = sorted(cache.rglob("*.json"))
    uncached = run_cli(capsys, *args, "--no-cache", "-o", "json")
    assert json.loads(uncached.stdout)["cache"]["enabled"] is False
    assert json.loads(uncached.stdout)["findings"] == report["findings"]
    assert sorted(cache.rglob("*.json")) == entries  # --no-cache writes nothing
    other = tmp_path / "other"
    run_cli(capsys, *args, "--cache-dir", str(other), "-o", "json")
    assert list(other.rglob("*.json"))
    assert "nothing could be written" not in run_cli(capsys, *args).stdout
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder\n")
    unwritable = run_cli(capsys, *args, "--cache-dir", str(blocked / "cache"))
    assert unwritable.exit_code == text.exit_code
    assert "nothing could be written there, so the next run starts cold" in unwritable.stdout


def test_a_run_that_builds_nothing_new_ends_its_schema_worker_once_keyed(
    tmp_path: Path,
    upstream: Path,
    repo: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from meshgen.validation.schema_worker import SchemaWorker

    cache = tmp_path / "cache"
    first, _ = run(upstream, repo, cache)
    alive_after_builds: list[bool] = []

    def watch(worker: SchemaWorker) -> Callable[[float, str], None]:
        def emit(_fraction: float, check: str) -> None:
            if check == "helm-values" and not alive_after_builds:
                alive_after_builds.append(worker._process is not None)

        return emit

    def run_with(worker: SchemaWorker) -> list[Finding]:
        opts = options(upstream, repo, cache)
        return validate.collect(opts, watch(worker), cache=validate.open_cache(opts), worker=worker)

    # Nothing new: the worker (started with the run, as the command does) is ended once the
    # overlays are keyed, before the checks that follow the builds.
    idle = SchemaWorker()
    assert run_with(idle) == first
    assert alive_after_builds == [False]
    # A one-cluster change builds two overlays: the worker checks their new objects.
    edit(repo, "mesh.yaml", "  - name: cluster-1\n", "  - name: cluster-1\n    region: eu-1\n")
    render(repo, capsys)
    alive_after_builds.clear()
    busy = SchemaWorker()
    process = busy._process
    assert run_with(busy) == run(upstream, repo, None)[0]
    assert alive_after_builds == [True]
    assert process is not None and process.returncode == 0  # it answered, and is gone


def test_a_chart_is_known_by_its_files_digests_and_an_edit_to_one_is_seen(
    tmp_path: Path, upstream: Path, repo: Path, tools: dict[str, Path]
) -> None:
    """The charts' files are hashed once and known by their stat afterwards; a chart file
    edited since (here: an istiod template comes to read the key a release sets) changes
    what is replayed."""
    charts = tmp_path / "charts"
    shutil.copytree(upstream / "istio" / ISTIO / "charts", charts)
    cache = tmp_path / "cache"
    chosen = dataclasses.replace(options(upstream, repo, cache), charts=charts)
    edit(repo, "clusters/cluster-2/values/istiod.yaml", "meshConfig:", "pilotz: {}\nmeshConfig:")

    def findings() -> list[str]:
        found = validate.collect(chosen, cache=validate.open_cache(chosen))
        return [f.message for f in found if f.check == "helm-values" and f.severity == ERROR]

    assert any("pilotz is not a value of the istiod chart" in m for m in findings())
    time.sleep(0.2)  # past the slack in which a file just hashed is not trusted by its stat
    entry = Cache(cache).get("file-digests", digest("file-digests", FORMAT, str(charts / "istiod")))
    assert isinstance(entry, dict) and "templates/deployment.yaml" in entry
    assert any("pilotz is not a value of the istiod chart" in m for m in findings())
    template = charts / "istiod" / "templates" / "deployment.yaml"
    text = template.read_text(encoding="utf-8")
    template.write_text(text + "{{- /* reads .Values.pilotz */ -}}\n", encoding="utf-8")
    helm_values.chart_reads.cache_clear()  # as a new process would read the chart
    assert not any("pilotz" in m for m in findings())


def test_nothing_is_stored_once_a_stop_was_asked_for(tmp_path: Path) -> None:
    import signal

    from meshgen.adapters import transaction

    cache = Cache(tmp_path / "cache")
    cache.put("kustomize", "k1", {"built": 1})
    try:
        transaction.record_stop(signal.SIGINT)
        cache.put("kustomize", "k2", {"error": "kustomize build failed: no output"})
    finally:
        transaction.forget_stop()
    again = Cache(tmp_path / "cache")
    assert again.get("kustomize", "k1") == {"built": 1} and again.get("kustomize", "k2") is None
    assert cache.written == 1
