"""Reading traffic files: the model of a document, and each way a file is refused (with its
line and field)."""

from __future__ import annotations

import pytest

from meshgen import traffic
from meshgen.errors import MeshgenError, SpecError
from traffic_fixtures import REVIEWS, policy


def test_the_issue_example_reads_into_the_model() -> None:
    policies = traffic.parse_files({"traffic/reviews.yaml": REVIEWS})
    (reviews,) = policies
    assert reviews.service == traffic.Service(namespace="default", name="reviews")
    assert reviews.service.host == "reviews.default.svc.cluster.local"
    assert str(reviews.service) == "reviews.default"
    assert reviews.clients == ("cluster1",)
    assert [(d.cluster, d.labels, d.weight, d.subset) for d in reviews.split] == [
        ("cluster2", (("version", "v3"),), 75, "cluster2-v3"),
        ("cluster1", (("version", "v1"),), 15, "cluster1-v1"),
        ("cluster1", (("version", "v2"),), 10, "cluster1-v2"),
    ]
    assert [d.label for d in reviews.split] == ["cluster2/v3", "cluster1/v1", "cluster1/v2"]
    assert reviews.failover == traffic.Failover(
        priority=("topology.istio.io/network", "topology.istio.io/cluster")
    )
    assert (reviews.protocol, reviews.scope, reviews.line) == ("http", "global", 1)


def test_defaults_comments_and_several_documents() -> None:
    text = (
        "# yaml-language-server: $schema=../.meshgen/traffic.schema.json\n"
        + policy("  timeout: 2s\n", name="ratings")
        + "---\n# only a comment here\n---\n"
        + policy("  protocol: tcp\n  scope: cluster-local\n", name="mysql", namespace="db")
    )
    ratings, mysql = sorted(traffic.parse_file(text, "traffic/x.yaml"), key=lambda p: p.line)
    assert (ratings.clients, ratings.timeout, ratings.line) == (None, "2s", 2)
    assert (mysql.service.host, mysql.protocol, mysql.scope) == (
        "mysql.db.svc.cluster.local",
        "tcp",
        "cluster-local",
    )
    assert mysql.line == 10
    # A file of comments only (the example init writes) holds no policy.
    assert (
        traffic.parse_file("# apiVersion: meshgen.io/v1alpha1\n# kind: TrafficPolicy\n", "e") == []
    )


def test_policies_are_sorted_by_service_then_file() -> None:
    files = {
        "traffic/b.yaml": policy("  timeout: 1s\n", name="ratings"),
        "traffic/a.yaml": policy("  timeout: 1s\n", name="reviews")
        + "---\n"
        + policy("  timeout: 1s\n", name="details", namespace="bookinfo"),
    }
    order = [(str(p.service), p.source) for p in traffic.parse_files(files)]
    assert order == [
        ("details.bookinfo", "traffic/a.yaml"),
        ("ratings.default", "traffic/b.yaml"),
        ("reviews.default", "traffic/a.yaml"),
    ]


@pytest.mark.parametrize(
    "body, line, field, fragment",
    [
        (
            "  split:\n    - {cluster: cluster2, wieght: 75}\n",
            6,
            "spec.split[0].wieght",
            "did you mean",
        ),
        ("  split:\n    - {cluster: cluster2, weight: 175}\n", 6, "spec.split[0].weight", "175"),
        ("  protocol: grpc\n", 5, "spec.protocol", "not one of: http, tcp"),
        ("  timeout: 10\n", 5, "spec.timeout", "10 is a number to YAML, not text"),
        ("  timeout: ten seconds\n", 5, "spec.timeout", "ten seconds"),
        ("  scope: local\n", 5, "spec.scope", "global, cluster-local"),
        ("  clients: [Cluster_1]\n", 5, "spec.clients[0]", "DNS-1123"),
    ],
)
def test_schema_errors_name_line_and_field(body: str, line: int, field: str, fragment: str) -> None:
    with pytest.raises(SpecError) as error:
        traffic.parse_file(policy(body), "traffic/reviews.yaml")
    assert (error.value.source, error.value.line, error.value.field) == (
        "traffic/reviews.yaml",
        line,
        field,
    )
    assert fragment in error.value.detail
    assert str(error.value).startswith(f"traffic/reviews.yaml:{line}: {field}: ")


def test_aliases_syntax_and_shape_are_refused() -> None:
    aliased = policy("  timeout: &t 1s\n  retries: {perTryTimeout: *t}\n")
    with pytest.raises(SpecError, match="anchors and aliases are not allowed"):
        traffic.parse_file(aliased, "traffic/a.yaml")
    with pytest.raises(MeshgenError, match=r"^traffic/b.yaml:6: not valid YAML"):
        traffic.parse_file(policy("  split: [\n"), "traffic/b.yaml")
    with pytest.raises(MeshgenError, match="expected a mapping"):
        traffic.parse_file("- a list\n", "traffic/c.yaml")
    with pytest.raises(SpecError, match="must be 'TrafficPolicy'"):
        traffic.parse_file(policy("  timeout: 1s\n").replace("TrafficPolicy", "Mesh"), "d")
    with pytest.raises(MeshgenError, match="larger than 256 KiB"):
        traffic.parse_file("#" * 300_000, "traffic/e.yaml")


def test_collecting_reports_every_broken_file_and_keeps_the_others() -> None:
    files = {
        "traffic/good.yaml": policy("  timeout: 1s\n", name="good"),
        "traffic/bad-schema.yaml": policy("  timeout: 1\n"),
        "traffic/bad-yaml.yaml": "spec: [\n",
    }
    policies, problems = traffic.parse_files_collecting(files)
    assert [str(p.service) for p in policies] == ["good.default"]
    assert [(p.source, p.line, p.field) for p in problems] == [
        ("traffic/bad-schema.yaml", 5, "spec.timeout"),
        ("traffic/bad-yaml.yaml", 2, "(file)"),
    ]
