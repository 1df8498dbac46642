"""cacerts placeholders per provider, what validate can ask, and the sealed-secrets overlay."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from helpers import MINIMAL_MESH, two_network_mesh
from meshgen import library, spec
from meshgen.adapters import kustomize
from meshgen.errors import MeshgenError
from meshgen.render import render_repository
from meshgen.render.plan import system_namespace
from meshgen.render.secrets import expected_secrets, missing_cacerts, provider_for


def mesh_with(provider: str, extra: str = "") -> spec.MeshDocument:
    text = MINIMAL_MESH.replace(
        "networks: []", f"secrets:\n  provider: {provider}\n{extra}networks: []"
    )
    return two_network_mesh(text)


def render(document: spec.MeshDocument) -> dict[str, str]:
    return render_repository(document.mesh, library.load())


def test_external_secrets_cacerts_reads_four_properties_per_cluster() -> None:
    extra = "  externalSecrets:\n    cacertsKeyPrefix: vault/istio/ca\n"
    files = render(mesh_with("external-secrets", extra))
    for cluster in ("cluster-1", "cluster-2"):
        path = f"clusters/{cluster}/istio-system/cacerts.yaml"
        secret = yaml.safe_load(files[path])
        assert secret["metadata"] == {"name": "cacerts", "namespace": "istio-system"}
        assert secret["spec"]["target"] == {"name": "cacerts", "creationPolicy": "Owner"}
        assert [(d["secretKey"], d["remoteRef"]) for d in secret["spec"]["data"]] == [
            (f"{p}.pem", {"key": f"vault/istio/ca/{cluster}", "property": p})
            for p in ("ca-cert", "ca-key", "root-cert", "cert-chain")
        ]
        overlay = yaml.safe_load(files[f"clusters/{cluster}/istio-system/kustomization.yaml"])
        assert overlay["resources"][1] == "cacerts.yaml"
    readme = files["README.md"]
    assert "| `cluster-2` | `vault/istio/ca/cluster-2` |" in readme
    assert "### Rotation" in readme and "rollout restart deployment/istiod" in readme


def test_a_single_cluster_already_gets_its_cacerts() -> None:
    document = spec.add_cluster(spec.parse(MINIMAL_MESH), spec.NewCluster("solo", "net"))[0]
    files = render(document)
    assert "clusters/solo/istio-system/cacerts.yaml" in files
    assert not any(p.startswith("overlays/remote-secrets/") for p in files)


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("external-secrets", "clusters/cluster-1/istio-system/cacerts.yaml"),
        ("sealed-secrets", "clusters/cluster-1/istio-system/sealed/cacerts.yaml"),
        ("manual", None),
    ],
)
def test_missing_cacerts_names_the_placeholder_and_the_fix(
    provider: str, expected: str | None
) -> None:
    document = mesh_with(provider)
    mesh = document.mesh
    chosen = provider_for(mesh)
    placeholder = chosen.cacerts_placeholder(mesh, mesh.cluster("cluster-1"))
    assert (placeholder.path if placeholder else None) == expected
    files = render(document)
    problems = missing_cacerts(mesh, chosen, lambda path: path in files)
    if provider == "external-secrets":
        assert problems == []
        files.pop("clusters/cluster-1/istio-system/cacerts.yaml")
        problems = missing_cacerts(mesh, chosen, lambda path: path in files)
        assert problems == [
            "clusters/cluster-1/istio-system/cacerts.yaml: cluster cluster-1 has no cacerts "
            "placeholder, so istiod would start with a self-signed CA and cross-cluster mTLS "
            "fails; run `meshgen render`"
        ]
    elif provider == "sealed-secrets":
        # Nothing is sealed yet: both clusters are named, with the command that fixes it.
        assert [p.split(":")[0] for p in problems] == [
            "clusters/cluster-1/istio-system/sealed/cacerts.yaml",
            "clusters/cluster-2/istio-system/sealed/cacerts.yaml",
        ]
        assert "run `meshgen seal cluster-1 --cacerts DIR --cert CERT`" in problems[0]
    else:
        assert problems == []


def test_sealed_overlay_lists_only_recorded_secrets_the_cluster_still_needs(
    tmp_path: Path, tools: dict[str, Path]
) -> None:
    document = mesh_with("sealed-secrets")
    for name in ("cacerts", "istio-remote-secret-cluster-2", "istio-remote-secret-gone"):
        document = spec.record_trust(
            document, "cluster-1", "sealed", {name: "2026-01-01T00:00:00Z"}
        )
    mesh = document.mesh
    assert expected_secrets(mesh, mesh.cluster("cluster-1")) == [
        "cacerts",
        "istio-remote-secret-cluster-2",
    ]
    files = render(document)
    overlay = yaml.safe_load(files["clusters/cluster-1/istio-system/kustomization.yaml"])
    assert overlay["resources"][1:] == [
        "sealed/cacerts.yaml",
        "sealed/istio-remote-secret-cluster-2.yaml",
    ]
    # kustomize fails on a listed file that is missing, and builds once it is there.
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    with pytest.raises(Exception, match="kustomize build failed"):
        kustomize.build(tmp_path / "clusters/cluster-1/istio-system")
    sealed = tmp_path / "clusters/cluster-1/istio-system/sealed"
    sealed.mkdir()
    for name in ("cacerts", "istio-remote-secret-cluster-2"):
        (sealed / f"{name}.yaml").write_text(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"
            f"metadata: {{name: {name}, namespace: istio-system}}\n"
            "spec: {encryptedData: {k: AgA=}}\n"
        )
    built = list(yaml.safe_load_all(kustomize.build(tmp_path / "clusters/cluster-1/istio-system")))
    assert sorted(d["metadata"]["name"] for d in built if d["kind"] == "SealedSecret") == [
        "cacerts",
        "istio-remote-secret-cluster-2",
    ]


def test_record_trust_keeps_comments_and_rejects_unknown_clusters() -> None:
    document = spec.parse(spec.to_text(two_network_mesh()) + "# trailing note about clusters\n")
    updated = spec.record_trust(document, "cluster-2", "ca", {"issued": "2026-01-01T00:00:00Z"})
    out = spec.to_text(updated)
    tail = '    trust:\n      ca:\n        issued: "2026-01-01T00:00:00Z"\n'
    assert out.endswith(tail + "# trailing note about clusters\n")
    assert spec.parse(out).mesh.cluster("cluster-2").trust.ca_issued == "2026-01-01T00:00:00Z"
    with pytest.raises(MeshgenError, match="cluster 'nope' is not in the mesh"):
        spec.record_trust(document, "nope", "ca", {"issued": "2026-01-01T00:00:00Z"})
    # A second value lands in the existing section, still above the trailing comment.
    again = spec.record_trust(
        spec.parse(out), "cluster-2", "ca", {"expires": "2027-01-01T00:00:00Z"}
    )
    assert spec.to_text(again).endswith(
        tail + '        expires: "2027-01-01T00:00:00Z"\n# trailing note about clusters\n'
    )
    with pytest.raises(MeshgenError, match=r"trust\.ca\.expires"):
        spec.record_trust(spec.parse(out), "cluster-2", "ca", {"expires": "tomorrow"})


def sops_scenario(name: str) -> spec.MeshDocument:
    from render.test_conformance import SCENARIOS

    tree = copy.deepcopy(SCENARIOS[name]().tree)
    tree.setdefault("gitops", {})["engine"] = "flux"
    tree["secrets"] = {"provider": "sops", "sops": {"ageRecipients": ["age1" + "q" * 58]}}
    return spec.from_tree(tree)


@pytest.mark.parametrize(
    "scenario", ["two-networks", "primary-remote-networks", "external-control-plane"]
)
def test_sops_overlays_list_each_istiods_encrypted_cacerts(scenario: str) -> None:
    """Every cluster running istiod lists its encrypted cacerts in the overlay of istiod's
    namespace (`external-istiod` on an external control plane); remotes list none. The file is
    never rendered, and `.sops.yaml`'s rule (Go regexp; Python's reads this one alike) matches
    it, relative or absolute, and nothing beside it."""
    document = sops_scenario(scenario)
    mesh = document.mesh
    files = render(document)
    provider = provider_for(mesh)
    (rule,) = yaml.safe_load(files[".sops.yaml"])["creation_rules"]
    path_regex = re.compile(rule["path_regex"])
    namespaces = set()
    for cluster in mesh.clusters:
        folder = f"clusters/{cluster.name}/{system_namespace(mesh, cluster)}"
        overlay = yaml.safe_load(files[f"{folder}/kustomization.yaml"])
        placeholder = provider.cacerts_placeholder(mesh, cluster)
        if not cluster.runs_istiod:
            assert placeholder is None and "cacerts.sops.yaml" not in overlay["resources"]
            continue
        namespaces.add(system_namespace(mesh, cluster))
        assert placeholder is not None
        assert placeholder.path == f"{folder}/cacerts.sops.yaml"
        assert placeholder.path not in files  # written by encrypt-cacerts, never rendered
        assert overlay["resources"][1] == "cacerts.sops.yaml"
        assert path_regex.search(placeholder.path)
        assert path_regex.search(f"/home/me/mesh/{placeholder.path}")
        for near in ("kustomization.yaml", "cacerts.yaml", "cacerts.sops.yaml.bak"):
            assert not path_regex.search(f"{folder}/{near}")
        assert not path_regex.search(f"clusters/{cluster.name}/mesh-config/cacerts.sops.yaml")
    expected = {"external-istiod"} if scenario == "external-control-plane" else {"istio-system"}
    assert namespaces == expected
    problems = missing_cacerts(mesh, provider, lambda path: path in files)
    assert len(problems) == sum(c.runs_istiod for c in mesh.clusters)
    assert all("then `meshgen encrypt-cacerts" in p for p in problems)
