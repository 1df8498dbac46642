"""What a traffic change does, in the sentences a reviewer reads first."""

from __future__ import annotations

from meshgen import spec, traffic
from traffic_fixtures import ONE_NETWORK, TWO_NETWORKS, policy

BEFORE = """\
  clients: [cluster1]
  split:
    - {cluster: cluster2, labels: {version: v3}, weight: 50}
    - {cluster: cluster1, labels: {version: v1}, weight: 40}
    - {cluster: cluster1, labels: {version: v2}, weight: 10}
"""


def summarize(mesh_text: str, before: dict[str, str], after: dict[str, str]) -> list[str]:
    mesh = spec.parse(mesh_text).mesh
    return traffic.summarize(mesh, traffic.parse_files(before), mesh, traffic.parse_files(after))


def test_a_weight_change_reads_as_the_issue_says() -> None:
    after = BEFORE.replace("weight: 50", "weight: 75").replace("weight: 40", "weight: 15")
    lines = summarize(
        TWO_NETWORKS,
        {"traffic/reviews.yaml": policy(BEFORE)},
        {"traffic/reviews.yaml": policy(after)},
    )
    assert lines == [
        "reviews.default from cluster1: cluster2/v3 50% -> 75%; cluster1/v1 40% -> 15%"
    ]


def test_new_removed_and_other_settings_per_group_of_clients() -> None:
    before = {
        "traffic/reviews.yaml": policy(BEFORE.replace("[cluster1]", "[cluster1, cluster2]")),
        "traffic/ratings.yaml": policy("  timeout: 5s\n", name="ratings"),
    }
    after = {
        "traffic/reviews.yaml": policy(
            "  clients: [cluster1, cluster2]\n  split:\n"
            "    - {cluster: cluster2, labels: {version: v3}, weight: 90}\n"
            "    - {cluster: cluster1, labels: {version: v4}, weight: 10}\n"
            "  failover:\n    priority: [topology.istio.io/network]\n"
        ),
        "traffic/details.yaml": policy("  retries: {attempts: 2}\n", name="details"),
    }
    assert summarize(TWO_NETWORKS, before, after) == [
        "details.default from cluster1, cluster2: now retries 2 attempts (traffic/details.yaml)",
        "ratings.default from cluster1, cluster2: no policy any more (traffic/ratings.yaml no "
        "longer covers it): Istio's defaults",
        "reviews.default from cluster1, cluster2: cluster2/v3 50% -> 90%; cluster1/v1 removed "
        "(was 40%); cluster1/v2 removed (was 10%); cluster1/v4 added at 10%; failover (none) -> "
        "priority topology.istio.io/network",
    ]


def test_nothing_changes_nothing_is_said() -> None:
    files = {"traffic/reviews.yaml": policy("  timeout: 5s\n")}
    assert summarize(ONE_NETWORK, files, dict(files)) == []
    # Moving a policy to another file with the same content changes nothing either.
    moved = {"traffic/default/reviews.yaml": files["traffic/reviews.yaml"]}
    assert summarize(ONE_NETWORK, files, moved) == []
