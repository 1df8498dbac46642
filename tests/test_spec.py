"""mesh.yaml: parsing, defaults, errors that name file, line and field, and round-trip edits."""

from __future__ import annotations

import json

import pytest

from helpers import MINIMAL_MESH
from meshgen import library, spec
from meshgen.errors import MeshgenError

COMMENTED_MESH = """\
# yaml-language-server: $schema=./.meshgen/mesh.schema.json
# Our production mesh.
apiVersion: meshgen.io/v1alpha1
kind: Mesh
meshID: prod   # never change this
repository:
  url: https://git.example.com/mesh.git
  revision: main
networks:
  - name: network1   # the EU network
# Clusters are added by meshgen new-cluster.
clusters:
  - name: cluster-1
    network: network1
    eastWestGateway:
      enabled: false
# end of file
"""


def test_minimal_mesh_gets_documented_defaults() -> None:
    mesh = spec.parse(MINIMAL_MESH).mesh
    assert mesh.mesh_id == "mesh1"
    # The newest GA release of the catalogue, from Istio's live locations.
    assert mesh.istio_version == "1.31.1"
    assert mesh.chart_repository == "https://blob.istio.io/istio-release/charts"
    assert mesh.hub == "docker.io/istio"
    assert mesh.trust_domain == "cluster.local"
    assert mesh.revision == "main"
    assert mesh.engine == "argocd"
    assert mesh.secrets_provider == "external-secrets"
    assert mesh.secret_key_prefix == "meshgen/mesh1/remote-secrets"
    assert mesh.argocd_project == "mesh1"
    assert mesh.dns_capture is True
    assert mesh.clusters == ()


def test_schema_defaults_match_the_model_defaults() -> None:
    """The schema documents defaults for editors; the model must apply the same ones."""
    properties = library.mesh_schema()["properties"]
    mesh = spec.parse(MINIMAL_MESH).mesh
    assert properties["istio"]["properties"]["version"]["default"] == mesh.istio_version
    istio = properties["istio"]["properties"]
    assert istio["chartRepository"]["default"] == mesh.chart_repository
    assert istio["hub"]["default"] == mesh.hub
    assert properties["trustDomain"]["default"] == mesh.trust_domain
    assert properties["kubernetesVersion"]["default"] == mesh.kubernetes_version
    assert properties["repository"]["properties"]["revision"]["default"] == mesh.revision
    assert properties["secrets"]["properties"]["provider"]["default"] == mesh.secrets_provider


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("meshID: mesh1", "meshID: Mesh_1", "mesh.yaml:3: meshID: 'Mesh_1' is not allowed"),
        (
            "clusters: []",
            "clusters:\n  - name: c1\n    network: nowhere",
            "mesh.yaml:9: clusters[0].network: network 'nowhere' is not declared under networks",
        ),
        (
            "clusters: []",
            "clusters:\n  - name: c1\n    netwrk: n1",
            "mesh.yaml:10: clusters[0].netwrk: unknown key; did you mean 'network'?",
        ),
        (
            "networks: []",
            "networks:\n  - name: n1\n  - name: n1",
            "mesh.yaml:8: networks[1].name: network 'n1' is declared twice",
        ),
        (
            "apiVersion: meshgen.io/v1alpha1",
            "apiVersion: meshgen.io/v9",
            "mesh.yaml:1: apiVersion 'meshgen.io/v9' is not one this meshgen knows",
        ),
        (
            "kind: Mesh",
            "kind: Mesh\nfoo: bar",
            "mesh.yaml:3: foo: unknown key; allowed keys: apiVersion, clusters",
        ),
        (
            "clusters: []",
            "clusters:\n  - name: c1\n    network: n1\n    podCIDRs: [10.0.0.1/8]",
            "mesh.yaml:11: clusters[0].podCIDRs[0]: '10.0.0.1/8' is not a valid CIDR",
        ),
    ],
)
def test_errors_name_line_and_field(old: str, new: str, expected: str) -> None:
    text = MINIMAL_MESH.replace(old, new)
    if "nowhere" not in new and "n1" in new:
        text = text.replace("networks: []", "networks:\n  - name: n1")
    with pytest.raises(MeshgenError) as error:
        spec.parse(text)
    message = str(error.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_invalid_yaml_reports_the_line() -> None:
    with pytest.raises(MeshgenError, match=r"^mesh.yaml:4: not valid YAML"):
        spec.parse(MINIMAL_MESH.replace("meshID: mesh1", "meshID: [mesh1"))


def test_label_values_are_checked() -> None:
    text = COMMENTED_MESH + "    labels:\n      team: not a label value!\n"
    with pytest.raises(MeshgenError, match=r"clusters\[0\]\.labels\.team"):
        spec.parse(text)


def test_add_cluster_keeps_comments_order_and_the_rest_of_the_file() -> None:
    document = spec.parse(COMMENTED_MESH)
    updated, gateway = spec.add_cluster(document, spec.NewCluster("cluster-2", "network2"))
    text = spec.to_text(updated)
    # Everything that was there is still there, byte for byte and in order, except that
    # cluster-1's gateway is turned on: the mesh now spans two networks.
    original_lines = COMMENTED_MESH.replace("enabled: false", "enabled: true").splitlines()
    new_lines = text.splitlines()
    positions = [new_lines.index(line) for line in original_lines]
    assert positions == sorted(positions)
    # The new network goes before the comment that introduces clusters, the new cluster
    # before the end-of-file comment.
    assert new_lines.index("  - name: network2") < new_lines.index(
        "# Clusters are added by meshgen new-cluster."
    )
    assert new_lines.index("  - name: cluster-2") < new_lines.index("# end of file")
    assert gateway is True  # the mesh now spans two networks
    assert [c.name for c in updated.mesh.clusters] == ["cluster-1", "cluster-2"]


def test_gateway_default_is_written_explicitly_and_never_flips() -> None:
    document = spec.parse(MINIMAL_MESH)
    document, first = spec.add_cluster(document, spec.NewCluster("a", "n1"))
    document, second = spec.add_cluster(document, spec.NewCluster("b", "n2"))
    document, third = spec.add_cluster(
        document, spec.NewCluster("c", "n1", east_west_gateway=False)
    )
    assert (first, second, third) == (False, True, False)
    # a is turned on by the change that brought n2 (written, like every other setting).
    gateways = {c.name: c.east_west_gateway.enabled for c in document.mesh.clusters}
    assert gateways == {"a": True, "b": True, "c": False}
    assert spec.to_text(document).count("enabled: false") == 1


def test_a_second_network_opens_the_first_one_in_the_same_change() -> None:
    """Clusters added while the mesh spans one network get no gateway; when a second network
    arrives, the primaries of the first get one, so neither network is one-way by accident.
    Remotes (they use their primary's gateway) are left as they are."""
    document = spec.parse(MINIMAL_MESH)
    for request in (
        spec.NewCluster("p1", "n1"),
        spec.NewCluster("p2", "n1"),
        spec.NewCluster(
            "r1", "n1", role="remote", control_plane="p1", discovery_address="192.0.2.9"
        ),
    ):
        document, gateway = spec.add_cluster(document, request)
        assert gateway is False
    assert spec.gateways_to_open(document.mesh) == ["p1", "p2"]
    opened, gateway = spec.add_cluster(
        spec.parse(spec.to_text(document)), spec.NewCluster("q1", "n2")
    )
    gateways = {c.name: c.east_west_gateway.enabled for c in opened.mesh.clusters}
    assert gateways == {"p1": True, "p2": True, "r1": False, "q1": True}
    assert spec.unreachable_networks(opened.mesh) == {}
    # A third network changes nothing more: the choice was made when the second arrived.
    third, _ = spec.add_cluster(opened, spec.NewCluster("x1", "n3"))
    assert spec.to_text(third).count("enabled: true") == 4

    # --no-east-west-gateway: nothing is turned on anywhere; both networks reach only themselves.
    kept, gateway = spec.add_cluster(
        spec.parse(spec.to_text(document)), spec.NewCluster("q1", "n2", east_west_gateway=False)
    )
    assert gateway is False
    assert sorted(spec.unreachable_networks(kept.mesh)) == ["n1", "n2"]


def test_a_cluster_entry_without_gateway_key_gets_one_when_opened() -> None:
    text = MINIMAL_MESH.replace("networks: []", "networks:\n  - name: n1").replace(
        "clusters: []", "clusters:\n  - name: a  # first\n    network: n1\n    region: eu\n"
    )
    opened, _ = spec.add_cluster(spec.parse(text), spec.NewCluster("b", "n2"))
    out = spec.to_text(opened)
    assert (
        "  - name: a  # first\n    network: n1\n    eastWestGateway:\n      enabled: true\n"
        "    region: eu\n" in out
    )


def test_a_network_left_without_a_gateway_by_omission_is_an_error() -> None:
    text = MINIMAL_MESH.replace("networks: []", "networks: [{name: n1}, {name: n2}]").replace(
        "clusters: []",
        "clusters: [{name: a, network: n1}, {name: b, network: n2, "
        "eastWestGateway: {enabled: true}}]",
    )
    with pytest.raises(MeshgenError) as caught:
        spec.parse(text)
    message = str(caught.value)
    assert "network n1 has no east-west gateway" in message and "(a)" in message
    # Saying so explicitly makes it one-way on purpose: allowed (a warning elsewhere).
    explicit = text.replace(
        "{name: a, network: n1}", "{name: a, network: n1, eastWestGateway: {enabled: false}}"
    )
    mesh = spec.parse(explicit).mesh
    assert list(spec.unreachable_networks(mesh)) == ["n1"]
    # One network: nothing needs a gateway, explicit or not.
    flat = MINIMAL_MESH.replace("networks: []", "networks: [{name: n1}]").replace(
        "clusters: []", "clusters: [{name: a, network: n1}, {name: b, network: n1}]"
    )
    assert spec.unreachable_networks(spec.parse(flat).mesh) == {}


def test_names_that_yaml_1_1_misreads_are_quoted_in_mesh_yaml() -> None:
    document = spec.parse(MINIMAL_MESH)
    document, _ = spec.add_cluster(document, spec.NewCluster("yes", "on"))
    text = spec.to_text(document)
    assert 'name: "yes"' in text and 'network: "on"' in text
    reread = spec.parse(text).mesh
    assert reread.clusters[0].name == "yes" and reread.networks == ("on",)


def test_adding_a_duplicate_cluster_is_refused_and_leaves_the_document() -> None:
    document = spec.parse(COMMENTED_MESH)
    before = spec.to_text(document)
    with pytest.raises(MeshgenError, match="already in the mesh"):
        spec.add_cluster(document, spec.NewCluster("cluster-1", "network1"))
    assert spec.to_text(document) == before


def test_invalid_new_cluster_name_is_reported_by_the_schema() -> None:
    with pytest.raises(MeshgenError, match=r"clusters\[0\]\.name: 'Cluster_1' is not allowed"):
        spec.add_cluster(spec.parse(MINIMAL_MESH), spec.NewCluster("Cluster_1", "n1"))


def test_a_refused_cluster_leaves_the_document_exactly_as_it_was() -> None:
    document = spec.parse(COMMENTED_MESH)
    with pytest.raises(MeshgenError, match="is not allowed"):
        spec.add_cluster(document, spec.NewCluster("c2", "Bad_Network"))
    assert spec.to_text(document) == COMMENTED_MESH
    assert [c.name for c in document.mesh.clusters] == ["cluster-1"]


def test_schema_file_is_valid_json_schema() -> None:
    import jsonschema

    schema = json.loads(library.mesh_schema_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)


OLD_FORMAT = """\
apiVersion: meshgen.io/v1alpha0
kind: Mesh
meshId: mesh1   # renamed to meshID in v1alpha1
repository:
  url: https://git.example.com/mesh.git
networks: []
clusters: []
"""


def _rename_mesh_id(tree):
    spec.rename_key(tree, "meshId", "meshID")
    return tree


def test_an_older_format_is_migrated_with_its_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        spec.MIGRATIONS, "meshgen.io/v1alpha0", ("meshgen.io/v1alpha1", _rename_mesh_id)
    )
    document = spec.parse(OLD_FORMAT)
    assert document.migrated_from == "meshgen.io/v1alpha0"
    assert document.mesh.mesh_id == "mesh1"
    text = spec.to_text(document)
    assert text.startswith("apiVersion: meshgen.io/v1alpha1\nkind: Mesh\nmeshID: mesh1")
    assert "# renamed to meshID in v1alpha1" in text
    assert spec.parse(text).migrated_from is None


def test_a_migration_cycle_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        spec.MIGRATIONS, "meshgen.io/v1alpha0", ("meshgen.io/v1alpha0", lambda t: t)
    )
    with pytest.raises(MeshgenError, match=r"apiVersion 'meshgen\.io/v1alpha0' is not one"):
        spec.parse(OLD_FORMAT)


AGE = "age1" + "q" * 58


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "secrets:\n  provider: sops\n  sops:\n    ageRecipients: [" + AGE + "]",
            "mesh.yaml:7: secrets.provider: provider sops needs the flux engine",
        ),
        (
            "gitops: {engine: flux}\nsecrets:\n  provider: sops",
            "mesh.yaml:7: secrets: provider sops needs at least one age recipient",
        ),
        (
            "gitops: {engine: flux}\nsecrets:\n  provider: sops\n  sops:\n"
            "    ageRecipients: [age1short]",
            "mesh.yaml:10: secrets.sops.ageRecipients[0]: 'age1short' is not allowed",
        ),
        ("gitops: {engine: fluxcd}", "mesh.yaml:6: gitops.engine: 'fluxcd' is not one of"),
    ],
)
def test_flux_and_sops_settings_are_checked(extra: str, expected: str) -> None:
    text = MINIMAL_MESH.replace("networks: []", f"{extra}\nnetworks: []")
    with pytest.raises(MeshgenError) as error:
        spec.parse(text)
    assert str(error.value).startswith(expected), str(error.value)


def test_flux_with_sops_is_read_with_its_defaults() -> None:
    text = MINIMAL_MESH.replace(
        "networks: []",
        f"gitops: {{engine: flux}}\nsecrets:\n  provider: sops\n  sops:\n"
        f"    ageRecipients: [{AGE}]\nnetworks: []",
    )
    mesh = spec.parse(text).mesh
    assert (mesh.engine, mesh.secrets_provider) == ("flux", "sops")
    assert mesh.sops_age_recipients == (AGE,)
    sops_schema = library.mesh_schema()["properties"]["secrets"]["properties"]["sops"]
    assert sops_schema["properties"]["decryptionSecret"]["default"] == mesh.sops_decryption_secret


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "istio:\n  version: 1.30\n",
            'istio.version: 1.30 is a number to YAML, read as 1.3; write it in quotes, "1.30"; '
            f'expected something like "{spec.DEFAULT_ISTIO_VERSION}"',
        ),
        (
            "kubernetesVersion: 1.30\n",
            'kubernetesVersion: 1.30 is a number to YAML, read as 1.3; write it in quotes, "1.30"',
        ),
        (
            "istio:\n  version: latest\n",
            "istio.version: 'latest' is not allowed: Version of the upstream Istio Helm charts "
            "(base, istiod, gateway): a release number (major.minor.patch), not a tag such as "
            f'latest; expected something like "{spec.DEFAULT_ISTIO_VERSION}"',
        ),
    ],
)
def test_versions_yaml_misreads_are_explained(line: str, expected: str) -> None:
    """An unquoted 1.30 is the float 1.3 to YAML: say so, and what to write instead."""
    with pytest.raises(MeshgenError) as caught:
        spec.parse(MINIMAL_MESH.replace("repository:", f"{line}repository:"))
    assert str(caught.value) == f"mesh.yaml:{5 if 'istio' in line else 4}: {expected}"


def test_an_api_server_without_https_says_it_is_required() -> None:
    text = MINIMAL_MESH.replace("networks: []", "networks: [{name: n}]").replace(
        "clusters: []", "clusters: [{name: a, network: n, apiServer: '10.0.0.3:6443'}]"
    )
    with pytest.raises(MeshgenError, match="must start with https://") as caught:
        spec.parse(text)
    assert "expected something like https://203.0.113.10:6443" in str(caught.value)


def test_set_cluster_is_undone_when_the_result_is_invalid() -> None:
    document = spec.parse(COMMENTED_MESH)
    before = spec.to_text(document)
    with pytest.raises(MeshgenError, match="not a valid CIDR"):
        spec.set_cluster(
            document, spec.ClusterSettings("cluster-1", region="eu", pod_cidrs=("10.0.0.0/33",))
        )
    assert spec.to_text(document) == before
    changed = spec.set_cluster(document, spec.ClusterSettings("cluster-1", region="eu"))
    assert "    eastWestGateway:\n      enabled: false\n    region: eu\n# end of file\n" in (
        spec.to_text(changed)
    )


def test_the_records_most_clusters_share_are_what_their_entries_say() -> None:
    """An entry without trust or istio records, and a gateway entry that only says whether it
    is on, give the records (shared between clusters) that the full forms give."""
    entries = [
        {"name": "a", "network": "n1"},
        {"name": "b", "network": "n1", "eastWestGateway": {"enabled": True}},
        {"name": "c", "network": "n1", "eastWestGateway": {"enabled": False}},
        {"name": "d", "network": "n1", "eastWestGateway": {"enabled": True, "replicas": 2}},
        {"name": "e", "network": "n1", "trust": {"ca": {"issued": "2026-01-01T00:00:00Z"}}},
        {"name": "f", "network": "n1", "istio": {"version": "1.30.3"}},
    ]
    data = spec.parse(MINIMAL_MESH).data
    mesh = spec.build_model({**data, "networks": [{"name": "n1"}], "clusters": entries})
    gateways = {c.name: c.east_west_gateway for c in mesh.clusters}
    assert gateways["a"] == spec.EastWestGateway(enabled=False, explicit=False)
    assert gateways["b"] == spec.EastWestGateway(enabled=True)
    assert gateways["c"] == spec.EastWestGateway(enabled=False)
    assert gateways["d"] == spec.EastWestGateway(enabled=True, replicas=2)
    assert [c.trust for c in mesh.clusters[:4]] == [spec.TrustRecord()] * 4
    assert mesh.clusters[4].trust == spec.TrustRecord(ca_issued="2026-01-01T00:00:00Z")
    assert [c.istio for c in mesh.clusters[:5]] == [spec.IstioState()] * 5
    assert mesh.clusters[5].istio == spec.IstioState(version="1.30.3")
    # Built again: the same records, and the gateway of "b" is not the one of "c".
    again = spec.build_model({**data, "networks": [{"name": "n1"}], "clusters": entries})
    assert again == mesh
    assert again.clusters[1].east_west_gateway.enabled is True
    assert again.clusters[2].east_west_gateway.enabled is False
