"""What every probe returns, with intervals from the one bootstrap (``sparring.stats``).

A :class:`ProbeResult` holds point estimates (``metrics``), 95% percentile-bootstrap
intervals over *problems* (``ci``), and one record per problem (``records``), so a
report can recompute anything, and two checkpoints can be compared item by item.

Resampling is over problems, never over samples of one problem: the population a
probe generalises to is the task's problem distribution. Each metric's resampling stream
is seeded by (probe seed, metric name), so every interval is reproducible and intervals of
different metrics are not correlated by construction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from sparring.stats import Interval, bootstrap_ci, ratio_stat

__all__ = ["Interval", "MetricSet", "ProbeResult", "bootstrap_ci", "ratio_stat"]


@dataclass
class ProbeResult:
    """The outcome of one probe on one model and task.

    Attributes:
        probe: registry name of the probe.
        metrics: point estimates; ``None`` where undefined (e.g. validity with no
            correct answers to judge).
        ci: 95% bootstrap interval per metric (only for metrics with a value).
        n: number of problems the probe used.
        records: one JSON-safe dict per problem (or per problem x template etc.).
        primary: the metric a summary table should lead with.
        config: the resolved probe settings (for reproducibility).
        seconds: wall time of the probe.
    """

    probe: str
    metrics: dict[str, float | None]
    ci: dict[str, Interval] = field(default_factory=dict)
    n: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    primary: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self, records: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["ci"] = {k: list(v) for k, v in self.ci.items()}
        if not records:
            d.pop("records")
        return d

    def width(self, metric: str) -> float:
        """Width of the interval of ``metric`` (``nan`` if it has none)."""
        lo_hi = self.ci.get(metric)
        return float("nan") if lo_hi is None else lo_hi[1] - lo_hi[0]


class MetricSet:
    """Collects metrics and their intervals with one shared seed and resample count."""

    def __init__(self, seed: int, n_resamples: int):
        self.seed, self.n_resamples = seed, n_resamples
        self.metrics: dict[str, float | None] = {}
        self.ci: dict[str, Interval] = {}

    def mean(self, name: str, values: Sequence[float]) -> float | None:
        """The mean of per-problem ``values`` (None if empty), with its interval."""
        vals = [float(v) for v in values]
        point = float(np.mean(vals)) if vals else None
        return self._put(name, point, bootstrap_ci(vals, n_resamples=self.n_resamples, seed=self.seed, name=name))

    def ratio(self, name: str, num: Sequence[float], den: Sequence[float]) -> float | None:
        """sum(num) / sum(den) over problems (None if the denominator is 0)."""
        total = float(np.sum(den)) if len(den) else 0.0
        point = float(np.sum(num)) / total if total > 0 else None
        ci = None
        if point is not None:
            ci = bootstrap_ci(
                (list(num), list(den)), ratio_stat, n_resamples=self.n_resamples, seed=self.seed, name=name
            )
        return self._put(name, point, ci)

    def value(self, name: str, point: float | None, ci: Interval | None = None) -> float | None:
        return self._put(name, point, ci)

    def _put(self, name: str, point: float | None, ci: Interval | None) -> float | None:
        if point is not None and not math.isfinite(point):
            point = None
        self.metrics[name] = point
        if point is not None and ci is not None:
            self.ci[name] = ci
        return point
