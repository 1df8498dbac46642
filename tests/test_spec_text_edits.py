"""`new-cluster` and `remove-cluster` edited in mesh.yaml's text write exactly what the
round-trip edits write.

``spec.add_cluster`` and ``spec.remove_cluster`` edit a document read by libyaml in its text
(:mod:`meshgen.spec.textedits`) and fall back to ruamel's round-trip tree when unsure. Each
test makes the same edit both ways (a document parsed from the text, and one built from the
round-trip tree, which only the ruamel path can edit) and compares the bytes written, or the
errors raised.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import mesh_text
from meshgen import spec
from meshgen.errors import MeshgenError
from meshgen.spec import textedits, yamlio
from test_spec import COMMENTED_MESH
from test_spec_fast_read import MESHES
from test_spec_remove_cluster import MESH as REMOVAL_MESH


def by_ruamel(text: str) -> spec.MeshDocument:
    """The document as only the round-trip path holds it (no text to edit)."""
    return spec.from_tree(yamlio.round_trip_tree(text))


def outcome(edit: Any, document: spec.MeshDocument) -> tuple[str, str]:
    """("text", bytes written) or ("error", the message) of ``edit(document)``."""
    try:
        result = edit(document)
    except MeshgenError as exc:
        return "error", str(exc)
    updated = result[0]
    return "text", spec.to_text(updated)


def both_ways(text: str, edit: Any) -> tuple[tuple[str, str], bool]:
    """The outcome of ``edit`` made both ways (asserted equal), and whether the text path
    made it."""
    fast = spec.parse(text)
    expected = outcome(edit, by_ruamel(text))
    got = outcome(edit, fast)
    assert got == expected
    in_text = False
    if got[0] == "text":
        edited = edit(spec.parse(text))[0]
        in_text = edited.written_text is not None
        if in_text:  # the data and model the text path vouches for are the text's
            assert yamlio.plain_tree(edited.written_text) == edited.data
            assert edited.mesh == spec.build_model(edited.data)
            # ... and so is the layout the edit carries over to the next edit
            assert edited.text_layout == textedits.layout(edited.written_text)
    return got, in_text


FIXTURES = {
    **MESHES,
    "commented": COMMENTED_MESH,
    "removal": REMOVAL_MESH,
    "trailing-comments": mesh_text(
        "  - name: n1\n  # more networks later\n",
        "  - name: a\n    network: n1\n    eastWestGateway:\n      enabled: false\n"
        "  # the end of the clusters\n\n",
    )
    + "# file end\n",
    "blank-lines": mesh_text(
        "  - name: n1\n\n",
        "  - name: a\n    network: n1\n    eastWestGateway:\n      enabled: false\n\n\n",
    ),
    "clusters-first": (
        "apiVersion: meshgen.io/v1alpha1\nkind: Mesh\nmeshID: m\nclusters:\n"
        "  - name: a  # first\n    network: n1\n    podCIDRs: [10.0.0.0/16]\n"
        "networks:\n  - name: n1\nrepository:\n  url: https://git.example.com/m.git\n"
    ),
}


def requests(text: str) -> list[spec.NewCluster]:
    document = spec.parse(text)
    names = [c.name for c in document.mesh.clusters]
    networks = list(document.mesh.networks) or ["n1"]
    asked = [
        spec.NewCluster("added-1", networks[0]),
        spec.NewCluster("added-2", "brand-new", pod_cidrs=("10.9.0.0/16",), region="eu"),
        spec.NewCluster("yes", "on", api_server="https://k8s.example.com:6443"),
        spec.NewCluster("added-3", networks[-1], east_west_gateway=False, zone="z1"),
        spec.NewCluster("Bad_Name", networks[0]),
    ]
    primaries = [c.name for c in document.mesh.clusters if c.role == spec.PRIMARY]
    if primaries:
        asked.append(
            spec.NewCluster("added-4", networks[0], role=spec.REMOTE, control_plane=primaries[0])
        )
    if names:
        asked.append(spec.NewCluster(names[0], networks[0]))
    return asked


@pytest.mark.parametrize("name", list(FIXTURES))
def test_new_cluster_in_the_text_equals_the_round_trip_edit(name: str) -> None:
    text = FIXTURES[name]
    taken = 0
    for request in requests(text):
        _, in_text = both_ways(text, lambda d, r=request: spec.add_cluster(d, r))
        taken += in_text
    if name in ("bench-10", "commented", "trailing-comments", "clusters-first"):
        assert taken, "the text path was never taken"


@pytest.mark.parametrize("name", list(FIXTURES))
def test_remove_cluster_in_the_text_equals_the_round_trip_edit(name: str) -> None:
    text = FIXTURES[name]
    taken = 0
    for cluster in spec.parse(text).mesh.clusters:
        for force in (False, True):
            _, in_text = both_ways(
                text, lambda d, c=cluster.name, f=force: spec.remove_cluster(d, c, f)
            )
            taken += in_text
    if name == "bench-10":
        assert taken, "the text path was never taken"


def test_the_bench_mesh_is_edited_in_its_text() -> None:
    text = FIXTURES["bench-10"]
    added, _ = spec.add_cluster(spec.parse(text), spec.NewCluster("new-0", "net-0"))
    assert added.written_text is not None
    assert spec.to_text(added) == text + (
        "  - name: new-0\n    network: net-0\n    role: primary\n"
        "    eastWestGateway:\n      enabled: false\n"
    )
    removed, _ = spec.remove_cluster(spec.parse(text), "cluster-9")
    assert removed.written_text is not None
    assert "cluster-9" not in spec.to_text(removed)


@pytest.mark.parametrize(
    "text",
    [
        "a:\n- b\n",  # a sequence without ruamel's indentation
        "a: x  \n",  # trailing spaces
        "a: ~\n",  # a null ruamel writes as nothing
        "a: True\n",
        "a: [ b ]\n",
        "a: {k:  v}\n",
        'a: "\\x41"\n',
        "a: b\n  c\n",  # a plain scalar over two lines
        "---\na: b\n",
        "\na: b\n",  # a blank first line
    ],
)
def test_layouts_ruamel_rewrites_are_not_edited_in_the_text(text: str) -> None:
    assert textedits.layout(text) is None
    written = yamlio.to_text(spec.MeshDocument("x", yamlio.round_trip_tree(text), None))  # type: ignore[arg-type]
    assert written != text  # the reason: ruamel would write it differently


# Generated layouts: the same mesh written in many ways.

WORD = st.sampled_from(["alpha", "beta", "on", "yes", "x1", "gw"])


@st.composite
def layouts(draw: Any) -> str:
    networks = draw(st.integers(1, 3))
    clusters = draw(st.integers(1, 5))
    quote = st.sampled_from(["", "'", '"'])
    lines = ["apiVersion: meshgen.io/v1alpha1", "kind: Mesh"]
    header = [
        "meshID: mesh1",
        "repository:\n  url: https://git.example.com/mesh.git",
        'istio:\n  version: "1.29.6"',
    ]
    network_lines = ["networks:"]
    for n in range(networks):
        q = draw(quote)
        network_lines.append(f"  - name: {q}net{n}{q}")
    cluster_lines = ["clusters:"]
    primaries: dict[int, str] = {}
    for c in range(clusters):
        network = c % networks
        q = draw(quote)
        entry = [f"  - name: {q}c{c}{q}", f"    network: net{network}"]
        remote = network in primaries and draw(st.booleans())
        if remote:
            entry += ["    role: remote", f"    controlPlane: {primaries[network]}"]
        else:
            primaries.setdefault(network, f"c{c}")
        gateway = "true" if networks > 1 and not remote else "false"
        if draw(st.booleans()):
            entry.append(f"    eastWestGateway: {{enabled: {gateway}}}")
        else:
            entry += ["    eastWestGateway:", f"      enabled: {gateway}"]
        style = draw(st.sampled_from(["none", "flow", "block"]))
        if style == "flow":
            entry.append(f"    podCIDRs: [10.{c}.0.0/16, 10.{c}.1.0/24]")
        elif style == "block":
            entry += ["    podCIDRs:", f"      - 10.{c}.0.0/16"]
        if draw(st.booleans()):
            entry.append(f"    region: {draw(WORD)}")
        if not remote and draw(st.booleans()):
            entry.append(f"    discovery: {{address: 192.0.2.{c}}}")
        cluster_lines += entry
    sections = [header[0], header[1], header[2], "\n".join(network_lines), "\n".join(cluster_lines)]
    order = draw(st.permutations(range(len(sections))))
    lines += [sections[i] for i in order]
    text_lines = "\n".join(lines).split("\n")
    # Comments, blank lines and end-of-line comments in random places.
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text_lines)))
        indent = draw(st.sampled_from(["", "  ", "    "]))
        text_lines.insert(at, draw(st.sampled_from([f"{indent}# note", ""])))
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text_lines) - 1))
        line = text_lines[at]
        if line.strip() and not line.lstrip().startswith("#") and not line.endswith(":"):
            text_lines[at] += draw(st.sampled_from(["  # eol", " # eol"]))
    if draw(st.booleans()):  # an indentation ruamel rewrites
        text_lines = [
            re.sub(r"^  - ", "- ", line) if line.startswith("  - n") else line
            for line in text_lines
        ]
    return "\n".join(text_lines) + "\n" + draw(st.sampled_from(["", "\n", "# end\n"]))


def _parses(text: str) -> bool:
    try:
        spec.parse(text)
    except MeshgenError:
        return False
    return True


def edit_both_ways(text: str, data: Any) -> None:
    if not _parses(text):
        return
    mesh = spec.parse(text).mesh
    names = [c.name for c in mesh.clusters]
    request = spec.NewCluster(
        data.draw(st.sampled_from(["new", "c0", "on"])),
        data.draw(st.sampled_from([*mesh.networks, "fresh"])),
        pod_cidrs=data.draw(st.sampled_from([(), ("10.99.0.0/16",)])),
        region=data.draw(st.sampled_from([None, "eu", "no"])),
    )
    both_ways(text, lambda d: spec.add_cluster(d, request))
    name = data.draw(st.sampled_from(names))
    force = data.draw(st.booleans())
    both_ways(text, lambda d: spec.remove_cluster(d, name, force))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=layouts(), data=st.data())
def test_generated_layouts_edit_the_same_both_ways(text: str, data: Any) -> None:
    edit_both_ways(text, data)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=layouts(), data=st.data())
def test_many_generated_layouts_edit_the_same_both_ways(text: str, data: Any) -> None:
    edit_both_ways(text, data)


def _invariants_pass(data: dict[str, Any], new_clusters: set[str] | None) -> bool:
    try:
        mesh = spec.build_model(data)
        spec.check_invariants(mesh, data, new_clusters=new_clusters)
    except MeshgenError:
        return False
    return True


ADDED_RANGES = ["10.0.3.0/25", "10.0.0.0/8", "10.200.0.0/16", "fd00::/64", "10.0.3.1/24"]
ADDED_GATEWAYS = [
    {"enabled": True},
    {"enabled": False},
    {"enabled": True, "replicas": 2, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}},
    {"enabled": True, "autoscaling": {"minReplicas": 4, "maxReplicas": 2}},
]


@pytest.mark.parametrize("name", list(FIXTURES))
def test_the_invariants_of_an_edit_agree_with_the_full_check(name: str) -> None:
    """After one cluster is added to a valid mesh (or clusters are taken out), checking only
    what the change can break finds a problem exactly when the full check does."""
    data = spec.parse(FIXTURES[name]).data
    networks = [n["name"] for n in data["networks"]] or ["n1"]
    outcomes = set()
    for network in networks[:2]:
        for cidr in ADDED_RANGES:
            for gateway in ADDED_GATEWAYS:
                entry = {
                    "name": "added",
                    "network": network,
                    "podCIDRs": [cidr],
                    "eastWestGateway": gateway,
                }
                added = {**data, "clusters": [*data["clusters"], entry]}
                if not data["networks"]:
                    added["networks"] = [{"name": network}]
                full = _invariants_pass(added, None)
                assert _invariants_pass(added, {"added"}) == full, (network, cidr, gateway)
                outcomes.add(full)
    if name == "bench-10":
        assert outcomes == {True, False}  # the cases reach both answers
    for index in range(len(data["clusters"])):
        removed = {**data, "clusters": [c for i, c in enumerate(data["clusters"]) if i != index]}
        assert _invariants_pass(removed, set()) == _invariants_pass(removed, None), index


def test_the_skew_rules_of_an_added_cluster_agree_with_the_full_check() -> None:
    """The version-skew rules run for the added cluster only (its own state, and a remote's
    against its control plane), the minors the mesh spans still whole: a problem is found
    exactly when the full check finds one."""
    data = spec.parse(FIXTURES["bench-10"]).data
    version = spec.parse(FIXTURES["bench-10"]).mesh.istio_version
    major, minor, _ = version.split(".")
    newer, far = f"{major}.{int(minor) + 1}.0", f"{major}.{int(minor) + 3}.0"
    primary = next(c["name"] for c in data["clusters"] if c.get("role") != "remote")
    states: list[dict[str, Any]] = [
        {},
        {"version": newer},  # a remote newer than its control plane; one more minor
        {"version": far},  # three minors apart
        {"revisions": {"default": version, "canary": newer}},
        {"revisions": {"canary": newer}},  # a revision its control plane does not run
    ]
    outcomes = set()
    for role in ("primary", "remote"):
        for state in states:
            entry: dict[str, Any] = {"name": "added", "network": data["networks"][0]["name"]}
            if role == "remote":
                entry.update(role="remote", controlPlane=primary)
            if state:
                entry["istio"] = state
            added = {**data, "clusters": [*data["clusters"], entry]}
            full = _invariants_pass(added, None)
            assert _invariants_pass(added, {"added"}) == full, (role, state)
            outcomes.add(full)
    assert outcomes == {True, False}  # the cases reach both answers


@pytest.mark.parametrize("name", list(FIXTURES))
def test_a_layout_noted_with_the_text_edits_as_one_worked_out(name: str) -> None:
    """A document given the layout noted for its text (as `mesh_repo.load` gives it from the
    parsed-mesh note) edits to the same bytes as one that works it out, and carries the
    layout of each text it writes to the next edit."""
    text = FIXTURES[name]
    record = spec.layout_record(spec.parse(text))
    found = textedits.layout(text)
    assert record == (None if found is None else {"keys": found.keys, "items": found.items})
    for cluster in spec.parse(text).mesh.clusters:
        restored = spec.parse(text)
        spec.restore_layout(restored, record)
        assert restored.text_layout == (textedits.layout(text) or textedits.NOT_EDITABLE)
        got = outcome(lambda d, c=cluster.name: spec.remove_cluster(d, c, True), restored)
        assert got == outcome(
            lambda d, c=cluster.name: spec.remove_cluster(d, c, True), spec.parse(text)
        )
    document = spec.parse(text)
    spec.restore_layout(document, record)
    networks = list(document.mesh.networks) or ["n1"]
    for request in (spec.NewCluster("next-1", networks[0]), spec.NewCluster("next-2", "other")):
        try:
            document, _ = spec.add_cluster(document, request)
        except MeshgenError:
            continue
        if document.written_text is not None:  # made in the text: so is the layout
            assert document.text_layout == textedits.layout(document.written_text)


def test_a_layout_record_of_another_shape_is_not_taken() -> None:
    text = FIXTURES["bench-10"]
    for record in (
        [1, 2],
        {"keys": {"a": "1"}, "items": {}},
        {"keys": {}},
        {"keys": {}, "items": {"a": [None]}},
    ):
        document = spec.parse(text)
        spec.restore_layout(document, record)
        assert document.text_layout is None  # worked out when needed
        assert textedits.layout_of(document) == textedits.layout(text)


@pytest.mark.parametrize(
    "text",
    [
        FIXTURES["bench-10"],
        FIXTURES["bench-10"].replace("kind: Mesh\n", 'kind: Mesh\nmeshgenVersion: "0.1.0"\n'),
        FIXTURES["bench-10"].replace("kind: Mesh\n", "kind: Mesh\nmeshgenVersion: 0.1.0\n"),
        FIXTURES["bench-10"].replace("kind: Mesh\n", "kind: Mesh\n# the mesh\n\n"),
        FIXTURES["commented"],
        FIXTURES["clusters-first"],
    ],
)
def test_recording_the_version_carries_the_layout_over(text: str) -> None:
    document = spec.parse(text)
    assert textedits.layout_of(document) is not None
    recorded = spec.record_meshgen_version(document, "9.9.9")
    assert recorded.written_text is not None
    assert recorded.text_layout == textedits.layout(recorded.written_text)
    assert recorded.text_layout is not None


def test_a_layout_after_another_line_edit_is_worked_out_again() -> None:
    """:func:`textedits.layout_after_line` vouches only for one top-level ``key: value`` line
    replaced or added after such a line; any other edit leaves the layout to be worked out."""
    text = FIXTURES["bench-10"]
    document = spec.parse(text)
    textedits.layout_of(document)
    others = [
        text.replace("meshID: bench\n", "meshID: other\n"),  # replaced, same key: fine
        text.replace("meshID: bench\n", "meshID: bench\nextra:\n  - a\n"),  # opens a block
        text.replace("    network: net-0\n", "    network: net-1\n", 1),  # not top level
        text.replace("kind: Mesh\n", "kind: Mesh\nmeshID: twice\n"),  # a key again
        text.replace("repository:\n", "repository:\nkey: value\n"),  # after an open key
        text.replace("meshID: bench\n", "a: 1\nb: 2\n"),  # two lines
    ]
    for edited in others:
        derived = textedits.layout_after_line(document, edited)
        assert derived is None or derived == textedits.layout(edited), edited
    assert textedits.layout_after_line(document, others[0]) == textedits.layout(others[0])
    assert all(textedits.layout_after_line(document, t) is None for t in others[1:])


@pytest.mark.parametrize("name", list(FIXTURES))
def test_data_read_from_the_note_stays_exact_for_json_through_text_edits(name: str) -> None:
    """A document read from the parsed-mesh note (JSON's data) is marked exact for JSON, and
    so is each document an edit in its text makes from it: the note of the new text is then
    written without walking its data (tree_cache.remember_parsed's check must agree)."""
    import json

    from meshgen.adapters.tree_cache import _json_exact

    text = FIXTURES[name]
    if not _json_exact(spec.parse(text).data):
        return  # never noted: nothing read from a note
    noted = json.loads(json.dumps(spec.parse(text).data))

    def from_note() -> spec.MeshDocument:
        document = spec.parse(text, known_valid=True, plain=noted)
        assert document.json_exact and not spec.parse(text).json_exact
        return document

    recorded = spec.record_meshgen_version(from_note(), "9.9.9")
    assert not recorded.json_exact or _json_exact(recorded.data)  # it may not know
    edits: list[Any] = [
        lambda d, c=c.name: spec.remove_cluster(d, c, True)[0]
        for c in spec.parse(text).mesh.clusters
    ]
    networks = list(spec.parse(text).mesh.networks) or ["n1"]
    edits.append(lambda d: spec.add_cluster(d, spec.NewCluster("next", networks[0]))[0])
    edits.append(lambda d: spec.add_cluster(d, spec.NewCluster("other", "fresh"))[0])
    for edit in edits:
        try:
            edited = edit(from_note())
        except MeshgenError:
            continue
        if edited.written_text is not None:  # made in the text: exact, and known to be
            assert edited.json_exact and _json_exact(edited.data)
        else:  # made on the round-trip tree: not noted at all
            assert not edited.json_exact
