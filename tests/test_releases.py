"""The Istio release catalogue (charts/istio-releases.yaml) and what meshgen draws from it."""

from __future__ import annotations

import datetime

import pytest
from ruamel.yaml import YAML

from meshgen import library, releases
from meshgen.releases import CHARTS, HUB, LocationSettings, parse_version

CATALOGUE = library.istio_releases()
TODAY = datetime.date(2026, 12, 1)


def raw_catalogue() -> dict:
    path = library.data_dir("charts") / library.RELEASES_FILE
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def test_the_catalogue_lists_the_releases_meshgen_supports() -> None:
    versions = [r.version for r in CATALOGUE.releases]
    for wanted in ("1.28.10", "1.29.6", "1.30.3", "1.30.4", "1.30.5", "1.31.0-rc.0", "1.31.0"):
        assert wanted in versions
    assert versions == sorted(versions, key=lambda v: parse_version(v))  # oldest first
    assert [r.version for r in CATALOGUE.releases if r.pre_release] == ["1.31.0-rc.0"]
    assert CATALOGUE.newest_ga().version == "1.31.1"
    for release in CATALOGUE.releases:
        assert release.helm_repository == "https://blob.istio.io/istio-release/charts"
        assert release.oci_repository == "oci://ghcr.io/istio/release/charts"
        assert CATALOGUE.retirement(release.helm_repository, CHARTS) is None
        assert CATALOGUE.retirement(release.oci_repository, CHARTS) is None


def test_signing_key_changes_with_1_31_1() -> None:
    v2 = parse_version("1.31.1")
    for release in CATALOGUE.releases:
        expected = "istio-key-v2.pub" if release.parsed >= v2 else "istio-key.pub"
        assert release.signing_key == f"https://istio.io/misc/{expected}", release.version


def test_end_of_support_is_six_weeks_after_minor_n_plus_2() -> None:
    minors = raw_catalogue()["minors"]
    for line, facts in minors.items():
        major, minor = (int(p) for p in line.split("."))
        later = minors.get(f"{major}.{minor + 2}")
        if later is None:
            assert facts["endOfSupport"] is None, line  # not known until N+2 ships
            continue
        released = datetime.date.fromisoformat(later["minorReleased"])
        expected = released + datetime.timedelta(weeks=6)
        assert facts["endOfSupport"] == expected.isoformat(), line
        for release in CATALOGUE.releases:
            if release.parsed.line == line:
                assert release.end_of_support == expected


def test_defects_are_listed_exactly_where_the_fix_is_missing() -> None:
    """A release lists a defect iff its minor line has a fix and the release predates it; no
    release of a line newer than every fix lists it."""
    for release in CATALOGUE.releases:
        listed = {d.name for d in release.defects}
        for defect in {d for r in CATALOGUE.releases for d in r.defects}:
            fixed = defect.fix_for(release.parsed)
            if fixed is not None:
                assert (defect.name in listed) == (release.parsed < parse_version(fixed)), (
                    release.version,
                    defect.name,
                )
            elif all(parse_version(f).line < release.parsed.line for f in defect.fixed_in):
                assert defect.name not in listed, (release.version, defect.name)
    by_version = {r.version: {d.name for d in r.defects} for r in CATALOGUE.releases}
    assert by_version["1.30.3"] == {"remote-secret-rotation-loses-endpoints"}
    assert by_version["1.30.4"] == by_version["1.31.1"] == set()
    issues = {i for r in CATALOGUE.releases for d in r.defects for i in d.issues}
    assert {"istio/istio#61043", "istio/istio#60920"} <= issues


def test_versions_order_as_semver() -> None:
    order = ["1.9.0", "1.28.9", "1.28.10", "1.31.0-alpha.1", "1.31.0-rc.0", "1.31.0-rc.2"]
    order += ["1.31.0-rc.10", "1.31.0", "1.31.1"]
    parsed = [parse_version(v) for v in order]
    assert parsed == sorted(parsed)
    assert parse_version("1.31") is None and parse_version("v1.31.0") is None


@pytest.mark.parametrize(
    ("version", "kubernetes", "today", "expected"),
    [
        ("1.31.1", "1.33", TODAY, []),
        ("1.30.5", "1.32", TODAY, []),
        ("1.30.3", "1.33", TODAY, ["known multi-cluster defect"]),
        ("1.31.0-rc.0", "1.33", TODAY, ["pre-release", "known multi-cluster defect"]),
        ("1.29.6", "1.33", datetime.date(2026, 10, 1), []),  # its last day of support
        ("1.29.6", "1.33", datetime.date(2026, 10, 2), ["end of support on 2026-10-01"]),
        ("1.28.10", "1.35", TODAY, ["end of support on 2026-06-29", "outside the Kubernetes"]),
        ("1.31.1", "1.37", TODAY, ["outside the Kubernetes versions Istio 1.31.1 supports"]),
        ("1.31.1", "1.31", TODAY, ["(1.32 to 1.36)"]),
    ],
)
def test_version_notices(
    version: str, kubernetes: str, today: datetime.date, expected: list[str]
) -> None:
    notices = releases.version_notices(CATALOGUE, version, kubernetes, today)
    assert len(notices) == len(expected), [n.message for n in notices]
    for notice, text in zip(notices, expected, strict=True):
        assert text in notice.message and notice.severity == "warning"
        assert notice.fix


def test_defect_notice_names_the_issues_and_the_fixed_release() -> None:
    (notice,) = releases.version_notices(CATALOGUE, "1.30.3", "1.33", TODAY)
    assert "(istio/istio#61043, #60920)" in notice.message
    assert notice.fix == "upgrade istio.version to 1.30.4 or later (newest: 1.30.5)"
    assert notice.field == "istio.version"


def test_unknown_version_is_an_error_unless_allowed() -> None:
    (error,) = releases.version_notices(CATALOGUE, "1.30.9", "1.33", TODAY)
    assert error.severity == "error"
    assert "1.30.9 is not in meshgen's release catalogue" in error.message
    assert "1.31.1" in error.fix and "--allow-unknown-version" in error.fix
    (allowed,) = releases.version_notices(CATALOGUE, "1.30.9", "1.33", TODAY, allow_unknown=True)
    assert allowed.severity == "unchecked"


@pytest.mark.parametrize(
    ("location", "kind", "replacement"),
    [
        ("https://istio-release.storage.googleapis.com/charts", CHARTS, "https://blob.istio.io"),
        ("https://istio-release.storage.googleapis.com/charts/", CHARTS, "https://blob.istio.io"),
        ("oci://gcr.io/istio-release/charts", CHARTS, "oci://ghcr.io/istio/release/charts"),
        ("oci://registry.istio.io/release/charts/", CHARTS, "oci://ghcr.io/istio/release/charts"),
        ("gcr.io/istio-release", HUB, "docker.io/istio"),
        ("registry.istio.io/release", HUB, "docker.io/istio"),
        ("https://blob.istio.io/istio-release/charts", CHARTS, None),
        ("oci://ghcr.io/istio/release/charts", CHARTS, None),
        ("https://charts.mirror.example/istio", CHARTS, None),
        ("oci://registry.istio.io.mirror.example/charts", CHARTS, None),
        ("docker.io/istio", HUB, None),
        ("harbor.example.com:5000/istio", HUB, None),
    ],
)
def test_retired_locations(location: str, kind: str, replacement: str | None) -> None:
    retired = CATALOGUE.retirement(location, kind)
    if replacement is None:
        assert retired is None
    else:
        assert retired is not None and retired.use.startswith(replacement)


def test_location_notices_named_in_mesh_yaml_or_by_an_old_default() -> None:
    old = "https://istio-release.storage.googleapis.com/charts"
    named = releases.location_notices(
        CATALOGUE, LocationSettings("1.31.1", chart_repository=old, hub="gcr.io/istio-release")
    )
    assert [n.field for n in named] == ["istio.chartRepository", "istio.hub"]
    assert "Istio 1.31 was never published there" in named[0].message
    assert named[0].fix == (
        "set istio.chartRepository: https://blob.istio.io/istio-release/charts in mesh.yaml "
        "(or a mirror of it)"
    )
    assert named[1].fix.startswith("set istio.hub: docker.io/istio")
    assert not any(n.change for n in named)  # render keeps what mesh.yaml names

    unset = LocationSettings(
        "1.30.3",
        chart_repository=None,
        hub=None,
        rendered_chart_repositories=(old, old),
        rendered_without_hub=True,
    )
    charts, images = releases.location_notices(CATALOGUE, unset)
    assert "meshgen's old default for an unset istio.chartRepository" in charts.message
    assert charts.change.startswith(f"Charts move from {old}")
    assert "registry.istio.io/release" in images.message and images.field is None
    assert images.change.endswith("to docker.io/istio.")
    # 1.31's charts default to docker.io/istio: a values file without hub is not retired.
    fine = LocationSettings("1.31.1", None, None, (), rendered_without_hub=True)
    assert releases.location_notices(CATALOGUE, fine) == []


def test_every_line_names_the_gateway_api_release_it_is_built_against() -> None:
    """../shared/upstream/gateway-api/README.md: v1.4.1 for 1.28 and 1.29, v1.5.1 for 1.30,
    v1.6.0 for 1.31 (sigs.k8s.io/gateway-api in Istio's go.mod)."""
    catalogue = library.istio_releases()
    expected = {"1.28": "v1.4.1", "1.29": "v1.4.1", "1.30": "v1.5.1", "1.31": "v1.6.0"}
    for release in catalogue.releases:
        assert release.gateway_api == expected[release.parsed.line], release.version
    assert catalogue.gateway_api_for("1.30.9") == "v1.5.1"  # unknown patch: its line's
    assert catalogue.gateway_api_for("1.99.0") == "v1.6.0"  # unknown line: the newest


def test_the_catalogue_reads_the_same_with_libyaml_and_ruamel() -> None:
    text = (library.data_dir("charts") / library.RELEASES_FILE).read_text(encoding="utf-8")
    fast = library.read_catalogue(text)
    assert fast == library.read_catalogue(text, fast=False)
    assert fast["locations"]["hub"] == library.istio_releases().hub
