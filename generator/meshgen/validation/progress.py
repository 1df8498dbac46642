"""How far ``validate`` has come, as a fraction of its expected cost (for the progress bar).

The checks differ in cost by orders of magnitude: building the overlays with kustomize and
rendering every Helm release take nearly all of the time, the other checks a few percent. So
each check gets a share of the bar proportional to its estimated cost (units of work times the
cost of a unit, :data:`UNIT_COST`), and moves within its share as its units complete (a
kustomize batch, a release rendered). A check announces its exact units when it starts
(:meth:`Progress.begin`); until then its share is estimated from the mesh's size. The fraction
reported never goes back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

# Relative cost of one unit of work, measured on 50 and 60-cluster meshes: a `helm template`
# of one release costs about 2.5 overlay builds (batched); everything else is small.
OVERLAY = 1.0
RELEASE = 2.5
RELEASE_UNCHECKED = 0.02  # no chart available: the release is only looked up
PER_CLUSTER = {
    "mesh": 0.2,  # mesh.yaml checks and one render (for drift and the release notes)
    "drift": 0.05,
    "kustomize": 2.5 * OVERLAY,  # about 2.5 overlays per cluster
    "helm-values": 2.5 * RELEASE,  # about 2.5 releases per cluster
    "schema": 0.05,
    "gitops": 0.02,
    "secrets": 0.05,
    "trust": 0.01,
}
UNIT_COST = {"kustomize": OVERLAY, "helm-values": RELEASE}

Emit = Callable[[float, str], None]


class Progress:
    """Thread-safe: checks call :meth:`advance` from their worker threads.

    Whenever a check starts or learns its units, the part of the bar still ahead is shared
    out again between it and the checks after it, by estimated cost; so a wrong first
    estimate shows as a faster or slower bar later, never as a bar that stops or goes back.
    """

    def __init__(self, checks: tuple[str, ...], clusters: int, emit: Emit | None = None) -> None:
        size = max(1, clusters)
        self._estimate = {check: PER_CLUSTER.get(check, 0.02) * size for check in checks}
        self._order = checks
        self._emit = emit
        self._lock = threading.Lock()
        self._current: str | None = None
        self._base = 0.0  # the fraction reached when the current check (re)started
        self._span = 0.0  # the part of the bar the current check covers
        self._units = 0.0  # units of the current check (0: not known yet)
        self._done = 0.0  # units of it completed
        self._reported = 0.0

    @classmethod
    def silent(cls) -> Progress:
        return cls((), 1)

    @property
    def fraction(self) -> float:
        return self._reported

    def start(self, check: str) -> None:
        """``check`` runs now (every check before it is complete)."""
        with self._lock:
            if self._current is not None:  # the check before is complete
                self._report_locked(self._base + self._span)
            self._current, self._units, self._done = check, 0.0, 0.0
            self._share_out_locked()
            self._report_locked(self._base)

    def begin(self, units: int, unit_cost: float | None = None) -> None:
        """The current check has ``units`` of work, each costing ``unit_cost`` (default: the
        check's :data:`UNIT_COST`): its share of the bar is now known, not estimated."""
        with self._lock:
            if self._current is None:
                return
            cost = UNIT_COST.get(self._current, 0.05) if unit_cost is None else unit_cost
            self._estimate[self._current] = units * cost
            self._units, self._done = float(units), 0.0
            self._base = self._reported
            self._share_out_locked()
            self._report_locked(self._base)

    def advance(self, units: int = 1) -> None:
        """``units`` of the current check's work are done."""
        with self._lock:
            if self._current is None or not self._units:
                return
            self._done = min(self._units, self._done + units)
            self._report_locked(self._base + self._span * self._done / self._units)

    def finish(self) -> None:
        with self._lock:
            self._current = None
            self._report_locked(1.0)

    def _share_out_locked(self) -> None:
        """The current check's span: its cost's part of what is left of the bar."""
        assert self._current is not None
        self._base = self._reported
        ahead = (
            self._order[self._order.index(self._current) :] if self._current in self._order else ()
        )
        remaining = sum(self._estimate[c] for c in ahead) or 1.0
        self._span = (1.0 - self._base) * self._estimate.get(self._current, 0.0) / remaining

    def _report_locked(self, fraction: float) -> None:
        fraction = max(self._reported, min(1.0, fraction))  # never back
        self._reported = fraction
        if self._emit is not None:
            self._emit(fraction, self._current or "done")
