"""The Istio release catalogue (``charts/istio-releases.yaml``) and what follows from it.

Pure: the catalogue is parsed from the data :func:`meshgen.library.istio_releases` reads, and
every question about a version (is it known, a pre-release, past its end of support, inside the
Kubernetes range, carrying a known multi-cluster defect) or a location (is this chart repository
or image hub one Istio retires) is answered here without I/O, so ``validate``, ``render``,
``new-cluster`` and ``init`` give the same answers.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$")

CHARTS = "charts"
HUB = "hub"


@dataclass(frozen=True, order=True)
class Version:
    """A semantic version, ordered as SemVer orders them (a pre-release sorts before its
    release; numeric pre-release parts compare as numbers)."""

    major: int
    minor: int
    patch: int
    released: bool = True  # False for a pre-release, which sorts first
    # The pre-release parts, numeric ones below alphanumeric ones (see ``parse_version``).
    pre: tuple[tuple[int, int, str], ...] = ()
    text: str = field(default="", compare=False)

    @property
    def line(self) -> str:
        """The minor line, ``1.30``."""
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> Version | None:
    """``1.31.0-rc.0`` as a :class:`Version`; None when it is not one."""
    return _parse_version(str(text))


@functools.lru_cache(maxsize=1024)
def _parse_version(text: str) -> Version | None:
    """:func:`parse_version`, kept per text: the rules and the plans of a large mesh ask for
    the same few versions thousands of times."""
    match = _VERSION.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    parts: tuple[tuple[int, int, str], ...] = ()
    if pre:
        parts = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split(".")
        )
    return Version(int(major), int(minor), int(patch), not pre, parts, str(text))


def kubernetes_minor(text: str) -> tuple[int, int] | None:
    """``1.33`` (or ``1.33.4``, ``v1.33``) as (1, 33); None when it is not a version."""
    match = re.match(r"^v?(\d+)\.(\d+)", str(text).strip())
    return (int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True)
class Defect:
    """A known defect that matters to a multi-cluster mesh."""

    name: str
    issues: tuple[str, ...]
    summary: str
    fixed_in: tuple[str, ...]

    def fix_for(self, version: Version) -> str | None:
        """The first release of ``version``'s minor line with the fix, if that line has one."""
        for fixed in self.fixed_in:
            parsed = parse_version(fixed)
            if parsed is not None and parsed.line == version.line:
                return fixed
        return None

    def issue_links(self) -> str:
        """``istio/istio#61043, #60920``."""
        first, *rest = self.issues
        repo = first.split("#")[0]
        return ", ".join([first, *(i.removeprefix(repo) for i in rest)])


@dataclass(frozen=True)
class Release:
    version: str
    released: datetime.date
    pre_release: bool
    helm_repository: str
    oci_repository: str
    signing_key: str  # the URL of the public key its images are signed with
    kubernetes_min: str
    kubernetes_max: str
    end_of_support: datetime.date | None
    chart_default_hub: str  # the image hub the published charts use when none is set
    defects: tuple[Defect, ...] = ()
    # The Gateway API release the line is built against (``v1.4.1``): what an ambient mesh
    # installs, and the oldest whose CRDs it accepts.
    gateway_api: str | None = None

    @property
    def parsed(self) -> Version:
        parsed = parse_version(self.version)
        assert parsed is not None  # checked when the catalogue is read
        return parsed

    def supports_kubernetes(self, kubernetes: str) -> bool | None:
        """Whether ``kubernetes`` (``1.33``) is inside the supported range; None if unreadable."""
        wanted = kubernetes_minor(kubernetes)
        low, high = kubernetes_minor(self.kubernetes_min), kubernetes_minor(self.kubernetes_max)
        if wanted is None or low is None or high is None:
            return None
        return low <= wanted <= high


@dataclass(frozen=True)
class RetiredLocation:
    kind: str  # CHARTS or HUB
    match: str  # compared with the location without its scheme
    use: str  # the replacement


@dataclass(frozen=True)
class Catalogue:
    releases: tuple[Release, ...]  # sorted by version
    helm_repository: str  # where charts live now (Helm repository)
    oci_repository: str  # ... and as OCI artifacts
    hub: str  # where images live now
    retired: tuple[RetiredLocation, ...]
    retired_until: str

    def get(self, version: str) -> Release | None:
        return next((r for r in self.releases if r.version == version), None)

    def newest_ga(self) -> Release:
        """The newest release that is not a pre-release (what ``init`` pins)."""
        return [r for r in self.releases if not r.pre_release][-1]

    def newest_in_line(self, line: str) -> Release | None:
        found = [r for r in self.releases if not r.pre_release and r.parsed.line == line]
        return found[-1] if found else None

    def gateway_api_for(self, version: str) -> str:
        """The Gateway API release Istio ``version`` is built against: its own entry's, else
        that of a catalogued release of its line, else the newest line's (a version meshgen
        does not know yet is newer than the catalogue, or was allowed on purpose)."""
        release = self.get(version)
        if release is not None and release.gateway_api:
            return release.gateway_api
        parsed = parse_version(version)
        same_line = [
            r for r in self.releases if parsed and r.parsed.line == parsed.line and r.gateway_api
        ]
        known = same_line or [r for r in self.releases if r.gateway_api]
        return known[-1].gateway_api or ""

    def supported_lines(self, today: datetime.date) -> list[str]:
        """Minor lines with a GA release whose support has not ended on ``today``."""
        lines: dict[str, None] = {}
        for release in self.releases:
            ended = release.end_of_support is not None and release.end_of_support < today
            if not release.pre_release and not ended:
                lines[release.parsed.line] = None
        return list(lines)

    def retirement(self, location: str, kind: str) -> RetiredLocation | None:
        """The retired location ``location`` (a chart repository or image hub) points into."""
        bare = strip_scheme(location).rstrip("/")
        for retired in self.retired:
            if retired.kind == kind and (
                bare == retired.match or bare.startswith(retired.match + "/")
            ):
                return retired
        return None


def strip_scheme(url: str) -> str:
    """``ghcr.io/istio/release/charts`` from ``oci://ghcr.io/istio/release/charts``."""
    return url.split("://", 1)[1] if "://" in url else url


def is_oci(url: str) -> bool:
    return url.startswith("oci://")


def _date(value: Any, where: str) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_catalogue(raw: Mapping[str, Any]) -> Catalogue:
    """The catalogue from the parsed ``istio-releases.yaml``; ValueError names what is wrong."""
    locations = raw["locations"]
    keys = raw["signingKeys"]
    defects = {
        name: Defect(
            name=name,
            issues=tuple(entry["issues"]),
            summary=" ".join(str(entry["summary"]).split()),
            fixed_in=tuple(str(v) for v in entry["fixedIn"]),
        )
        for name, entry in raw.get("defects", {}).items()
    }
    releases = []
    for entry in raw["releases"]:
        version = str(entry["version"])
        if parse_version(version) is None:
            raise ValueError(f"release {version!r}: not a version")
        unknown = [d for d in entry.get("defects", []) if d not in defects]
        if unknown:
            raise ValueError(f"release {version}: unknown defects {unknown}")
        end = entry.get("endOfSupport")
        releases.append(
            Release(
                version=version,
                released=_date(entry["released"], f"release {version} released"),
                pre_release=bool(entry.get("preRelease", False)),
                helm_repository=entry["charts"]["helm"],
                oci_repository=entry["charts"]["oci"],
                signing_key=keys[entry["signingKey"]],
                kubernetes_min=str(entry["kubernetes"]["min"]),
                kubernetes_max=str(entry["kubernetes"]["max"]),
                end_of_support=_date(end, f"release {version} endOfSupport") if end else None,
                chart_default_hub=str(entry["chartDefaultHub"]),
                defects=tuple(defects[d] for d in entry.get("defects", [])),
                gateway_api=str(entry["gatewayAPI"]) if entry.get("gatewayAPI") else None,
            )
        )
    retired_raw = raw.get("retired", {})
    retired = [
        RetiredLocation(kind, str(item["match"]).rstrip("/"), str(item["use"]))
        for kind, key in ((CHARTS, "charts"), (HUB, "hubs"))
        for item in retired_raw.get(key, [])
    ]
    return Catalogue(
        releases=tuple(sorted(releases, key=lambda r: r.parsed)),
        helm_repository=locations["charts"]["helm"],
        oci_repository=locations["charts"]["oci"],
        hub=locations["hub"],
        retired=tuple(retired),
        retired_until=str(retired_raw.get("until", "")),
    )


# ------------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Notice:
    """One thing to tell the user about the mesh's Istio version: what, and how to fix it.

    ``severity`` is ``error`` only for a version the catalogue does not know.
    """

    message: str
    fix: str
    severity: str = "warning"
    # The mesh.yaml field it is about, when mesh.yaml names the value (for its line).
    field: str | None = "istio.version"
    # For a location render moves (an old default): the move, as a sentence for a summary.
    change: str = ""


def version_notices(
    catalogue: Catalogue,
    version: str,
    kubernetes: str,
    today: datetime.date,
    allow_unknown: bool = False,
) -> list[Notice]:
    """What ``validate`` says about ``istio.version``: unknown (an error unless allowed), a
    pre-release, a known multi-cluster defect, past its end of support, or outside the
    Kubernetes range of ``kubernetesVersion``."""
    newest = catalogue.newest_ga()
    release = catalogue.get(version)
    if release is None:
        known = ", ".join(r.version for r in catalogue.releases)
        message = (
            f"istio.version {version} is not in meshgen's release catalogue ({known}), so its "
            "defects, support and Kubernetes range are unknown"
        )
        if allow_unknown:
            return [Notice(message, "nothing to do if you chose it on purpose", "unchecked")]
        return [
            Notice(
                message,
                f"set istio.version to a catalogued release (newest: {newest.version}), or pass "
                "--allow-unknown-version if you know this one works",
                "error",
            )
        ]
    notices = []
    parsed = release.parsed
    in_line = catalogue.newest_in_line(parsed.line)
    if release.pre_release:
        target = in_line.version if in_line else newest.version
        notices.append(
            Notice(
                f"Istio {version} is a pre-release, not for production meshes",
                f"set istio.version to a GA release ({target})",
            )
        )
    for defect in release.defects:
        fixed = defect.fix_for(parsed)
        upgrade = f"{fixed} or later" if fixed else newest.version
        if fixed and in_line and in_line.version != fixed:
            upgrade += f" (newest: {in_line.version})"
        notices.append(
            Notice(
                f"Istio {version} has a known multi-cluster defect: {defect.summary} "
                f"({defect.issue_links()})",
                f"upgrade istio.version to {upgrade}",
            )
        )
    if release.end_of_support is not None and release.end_of_support < today:
        lines = catalogue.supported_lines(today)
        notices.append(
            Notice(
                f"Istio {parsed.line} reached its end of support on "
                f"{release.end_of_support.isoformat()}: no more security fixes",
                f"upgrade istio.version to a supported line ({', '.join(lines) or 'none known'};"
                f" newest: {newest.version}), one minor version at a time",
            )
        )
    if release.supports_kubernetes(kubernetes) is False:
        notices.append(
            Notice(
                f"kubernetesVersion {kubernetes} is outside the Kubernetes versions Istio "
                f"{version} supports ({release.kubernetes_min} to {release.kubernetes_max})",
                "set kubernetesVersion to what the clusters run, and pick an Istio release that "
                "supports it",
                field="kubernetesVersion",
            )
        )
    return notices


# ----------------------------------------------------------------------- retired locations


@dataclass(frozen=True)
class LocationSettings:
    """What mesh.yaml says about where charts and images come from (``None``: not set), and
    what the repository's generated files still take from meshgen's earlier defaults."""

    version: str
    chart_repository: str | None
    hub: str | None
    # Chart repositories the generated files name now (before this render).
    rendered_chart_repositories: tuple[str, ...] = ()
    # Whether istiod's values files exist without a hub (meshgen set none before), so its
    # images come from the chart's built-in registry.
    rendered_without_hub: bool = False


def location_notices(catalogue: Catalogue, settings: LocationSettings) -> list[Notice]:
    """A warning for each place charts or images come from that Istio retires: named in
    mesh.yaml (fix: the one line to change), or still in the generated files because
    mesh.yaml leaves the value unset and an earlier meshgen defaulted to it (fix: render,
    which moves them to today's default; ``old default`` in the message says which)."""
    notices = []
    until = catalogue.retired_until
    never = ""
    parsed = parse_version(settings.version)
    if parsed is not None and (parsed.major, parsed.minor) >= (1, 31):
        never = f"; Istio {parsed.line} was never published there"
    if settings.chart_repository is not None:
        retired = catalogue.retirement(settings.chart_repository, CHARTS)
        if retired is not None:
            notices.append(
                Notice(
                    f"istio.chartRepository {settings.chart_repository} is a chart location "
                    f"Istio retires in {until}{never}",
                    f"set istio.chartRepository: {retired.use} in mesh.yaml (or a mirror of it)",
                    field="istio.chartRepository",
                )
            )
    else:
        for url in sorted(set(settings.rendered_chart_repositories)):
            retired = catalogue.retirement(url, CHARTS)
            if retired is not None:
                notices.append(
                    Notice(
                        f"the generated files take the charts from {url}, meshgen's old default "
                        f"for an unset istio.chartRepository, which Istio retires in {until}",
                        f"`meshgen render` moves them to {catalogue.helm_repository}; "
                        "commit the result",
                        field=None,
                        change=f"Charts move from {url} (meshgen's old default, retired in "
                        f"{until}) to {catalogue.helm_repository}.",
                    )
                )
                break
    if settings.hub is not None:
        retired = catalogue.retirement(settings.hub, HUB)
        if retired is not None:
            notices.append(
                Notice(
                    f"istio.hub {settings.hub} is an image registry Istio retires in {until}",
                    f"set istio.hub: {retired.use} in mesh.yaml (or your pull-through cache of it)",
                    field="istio.hub",
                )
            )
    elif settings.rendered_without_hub:
        release = catalogue.get(settings.version)
        if release is not None and catalogue.retirement(release.chart_default_hub, HUB):
            notices.append(
                Notice(
                    f"istiod's generated values set no image hub (meshgen's old default), so "
                    f"Istio {settings.version} pulls its images from the chart's "
                    f"{release.chart_default_hub}, which Istio retires in {until}",
                    f"`meshgen render` sets hub and global.hub to {catalogue.hub}; commit the "
                    "result",
                    field=None,
                    change=f"Images move from {release.chart_default_hub} (the chart's default, "
                    f"retired in {until}) to {catalogue.hub}.",
                )
            )
    return notices
