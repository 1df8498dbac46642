"""The values-key check follows the chart of the mesh's Istio version: keys a chart's
templates read without defaulting them (``global.enableReaderRBAC`` from 1.30,
``global.readerServiceAccount`` from 1.31, on both base and istiod) are accepted exactly where
that chart reads them, and typos are still caught. The charts are the upstream ones in
../shared/upstream/istio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import commit_rendered, edit, pin_istio, two_network_mesh, upstream_root
from meshgen.commands import validate
from meshgen.validation import ERROR, helm_values

VERSIONS = ("1.29.6", "1.30.3", "1.31.0-rc.0")
READER = {
    "global": {
        "enableReaderRBAC": False,
        "readerServiceAccount": {"name": "reader", "namespace": "platform"},
    }
}


@pytest.fixture(scope="module")
def charts() -> Path:
    root = upstream_root() / "istio"
    missing = [v for v in VERSIONS if not (root / v / "charts").is_dir()]
    if missing:
        pytest.skip(f"upstream Istio charts {missing} not found: needs ../shared/upstream")
    return root


def unknown(charts: Path, version: str, chart: str, values: dict[str, Any]) -> set[str]:
    chart_dir = charts / version / "charts" / chart
    raw = yaml.safe_load((chart_dir / "values.yaml").read_text())
    defaults = raw.get(helm_values.INTERNAL_DEFAULTS, raw)
    found = helm_values.unknown_value_paths(
        values, defaults, reads=helm_values.chart_reads(chart_dir)
    )
    return {".".join(path) for path in found}


@pytest.mark.parametrize(
    ("version", "rejected"),
    [
        ("1.29.6", {"global.enableReaderRBAC", "global.readerServiceAccount"}),
        ("1.30.3", {"global.readerServiceAccount"}),
        ("1.31.0-rc.0", set()),
    ],
)
@pytest.mark.parametrize("chart", ["base", "istiod"])
def test_reader_keys_follow_the_version(
    charts: Path, version: str, rejected: set[str], chart: str
) -> None:
    assert unknown(charts, version, chart, READER) == rejected


def test_typos_are_still_caught_where_keys_are_read_without_defaults(charts: Path) -> None:
    typos = {
        "global": {
            "readerServiceAcount": {"name": "reader"},  # the key itself
            "readerServiceAccount": {"nmae": "reader"},  # a key inside it
            "multicluster": {"clusterName": "c1"},  # global is read as a whole map, too
        }
    }
    for chart in ("base", "istiod"):
        found = unknown(charts, "1.31.0-rc.0", chart, typos)
        assert found == {
            "global.readerServiceAcount",
            "global.readerServiceAccount.nmae",
            "global.multicluster",
        }


def test_template_reads_parses_values_references_and_dig() -> None:
    text = """
    {{- if and (eq .Values.global.resourceScope "all")
               (dig "global" "enableReaderRBAC" true .Values) }}
    name: {{ dig "global" "readerServiceAccount" "name" "" .Values }}
    image: {{ $.Values.hub }}/pilot
    {{ dig "a" $key "fallback" .Values }}
    """
    assert helm_values.template_reads(text) == {
        ("global", "resourceScope"),
        ("global", "enableReaderRBAC"),
        ("global", "readerServiceAccount", "name"),
        ("hub",),
    }


def test_validate_accepts_the_reader_keys_on_1_31(
    tmp_path: Path, charts: Path, tools: dict[str, Path]
) -> None:
    """End to end: values files naming a custom reader service account pass the helm-values
    check (keys, schema, `helm template`) with the 1.31 charts."""
    root = commit_rendered(tmp_path / "mesh", pin_istio(two_network_mesh(), "1.31.0-rc.0"))
    reader = "  enableReaderRBAC: true\n  readerServiceAccount:\n    name: reader\n"
    edit(root, "clusters/cluster-1/values/base.yaml", "base:\n", f"global:\n{reader}base:\n")
    edit(
        root,
        "clusters/cluster-1/values/istiod.yaml",
        "  network: network1\n",
        f"  network: network1\n{reader}    namespace: platform\n",
    )
    findings = validate.collect(
        validate.Options(repo=root, charts=charts / "1.31.0-rc.0" / "charts", jobs=2)
    )
    assert [f for f in findings if f.check == "helm-values" and f.severity == ERROR] == []
    # Only the hand edits themselves are reported (as drift).
    drift = sorted(f.file for f in findings if f.check == "drift")
    assert drift == ["clusters/cluster-1/values/base.yaml", "clusters/cluster-1/values/istiod.yaml"]


def test_a_release_is_keyed_by_exactly_its_fields() -> None:
    import dataclasses

    from meshgen.validation.engines import HelmRelease

    release = HelmRelease(
        cluster="cluster-1",
        file="clusters/cluster-1/applications/istiod.yaml",
        obj="Application argocd/cluster-1-istiod",
        chart="istiod",
        version="1.30.3",
        repo_url="oci://registry.istio.io/release/charts",
        release="istiod",
        namespace="istio-system",
        value_files=("values/common.yaml", "clusters/cluster-1/values/istiod.yaml"),
        value_texts=(None, "pilot: {}\n"),
    )
    assert release.key_fields() == dataclasses.astuple(release)
    assert len(release.key_fields()) == len(dataclasses.fields(HelmRelease))  # none left out
    other = dataclasses.replace(release, value_texts=(None, "pilot: {cpu: 1}\n"))
    assert other.key_fields() != release.key_fields()
