"""The report of `meshgen diff`: per-object and per-value comparisons, formats, size limit."""

from __future__ import annotations

import json

from meshgen import diffreport

ISTIOD_BEFORE = (
    "# header\nglobal:\n  meshID: mesh1\n  externalIstiod: false\npilot:\n  env: {A: '1'}\n"
)
ISTIOD_AFTER = "# header\nglobal:\n  meshID: mesh1\n  externalIstiod: true\nrevision: canary\n"

BUILT_BEFORE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
  labels: {topology.istio.io/network: n1}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: istio-remote-secret-c2
  namespace: istio-system
"""
BUILT_AFTER = """\
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
  labels: {topology.istio.io/network: n2}
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: istio-remote-secret-c3
  namespace: istio-system
"""


def test_values_changes_leaf_by_leaf() -> None:
    changes = diffreport.values_changes(ISTIOD_BEFORE, ISTIOD_AFTER, "istiod.yaml")
    assert [(c.key, c.before, c.after) for c in changes] == [
        ("global.externalIstiod", "false", "true"),
        ("pilot.env.A", "1", diffreport.ABSENT),
        ("revision", diffreport.ABSENT, "canary"),
    ]
    assert diffreport.values_changes(ISTIOD_AFTER, ISTIOD_AFTER, "istiod.yaml") == []


def test_object_changes_match_kind_namespace_and_name() -> None:
    changes = diffreport.object_changes("istio-system", BUILT_BEFORE, BUILT_AFTER)
    assert [(c.object, c.change) for c in changes] == [
        ("ExternalSecret istio-system/istio-remote-secret-c2", "removed"),
        ("ExternalSecret istio-system/istio-remote-secret-c3", "added"),
        ("Namespace istio-system", "changed"),
    ]
    namespace = changes[2]
    assert "-    topology.istio.io/network: n1" in namespace.diff
    assert "+    topology.istio.io/network: n2" in namespace.diff
    assert [c.change for c in diffreport.object_changes("x", None, BUILT_AFTER)] == ["added"] * 2


def report(clusters: int, diff_lines: int) -> diffreport.Report:
    return diffreport.Report(
        base="main (0123456789ab)",
        summary=["c0 joins network n1 without an east-west gateway."],
        clusters=[
            diffreport.ClusterChange(
                name=f"c{i}",
                status="added",
                values=[diffreport.ValueChange("istiod.yaml", "global.meshID", "(absent)", "m")],
                files=[f"clusters/c{i}/values/istiod.yaml"],
            )
            for i in range(clusters)
        ],
        files={"mesh.yaml": "changed"},
        diff=[f"+line {i} " + "x" * 60 for i in range(diff_lines)],
        graph="flowchart LR\n",
    )


def test_markdown_has_summary_graph_and_collapsible_clusters() -> None:
    text = diffreport.to_markdown(report(2, 3))
    assert text.startswith("### meshgen diff against `main (0123456789ab)`\n")
    assert "- c0 joins network n1 without an east-west gateway." in text
    assert "```mermaid\nflowchart LR\n```" in text
    assert text.count("<details><summary>c") == 2
    assert "<details><summary>Files: 1 changed</summary>" in text
    assert text.count("<details") == text.count("</details>")
    assert "Truncated" not in text


def test_markdown_cuts_the_raw_diff_first_with_a_note() -> None:
    text = diffreport.to_markdown(report(3, 2000), limit=20_000)
    assert len(text) <= 20_000
    assert text.count("<details><summary>c") == 3
    assert "> **Truncated:** this report is over 20,000 characters;" in text
    assert "of 2000 diff lines are left out" in text
    assert text.count("```") % 2 == 0  # every fence is closed


def test_markdown_leaves_out_cluster_sections_when_still_too_long() -> None:
    text = diffreport.to_markdown(report(400, 10), limit=20_000)
    assert len(text) <= 20_000
    shown = text.count("<details><summary>c")
    assert 0 < shown < 400
    assert f"{400 - shown} cluster sections and the file diff are left out" in text
    assert "- c0 joins network n1" in text  # the summary always stays


def test_json_round_trips() -> None:
    data = json.loads(diffreport.to_json(report(1, 1)))
    assert data["clusters"][0]["values"][0]["key"] == "global.meshID"
    assert data["summary"] == ["c0 joins network n1 without an east-west gateway."]


def test_kustomization_inputs_follow_resources_components_and_patches() -> None:
    files = {
        "clusters/c1/istio-system/kustomization.yaml": (
            "resources: [../../../overlays/base, extra.yaml]\n"
            "components: [../../../overlays/component]\n"
            "patches:\n  - path: patch.yaml\n  - patch: inline\n"
        ),
        "clusters/c1/istio-system/extra.yaml": "kind: A\n",
        "clusters/c1/istio-system/patch.yaml": "kind: P\n",
        "overlays/base/kustomization.yaml": "resources: [ns.yaml]\n",
        "overlays/base/ns.yaml": "kind: Namespace\n",
        "overlays/component/kustomization.yaml": "kind: Component\n",
        "overlays/unrelated/kustomization.yaml": "resources: []\n",
        "clusters/c2/istio-system/kustomization.yaml": "resources: []\n",
    }
    inputs = diffreport.kustomization_inputs(files, "clusters/c1/istio-system")
    assert sorted(inputs) == [
        "clusters/c1/istio-system/extra.yaml",
        "clusters/c1/istio-system/kustomization.yaml",
        "clusters/c1/istio-system/patch.yaml",
        "overlays/base/kustomization.yaml",
        "overlays/base/ns.yaml",
        "overlays/component/kustomization.yaml",
    ]
    assert all(inputs[p] == files[p] for p in inputs)
