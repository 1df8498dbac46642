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
    "mesh": 0.02,
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
    """Thread-safe: checks call :meth:`advance` from their worker threads."""

    def __init__(self, checks: tuple[str, ...], clusters: int, emit: Emit | None = None) -> None:
        size = max(1, clusters)
        self._estimate = {check: PER_CLUSTER.get(check, 0.02) * size for check in checks}
        self._order = checks
        self._emit = emit
        self._lock = threading.Lock()
        self._current: str | None = None
        self._finished: set[str] = set()
        self._units = 0.0  # units of the current check
        self._done = 0.0  # units of it completed
        self._unit_cost = 1.0
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
            if self._current is not None:
                self._finished.add(self._current)
            self._current, self._units, self._done, self._unit_cost = check, 0.0, 0.0, 1.0
            self._report_locked()

    def begin(self, units: int, unit_cost: float | None = None) -> None:
        """The current check has ``units`` of work, each costing ``unit_cost`` (default: the
        check's :data:`UNIT_COST`): its share of the bar is now known, not estimated."""
        with self._lock:
            if self._current is None:
                return
            cost = UNIT_COST.get(self._current, 0.05) if unit_cost is None else unit_cost
            self._units, self._done, self._unit_cost = float(units), 0.0, cost
            self._estimate[self._current] = units * cost
            self._report_locked()

    def advance(self, units: int = 1) -> None:
        """``units`` of the current check's work are done."""
        with self._lock:
            if self._current is None or not self._units:
                return
            self._done = min(self._units, self._done + units)
            self._report_locked()

    def finish(self) -> None:
        with self._lock:
            if self._current is not None:
                self._finished.add(self._current)
            self._current = None
            self._report_locked()

    def _report_locked(self) -> None:
        total = sum(self._estimate.values()) or 1.0
        complete = sum(self._estimate[c] for c in self._finished)
        if self._current is not None and self._units:
            complete += self._done * self._unit_cost
        fraction = 1.0 if self._current is None and self._finished else complete / total
        fraction = max(self._reported, min(1.0, fraction))  # never back
        self._reported = fraction
        if self._emit is not None:
            self._emit(fraction, self._current or "done")
