"""`meshgen validate` on real repositories: clean ones pass, each kind of breakage is caught.

The repositories are rendered by the real core, committed with real git, built with the real
`kubectl kustomize` and `helm`, and checked against the upstream Istio charts and the Argo CD,
External Secrets and Istio CRDs from ../shared/upstream (skipped with a reason when absent).
Every breakage the issue lists is applied to one repository, which is validated once; each
test then asserts that its breakage is reported where it is, with a fix.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from helpers import (
    commit_rendered,
    edit,
    git,
    pin_istio,
    release_notes,
    run_cli,
    run_meshgen_process,
    two_network_mesh,
    upstream_root,
)
from meshgen.commands import validate
from meshgen.validation import ERROR, UNCHECKED, Finding

ISTIO = "1.30.3"


@pytest.fixture(scope="module")
def upstream() -> Path:
    root = upstream_root()
    needed = [
        root / "istio" / ISTIO / "charts",
        root / "istio" / ISTIO / "crds",
        root / "argocd" / "v3.5.1" / "crds",
        root / "external-secrets" / "v2.9.0" / "crds",
    ]
    missing = [str(p) for p in needed if not p.is_dir()]
    if missing:
        pytest.skip(f"upstream data not found ({', '.join(missing)}): needs ../shared/upstream")
    return root


def upstream_options(upstream: Path, root: Path, **extra: object) -> validate.Options:
    argocd = upstream / "argocd" / "v3.5.1" / "crds"
    crds = (
        upstream / "istio" / ISTIO / "crds",
        argocd / "application-crd.yaml",
        argocd / "appproject-crd.yaml",
        upstream / "external-secrets" / "v2.9.0" / "crds",
    )
    return validate.Options(
        repo=root, crds=crds, charts=upstream / "istio" / ISTIO / "charts", jobs=2, **extra
    )


def make_repo(root: Path) -> Path:
    """The README's two-network mesh, rendered and committed."""
    return commit_rendered(root, pin_istio(two_network_mesh(), ISTIO))


def errors(findings: list[Finding], check: str, file: str | None = None) -> list[Finding]:
    return [
        f
        for f in findings
        if f.check == check and f.severity == ERROR and (file is None or f.file == file)
    ]


def test_a_clean_repository_passes(
    tmp_path: Path, upstream: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "mesh")
    findings = validate.collect(upstream_options(upstream, root))
    assert [f for f in findings if f.severity == ERROR] == []
    # With every CRD and chart given, nothing is left unchecked either.
    assert [f for f in findings if f.severity == UNCHECKED] == []
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == 0
    # Without CRDs and charts, the kinds and charts that could not be checked are listed.
    unchecked = {f["message"].split(":")[0] for f in report["findings"]}
    assert "argoproj.io/v1alpha1 Application" in unchecked
    assert "networking.istio.io/v1 Gateway" in unchecked
    assert any(m.startswith("chart istiod 1.30.3 is not available") for m in unchecked)


def test_as_a_process_the_report_the_status_and_the_cache_are_whole(
    tmp_path: Path, upstream: Path, tools: dict[str, Path]
) -> None:
    """validate ends its process without Python's teardown (see meshgen.entrypoint): what
    it printed and stored is there, and its exit status is the command's."""
    root = make_repo(tmp_path / "mesh")
    options = upstream_options(upstream, root)
    args = ["validate", "--charts", str(options.charts), "--cache-dir", str(tmp_path / "cache")]
    args += [arg for path in options.crds for arg in ("--crds", str(path))]
    first = run_meshgen_process(*args, "-o", "json", cwd=root)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["errors"] == 0 and report["cache"]["written"] > 0
    # Every entry the first run wrote is read back by the second, which computes nothing.
    again = json.loads(run_meshgen_process(*args, "-o", "json", cwd=root).stdout)
    assert again["findings"] == report["findings"]
    assert not any(again["cache"]["computed"].values()), again["cache"]
    (root / "clusters/cluster-1/token.yaml").write_text(BROKEN_SECRET)
    broken = run_meshgen_process(*args, cwd=root)
    assert broken.returncode == 1
    assert "clusters/cluster-1/token.yaml" in broken.stdout
    assert broken.stderr.startswith(f"error: {root}: 1 problem found (1 cluster affected)")


BROKEN_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: istio-remote-secret-cluster-2
  namespace: istio-system
stringData:
  token: eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ
"""


@pytest.fixture(scope="module")
def broken(
    tmp_path_factory: pytest.TempPathFactory, upstream: Path, tools: dict[str, Path]
) -> list[Finding]:
    """One repository with every breakage below, validated once."""
    root = make_repo(tmp_path_factory.mktemp("broken") / "mesh")
    # A misspelled istiod key (Istio's key is multiCluster).
    edit(root, "clusters/cluster-1/values/istiod.yaml", "multiCluster:", "multicluster:")
    # A gateway value the chart's values.schema.json rejects.
    edit(root, "clusters/cluster-2/values/gateway.yaml", "maxReplicas: 5", "maxReplicas: five")
    # An Application whose value file is missing.
    (root / "clusters/cluster-2/values/base.yaml").unlink()
    # An ExternalSecret with a wrong field.
    edit(
        root,
        "overlays/remote-secrets/cluster-1/external-secret.yaml",
        "refreshInterval:",
        "refreshIntervall:",
    )
    # A Secret with a token committed by hand.
    (root / "clusters/cluster-1/token.yaml").write_text(BROKEN_SECRET)
    # A private key staged, then replaced on disk by a placeholder.
    key = root / "clusters/cluster-2/notes.txt"
    key.write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----\n")
    git(root, "add", "clusters/cluster-2/notes.txt")
    key.write_text("the key lives in the vault\n")
    # Sync waves: the gateway before istiod.
    edit(
        root,
        "clusters/cluster-2/applications/istio-eastwestgateway.yaml",
        'sync-wave: "3"',
        'sync-wave: "1"',
    )
    # The AppProject no longer allows cluster-1's namespace, nor Namespace objects.
    edit(
        root,
        "bootstrap/argocd/project.yaml",
        "    - name: cluster-1\n      namespace: istio-system\n",
        "",
    )
    edit(root, "bootstrap/argocd/project.yaml", '    - group: ""\n      kind: Namespace\n', "")
    # cluster-1 loses its root Application; a broken overlay.
    edit(root, "bootstrap/argocd/kustomization.yaml", "  - roots/cluster-1.yaml\n", "")
    edit(root, "clusters/cluster-2/mesh-config/kustomization.yaml", "components:", "resources:")
    return validate.collect(upstream_options(upstream, root))


def test_misspelled_istiod_key(broken: list[Finding]) -> None:
    (finding,) = errors(broken, "helm-values", "clusters/cluster-1/values/istiod.yaml")
    assert finding.message.startswith("global.multicluster is not a value of the istiod chart")
    assert finding.line == 8 and finding.cluster == "cluster-1" and finding.fix


def test_gateway_value_rejected_by_the_chart_schema(broken: list[Finding]) -> None:
    (finding,) = errors(broken, "helm-values", "clusters/cluster-2/values/gateway.yaml")
    assert "autoscaling.maxReplicas: 'five' is not of type 'integer'" in finding.message
    assert "values.schema.json" in finding.message and finding.line is not None


def test_application_with_a_missing_value_file(broken: list[Finding]) -> None:
    found = [f for f in errors(broken, "gitops") if "values/base.yaml does not exist" in f.message]
    assert len(found) == 1
    assert found[0].file == "clusters/cluster-2/applications/istio-base.yaml"
    # The drift check reports the same file as missing.
    assert any(
        f.file == "clusters/cluster-2/values/base.yaml" and "missing" in f.message
        for f in errors(broken, "drift")
    )


def test_external_secret_with_a_wrong_field(broken: list[Finding]) -> None:
    found = [f for f in errors(broken, "schema") if "refreshIntervall" in f.message]
    assert found, [f.message for f in errors(broken, "schema")]
    assert found[0].file == "overlays/remote-secrets/cluster-1/external-secret.yaml"
    assert found[0].line == 10  # the misspelled key itself
    assert found[0].obj == "ExternalSecret istio-system/istio-remote-secret-cluster-1"


def test_secret_with_a_token_committed_by_hand(broken: list[Finding]) -> None:
    found = errors(broken, "secrets", "clusters/cluster-1/token.yaml")
    assert [f.line for f in found] == [1]
    assert "Secret with data (token)" in found[0].message


def test_private_key_in_the_staged_change(broken: list[Finding]) -> None:
    (finding,) = errors(broken, "secrets", "clusters/cluster-2/notes.txt")
    assert "a private key is in the staged change" in finding.message


def test_sync_waves_out_of_order(broken: list[Finding]) -> None:
    found = [f for f in errors(broken, "gitops") if "syncs in wave" in f.message]
    assert [f.file for f in found] == ["clusters/cluster-2/applications/istio-eastwestgateway.yaml"]
    assert "wave 1, not after cluster-2-istio-base (base, wave 1)" in found[0].message


def test_cluster_without_a_root_application(broken: list[Finding]) -> None:
    found = [f for f in errors(broken, "gitops") if "bootstrap root" in f.message]
    assert [(f.cluster, "from no" in f.message) for f in found] == [("cluster-1", True)]


def test_destinations_and_kinds_outside_the_app_project(broken: list[Finding]) -> None:
    found = [f.message for f in errors(broken, "gitops")]
    denied = [m for m in found if "is not allowed by AppProject mesh1" in m]
    # cluster-1's istio-system, istio-base, istiod, istio-eastwestgateway and mesh-config
    assert len(denied) == 5
    assert all("destination cluster-1/istio-system" in m for m in denied)
    namespaces = [m for m in found if "is not in clusterResourceWhitelist" in m]
    assert {m.split(":")[0] for m in namespaces} == {
        "Application cluster-1-istio-system",
        "Application cluster-2-istio-system",
    }


def test_overlay_that_does_not_build(broken: list[Finding]) -> None:
    (finding,) = errors(broken, "kustomize")
    assert finding.file == "clusters/cluster-2/mesh-config/kustomization.yaml"
    assert "kustomize build failed" in finding.message


def test_invalid_mesh_is_reported_and_the_rest_still_runs(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "mesh")
    edit(root, "mesh.yaml", "network: network2", "network: network9")
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "1 problem found (mesh-wide)" in result.stderr
    findings = json.loads(result.stdout)["findings"]
    (mesh,) = [f for f in findings if f["check"] == "mesh"]
    assert mesh["file"] == "mesh.yaml" and mesh["line"] is not None
    assert "network9" in mesh["message"]
    skipped = [f for f in findings if f["message"].startswith("not run")]
    assert {f["check"] for f in skipped} == {
        "traffic",
        "drift",
        "helm-values",
        "gitops",
        "multicluster",
        "ambient",
        "trust",
    }
    assert all(f["fix"].startswith("fix mesh.yaml first") for f in skipped)
    # -o yaml: the same report; the tools the checks ran are in it.
    as_yaml = run_cli(capsys, "validate", "--repo", str(root), "-o", "yaml")
    assert as_yaml.exit_code == 1
    report = yaml.safe_load(as_yaml.stdout)
    assert report["findings"] == findings
    assert [(t["name"], t["path"]) for t in report["tools"]] == [
        ("helm", str(tools["helm"])),
        ("kubectl", str(tools["kubectl"])),
    ]


def test_text_output_groups_by_cluster(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "mesh")
    (root / "clusters/cluster-2/token.yaml").write_text(BROKEN_SECRET)
    result = run_cli(capsys, "validate", "--repo", str(root))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    # First, which helm and kubectl the checks ran.
    assert lines[0].startswith("tools: helm v") and ", kubectl v" in lines[0]
    group = lines.index("cluster cluster-2")
    assert lines[group + 1].startswith("  [secrets] clusters/cluster-2/token.yaml:1 (Secret ")
    assert lines[group + 2].startswith("      fix: remove it")


def test_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "mesh")
    result = run_cli(capsys, "validate", "--repo", str(root), "--crds", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "--crds" in result.stderr


def test_without_repo_the_work_tree_of_the_current_folder_is_validated(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "mesh")
    inside = run_cli(capsys, "validate", "--no-cache", "-o", "json", cwd=root / "clusters")
    assert json.loads(inside.stdout)["repository"] == str(root.resolve())
    (tmp_path / "plain").mkdir()  # tmp_path is in no Git work tree
    outside = run_cli(capsys, "validate", "--no-cache", cwd=tmp_path / "plain")
    assert outside.exit_code == 2 and "not inside a Git repository" in outside.stderr
    assert outside.stderr.strip().count("\n") == 0


def test_tool_versions_are_replayed_while_the_binaries_stay_the_same(
    tmp_path: Path, tools: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshgen.adapters import toolchain
    from meshgen.validation.cache import Cache

    cache = Cache(tmp_path / "cache")
    first = validate.tool_statuses(cache)
    assert first == toolchain.describe() and cache.written == 1
    assert validate.tool_statuses(cache) == first and cache.hits == {"tool-statuses": 1}
    # helm reached through another path is another binary to ask
    link = tmp_path / "helm"
    assert first[0].name == "helm" and first[0].path is not None
    link.symlink_to(first[0].path)
    monkeypatch.setenv(toolchain.ENV_VARS["helm"], str(link))
    moved = validate.tool_statuses(cache)
    assert (moved[0].path, moved[0].source) == (link, "env") and moved[1] == first[1]
    assert moved[0].version == first[0].version and cache.misses["tool-statuses"] == 2


def test_pull_failure_is_one_line_and_exit_2(
    tmp_path: Path,
    tools: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--pull runs the real `helm pull`; a closed loopback port fails at once, offline."""
    root = make_repo(tmp_path / "mesh")
    edit(root, "mesh.yaml", "istio:\n", "istio:\n  chartRepository: http://127.0.0.1:9/c\n")
    monkeypatch.setenv(validate.CHART_CACHE_ENV, str(tmp_path / "cache"))
    run_cli(capsys, "render", "--repo", str(root))
    result = run_cli(capsys, "validate", "--repo", str(root), "--pull")
    assert result.exit_code == 2, result.stderr
    assert "helm pull" in result.stderr and "--charts DIR" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not any((tmp_path / "cache").rglob("Chart.yaml"))


def test_a_folder_without_mesh_yaml_is_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "validate", "--repo", str(tmp_path))
    assert result.exit_code == 2
    assert "not a mesh repository" in result.stderr and result.stdout == ""


@pytest.fixture
def chart_server(tmp_path: Path, upstream: Path, tools: dict[str, Path]) -> Iterator[str]:
    """A Helm chart repository on loopback serving the upstream base, istiod and gateway
    charts as Istio publishes them (Chart.yaml version set to the release)."""
    served = tmp_path / "served"
    served.mkdir()
    for chart in ("base", "istiod", "gateway"):
        source = tmp_path / "src" / chart
        shutil.copytree(upstream / "istio" / ISTIO / "charts" / chart, source)
        meta = source / "Chart.yaml"
        meta.write_text(re.sub(r"(?m)^version: .*$", f"version: {ISTIO}", meta.read_text()))
        helm = str(tools["helm"])
        subprocess.run(
            [helm, "package", str(source), "-d", str(served)], check=True, capture_output=True
        )
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served))
    )
    url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    served_charts = served / "charts"
    served_charts.mkdir()
    for package in served.glob("*.tgz"):
        package.rename(served_charts / package.name)
    subprocess.run(
        [str(tools["helm"]), "repo", "index", str(served_charts), "--url", url], check=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_pull_fills_the_chart_cache_and_checks_against_it(
    tmp_path: Path,
    chart_server: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--pull runs the real `helm pull --untar` against a chart repository on loopback."""
    root = make_repo(tmp_path / "mesh")
    edit(root, "mesh.yaml", "istio:\n", f"istio:\n  chartRepository: {chart_server}\n")
    assert run_cli(capsys, "render", "--repo", str(root)).exit_code == 0
    edit(root, "clusters/cluster-2/values/istiod.yaml", "meshID:", "meshId:")
    cache = tmp_path / "cache"
    monkeypatch.setenv(validate.CHART_CACHE_ENV, str(cache))
    findings = validate.collect(validate.Options(repo=root, pull=True, jobs=2))
    pulled = sorted(p.parent.name for p in cache.rglob("Chart.yaml"))
    assert pulled == ["base", "gateway", "istiod"]
    assert not [f for f in findings if f.check == "helm-values" and f.severity == UNCHECKED]
    (typo,) = errors(findings, "helm-values")
    assert typo.file == "clusters/cluster-2/values/istiod.yaml"
    assert typo.message.startswith("global.meshId is not a value of the istiod chart")


ODD_APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: cluster-1-odd, namespace: argocd}
spec: [not, a, mapping]
"""


def test_odd_hand_made_objects_are_findings_not_tracebacks(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "mesh")
    (root / "clusters/cluster-1/applications/odd.yaml").write_text(ODD_APPLICATION)
    edit(
        root,
        "clusters/cluster-1/kustomization.yaml",
        "resources:",
        "resources:\n  - applications/odd.yaml",
    )
    # Optional value files may be missing (Argo CD's ignoreMissingValueFiles).
    edit(
        root,
        "clusters/cluster-2/applications/istiod.yaml",
        "valueFiles:",
        "ignoreMissingValueFiles: true\n        valueFiles:\n          - $values/extra/istiod.yaml",
    )
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    findings = json.loads(result.stdout)["findings"]
    odd = [f for f in findings if f["obj"] == "Application argocd/cluster-1-odd"]
    assert {f["check"] for f in odd} >= {"gitops"}
    assert any("destination None is not a cluster" in f["message"] for f in odd)
    assert not any("extra/istiod.yaml" in f["message"] for f in findings)


# --------------------------------------------------------------------------------------------
# What a new user ran into (issue 13): each is one clear finding, never a false error.


def test_missing_kubectl_and_helm_are_said_once_and_nothing_false_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(tmp_path / "mesh")
    # A machine with git but neither the pinned tools nor any on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git_path = shutil.which("git")
    assert git_path is not None
    (bin_dir / "git").symlink_to(git_path)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MESHGEN_TOOLS_DIR", str(tmp_path / "no-tools"))
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    assert result.exit_code == 0, result.stdout
    notes = release_notes(root)
    findings = [f for f in json.loads(result.stdout)["findings"] if f["message"] not in notes]
    assert [(f["severity"], f["message"]) for f in findings] == [
        (
            "unchecked",
            "kubectl not found, so the kustomize, helm-values, schema, gitops, multicluster and "
            "ambient "
            "checks did not run",
        ),
        ("unchecked", "helm not found, so the helm-values and multicluster checks did not run"),
    ]
    text = run_cli(capsys, "validate", "--repo", str(root))
    assert text.stdout.count("kubectl not found") == 1
    assert "no problems found (2 things could not be checked, listed above)" in text.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("kind: [not yaml\n", "is not valid YAML at line 2 (did not find expected ','"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "holds ConfigMap, no Custom"),
        ("", "holds no Kubernetes object, no CustomResourceDefinition"),
    ],
)
def test_crds_that_are_not_crds_are_bad_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    root = make_repo(tmp_path / "mesh")
    given = tmp_path / "crds.yaml"
    given.write_text(content)
    result = run_cli(capsys, "validate", "--repo", str(root), "--crds", str(given))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: --crds {given}: {expected}")
    assert result.stderr.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = run_cli(capsys, "validate", "--repo", str(root), "--crds", str(empty))
    assert folder.exit_code == 2 and "holds no CustomResourceDefinition" in folder.stderr


def test_crds_as_json_lists_are_read(tmp_path: Path, upstream: Path) -> None:
    """`kubectl get crd -o json` gives a JSON List: the same CRDs as the YAML."""
    from meshgen.validation.repository import load_fast
    from meshgen.validation.schemas import crd_index

    source = upstream / "argocd" / "v3.5.1" / "crds" / "appproject-crd.yaml"
    listed = {"apiVersion": "v1", "kind": "List", "items": [load_fast(source.read_text())]}
    given = tmp_path / "crds.json"
    given.write_text(json.dumps(listed, indent=2))
    assert crd_index([given]).kinds() == {("argoproj.io", "AppProject")}


def test_expiry_recorded_in_mesh_yaml_warns_without_the_ca_folder(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The generated README promises a warning 30 days ahead; CI has no --ca folder, so the
    dates mesh.yaml records (written by `ca issue` and `remote-secret`) are used."""
    import datetime

    root = make_repo(tmp_path / "mesh")
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10, hours=1)
    later = soon + datetime.timedelta(days=300)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    edit(
        root,
        "mesh.yaml",
        "    network: network2\n",
        "    network: network2\n    trust:\n"
        f'      ca: {{issued: "2025-01-01T00:00:00Z", expires: "{soon:{stamp}}"}}\n'
        f'      remoteSecret: {{issued: "2025-01-01T00:00:00Z", expires: "{later:{stamp}}"}}\n',
    )
    git(root, "commit", "-qam", "trust records")
    result = run_cli(capsys, "validate", "--repo", str(root), "--format", "json")
    assert result.exit_code == 0, result.stdout
    notes = release_notes(root)
    findings = json.loads(result.stdout)["findings"]
    warnings = [f for f in findings if f["severity"] == "warning" and f["message"] not in notes]
    assert [(w["check"], w["cluster"], w["file"]) for w in warnings] == [
        ("trust", "cluster-2", "mesh.yaml")
    ]
    (warning,) = warnings
    lines = (root / "mesh.yaml").read_text().splitlines()
    assert "expires:" in lines[warning["line"] - 1] and "ca:" in lines[warning["line"] - 1]
    assert warning["message"] == (
        f"cluster-2's intermediate CA expires on {soon:%Y-%m-%d} (in 10 days), as mesh.yaml records"
    )
    assert warning["fix"].startswith("issue a new one with `meshgen ca issue cluster-2`")


def test_a_network_the_others_cannot_reach_is_a_warning(
    tmp_path: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "mesh")
    edit(root, "mesh.yaml", "enabled: true", "enabled: false")  # cluster-1, network1
    run_cli(capsys, "render", "--repo", str(root))
    git(root, "commit", "-qam", "network1 one-way")
    result = run_cli(capsys, "validate", "--repo", str(root))
    assert result.exit_code == 0, result.stdout
    assert (
        "  [warning] mesh.yaml: network network1 has no east-west gateway: the other networks "
        "cannot reach the services of its clusters (cluster-1)\n"
        "      fix: give it one with `meshgen set-cluster cluster-1 --east-west-gateway`"
    ) in result.stdout


def test_each_missing_encrypted_file_is_reported_once(
    sops_repo: Path, tools: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Flux with sops before anything is encrypted: the overlays list files that are not
    there yet. Each is one trust finding; the builds use a stand-in for it, so no raw
    kustomize error repeats it and the rest of each overlay is still checked."""
    result = run_cli(capsys, "validate", "--repo", str(sops_repo), "--format", "json")
    assert result.exit_code == 1
    findings = [f for f in json.loads(result.stdout)["findings"] if f["severity"] == ERROR]
    assert sorted((f["check"], f["file"]) for f in findings) == [
        ("trust", "clusters/c1/istio-system/cacerts.sops.yaml"),
        ("trust", "clusters/c2/istio-system/cacerts.sops.yaml"),
        ("trust", "overlays/remote-secrets/c1/remote-secret.sops.yaml"),
        ("trust", "overlays/remote-secrets/c2/remote-secret.sops.yaml"),
    ]
    assert "4 problems found (2 clusters affected, 2 mesh-wide)" in result.stderr
    # The stand-ins never reach the repository.
    assert not (sops_repo / "clusters/c1/istio-system/cacerts.sops.yaml").exists()
    assert git(sops_repo, "status", "--porcelain") == ""
