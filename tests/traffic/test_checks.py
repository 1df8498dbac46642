"""Every rule a traffic policy must follow against its mesh, each broken once: the problem
names the file, the line and the field, and says what to do."""

from __future__ import annotations

import pytest

from meshgen import traffic
from meshgen.errors import SpecError
from traffic_fixtures import (
    EXTERNAL,
    ONE_NETWORK,
    PRIMARY_REMOTE,
    REVIEWS,
    TWO_NETWORKS,
    parsed,
    policy,
)

NO_GATEWAY_2 = TWO_NETWORKS.replace(
    "network: network2\n    eastWestGateway: {enabled: true}",
    "network: network2\n    eastWestGateway: {enabled: false}",
)
NO_GATEWAY_1 = TWO_NETWORKS.replace(
    "network: network1\n    eastWestGateway: {enabled: true}",
    "network: network1\n    eastWestGateway: {enabled: false}",
)
SPLIT_75_15_10 = """\
  split:
    - {cluster: cluster2, labels: {version: v3}, weight: 75}
    - {cluster: cluster1, labels: {version: v1}, weight: 15}
    - {cluster: cluster1, labels: {version: v2}, weight: 10}
"""


def problems_of(mesh_text: str, files: dict[str, str]) -> list[traffic.Problem]:
    mesh, policies = parsed(mesh_text, files)
    return traffic.problems(mesh, policies)


def test_the_issue_example_passes_every_check() -> None:
    assert problems_of(TWO_NETWORKS, {"traffic/reviews.yaml": REVIEWS}) == []
    # Every cluster as client (the default) reaches every subset through the gateways too.
    body = SPLIT_75_15_10 + "  retries: {attempts: 3, perTryTimeout: 250ms}\n  timeout: 1m30s\n"
    assert problems_of(TWO_NETWORKS, {"traffic/reviews.yaml": policy(body)}) == []


# (mesh, spec body, line, field, fragment of the message)
ONE_FILE_CASES = {
    "weights sum to 100": (
        TWO_NETWORKS,
        "  split:\n    - {cluster: cluster2, weight: 75}\n    - {cluster: cluster1, weight: 20}\n",
        5,
        "spec.split",
        "the weights sum to 95 (75 + 20), not 100",
    ),
    "client exists": (
        TWO_NETWORKS,
        "  clients: [cluster9]\n  timeout: 1s\n",
        5,
        "spec.clients[0]",
        "client 'cluster9' is not a cluster of mesh.yaml (clusters: cluster1, cluster2)",
    ),
    "split cluster exists": (
        TWO_NETWORKS,
        "  split:\n    - {cluster: cluster3, weight: 100}\n",
        6,
        "spec.split[0].cluster",
        "cluster 'cluster3' is not a cluster of mesh.yaml",
    ),
    "split cluster runs workloads": (
        EXTERNAL,
        "  split:\n    - {cluster: external-1, weight: 100}\n",
        6,
        "spec.split[0].cluster",
        "cluster external-1 is an external control plane, which runs no workloads",
    ),
    "destination network has a gateway": (
        NO_GATEWAY_2,
        "  clients: [cluster1]\n  split:\n    - {cluster: cluster2, weight: 100}\n",
        7,
        "spec.split[0].cluster",
        "client cluster1 cannot reach cluster2: network network2 has no east-west gateway",
    ),
    "client network has a gateway": (
        NO_GATEWAY_1,
        "  clients: [cluster1]\n  split:\n    - {cluster: cluster2, weight: 100}\n",
        7,
        "spec.split[0].cluster",
        "client cluster1 cannot reach cluster2: network network1 has no east-west gateway",
    ),
    "client's istiod discovers the destination": (
        PRIMARY_REMOTE,
        "  clients: [primary-2]\n  split:\n    - {cluster: remote-1, weight: 100}\n",
        7,
        "spec.split[0].cluster",
        "the istiod that configures primary-2 (from primary-2) does not watch remote-1",
    ),
    "derived subset names are unique": (
        ONE_NETWORK,
        "  split:\n    - {cluster: cluster1, labels: {version: v1}, weight: 50}\n"
        "    - {cluster: cluster1, labels: {version: v1}, weight: 50}\n",
        7,
        "spec.split[1].cluster",
        "subset cluster1-v1 is already spec.split[0]; subset names are unique: both select "
        "cluster1/v1",
    ),
    "given subset names are unique": (
        ONE_NETWORK,
        "  split:\n    - {cluster: cluster1, subset: blue, weight: 50}\n"
        "    - {cluster: cluster2, subset: blue, weight: 50}\n",
        7,
        "spec.split[1].subset",
        "subset blue is already spec.split[0]",
    ),
    "failover priority values are known regions": (
        TWO_NETWORKS,
        "  failover:\n    priority: [topology.kubernetes.io/region=mars]\n",
        6,
        "spec.failover.priority[0]",
        "region 'mars' is no cluster's region in mesh.yaml (known: europe-west1, us-east1)",
    ),
    "failover priority values are known clusters": (
        TWO_NETWORKS,
        "  failover:\n    priority: [topology.istio.io/network, topology.istio.io/cluster=c9]\n",
        6,
        "spec.failover.priority[1]",
        "cluster 'c9' is not a cluster of mesh.yaml",
    ),
    "failover priority values are known networks": (
        TWO_NETWORKS,
        "  failover:\n    priority: [topology.istio.io/network=network9]\n",
        6,
        "spec.failover.priority[0]",
        "network 'network9' is not declared in mesh.yaml",
    ),
    "failover regions are known": (
        TWO_NETWORKS,
        "  failover:\n    regions:\n      - {from: europe-west1, to: asia-east1}\n",
        7,
        "spec.failover.regions[0].to",
        "region 'asia-east1' is no cluster's region in mesh.yaml",
    ),
    "failover regions differ": (
        TWO_NETWORKS,
        "  failover:\n    regions:\n      - {from: us-east1, to: us-east1}\n",
        7,
        "spec.failover.regions[0].to",
        "fails over from us-east1 to itself",
    ),
    "failover regions and region priority exclude each other": (
        TWO_NETWORKS,
        "  failover:\n    priority: [topology.kubernetes.io/region]\n"
        "    regions:\n      - {from: us-east1, to: europe-west1}\n",
        6,
        "spec.failover.priority[0]",
        "Istio refuses both",
    ),
    "distribute zones are known": (
        TWO_NETWORKS,
        "  distribute:\n    - from: europe-west1/europe-west1-z\n"
        "      to: {europe-west1: 80, us-east1: 20}\n",
        6,
        "spec.distribute[0].from",
        "zone 'europe-west1-z' of region europe-west1 is no cluster's zone in mesh.yaml "
        "(known there: europe-west1-b)",
    ),
    "distribute targets are known": (
        TWO_NETWORKS,
        "  distribute:\n    - from: europe-west1\n      to: {europe-west1: 80, mars/*: 20}\n",
        7,
        "spec.distribute[0].to.mars/*",
        "region 'mars' is no cluster's region",
    ),
    "distribute shares sum to 100": (
        TWO_NETWORKS,
        "  distribute:\n    - from: '*'\n      to: {europe-west1: 70, us-east1: 20}\n",
        7,
        "spec.distribute[0].to",
        "the shares sum to 90, not 100",
    ),
    "distribute origins do not overlap": (
        TWO_NETWORKS,
        "  distribute:\n    - from: europe-west1\n      to: {europe-west1: 100}\n"
        "    - from: europe-west1/europe-west1-b/*\n      to: {us-east1: 100}\n",
        8,
        "spec.distribute[1].from",
        "overlaps spec.distribute[0].from",
    ),
    "distribute and failover exclude each other": (
        TWO_NETWORKS,
        "  failover:\n    priority: [topology.istio.io/network]\n"
        "  distribute:\n    - from: us-east1\n      to: {us-east1: 100}\n",
        7,
        "spec.distribute",
        "distribute and failover cannot both be set",
    ),
    "tcp has no retries": (
        ONE_NETWORK,
        "  protocol: tcp\n  retries: {attempts: 2}\n",
        6,
        "spec.retries",
        "only HTTP routes have retries; a tcp service gets weights only",
    ),
    "cluster-local keeps traffic home": (
        ONE_NETWORK,
        "  scope: cluster-local\n  split:\n    - {cluster: cluster2, weight: 100}\n",
        6,
        "spec.split",
        "scope cluster-local keeps clients on their own cluster's endpoints",
    ),
    "durations are at least 1ms": (
        ONE_NETWORK,
        "  timeout: 0s\n",
        5,
        "spec.timeout",
        "0s is shorter than 1ms",
    ),
    "control-plane namespaces are not for policies": (
        ONE_NETWORK,
        "  timeout: 1s\n",
        3,
        "metadata.namespace",
        "istio-system is a namespace meshgen manages",
    ),
    "failover holds for every client of an istiod": (
        PRIMARY_REMOTE,
        "  clients: [remote-1]\n  failover:\n    priority: [topology.istio.io/network]\n",
        6,
        "spec.failover",
        "failover holds for every cluster the istiod configured from primary-1 serves "
        "(primary-1, remote-1, remote-2), but no policy of reviews.default names primary-1, "
        "remote-2",
    ),
}


@pytest.mark.parametrize("case", list(ONE_FILE_CASES))
def test_each_broken_rule_is_one_problem_at_its_field(case: str) -> None:
    mesh_text, body, line, field, fragment = ONE_FILE_CASES[case]
    namespace = "istio-system" if "namespace" in case else "default"
    found = problems_of(mesh_text, {"traffic/reviews.yaml": policy(body, namespace=namespace)})
    assert [(p.source, p.line, p.field) for p in found] == [("traffic/reviews.yaml", line, field)]
    assert fragment in found[0].message


def test_one_policy_per_service_and_client() -> None:
    files = {
        "traffic/reviews.yaml": policy("  clients: [cluster1, cluster2]\n  timeout: 1s\n"),
        "traffic/reviews-eu.yaml": policy("  clients: [cluster3, cluster2]\n  timeout: 2s\n"),
    }
    found = problems_of(ONE_NETWORK, files)
    assert [(p.source, p.line, p.field) for p in found] == [
        ("traffic/reviews.yaml", 5, "spec.clients[1]")
    ]
    assert "already has a policy for client(s) cluster2 in traffic/reviews-eu.yaml (line 1)" in (
        found[0].message
    )
    # Disjoint clients are fine: one policy each.
    files["traffic/reviews.yaml"] = policy("  clients: [cluster1]\n  timeout: 1s\n")
    assert problems_of(ONE_NETWORK, files) == []
    # Two policies for every cluster: one problem, naming them all.
    files = {
        "traffic/a.yaml": policy("  timeout: 1s\n"),
        "traffic/b.yaml": policy("  timeout: 2s\n"),
    }
    found = problems_of(ONE_NETWORK, files)
    assert [(p.source, p.field) for p in found] == [("traffic/b.yaml", "spec")]
    assert "client(s) cluster1, cluster2, cluster3 in traffic/a.yaml" in found[0].message


def test_policies_of_a_service_share_subset_names_and_protocol() -> None:
    files = {
        "traffic/a.yaml": policy(
            "  clients: [cluster1]\n  split:\n    - {cluster: cluster2, subset: canary, labels: "
            "{version: v3}, weight: 100}\n"
        ),
        "traffic/b.yaml": policy(
            "  clients: [cluster2]\n  protocol: tcp\n  split:\n    - {cluster: cluster2, subset: "
            "canary, labels: {version: v2}, weight: 100}\n"
        ),
    }
    found = problems_of(ONE_NETWORK, files)
    assert [(p.source, p.field) for p in found] == [
        ("traffic/b.yaml", "spec.protocol"),
        ("traffic/b.yaml", "spec.split[0].subset"),
    ]
    assert "disagree on the protocol (http, tcp)" in found[0].message
    assert (
        "subset canary selects cluster2/v3 in traffic/a.yaml, not cluster2/v2" in found[1].message
    )


def test_one_istiod_gets_one_failover() -> None:
    files = {
        "traffic/a.yaml": policy(
            "  clients: [primary-1]\n  failover:\n    priority: [topology.istio.io/network]\n"
        ),
        "traffic/b.yaml": policy(
            "  clients: [remote-1, remote-2]\n"
            "  failover:\n    priority: [topology.istio.io/cluster]\n"
        ),
    }
    found = problems_of(PRIMARY_REMOTE, files)
    assert [(p.source, p.field) for p in found] == [("traffic/b.yaml", "spec")]
    assert "give the clients of the istiod configured from primary-1" in found[0].message
    # The same settings for all three are fine, even from two files.
    files["traffic/b.yaml"] = files["traffic/a.yaml"].replace("[primary-1]", "[remote-1, remote-2]")
    assert problems_of(PRIMARY_REMOTE, files) == []


def test_check_raises_the_first_problem_and_counts_the_rest() -> None:
    body = "  clients: [cluster9]\n  split:\n    - {cluster: cluster7, weight: 90}\n"
    mesh, policies = parsed(TWO_NETWORKS, {"traffic/reviews.yaml": policy(body)})
    with pytest.raises(SpecError) as error:
        traffic.check(mesh, policies)
    assert str(error.value).startswith("traffic/reviews.yaml:5: spec.clients[0]: client 'cluster9'")
    assert str(error.value).endswith("(and 2 more; `meshgen validate` lists them)")


def test_the_readme_example_passes_on_the_issue_mesh() -> None:
    from helpers import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### Traffic between clusters") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```\n")]
    assert example.startswith("# traffic/default/reviews.yaml\n")
    assert problems_of(TWO_NETWORKS, {"traffic/default/reviews.yaml": example}) == []
