"""Object schemas: core kinds through kubernetes-validate, CRDs from --crds, nothing passed
without a schema."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from meshgen.errors import MeshgenError
from meshgen.validation import schemas

CRD_LIST = """\
apiVersion: v1
kind: List
items:
  - apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.example.com}
    spec:
      group: example.com
      scope: Cluster
      names: {kind: Widget, plural: widgets}
      versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  properties:
                    size: {type: integer}
"""
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}


def test_crds_from_a_kubectl_get_list(tmp_path: Path) -> None:
    (tmp_path / "crds.yaml").write_text(CRD_LIST)
    index = schemas.CrdIndex(schemas.crd_files([tmp_path]))
    assert index.kinds() == {("example.com", "Widget")}
    assert index.scopes[("example.com", "Widget")] == "Cluster"
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert schemas.object_problems({**widget, "spec": {"size": 3}}, index) == []
    assert schemas.object_problems({**widget, "spec": {"sise": 3}}, index) == [
        "spec: Additional properties are not allowed ('sise' was unexpected)"
    ]
    # A version the CRD does not serve has no schema: unchecked, not passed.
    other = {**widget, "apiVersion": "example.com/v2"}
    assert schemas.object_problems(other, index) == [
        "unchecked: no schema for example.com/v2 Widget"
    ]


def test_core_kinds_are_strict_for_the_mesh_version() -> None:
    core = schemas.CoreSchemas("1.33")
    assert core.version == "1.33"
    index = schemas.CrdIndex([])
    assert schemas.object_problems(NAMESPACE, index, core) == []
    typo = {**NAMESPACE, "spec": {"finalizer": ["kubernetes"]}}
    (problem,) = schemas.object_problems(typo, index, core)
    assert problem.startswith("spec: Additional properties are not allowed ('finalizer'")


def test_kubernetes_versions_compare_as_numbers() -> None:
    """kubernetes-validate compares '1.9' > '1.33' as strings; meshgen does not."""
    assert schemas.CoreSchemas("1.40").version == "1.37"
    old = schemas.CoreSchemas("1.9")
    assert old.version is None and old.validator("v1", "Namespace") is None


def test_missing_crd_path_is_bad_usage(tmp_path: Path) -> None:
    with pytest.raises(MeshgenError, match=r"--crds .*nope: no such file"):
        schemas.crd_files([tmp_path / "nope"])


def test_a_checked_crd_schema_is_replayed_from_the_cache(tmp_path: Path) -> None:
    from meshgen.validation.cache import Cache, Table

    (tmp_path / "crds.yaml").write_text(CRD_LIST)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    objects = [
        {**widget, "spec": {"size": 3}},
        {**widget, "spec": {"sise": 3}},
        {**widget, "apiVersion": "example.com/v2"},  # not served: stays unchecked
    ]
    cache = Cache(tmp_path / "cache")
    first = schemas.CrdIndex(schemas.crd_files([tmp_path / "crds.yaml"]))
    first.schema_memo = Table(cache, "schema", "context")
    expected = [schemas.object_problems(obj, first) for obj in objects]
    assert expected[1] and expected[2][0].startswith("unchecked: ")
    first.schema_memo.store()
    # The next run takes the converted, checked schemas from the cache: it gives the same
    # problems without parsing the CRD (its text is made unreadable here to prove it).
    second = schemas.CrdIndex(schemas.crd_files([tmp_path / "crds.yaml"]))
    second._texts = {key: "{not yaml" for key in second._texts}
    second.schema_memo = Table(cache, "schema", "context")
    assert [schemas.object_problems(obj, second) for obj in objects] == expected
    # Without the cache, the same unreadable text is parsed, and fails.
    third = schemas.CrdIndex(schemas.crd_files([tmp_path / "crds.yaml"]))
    third._texts = dict(second._texts)
    with pytest.raises(Exception, match="flow mapping"):
        schemas.object_problems(objects[0], third)


def test_split_at_markers_is_re_split_exactly() -> None:
    import random
    import re

    rng = random.Random(17)
    pieces = ["---", "\n", " ", "a", "-", "\t", "\r", "--- ", "\n---\n", "\n---  \n\n"]
    texts = ["", "---", "---\n---\n", "a\n--- \nb", "a\n---x\nb", "x\r\n---\r\ny", "----\n---\n"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 16))) for _ in range(5000)]
    for text in texts:
        assert schemas.split_at_markers(text) == re.split(r"^---\s*$", text, flags=re.M), text


def test_the_crd_content_digest_follows_the_files_read(tmp_path: Path) -> None:
    crd = tmp_path / "crds.yaml"
    crd.write_text(CRD_LIST)
    first = schemas.CrdIndex([crd]).content_digest()
    assert schemas.CrdIndex([crd]).content_digest() == first
    crd.write_text(CRD_LIST.replace("size: {type: integer}", "size: {type: string}"))
    assert schemas.CrdIndex([crd]).content_digest() != first


def test_the_schema_worker_answers_as_the_check_does_in_process(tmp_path: Path) -> None:
    from meshgen.validation.schema_worker import SchemaWorker

    (tmp_path / "crds.yaml").write_text(CRD_LIST)
    index = schemas.CrdIndex(schemas.crd_files([tmp_path]))
    core = schemas.CoreSchemas("1.33")
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    objects = [
        {**widget, "spec": {"size": 3}},
        {**widget, "spec": {"sise": 3}, "metadata": {"name": "Not_A_Name"}},
        {**widget, "apiVersion": "example.com/v2"},  # not served: unchecked
        NAMESPACE,
        {**NAMESPACE, "spec": {"finalizer": ["kubernetes"]}},
        {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}},
    ]
    expected = [schemas.object_problems(obj, index, core) for obj in objects]
    assert sum(1 for e in expected if e) == 4  # the test says something
    found = [index.schema(obj["apiVersion"], obj["kind"]) for obj in objects]
    schema_list = [s for s in {id(s): s for s in found if s is not None}.values()]
    requests = [
        (obj, None if s is None else next(i for i, x in enumerate(schema_list) if x is s))
        for obj, s in zip(objects, found, strict=True)
    ]
    assert SchemaWorker().problems("1.33", schema_list, requests) == expected
    # Only custom resources (the worker reads no core schema then): the same answers.
    custom = [i for i, (_, index) in enumerate(requests) if index is not None]
    assert len(custom) == 2 and expected[custom[1]]
    only_custom = [requests[i] for i in custom]
    assert SchemaWorker().problems("1.33", schema_list, only_custom) == [
        expected[i] for i in custom
    ]
    # Asked once: a second question gets no answer (the check computes in process).
    worker = SchemaWorker()
    worker.close()
    assert worker.problems("1.33", schema_list, requests) is None
    # A worker that died answers nothing either (and the check computes in process).
    dead = SchemaWorker()
    assert dead._process is not None
    dead._process.kill()
    assert dead.problems("1.33", schema_list, requests) is None


def test_a_schema_worker_belongs_to_the_run_that_started_it(tmp_path: Path) -> None:
    from meshgen.validation.repository import RepoView

    stopped, next_run = RepoView(root=tmp_path, document=None), RepoView(tmp_path, None)
    schemas.start_worker(stopped)
    worker = stopped.context[schemas.WORKER_KEY]
    process = worker._process
    assert process is not None and process.poll() is None
    schemas.start_worker(stopped)  # once per run
    assert stopped.context[schemas.WORKER_KEY] is worker
    # A later run (in the same process) starts its own; it never takes another run's.
    assert schemas.take_worker(next_run) is None
    # What ends a run that stopped before its schema check ends its worker too.
    schemas.close_worker(stopped)
    assert schemas.take_worker(stopped) is None
    assert process.returncode is not None


GATEWAY_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gateways.gateway.networking.k8s.io
  annotations:
    gateway.networking.k8s.io/bundle-version: v1.4.0
    gateway.networking.k8s.io/channel: standard
spec:
  group: gateway.networking.k8s.io
  scope: Namespaced
  names:
    kind: Gateway
    plural: gateways
  versions: []
"""


def test_the_crds_of_a_text_are_found_again_from_the_cache(tmp_path: Path) -> None:
    import textwrap

    from meshgen.validation.cache import Cache

    item = CRD_LIST.split("items:\n", 1)[1].replace("  - ", "    ", 1)
    widgets = textwrap.dedent(item)  # the List's one item, as a plain document
    assert widgets.startswith("apiVersion: apiextensions.k8s.io/v1\nkind: Custom")
    (tmp_path / "list.yaml").write_text(CRD_LIST)
    (tmp_path / "plain.yaml").write_bytes(  # CRLF line ends, read as read_text reads them
        f"{widgets}---\n{GATEWAY_CRD}".replace("\n", "\r\n").encode()
    )
    (tmp_path / "again.yaml").write_text(GATEWAY_CRD.replace("standard", "experimental"))
    (tmp_path / "json.yaml").write_text(
        '{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",'
        ' "spec": {"group": "x.io", "scope": "Cluster", "names": {"kind": "X"}}}'
    )
    files = sorted(tmp_path.glob("*.yaml"))  # as crd_files lists the folder

    def facts(index: schemas.CrdIndex) -> tuple[Any, ...]:
        texts = {key: index.text(key) for key in index.kinds()}
        return (texts, index.scopes, index.bundles, index.found_in, index.content_digest())

    scanned = facts(schemas.CrdIndex(files))
    assert scanned[2] == {("gateway.networking.k8s.io", "Gateway"): ("v1.4.0", "standard")}
    assert "\r" not in scanned[0][("gateway.networking.k8s.io", "Gateway")]
    assert ("example.com", "Widget") in scanned[0] and ("x.io", "X") in scanned[0]
    cache = Cache(tmp_path / "cache")
    assert facts(schemas.crd_index([tmp_path], cache)) == scanned
    assert cache.written == 1  # the scans (and the files' digests by their stat), in one table
    replayed = schemas.crd_memo(Cache(tmp_path / "cache"))
    assert len(replayed.known) == 2 * len(files)  # a scan per text and a digest per file
    assert facts(schemas.CrdIndex(files, replayed)) == scanned
    assert not replayed.added  # nothing scanned again
    # A changed file is scanned again (the memo is by content).
    (tmp_path / "plain.yaml").write_text(GATEWAY_CRD.replace("v1.4.0", "v1.5.0"))
    changed = schemas.crd_memo(Cache(tmp_path / "cache"))
    index = schemas.CrdIndex(files, changed)
    assert index.bundles[("gateway.networking.k8s.io", "Gateway")] == ("v1.5.0", "standard")
    assert len(changed.added) == 1 and facts(index) == facts(schemas.CrdIndex(files))


def test_crd_files_unchanged_by_their_stat_are_read_only_when_a_text_is_asked_for(
    tmp_path: Path,
) -> None:
    from meshgen.validation.cache import Cache

    crds = tmp_path / "crds"
    crds.mkdir()
    (crds / "gateway.yaml").write_text(GATEWAY_CRD)
    (crds / "list.yaml").write_text(CRD_LIST)  # a List: always read (its items are parsed)
    single = tmp_path / "single.yaml"
    single.write_bytes(GATEWAY_CRD.replace("Gateway", "Route").replace("\n", "\r\n").encode())
    time.sleep(0.3)  # past the clock's slack: their stat can be trusted once they are hashed
    given = [crds, single]

    def facts(index: schemas.CrdIndex) -> tuple[Any, ...]:
        texts = {key: index.text(key) for key in index.kinds()}
        return (texts, index.scopes, index.bundles, index.found_in, index.content_digest())

    def unread(index: schemas.CrdIndex) -> set[tuple[str, str]]:
        return {key for key, text in index._texts.items() if not isinstance(text, str)}

    files = schemas.crd_files(given)
    expected = facts(schemas.CrdIndex(files))
    first = schemas.crd_index(given, Cache(tmp_path / "cache"))
    assert not unread(first) and facts(first) == expected
    again = Cache(tmp_path / "cache")
    second = schemas.crd_index(given, again)
    assert again.written == 0  # nothing new to keep (the List, read again, included)
    assert unread(second) == {
        ("gateway.networking.k8s.io", "Gateway"),
        ("gateway.networking.k8s.io", "Route"),
    }
    assert facts(second) == expected and not unread(second)  # read when asked for
    # A changed file is read again, even with its size and modification time kept.
    info = (crds / "gateway.yaml").stat()
    (crds / "gateway.yaml").write_text(GATEWAY_CRD.replace("v1.4.0", "v1.5.0"))
    os.utime(crds / "gateway.yaml", ns=(info.st_atime_ns, info.st_mtime_ns))
    third = schemas.crd_index(given, Cache(tmp_path / "cache"))
    assert third.bundles[("gateway.networking.k8s.io", "Gateway")] == ("v1.5.0", "standard")
    assert facts(third) == facts(schemas.CrdIndex(files)) != expected
    # One changed after the index was made is not read as the content the index describes.
    time.sleep(0.3)
    schemas.crd_index(given, Cache(tmp_path / "cache"))
    fourth = schemas.crd_index(given, Cache(tmp_path / "cache"))
    assert ("gateway.networking.k8s.io", "Route") in unread(fourth)
    single.write_text(GATEWAY_CRD)
    with pytest.raises(MeshgenError, match="changed while validate ran"):
        fourth.text(("gateway.networking.k8s.io", "Route"))
