"""Reading traffic files: YAML text in, schema-checked :class:`TrafficPolicy` models out.

Pure: the caller reads ``traffic/`` (``mesh_repo.read_traffic``) or a commit's copy of it and
passes ``{path: text}``. A file may hold several documents; a file of comments only (such as
the example ``meshgen init`` writes) holds none. Anchors and aliases are refused: a policy is
read by people in review, and an alias chain can grow a small file into gigabytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from meshgen.errors import MeshgenError, SpecError, invalid_yaml
from meshgen.traffic.model import (
    API_VERSION,
    KIND,
    Destination,
    Distribution,
    Failover,
    Problem,
    Retries,
    Service,
    TrafficPolicies,
    TrafficPolicy,
    derived_subset,
)

MAX_FILE_BYTES = 256 * 1024  # far above any real policy; bounds what CI parses


def _refuse_aliases(text: str, source: str) -> None:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.events import AliasEvent

    try:
        for event in YAML(typ="rt").parse(text):
            if isinstance(event, AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else None
                raise SpecError(
                    source,
                    line,
                    "(alias)",
                    "YAML anchors and aliases are not allowed in traffic files; write the "
                    "values out",
                )
    except YAMLError:
        return  # the loader below reports the syntax error with its line


def _documents(text: str, source: str) -> list[tuple[int, Any]]:
    """(line, round-trip tree) of every non-empty document."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise MeshgenError(
            f"{source}: larger than {MAX_FILE_BYTES // 1024} KiB; a traffic file holds the "
            "policies of one service, split it"
        )
    if "&" in text:  # an alias needs an anchor: without one, no second pass is needed
        _refuse_aliases(text, source)
    yaml = YAML(typ="rt")
    try:
        trees = list(yaml.load_all(text))
    except YAMLError as exc:
        raise invalid_yaml(source, exc) from None
    documents = []
    for tree in trees:
        if tree is None:
            continue
        if not isinstance(tree, dict):
            raise MeshgenError(
                f"{source}: expected a mapping with apiVersion: {API_VERSION} and kind: {KIND}; "
                "see traffic/example.yaml"
            )
        lc = getattr(tree, "lc", None)
        documents.append((lc.line + 1 if lc is not None else 1, tree))
    return documents


def _destinations(raw: list[dict[str, Any]]) -> tuple[Destination, ...]:
    found = []
    for entry in raw:
        labels = tuple(sorted(entry.get("labels", {}).items()))
        subset = entry.get("subset")
        found.append(
            Destination(
                cluster=entry["cluster"],
                labels=labels,
                weight=entry["weight"],
                subset=subset or derived_subset(entry["cluster"], labels),
                explicit_subset=subset is not None,
            )
        )
    return tuple(found)


def build_policy(tree: Any, source: str, line: int) -> TrafficPolicy:
    """The model of one schema-valid document."""
    data = json.loads(json.dumps(tree))  # ruamel's round-trip types as plain ones
    meta, spec = data["metadata"], data["spec"]
    failover = spec.get("failover")
    retries = spec.get("retries")
    clients = spec.get("clients")
    return TrafficPolicy(
        source=source,
        line=line,
        service=Service(namespace=meta.get("namespace", "default"), name=meta["name"]),
        clients=tuple(clients) if clients is not None else None,
        protocol=spec.get("protocol", "http"),
        split=_destinations(spec.get("split", [])),
        failover=Failover(
            priority=tuple(failover.get("priority", ())),
            regions=tuple((r["from"], r["to"]) for r in failover.get("regions", ())),
        )
        if failover
        else None,
        distribute=tuple(
            Distribution(origin=entry["from"], to=tuple(entry["to"].items()))
            for entry in spec.get("distribute", ())
        ),
        outlier_detection=tuple(spec.get("outlierDetection", {}).items()),
        retries=Retries(
            attempts=retries.get("attempts"),
            per_try_timeout=retries.get("perTryTimeout"),
            retry_on=retries.get("retryOn"),
            retry_remote_localities=retries.get("retryRemoteLocalities"),
        )
        if retries
        else None,
        timeout=spec.get("timeout"),
        scope=spec.get("scope", "global"),
        tree=tree,
    )


def parse_file(text: str, source: str) -> list[TrafficPolicy]:
    """The policies of one file; raises MeshgenError (SpecError: with line and field) at the
    first problem."""
    from meshgen import library
    from meshgen.spec import validate_schema

    policies = []
    for line, tree in _documents(text, source):
        validate_schema(tree, source, schema=library.traffic_schema())
        policies.append(build_policy(tree, source, line))
    return policies


def _sorted(policies: list[TrafficPolicy]) -> TrafficPolicies:
    return TrafficPolicies(tuple(sorted(policies, key=lambda p: (p.service, p.source, p.line))))


def parse_files(texts: Mapping[str, str]) -> TrafficPolicies:
    """Every policy of ``{path: text}``; raises at the first broken file."""
    policies: list[TrafficPolicy] = []
    for source in sorted(texts):
        policies += parse_file(texts[source], source)
    return _sorted(policies)


def parse_files_collecting(texts: Mapping[str, str]) -> tuple[TrafficPolicies, list[Problem]]:
    """The policies of every readable file, and one problem per broken file (for validate)."""
    policies: list[TrafficPolicy] = []
    problems = []
    for source in sorted(texts):
        try:
            policies += parse_file(texts[source], source)
        except SpecError as exc:
            problems.append(Problem(source, exc.line, exc.field, exc.detail))
        except MeshgenError as exc:
            match = re.match(rf"{re.escape(source)}(?::(\d+))?: (.*)", str(exc))
            if match is None:
                problems.append(Problem(source, None, "(file)", str(exc)))
            else:
                line = int(match[1]) if match[1] else None
                problems.append(Problem(source, line, "(file)", match[2]))
    return _sorted(policies), problems
