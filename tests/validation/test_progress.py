"""validate's progress: weighted by the real cost of each check, advancing as work completes.

Timings are never asserted: the events are. They must never go back, end at 100 %, and inside
the two expensive checks advance in proportion to the units done (kustomize batches, Helm
releases), so the bar no longer sits on one step for most of a run.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from helpers import commit_rendered, two_network_mesh, upstream_root
from meshgen.commands import validate
from meshgen.validation import CHECKS, progress
from meshgen.validation.progress import Progress

ISTIO = "1.30.3"


def test_shares_follow_the_units_and_their_cost() -> None:
    events: list[tuple[float, str]] = []
    # 8 clusters: estimated 20 overlays and 20 releases, and so it turns out.
    bar = Progress(CHECKS, clusters=8, emit=lambda f, c: events.append((f, c)))
    bar.start("mesh")
    bar.start("drift")
    bar.start("kustomize")
    bar.begin(20)  # 20 overlays
    start = bar.fraction
    for _ in range(4):
        bar.advance(5)  # a batch of 5
    after_kustomize = bar.fraction
    steps = [b - a for (a, _), (b, _) in itertools.pairwise(events[-5:])]
    assert all(s == pytest.approx(steps[0]) and s > 0 for s in steps)
    bar.start("helm-values")
    bar.begin(20)  # 20 releases
    for _ in range(20):
        bar.advance()
    after_helm = bar.fraction
    # A release costs RELEASE overlay builds: the shares say so.
    assert (after_helm - after_kustomize) / (after_kustomize - start) == pytest.approx(
        20 * progress.RELEASE / (20 * progress.OVERLAY), rel=1e-6
    )
    for check in CHECKS[4:]:
        bar.start(check)
    bar.finish()
    fractions = [f for f, _ in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # The expensive checks take most of the bar, not 2 of 8 equal steps.
    assert after_helm - start > 0.9


def test_a_wrong_estimate_never_stops_the_bar_or_sends_it_back() -> None:
    events: list[float] = []
    bar = Progress(CHECKS, clusters=4, emit=lambda f, _c: events.append(f))
    bar.start("mesh")
    bar.start("drift")
    bar.start("kustomize")
    bar.begin(100)  # ten times the estimate for 4 clusters
    for _ in range(100):
        before = bar.fraction
        bar.advance()
        assert bar.fraction > before
    bar.start("helm-values")
    bar.begin(0)  # no chart available: nothing to render
    for check in CHECKS[4:]:
        bar.start(check)
    bar.finish()
    assert events == sorted(events) and events[-1] == 1.0


@pytest.fixture
def upstream() -> Path:
    root = upstream_root()
    charts = root / "istio" / ISTIO / "charts"
    if not charts.is_dir():
        pytest.skip(f"upstream charts not found at {charts}: needs ../shared/upstream")
    return charts


def test_validate_reports_each_batch_and_release_as_it_completes(
    tmp_path: Path, upstream: Path, tools: dict[str, Path]
) -> None:
    root = commit_rendered(tmp_path / "mesh", two_network_mesh())
    events: list[tuple[float, str]] = []
    options = validate.Options(repo=root, charts=upstream, jobs=2)
    validate.collect(options, lambda fraction, check: events.append((fraction, check)))
    fractions = [f for f, _ in events]
    assert fractions == sorted(fractions), "the progress went back"
    assert fractions[-1] == 1.0
    by_check: dict[str, list[float]] = {}
    for fraction, check in events:
        by_check.setdefault(check, []).append(fraction)
    assert [c for c in CHECKS if c in by_check] == list(CHECKS)
    # kustomize: a step per batch built, in proportion to the overlays in it.
    kustomize_steps = [b - a for a, b in itertools.pairwise(by_check["kustomize"]) if b > a]
    assert len(kustomize_steps) >= 2
    # helm-values: a step per release rendered, all the same.
    helm = by_check["helm-values"]
    helm_steps = [b - a for a, b in itertools.pairwise(helm) if b > a]
    assert len(helm_steps) == 6  # base, istiod and the gateway in both clusters
    assert all(step == pytest.approx(helm_steps[0]) for step in helm_steps)
    # A release's step is about RELEASE/OVERLAY times the step of one overlay: the shares are
    # proportional to cost, re-shared (by estimate) for the checks still ahead as each begins.
    from meshgen.validation import kustomize
    from meshgen.validation.repository import RepoView

    found, _ = kustomize.kustomizations(RepoView(root, None))
    built = len(kustomize.entry_points(found))
    per_overlay = sum(kustomize_steps) / built
    assert progress.RELEASE / progress.OVERLAY == 2.5
    assert 1.5 < helm_steps[0] / per_overlay < 4
    # The two expensive checks cover most of the bar.
    assert helm[-1] - by_check["kustomize"][0] > 0.9
