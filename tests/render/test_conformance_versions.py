"""Every topology, rendered and validated against the real charts and CRDs of every Istio
version in ../shared/upstream/istio/, with Argo CD and with Flux.

Each case pins ``istio.version`` in mesh.yaml, renders the repository with the real core and
runs ``meshgen validate`` on it with that version's complete charts (so ``helm template``
renders real objects, which the multicluster check reads) and CRDs (Istio's, plus Argo CD's or
Flux's, and External Secrets'). On top of what validate checks, every object Helm rendered
is validated against its schema: core kinds with ``kubernetes-validate`` at the mesh's
Kubernetes version, custom resources against that version's CRDs.

The default run covers every topology with every version once, the engine alternating so that
each topology and each version meets both engines; ``--run-slow`` runs the whole product.
Helm output is memoised for the module (same chart, release, namespace, value texts and
Kubernetes version give the same output), so the engines share it.
"""

from __future__ import annotations

import copy
import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import upstream_root, write_files
from meshgen import library, spec
from meshgen.adapters import helm
from meshgen.commands import validate
from meshgen.render import render_repository
from meshgen.validation import WARNING, schemas
from meshgen.validation.engines import HelmRelease
from meshgen.validation.repository import load_fast, split_documents
from render.test_conformance import REVISIONED, SCENARIOS

ARGOCD_CRDS = "argocd/v3.5.1/crds"
FLUX_CRDS = "flux/sc-v1.9.1_kc-v1.9.4_hc-v1.6.3/crds"
EXTERNAL_SECRETS_CRDS = "external-secrets/v2.9.0/crds"
ENGINES = ("argocd", "flux")
WORKERS = 2


def _version_key(version: str) -> tuple[Any, ...]:
    release, _, pre = version.partition("-")
    return (*(int(part) for part in release.split(".")), pre == "", pre)


def istio_versions() -> list[str]:
    """The versions with complete charts and CRDs in the upstream data, oldest first."""
    root = upstream_root() / "istio"
    if not root.is_dir():
        return []
    found = [
        p.name
        for p in root.iterdir()
        if (p / "charts" / "istiod" / "templates").is_dir() and (p / "crds").is_dir()
    ]
    return sorted(found, key=_version_key)


# The upstream topologies (reference §3), each with what revisions change where they matter.
TOPOLOGIES: dict[str, Callable[[], spec.MeshDocument]] = {
    "multi-primary": SCENARIOS["flat-multi-primary"],
    "multi-primary-multi-network": SCENARIOS["two-networks"],
    "primary-remote": SCENARIOS["primary-remote-flat"],
    "primary-remote-multi-network": SCENARIOS["primary-remote-networks"],
    "external-control-plane": SCENARIOS["external-control-plane"],  # revision stable
    # Revisions (mesh-wide, one cluster its own) on primary-remote across networks. An IPv4
    # address: the istiod chart takes IPv6 remote addresses only from 1.30 (tested below).
    "revisions": lambda: spec.parse(REVISIONED.replace('"2001:db8::10"', "192.0.2.9")),
}


def _cases() -> list[Any]:
    versions = istio_versions()
    if not versions:
        return [
            pytest.param(
                "-",
                "-",
                "-",
                marks=pytest.mark.skip(
                    reason=f"no Istio charts under {upstream_root() / 'istio'}: needs "
                    "../shared/upstream (or MESHGEN_UPSTREAM_DIR)"
                ),
            )
        ]
    cases = []
    for t, topology in enumerate(TOPOLOGIES):
        for v, version in enumerate(versions):
            for e, engine in enumerate(ENGINES):
                default = e == (t + v) % len(ENGINES)
                marks = () if default else (pytest.mark.slow,)
                case_id = f"{topology}-{version}-{engine}"
                cases.append(pytest.param(topology, version, engine, marks=marks, id=case_id))
    return cases


def pinned(document: spec.MeshDocument, version: str, engine: str) -> spec.MeshDocument:
    """The mesh with ``istio.version`` and ``gitops.engine`` set, as a user would write them."""
    tree = copy.deepcopy(document.tree)
    tree.setdefault("istio", {})["version"] = version
    tree.setdefault("gitops", {})["engine"] = engine
    return spec.from_tree(tree)


# --------------------------------------------------------------------------------------------
# Fixtures


class HelmMemo:
    """``helm template`` through the real helm, each distinct input rendered once.

    The key is what determines the output: the chart folder (the read-only upstream data),
    release, namespace, the value files' contents in order and the Kubernetes version.
    Failures are not memoised."""

    def __init__(self, real: Callable[..., str]) -> None:
        self.real = real
        self.outputs: dict[tuple[Any, ...], str] = {}
        self.lock = threading.Lock()
        self.runs = 0

    def __call__(
        self,
        chart: Path,
        release: str,
        namespace: str,
        value_files: list[Path],
        kube_version: str | None = None,
    ) -> str:
        contents = tuple(Path(f).read_bytes() for f in value_files)
        key = (str(Path(chart).resolve()), release, namespace, contents, kube_version)
        with self.lock:
            if key in self.outputs:
                return self.outputs[key]
        output = self.real(chart, release, namespace, value_files, kube_version=kube_version)
        with self.lock:
            self.outputs[key] = output
            self.runs += 1
        return output


@pytest.fixture(scope="module")
def helm_memo(tools: dict[str, Path]) -> Iterator[HelmMemo]:
    memo = HelmMemo(helm.template)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(helm, "template", memo)
        yield memo


@pytest.fixture(scope="module")
def upstream() -> Path:
    root = upstream_root()
    needed = [root / ARGOCD_CRDS, root / FLUX_CRDS, root / EXTERNAL_SECRETS_CRDS]
    missing = [str(p) for p in needed if not p.is_dir()]
    if missing:
        pytest.skip(f"upstream CRDs not found ({', '.join(missing)}): needs ../shared/upstream")
    return root.resolve()


def crd_paths(upstream: Path, version: str, engine: str) -> tuple[Path, ...]:
    gitops = (
        (
            upstream / ARGOCD_CRDS / "application-crd.yaml",
            upstream / ARGOCD_CRDS / "appproject-crd.yaml",
        )
        if engine == "argocd"
        else (upstream / FLUX_CRDS,)
    )
    return (*gitops, upstream / EXTERNAL_SECRETS_CRDS, upstream / "istio" / version / "crds")


@dataclass(frozen=True)
class Checked:
    kind: str
    name: str
    chart: str | None  # its helm.sh/chart label
    problems: tuple[str, ...]


class ObjectSchemas:
    """Schema problems of the objects in Helm output, each distinct document parsed and checked
    once per version and Kubernetes version (most, the CRDs above all, are alike in every
    cluster)."""

    def __init__(self, upstream: Path) -> None:
        self.upstream = upstream
        self.indexes: dict[str, schemas.CrdIndex] = {}
        self.core: dict[str, schemas.CoreSchemas] = {}
        self.seen: dict[tuple[str, str, str], Checked | None] = {}
        self.lock = threading.Lock()

    def check(self, text: str, version: str, kube: str) -> list[Checked]:
        checked = []
        for _line, document in split_documents(text):
            digest = hashlib.sha256(document.encode()).hexdigest()
            key = (version, kube, digest)
            with self.lock:
                if key not in self.seen:
                    self.seen[key] = self._check(document, version, kube)
                result = self.seen[key]
            if result is not None:
                checked.append(result)
        return checked

    def _check(self, document: str, version: str, kube: str) -> Checked | None:
        obj = load_fast(document)
        if not isinstance(obj, dict):
            return None
        if version not in self.indexes:
            crds = self.upstream / "istio" / version / "crds"
            self.indexes[version] = schemas.CrdIndex(schemas.crd_files([crds]))
        core = self.core.setdefault(kube, schemas.CoreSchemas(kube))
        problems = schemas.object_problems(obj, self.indexes[version], core)
        meta = obj.get("metadata") or {}
        chart = (meta.get("labels") or {}).get("helm.sh/chart")
        return Checked(str(obj.get("kind")), str(meta.get("name")), chart, tuple(problems))


@pytest.fixture(scope="module")
def object_schemas(upstream: Path) -> ObjectSchemas:
    return ObjectSchemas(upstream)


# --------------------------------------------------------------------------------------------
# What each release must have rendered, by topology role


def expected_kinds(mesh: spec.Mesh, release: HelmRelease) -> set[str]:
    """The kinds that prove the release rendered the real thing, not an empty chart."""
    cluster = mesh.cluster(release.cluster or "")
    if release.chart == "base":
        return {"CustomResourceDefinition", "ValidatingWebhookConfiguration"}
    if release.chart == "gateway":
        return {"Deployment", "Service", "ServiceAccount"}
    if cluster.role == "remote":
        control = mesh.control_plane_of(cluster)
        assert control is not None and control.discovery is not None
        kinds = {"MutatingWebhookConfiguration", "Service"}
        return kinds | ({"EndpointSlice"} if control.discovery.is_ip else set())
    kinds = {"Deployment", "Service", "ConfigMap"}
    if cluster.role != "external-control-plane":  # its webhooks are managed on the config side
        kinds.add("MutatingWebhookConfiguration")
    return kinds


@pytest.mark.parametrize(("topology", "version", "engine"), _cases())
def test_render_and_validate(
    topology: str,
    version: str,
    engine: str,
    upstream: Path,
    helm_memo: HelmMemo,
    object_schemas: ObjectSchemas,
    tmp_path: Path,
) -> None:
    document = pinned(TOPOLOGIES[topology](), version, engine)
    mesh = document.mesh
    files = render_repository(mesh, library.load())
    write_files(tmp_path, {**files, spec.MESH_FILE: spec.to_text(document)})

    rendered: dict[HelmRelease, str | None] = {}
    options = validate.Options(
        repo=tmp_path,
        crds=crd_paths(upstream, version, engine),
        charts=upstream / "istio" / version / "charts",
        jobs=WORKERS,
    )
    findings = validate.collect(options, helm_output=rendered)
    # Nothing wrong and nothing unchecked; a warning (say, about the version) does not fail.
    reported = [f for f in findings if f.severity != WARNING]
    assert reported == [], "\n".join(
        f"[{f.check}/{f.severity}] {f.cluster}: {f.where()}: {f.message}" for f in reported
    )

    # Every release rendered the real chart of this version, and every object it rendered
    # validates against its schema.
    assert rendered, "validate rendered no release"
    problems = []
    for release, text in sorted(rendered.items(), key=lambda item: item[0].obj):
        assert text is not None, f"{release.obj}: not rendered"
        assert release.version == version
        checked = object_schemas.check(text, version, mesh.kubernetes_version)
        kinds = {c.kind for c in checked}
        missing = expected_kinds(mesh, release) - kinds
        assert not missing, f"{release.obj}: renders no {sorted(missing)} (only {sorted(kinds)})"
        charts = {c.chart for c in checked}
        assert f"{release.chart}-{version}" in charts, (release.obj, charts)
        problems += [f"{release.obj}: {c.kind} {c.name}: {p}" for c in checked for p in c.problems]
    assert not problems, "\n".join(problems[:20])
    # Every cluster got its releases (base, istiod, the gateway where enabled).
    clusters = {r.cluster for r in rendered}
    assert clusters == {c.name for c in mesh.clusters}


# --------------------------------------------------------------------------------------------
# A version limit the objects reveal: an IPv6 discovery address needs Istio 1.30


def _around_1_30() -> list[Any]:
    versions = istio_versions()
    before = [v for v in versions if _version_key(v) < (1, 30)]
    after = [v for v in versions if _version_key(v) >= (1, 30)]
    chosen = ([before[-1]] if before else []) + ([after[0]] if after else [])
    return chosen or [pytest.param("-", marks=pytest.mark.skip(reason="no Istio charts"))]


@pytest.mark.parametrize("version", _around_1_30())
def test_ipv6_discovery_address_needs_istio_1_30(
    version: str, upstream: Path, helm_memo: HelmMemo, tmp_path: Path
) -> None:
    """Before 1.30 the istiod chart makes every remotePilotAddress that is not IPv4 an
    ExternalName, which the API server rejects for an IP address: validate says so, once,
    on the remote; from 1.30 the chart renders an IPv6 EndpointSlice and all is well."""
    document = pinned(spec.parse(REVISIONED), version, "argocd")
    files = render_repository(document.mesh, library.load())
    write_files(tmp_path, {**files, spec.MESH_FILE: spec.to_text(document)})
    options = validate.Options(
        repo=tmp_path,
        crds=crd_paths(upstream, version, "argocd"),
        charts=upstream / "istio" / version / "charts",
        jobs=WORKERS,
    )
    reported = [f for f in validate.collect(options) if f.severity != WARNING]
    if _version_key(version) >= (1, 30):
        assert reported == [], [f.message for f in reported]
        return
    (finding,) = reported
    assert (finding.check, finding.cluster) == ("multicluster", "r1")
    assert finding.file == "clusters/r1/values/istiod.yaml"
    assert finding.obj == "Service istio-system/istiod-1-30"
    assert "ExternalName to the IP address 2001:db8::10" in finding.message
    assert "Istio 1.30 or later" in finding.fix


def test_versions_are_found() -> None:
    """The matrix is not silently empty when the upstream data is there."""
    if not (upstream_root() / "istio").is_dir():
        pytest.skip("no upstream Istio data")
    versions = istio_versions()
    assert len(versions) >= 2, versions
    assert all(re.fullmatch(r"\d+\.\d+\.\d+(-[\w.]+)?", v) for v in versions)
