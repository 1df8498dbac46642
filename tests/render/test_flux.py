"""The Flux engine, checked the way Flux itself would read the repository.

Every conformance scenario (and a SOPS one) is rendered with ``engine: flux`` into a temporary
folder, ``flux bootstrap`` is simulated by writing the ``flux-system/`` folder it commits, and
then, with the real ``kubectl kustomize``:

- every per-cluster kustomization builds, starting from ``clusters/<cluster>/`` as the
  ``flux-system`` Kustomization does, following each Flux Kustomization's ``path``;
- each HelmRelease's values are resolved as helm-controller does (``valuesFrom`` in order,
  then inline ``values``), read through the real ``helm`` against the upstream chart, and
  checked for the Istio keys;
- ``dependsOn`` names existing objects and has no cycle;
- every object validates against its upstream CRD (Flux, Istio, External Secrets).

With provider ``sops``, the remote secrets are encrypted and decrypted with the real ``sops``
and real age keys.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    AgeKey,
    age_key,
    encrypt_cacerts,
    flux_bootstrap,
    remote_secret_manifest,
    write_files,
)
from meshgen import library, manifest, spec
from meshgen.adapters import kustomize, sops
from meshgen.commands.encrypt_remote_secret import encrypted_remote_secret
from meshgen.errors import MeshgenError
from meshgen.render import render_repository
from meshgen.render.secrets.sops import encrypted_path
from meshgen.validation.engines.flux import dependency_cycle
from render.test_conformance import (
    EXTERNAL_SECRETS_VERSION,
    ISTIO_VERSION,
    SCENARIOS,
    WORKERS,
    CrdIndex,
    assert_validates_clean,
    dig,
    expected_charts,
    expected_values,
    load_all,
    load_one,
    object_problems,
    upstream_root,
)
from render.test_conformance import charts as charts  # the fixtures, for helm checks
from render.test_conformance import upstream as upstream

FLUX_CRDS = "flux/sc-v1.9.1_kc-v1.9.4_hc-v1.6.3/crds"
FLUX_KINDS = {"Kustomization", "HelmRelease", "HelmRepository"}
SOPS_SCENARIO = "two-networks-sops"


def with_engine(document: spec.MeshDocument, engine: str) -> spec.MeshDocument:
    tree = copy.deepcopy(document.tree)
    tree.setdefault("gitops", {})["engine"] = engine
    return spec.from_tree(tree)


def _sops_scenario(recipients: list[str]) -> spec.MeshDocument:
    document = with_engine(SCENARIOS["two-networks"](), "flux")
    tree = document.tree
    tree["secrets"] = {"provider": "sops", "sops": {"ageRecipients": recipients}}
    document, _ = spec.add_cluster(spec.from_tree(tree), spec.NewCluster("cluster-3", "network2"))
    return document


@dataclass
class FluxRepo:
    name: str
    root: Path
    document: spec.MeshDocument
    files: dict[str, str]
    builds: dict[str, list[dict[str, Any]]]

    @property
    def mesh(self) -> spec.Mesh:
        return self.document.mesh

    def objects(self, folder: str) -> list[dict[str, Any]]:
        folder = folder.removeprefix("./")
        if folder not in self.builds:
            text = kustomize.build(self.root / folder)
            self.builds[folder] = load_all(text, f"kustomize build {folder}")
        return self.builds[folder]

    def prefetch(self, folders: list[str]) -> None:
        """Build folders concurrently (process start dominates a kustomize build)."""
        todo = [f.removeprefix("./") for f in folders if f.removeprefix("./") not in self.builds]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(self.objects, todo))


@dataclass(frozen=True)
class Keys:
    first: AgeKey
    second: AgeKey
    stranger: AgeKey


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("age")
    return Keys(age_key(folder, "first"), age_key(folder, "second"), age_key(folder, "stranger"))


@pytest.fixture(scope="session")
def flux_rendered(
    tmp_path_factory: pytest.TempPathFactory, tools: dict[str, Path], keys: Keys
) -> Callable[[str], FluxRepo]:
    cache: dict[str, FluxRepo] = {}

    def get(name: str) -> FluxRepo:
        if name in cache:
            return cache[name]
        if name == SOPS_SCENARIO:
            document = _sops_scenario([keys.first.recipient, keys.second.recipient])
        else:
            document = with_engine(SCENARIOS[name](), "flux")
        root = tmp_path_factory.mktemp(f"flux-{name}")
        files = render_repository(document.mesh, library.load())
        write_files(root, {**files, spec.MESH_FILE: spec.to_text(document)})
        mesh = document.mesh
        for cluster in mesh.clusters:
            flux_bootstrap(root, cluster.name, mesh.repo_url, mesh.revision)
        if mesh.secrets_provider == "sops":
            for cluster in mesh.clusters:  # as `meshgen encrypt-remote-secret` does
                target = encrypted_path(cluster.name)
                encrypted = encrypted_remote_secret(
                    remote_secret_manifest(cluster.name), cluster.name, root
                )
                (root / target).write_text(encrypted, encoding="utf-8")
            encrypt_cacerts(root, mesh)  # every istiod's cacerts, under one fresh root
        cache[name] = FluxRepo(name, root, document, files, {})
        return cache[name]

    return get


@pytest.fixture(scope="session", params=[*SCENARIOS, SOPS_SCENARIO])
def repo(request: pytest.FixtureRequest, flux_rendered: Callable[[str], FluxRepo]) -> FluxRepo:
    return flux_rendered(request.param)


@pytest.fixture(scope="session")
def crds() -> CrdIndex:
    root = upstream_root()
    files = [
        *sorted((root / FLUX_CRDS).glob("*.yaml")),
        root / "istio" / ISTIO_VERSION / "crds" / "crd-all.gen.yaml",
        root
        / "external-secrets"
        / EXTERNAL_SECRETS_VERSION
        / "crds"
        / "external-secrets.io_externalsecrets.yaml",
    ]
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not (root / FLUX_CRDS).is_dir():
        pytest.skip(
            f"upstream CRDs not found ({', '.join(missing) or root / FLUX_CRDS}): Flux CRD "
            "checks need ../shared/upstream (or set MESHGEN_UPSTREAM_DIR)"
        )
    return CrdIndex(files)


# --------------------------------------------------------------------------------------------
# Walking a cluster the way Flux does


@dataclass
class ClusterWalk:
    """Everything Flux applies in one cluster, by the Kustomization that applies it."""

    applied: dict[str, list[dict[str, Any]]]  # Flux Kustomization name -> built objects

    def all(self) -> list[dict[str, Any]]:
        return [obj for objects in self.applied.values() for obj in objects]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.all() if obj["kind"] == kind]


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def system_namespace(mesh: spec.Mesh, cluster: spec.Cluster) -> str:
    """Both sides of an external control plane use external-istiod; the rest istio-system."""
    control = mesh.cluster(cluster.control_plane) if cluster.control_plane else None
    external = "external-control-plane" in (cluster.role, control.role if control else None)
    return "external-istiod" if external else "istio-system"


def walk_cluster(repo: FluxRepo, cluster: str) -> ClusterWalk:
    """Start at the flux-system Kustomization that bootstrap created; follow every path."""
    applied: dict[str, list[dict[str, Any]]] = {}
    repo.prefetch(
        [
            f"clusters/{c.name}{sub}"
            for c in repo.mesh.clusters
            for sub in ("", "/charts", f"/{system_namespace(repo.mesh, c)}", "/mesh-config")
            if sub != "/mesh-config" or c.east_west_gateway.enabled
        ]
    )
    pending = [("flux-system", f"clusters/{cluster}")]
    while pending:
        name, path = pending.pop(0)
        assert (repo.root / path).is_dir(), f"{cluster}: Kustomization {name} path {path} missing"
        objects = repo.objects(path)
        applied[name] = objects
        sources = {_key(o) for o in objects if o["kind"] == "GitRepository"}
        for obj in objects:
            if obj["kind"] != "Kustomization" or obj["metadata"]["name"] in applied:
                continue
            assert obj["metadata"]["name"] != name
            if obj["metadata"]["name"] == "flux-system":
                continue
            ref = obj["spec"]["sourceRef"]
            ns = obj["metadata"]["namespace"]
            known = sources | {_key(o) for o in applied.get("flux-system", [])}
            assert (ref["kind"], ref.get("namespace", ns), ref["name"]) in known, obj
            pending.append((obj["metadata"]["name"], obj["spec"]["path"]))
    return ClusterWalk(applied)


def test_every_cluster_builds_from_its_bootstrap_path(repo: FluxRepo) -> None:
    for cluster in repo.mesh.clusters:
        walk = walk_cluster(repo, cluster.name)
        stages = {k["metadata"]["name"] for k in walk.of_kind("Kustomization")}
        expected = {"flux-system", system_namespace(repo.mesh, cluster), "istio-charts"}
        if cluster.east_west_gateway.enabled:
            expected.add("mesh-config")
        assert stages == expected, cluster.name
        assert set(walk.applied) == expected
        # Flux keeps managing itself: bootstrap's objects are part of the cluster's build.
        root = {_key(o) for o in walk.applied["flux-system"]}
        assert ("GitRepository", "flux-system", "flux-system") in root
        assert ("Namespace", "", "flux-system") in root
        releases = sorted(r["spec"]["chart"]["spec"]["chart"] for r in walk.of_kind("HelmRelease"))
        assert releases == sorted(expected_charts(repo.mesh, cluster)), cluster.name
        # No object is applied by two Kustomizations (Flux would fight over it).
        keys = [_key(o) for o in walk.all()]
        assert len(keys) == len(set(keys)), cluster.name


def test_meshgen_never_writes_into_flux_system(repo: FluxRepo) -> None:
    assert not [p for p in repo.files if "/flux-system/" in p]
    for cluster in repo.mesh.clusters:
        text = repo.files[f"clusters/{cluster.name}/kustomization.yaml"]
        assert "flux-system" in load_one(text, "kustomization")["resources"]


def test_dependencies_exist_and_have_no_cycle(repo: FluxRepo) -> None:
    for cluster in repo.mesh.clusters:
        walk = walk_cluster(repo, cluster.name)
        graph: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}
        for obj in walk.of_kind("Kustomization") + walk.of_kind("HelmRelease"):
            ns = obj["metadata"]["namespace"]
            graph[_key(obj)] = [
                (obj["kind"], dep.get("namespace", ns), dep["name"])
                for dep in obj["spec"].get("dependsOn", [])
            ]
        for node, deps in graph.items():
            for dep in deps:
                assert dep in graph, f"{cluster.name}: {node} depends on missing {dep}"
        assert_acyclic(graph)


def assert_acyclic(graph: dict[Any, list[Any]]) -> None:
    """The cycle search `meshgen validate` uses; fails naming the cycle."""
    cycle = dependency_cycle(graph)
    assert cycle is None, f"dependency cycle: {cycle}"


def test_cycle_check_bites() -> None:
    with pytest.raises(AssertionError, match="dependency cycle"):
        assert_acyclic({"a": ["b"], "b": ["c"], "c": ["a"]})
    assert dependency_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert dependency_cycle({"a": ["a"]}) == ["a", "a"]
    assert_acyclic({"a": ["b"], "b": [], "c": ["a", "b"], "d": ["missing"]})


def _ancestors(walk: ClusterWalk, kind: str, name: str) -> list[str]:
    by_name = {o["metadata"]["name"]: o for o in walk.of_kind(kind)}
    chain, node = [], by_name[name]
    while node["spec"].get("dependsOn"):
        (dep,) = node["spec"]["dependsOn"]
        chain.append(dep["name"])
        node = by_name[dep["name"]]
    return chain


def test_install_order_is_namespace_base_istiod_gateway_config(repo: FluxRepo) -> None:
    for cluster in repo.mesh.clusters:
        walk = walk_cluster(repo, cluster.name)
        # The charts stage applies only once the namespace (and its secrets) is ready ...
        namespace = system_namespace(repo.mesh, cluster)
        assert _ancestors(walk, "Kustomization", "istio-charts") == [namespace]
        (charts_stage,) = [
            k for k in walk.of_kind("Kustomization") if k["metadata"]["name"] == "istio-charts"
        ]
        assert charts_stage["spec"]["wait"] is True
        released = {r["metadata"]["name"] for r in walk.applied["istio-charts"]}
        assert {r["metadata"]["name"] for r in walk.of_kind("HelmRelease")} <= released
        # ... the releases are chained: base, then istiod, then the gateway ...
        external = cluster.role == "external-control-plane"  # istiod only, no base chart
        assert _ancestors(walk, "HelmRelease", "istiod") == ([] if external else ["istio-base"])
        if cluster.east_west_gateway.enabled:
            chain = _ancestors(walk, "HelmRelease", "istio-eastwestgateway")
            assert chain == ["istiod", "istio-base"]
            # ... and Istio config waits until the charts stage (with istiod) is Ready.
            assert _ancestors(walk, "Kustomization", "mesh-config") == ["istio-charts", namespace]
            gateways = [o for o in walk.applied["mesh-config"] if o["kind"] == "Gateway"]
            assert gateways, cluster.name
        for kind in ("Kustomization", "HelmRelease", "HelmRepository"):
            for obj in walk.of_kind(kind):
                if obj["metadata"]["name"] == "flux-system":
                    continue
                labels = obj["metadata"]["labels"]
                assert labels["meshgen.io/cluster"] == cluster.name, _key(obj)


# --------------------------------------------------------------------------------------------
# HelmRelease values, resolved like helm-controller


def merge_values(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's MergeMaps: nested maps merge, anything else in ``override`` replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_values(release: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, Any]:
    """helm-controller's composition: each ``valuesFrom`` entry in order, then ``values``."""
    namespace = release["metadata"]["namespace"]
    result: dict[str, Any] = {}
    for ref in release["spec"].get("valuesFrom", []):
        assert "targetPath" not in ref, "targetPath is not used by meshgen"
        matches = [
            o
            for o in objects
            if o["kind"] == ref["kind"]
            and o["metadata"]["name"] == ref["name"]
            and o["metadata"].get("namespace") == namespace
        ]
        if not matches:
            assert ref.get("optional"), f"valuesFrom {ref} names no object in {namespace}"
            continue
        (source,) = matches
        key = ref.get("valuesKey", "values.yaml")
        assert key in source["data"], f"{ref['name']} has no key {key}"
        result = merge_values(result, load_one(source["data"][key], ref["name"]) or {})
    return merge_values(result, release["spec"].get("values") or {})


def test_release_values_are_the_rendered_values_files(repo: FluxRepo) -> None:
    for cluster in repo.mesh.clusters:
        walk = walk_cluster(repo, cluster.name)
        same_build = walk.applied["istio-charts"]
        for release in walk.of_kind("HelmRelease"):
            chart = release["spec"]["chart"]["spec"]
            assert chart["version"] == repo.mesh.istio_version
            (source,) = [
                o
                for o in same_build
                if o["kind"] == chart["sourceRef"]["kind"]
                and o["metadata"]["name"] == chart["sourceRef"]["name"]
            ]
            assert source["spec"]["url"] == repo.mesh.chart_repository
            values = resolve_values(release, same_build)
            path = f"clusters/{cluster.name}/values/{chart['chart']}.yaml"
            assert values == load_one(repo.files[path], path), path


def test_helm_reads_the_resolved_values_as_meant(
    repo: FluxRepo, charts: dict[str, Path], tmp_path: Path
) -> None:
    from render.test_conformance import helm_read

    for cluster in repo.mesh.clusters:
        walk = walk_cluster(repo, cluster.name)
        for release in walk.of_kind("HelmRelease"):
            chart = release["spec"]["chart"]["spec"]["chart"]
            values_file = tmp_path / f"{cluster.name}-{chart}.yaml"
            values = resolve_values(release, walk.applied["istio-charts"])
            values_file.write_text(json.dumps(values), encoding="utf-8")
            reading = helm_read(charts[chart], chart, values_file, repo.mesh.kubernetes_version)
            for dotted, want in expected_values(repo.mesh, cluster, chart).items():
                assert dig(reading.merged, dotted) == want, f"{cluster.name} {chart} {dotted}"
            assert release["spec"]["releaseName"] == library.load().chart_profiles[chart].release
            assert release["spec"]["targetNamespace"] == system_namespace(repo.mesh, cluster)


def test_a_values_change_renames_the_config_map(repo: FluxRepo, tmp_path: Path) -> None:
    """The ConfigMap name carries a hash of the values, so helm-controller sees a new spec."""
    cluster = repo.mesh.clusters[0].name
    copy_root = tmp_path / "copy"
    shutil.copytree(repo.root / "clusters" / cluster, copy_root / "clusters" / cluster)
    before = walk_cluster(repo, cluster).of_kind("HelmRelease")
    istiod_values = copy_root / "clusters" / cluster / "values" / "istiod.yaml"
    istiod_values.write_text(istiod_values.read_text() + "meshgenTestChange: changed\n")
    built = load_all(kustomize.build(copy_root / "clusters" / cluster / "charts"), "copy")
    after = {o["metadata"]["name"]: o for o in built if o["kind"] == "HelmRelease"}
    for release in before:
        name = release["metadata"]["name"]
        old_ref = release["spec"]["valuesFrom"][0]["name"]
        new_ref = after[name]["spec"]["valuesFrom"][0]["name"]
        assert (old_ref != new_ref) == (name == "istiod"), name
    assert resolve_values(after["istiod"], built)["meshgenTestChange"] == "changed"


# --------------------------------------------------------------------------------------------
# CRDs


def test_every_flux_object_matches_its_crd(repo: FluxRepo, crds: CrdIndex) -> None:
    problems, kinds = [], set()
    for cluster in repo.mesh.clusters:
        walk = walk_cluster(repo, cluster.name)
        for stage, objects in walk.applied.items():
            for obj in objects:
                if stage == "flux-system" and obj["metadata"]["name"] == "flux-system":
                    continue  # written by flux bootstrap, not meshgen
                if obj["kind"] == "ConfigMap":
                    assert set(obj["data"]) == {"values.yaml"}
                    continue
                if obj["kind"] == "Secret":  # sops: encrypted core Secrets, checked below
                    continue
                kinds.add(obj["kind"])
                problems += [f"{stage}: {_key(obj)}: {p}" for p in object_problems(obj, crds)]
    assert not problems, "\n".join(problems)
    assert kinds >= FLUX_KINDS | {"Namespace"}


def _first(repo: FluxRepo, kind: str) -> dict[str, Any]:
    walk = walk_cluster(repo, repo.mesh.clusters[-1].name)
    return copy.deepcopy(next(o for o in walk.all() if o["kind"] == kind))


@pytest.mark.parametrize(
    ("kind", "breaker", "expected"),
    [
        (
            "HelmRelease",
            lambda o: o["spec"]["chart"]["spec"].pop("sourceRef"),
            "'sourceRef' is a required property",
        ),
        (
            "HelmRelease",
            lambda o: o["spec"]["valuesFrom"][0].update(kind="Configmap"),
            "'Configmap' is not one of",
        ),
        ("Kustomization", lambda o: o["spec"].pop("prune"), "'prune' is a required property"),
        (
            "Kustomization",
            lambda o: o["spec"].update(dependsOn=[{"nmae": "x"}]),
            "'nmae' was unexpected",
        ),
        ("HelmRepository", lambda o: o["spec"].update(url=1), "1 is not of type 'string'"),
    ],
)
def test_flux_crd_check_rejects_broken_objects(
    flux_rendered: Callable[[str], FluxRepo],
    crds: CrdIndex,
    kind: str,
    breaker: Callable[[dict[str, Any]], Any],
    expected: str,
) -> None:
    obj = _first(flux_rendered("two-networks"), kind)
    assert object_problems(obj, crds) == []
    breaker(obj)
    problems = object_problems(obj, crds)
    assert any(expected in p for p in problems), problems


def test_old_flux_api_versions_are_not_served(crds: CrdIndex) -> None:
    """meshgen uses the only served versions; the old ones are gone from the CRDs."""
    assert crds.validator("helm.toolkit.fluxcd.io/v2beta1", "HelmRelease") is None
    assert crds.validator("source.toolkit.fluxcd.io/v1beta2", "HelmRepository") is None
    assert crds.validator("helm.toolkit.fluxcd.io/v2", "HelmRelease") is not None


# --------------------------------------------------------------------------------------------
# Same mesh, other engine: only the engine objects differ


ENGINE_NEUTRAL = ("clusters/", "overlays/", ".meshgen/", ".sops.yaml", ".github/")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_values_and_overlays_do_not_depend_on_the_engine(name: str) -> None:
    argo = render_repository(SCENARIOS[name]().mesh, library.load())
    flux = render_repository(with_engine(SCENARIOS[name](), "flux").mesh, library.load())
    flux_only = {
        "kustomization.yaml",
        "stages.yaml",
        "charts",
        "values/kustomization.yaml",
    }

    def engine_owned(path: str, engine_paths: set[str]) -> bool:
        parts = path.split("/")
        if parts[0] == "bootstrap" or path in ("README.md", manifest.PATH):
            return True  # the record lists the engine's files too
        if parts[0] != "clusters":
            return False
        rest = "/".join(parts[2:])
        return rest in engine_paths or parts[2] in engine_paths

    neutral_argo = {
        p: t for p, t in argo.items() if not engine_owned(p, {"kustomization.yaml", "applications"})
    }
    neutral_flux = {p: t for p, t in flux.items() if not engine_owned(p, flux_only)}
    assert neutral_argo == neutral_flux
    assert any(p.endswith("values/istiod.yaml") for p in neutral_flux)
    assert all(p.startswith(ENGINE_NEUTRAL) for p in neutral_flux)


def test_flux_output_is_deterministic() -> None:
    document = with_engine(SCENARIOS["tuned"](), "flux")
    first = render_repository(document.mesh, library.load())
    second = render_repository(spec.parse(spec.to_text(document)).mesh, library.load())
    assert first == second


def test_readme_explains_flux_bootstrap() -> None:
    document = with_engine(SCENARIOS["two-networks"](), "flux")
    readme = render_repository(document.mesh, library.load())["README.md"]
    assert "flux bootstrap git --url=https://git.example.com/org/mesh.git" in readme
    assert "--path=clusters/<cluster>" in readme
    assert "Argo CD" not in readme


def test_readme_bootstrap_command_takes_an_scp_like_url_in_the_form_flux_accepts() -> None:
    """Flux's GitRepository takes only http(s):// and ssh:// URLs: git@host:path is rewritten."""
    document = with_engine(SCENARIOS["tuned"](), "flux")  # url: git@git.example.com:platform/...
    assert document.mesh.repo_url == "git@git.example.com:platform/mesh.git"
    readme = render_repository(document.mesh, library.load())["README.md"]
    assert "flux bootstrap git --url=ssh://git@git.example.com/platform/mesh.git" in readme


# --------------------------------------------------------------------------------------------
# SOPS: encrypted in Git, decrypted by Flux


def test_sops_secrets_are_encrypted_and_decrypt_with_the_age_key(
    flux_rendered: Callable[[str], FluxRepo], keys: Keys, tmp_path: Path
) -> None:
    repo = flux_rendered(SOPS_SCENARIO)
    names = sorted(c.name for c in repo.mesh.clusters)
    for cluster in names:
        walk = walk_cluster(repo, cluster)
        (stage,) = [
            k for k in walk.of_kind("Kustomization") if k["metadata"]["name"] == "istio-system"
        ]
        assert stage["spec"]["decryption"] == {
            "provider": "sops",
            "secretRef": {"name": repo.mesh.sops_decryption_secret},
        }
        others = [
            k for k in walk.of_kind("Kustomization") if k["metadata"]["name"] != "istio-system"
        ]
        assert all("decryption" not in k["spec"] for k in others)
        secrets = [o for o in walk.applied["istio-system"] if o["kind"] == "Secret"]
        assert sorted(s["metadata"]["name"] for s in secrets) == [
            "cacerts",
            *(f"istio-remote-secret-{n}" for n in names if n != cluster),
        ]
        (cacerts,) = [s for s in secrets if s["metadata"]["name"] == "cacerts"]
        assert_cacerts_decrypts(cacerts, cluster, keys.first, tmp_path)
        secrets.remove(cacerts)
        for secret in secrets:
            peer = secret["metadata"]["name"].removeprefix("istio-remote-secret-")
            assert "secret-token" not in json.dumps(secret)  # nothing readable in Git
            assert secret["stringData"][peer].startswith("ENC[AES256_GCM,")
            recipients = sorted(r["recipient"] for r in secret["sops"]["age"])
            assert recipients == sorted([keys.first.recipient, keys.second.recipient])
            # What kustomize-controller does with the built object: decrypt it with the key.
            built = tmp_path / f"{cluster}-{peer}.yaml"
            built.write_text(json.dumps(secret), encoding="utf-8")
            for key in (keys.first, keys.second):
                plain = load_one(sops.decrypt(built, key.key_file), "decrypted")
                expected = load_one(remote_secret_manifest(peer), "original")
                assert plain["stringData"] == expected["stringData"]
                # istiod finds it by this label; the overlay adds meshgen's own beside it.
                labels = plain["metadata"]["labels"]
                assert labels["istio/multiCluster"] == "true"
                assert labels["meshgen.io/cluster"] == cluster


def assert_cacerts_decrypts(secret: dict[str, Any], cluster: str, key: AgeKey, tmp: Path) -> None:
    """The built cacerts is ciphertext and decrypts, as kustomize-controller would, to
    ``cluster``'s intermediate CA, signed by the root it carries."""
    from cryptography import x509

    from meshgen.trust import ca

    text = json.dumps(secret)
    assert "BEGIN CERTIFICATE" not in text and "PRIVATE KEY" not in text
    assert all(value.startswith("ENC[AES256_GCM,") for value in secret["data"].values())
    built = tmp / f"{cluster}-cacerts.json"
    built.write_text(json.dumps(secret), encoding="utf-8")
    plain = load_one(sops.decrypt(built, key.key_file), "decrypted")
    files = {name: base64.b64decode(value) for name, value in plain["data"].items()}
    assert sorted(files) == sorted(ca.CACERTS_FILES)
    assert ca.cluster_of(files[ca.CA_CERT]) == cluster
    intermediate = x509.load_pem_x509_certificate(files[ca.CA_CERT])
    intermediate.verify_directly_issued_by(x509.load_pem_x509_certificate(files[ca.ROOT_CERT]))
    assert plain["metadata"]["labels"]["meshgen.io/cluster"] == cluster


def test_sops_refuses_a_key_that_is_not_a_recipient(
    flux_rendered: Callable[[str], FluxRepo], keys: Keys
) -> None:
    repo = flux_rendered(SOPS_SCENARIO)
    encrypted = repo.root / encrypted_path("cluster-1")
    with pytest.raises(MeshgenError, match="sops --decrypt failed"):
        sops.decrypt(encrypted, keys.stranger.key_file)


def test_sops_config_lists_the_recipients_and_encrypts_only_data(
    flux_rendered: Callable[[str], FluxRepo], keys: Keys
) -> None:
    repo = flux_rendered(SOPS_SCENARIO)
    (rule,) = load_one(repo.files[".sops.yaml"], ".sops.yaml")["creation_rules"]
    assert rule["age"] == f"{keys.first.recipient},{keys.second.recipient}"
    assert rule["encrypted_regex"] == "^(data|stringData)$"
    assert rule["mac_only_encrypted"] is True
    encrypted = load_one((repo.root / encrypted_path("cluster-2")).read_text(), "encrypted")
    assert encrypted["metadata"]["name"] == "istio-remote-secret-cluster-2"
    assert encrypted["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert encrypted["sops"]["mac_only_encrypted"] is True


# --------------------------------------------------------------------------------------------
# `meshgen validate` finds nothing to say about any Flux scenario


# The scenarios that differ most for Flux (sops secrets, an scp-like repository URL, each
# topology); the Argo CD conformance test runs all of them, and time is shared.
VALIDATED = [SOPS_SCENARIO, "tuned", "primary-remote-networks", "external-control-plane"]


@pytest.mark.parametrize("name", VALIDATED)
def test_validate_finds_nothing_in_flux_scenarios(
    name: str, flux_rendered: Callable[[str], FluxRepo], upstream: Path
) -> None:
    """Bootstrapped (flux-system/ as flux bootstrap writes it), with every chart and CRD given:
    no problem and nothing unchecked (the negative cases are in tests/validation/)."""
    repo = flux_rendered(name)

    root = upstream_root()
    crds = (
        root / FLUX_CRDS,
        root / "istio" / ISTIO_VERSION / "crds",
        root / "external-secrets" / EXTERNAL_SECRETS_VERSION / "crds",
    )
    assert_validates_clean(repo.root, crds, upstream)
