"""The helm adapter with the real pinned helm, on a chart the test builds (no upstream data).

Helm reads values like YAML 1.1; the chart dumps what it read as JSON, so any value meshgen
writes that Helm would read differently (a name like ``yes`` or ``0755``) shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from helpers import MINIMAL_MESH
from meshgen import library, spec
from meshgen.adapters import helm
from meshgen.errors import MeshgenError
from meshgen.render import render_repository

DUMP_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-values
data:
  values.json: {{ toJson .Values | quote }}
"""


@pytest.fixture
def dump_chart(tmp_path: Path, tools: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    # The adapter tests isolate MESHGEN_TOOLS_DIR; point the adapter at the session's helm.
    monkeypatch.setenv("MESHGEN_HELM", str(tools["helm"]))
    chart = tmp_path / "dump"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: dump\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("{}\n")
    (chart / "templates/values.yaml").write_text(DUMP_TEMPLATE)
    return chart


def helm_reads(chart: Path, values: Path) -> object:
    rendered = helm.template(chart, "r", "istio-system", [values], kube_version="1.33")
    configmap = YAML(typ="safe", pure=True).load(rendered)
    return json.loads(configmap["data"]["values.json"])


def test_helm_reads_every_generated_values_file_as_written(
    dump_chart: Path, tmp_path: Path
) -> None:
    text = MINIMAL_MESH.replace("meshID: mesh1", 'meshID: "true"')
    document = spec.parse(text)
    for name, network in (("yes", "no"), ("0755", "on"), ("cluster-3", "1e3")):
        document, _ = spec.add_cluster(document, spec.NewCluster(name, network))
    files = render_repository(document.mesh, library.load())
    values_files = [p for p in files if "/values/" in p]
    # base + istiod for three clusters, and three gateways: "yes" got one when "0755"
    # brought a second network
    assert len(values_files) == 9
    for path in values_files:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[path])
        assert helm_reads(dump_chart, target) == YAML(typ="safe", pure=True).load(files[path]), path
    istiod = helm_reads(dump_chart, tmp_path / "clusters/0755/values/istiod.yaml")
    assert istiod["global"] == {
        "hub": "docker.io/istio",
        "meshID": "true",
        "multiCluster": {"clusterName": "0755"},
        "network": "on",
    }


def test_a_helm_failure_is_one_line_with_helms_reason(
    tools, dump_chart: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("global: [unclosed\n")
    with pytest.raises(MeshgenError) as error:
        helm.template(dump_chart, "r", "istio-system", [broken])
    message = str(error.value)
    assert "helm template failed: Error:" in message and "\n" not in message


def test_pull_from_an_oci_registry_asks_for_the_chart_by_its_oci_reference(
    tools, dump_chart: Path, tmp_path: Path
) -> None:
    """From ``oci://host/path`` the chart is ``oci://host/path/CHART`` (Helm has no --repo for
    OCI): helm reaches for its manifest; a closed loopback port fails at once, offline, and
    leaves nothing behind."""
    with pytest.raises(MeshgenError) as error:
        helm.pull("base", "1.31.1", "oci://127.0.0.1:9/istio/charts", tmp_path / "cache")
    message = str(error.value)
    assert "/v2/istio/charts/base/manifests/1.31.1" in message and "\n" not in message
    assert message.startswith("helm pull base 1.31.1 from oci://127.0.0.1:9/istio/charts failed")
    assert not list((tmp_path / "cache").rglob("Chart.yaml"))
