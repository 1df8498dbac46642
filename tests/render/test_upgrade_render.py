"""What the upstream charts make of an upgrade's values: every release of a cluster rendered
with the real `helm template` and the real charts of its version (1.30.3 and 1.31.0-rc.0 from
../shared/upstream/istio), before and after the tags move.

These are the facts the Helm values must get right: two control planes side by side render no
object twice; a tag's webhooks come from the release of the revision it points at and call that
revision's istiod; the unrevisioned istiod stops injecting once the default tag is elsewhere;
a remote's webhooks reach its primary's istiod of the same revision through the Services the
primary's east-west gateway routes by SNI.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import upstream_root, write_files
from meshgen import library, spec
from meshgen.adapters import helm
from meshgen.render import render_repository
from meshgen.render.overlays import expose_istiod
from meshgen.render.plan import component_version, plan_mesh
from upgrade_fixtures import NEW, NEW_REVISION, OLD, canary_state, three_clusters

CLUSTERS = ("cluster-1", "cluster-2")  # the primary and its remote
PROMOTED = canary_state().replace(
    "default: default, stable: default", f"default: {NEW_REVISION}, stable: {NEW_REVISION}"
)


@pytest.fixture(scope="module")
def charts() -> Path:
    root = upstream_root() / "istio"
    missing = [v for v in (OLD, NEW) if not (root / v / "charts" / "istiod").is_dir()]
    if missing:
        pytest.skip(f"Istio charts {', '.join(missing)} not found: needs ../shared/upstream")
    return root


Rendered = dict[str, list[dict[str, Any]]]  # release -> objects


def render_releases(
    text: str, charts: Path, folder: Path, tools: object
) -> tuple[spec.Mesh, dict[str, Rendered]]:
    """Every Helm release of CLUSTERS, as `helm template` renders it."""
    mesh = spec.parse(text).mesh
    knowledge = library.load()
    write_files(folder, render_repository(mesh, knowledge))
    jobs = []
    for plan in plan_mesh(mesh, knowledge.chart_profiles):
        if plan.cluster.name not in CLUSTERS:
            continue
        for component in plan.components:
            if component.chart is None or component.values_path is None:
                continue
            chart = charts / component_version(mesh, component) / "charts" / component.chart.chart
            jobs.append((plan.cluster.name, component.name, chart, folder / component.values_path))

    def template(job: tuple[str, str, Path, Path]) -> str:
        _, release, chart, values = job
        return helm.template(chart, release, "istio-system", [values], mesh.kubernetes_version)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(pool.map(template, jobs))
    result: dict[str, Rendered] = {name: {} for name in CLUSTERS}
    for (cluster, release, _, _), out in zip(jobs, outputs, strict=True):
        # libyaml: the base chart's CRDs are large for a pure-Python reader.
        result[cluster][release] = [d for d in yaml.load_all(out, Loader=yaml.CSafeLoader) if d]
    return mesh, result


@pytest.fixture(scope="module")
def both(
    charts: Path, tmp_path_factory: pytest.TempPathFactory, tools: object
) -> dict[str, tuple[spec.Mesh, dict[str, Rendered]]]:
    """The primary and its remote with the new revision next to the old one (all tags on the
    old one), and once promoted."""
    sides = {
        "canary": {name: canary_state() for name in CLUSTERS},
        "promoted": {name: PROMOTED for name in CLUSTERS},
    }
    return {
        side: render_releases(three_clusters(extra), charts, tmp_path_factory.mktemp(side), tools)
        for side, extra in sides.items()
    }


def objects(rendered: Rendered, kind: str, name: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (release, obj)
        for release, docs in rendered.items()
        for obj in docs
        if obj.get("kind") == kind and obj["metadata"]["name"] == name
    ]


def one(rendered: Rendered, kind: str, name: str) -> tuple[str, dict[str, Any]]:
    found = objects(rendered, kind, name)
    assert len(found) == 1, f"{kind} {name}: rendered by {[r for r, _ in found]}"
    return found[0]


def services_called(webhook_configuration: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (hook["clientConfig"]["service"]["name"], hook["clientConfig"]["service"]["path"])
        for hook in webhook_configuration["webhooks"]
    }


@pytest.mark.parametrize("side", ["canary", "promoted"])
@pytest.mark.parametrize("cluster", CLUSTERS)
def test_no_object_is_rendered_by_two_releases(
    both: dict[str, tuple[spec.Mesh, dict[str, Rendered]]], side: str, cluster: str
) -> None:
    _, rendered = both[side]
    counts = Counter(
        (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        for docs in rendered[cluster].values()
        for obj in docs
    )
    assert [key for key, count in counts.items() if count > 1] == []
    assert set(rendered[cluster]) == {
        "istio-base",
        "istiod",
        f"istiod-{NEW_REVISION}",
        "istio-eastwestgateway",
    }


def test_before_promotion_the_tags_stay_on_the_old_istiod(
    both: dict[str, tuple[spec.Mesh, dict[str, Rendered]]],
) -> None:
    _, rendered = both["canary"]
    primary = rendered["cluster-1"]
    release, stable = one(primary, "MutatingWebhookConfiguration", "istio-revision-tag-stable")
    assert release == "istiod" and services_called(stable) == {("istiod", "/inject")}
    release, canary = one(primary, "MutatingWebhookConfiguration", "istio-revision-tag-canary")
    assert release == f"istiod-{NEW_REVISION}"
    assert services_called(canary) == {(f"istiod-{NEW_REVISION}", "/inject")}
    # The unrevisioned istiod still serves istio-injection=enabled itself.
    _, injector = one(primary, "MutatingWebhookConfiguration", "istio-sidecar-injector")
    assert "namespace.sidecar-injector.istio.io" in {h["name"] for h in injector["webhooks"]}
    assert objects(primary, "MutatingWebhookConfiguration", "istio-revision-tag-default") == []
    _, validator = one(primary, "ValidatingWebhookConfiguration", "istiod-default-validator")
    assert validator["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod"
    # Both control planes run, each under its own name.
    one(primary, "Deployment", "istiod")
    one(primary, "Deployment", f"istiod-{NEW_REVISION}")


def test_after_promotion_the_new_revision_serves_every_tag(
    both: dict[str, tuple[spec.Mesh, dict[str, Rendered]]],
) -> None:
    _, rendered = both["promoted"]
    primary = rendered["cluster-1"]
    new = f"istiod-{NEW_REVISION}"
    for tag in ("default", "stable", "canary"):
        release, hooks = one(primary, "MutatingWebhookConfiguration", f"istio-revision-tag-{tag}")
        assert release == new and services_called(hooks) == {(new, "/inject")}
    _, default = one(primary, "MutatingWebhookConfiguration", "istio-revision-tag-default")
    selectors = {h["name"]: h["namespaceSelector"] for h in default["webhooks"]}
    assert selectors["namespace.sidecar-injector.istio.io"]["matchExpressions"][0] == {
        "key": "istio-injection",
        "operator": "In",
        "values": ["enabled"],
    }
    # The unrevisioned istiod no longer injects (istio/istio#48643: not two injectors for one
    # label), but keeps serving the proxies it injected until they restart.
    assert objects(primary, "MutatingWebhookConfiguration", "istio-sidecar-injector") == []
    one(primary, "Deployment", "istiod")
    one(primary, "Service", "istiod")
    # Config validation by default and the east-west gateway follow the default tag.
    _, validator = one(primary, "ValidatingWebhookConfiguration", "istiod-default-validator")
    assert validator["webhooks"][0]["clientConfig"]["service"]["name"] == new
    _, gateway = one(primary, "Deployment", "istio-eastwestgateway")
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert labels["istio.io/rev"] == NEW_REVISION


def test_a_remotes_webhooks_reach_its_primarys_istiod_of_the_same_revision(
    both: dict[str, tuple[spec.Mesh, dict[str, Rendered]]],
) -> None:
    """The remote's Services for each revision point at the primary's east-west gateway, whose
    expose-istiod routes the SNI of each to that revision's istiod Service."""
    mesh, rendered = both["promoted"]
    remote = rendered["cluster-2"]
    new = f"istiod-{NEW_REVISION}"
    path = "/inject/cluster/cluster-2/net/network2"
    for tag in ("default", "stable", "canary"):
        release, hooks = one(remote, "MutatingWebhookConfiguration", f"istio-revision-tag-{tag}")
        assert release == new and services_called(hooks) == {(new, path)}
    assert objects(remote, "Deployment", "istiod") == []  # a remote runs no istiod
    routed = {}
    plan = next(
        p for p in plan_mesh(mesh, library.chart_profiles()) if p.cluster.name == "cluster-1"
    )
    for obj in expose_istiod(mesh, plan)[1:]:
        for route in obj["spec"]["tls"]:
            for match in route["match"]:
                for sni in match["sniHosts"]:
                    routed[sni] = route["route"][0]["destination"]["host"]
    primary_services = {
        o["metadata"]["name"] for _, o in objects_of(rendered["cluster-1"], "Service")
    }
    for service in ("istiod", new):
        _, slice_ = one(remote, "EndpointSlice", service)
        assert slice_["endpoints"][0]["addresses"] == ["192.0.2.10"]
        one(remote, "Service", service)
        sni = f"{service}.istio-system.svc" if service != "istiod" else "*"
        host = routed[sni]
        assert host == f"{service}.istio-system.svc.cluster.local"
        assert host.split(".")[0] in primary_services


def objects_of(rendered: Rendered, kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r, o) for r, docs in rendered.items() for o in docs if o.get("kind") == kind]
