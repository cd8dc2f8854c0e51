"""What every probe returns, and the seeded bootstrap that puts intervals on its numbers.

A :class:`ProbeResult` holds point estimates (``metrics``), 95% percentile-bootstrap
intervals over *problems* (``ci``), and one record per problem (``records``), so a
report can recompute anything, and two checkpoints can be compared item by item.

Resampling is over problems, never over samples of one problem: the population a
probe generalises to is the task's problem distribution. The resampling RNG is
``numpy.random.default_rng([seed, hash(metric name)])``, so every interval is
reproducible and intervals of different metrics are not correlated by construction.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

Interval = tuple[float, float]


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


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def bootstrap_ci(
    columns: Sequence[Sequence[float]] | Sequence[float],
    stat: Callable[..., np.ndarray] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    name: str = "",
    alpha: float = 0.05,
) -> Interval | None:
    """Percentile bootstrap interval of a statistic of per-problem values.

    ``columns`` is one sequence of per-problem values, or a tuple of equally long
    sequences (e.g. numerators and denominators). ``stat`` receives the resampled
    columns as 2-D arrays of shape ``(n_resamples, n)`` and returns one value per row;
    the default is the mean of a single column. Non-finite bootstrap values (a ratio
    whose resampled denominator is 0) are dropped. Returns None for no data.
    """
    cols = columns if columns and isinstance(columns[0], (list, tuple, np.ndarray)) else (columns,)
    arrays = [np.asarray(c, dtype=float) for c in cols]
    n = len(arrays[0])
    if n == 0 or any(len(a) != n for a in arrays):
        return None
    if n_resamples < 1:
        raise ValueError(f"n_resamples: must be >= 1, got {n_resamples}")
    idx = _rng(seed, name).integers(0, n, size=(n_resamples, n))
    resampled = [a[idx] for a in arrays]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = stat(*resampled) if stat is not None else resampled[0].mean(axis=1)
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def ratio_stat(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """sum(num) / sum(den) per bootstrap row (a share pooled over problems)."""
    return num.sum(axis=1) / den.sum(axis=1)


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
        return self._put(name, point, bootstrap_ci(vals, n_resamples=self.n_resamples,
                                                   seed=self.seed, name=name))

    def ratio(self, name: str, num: Sequence[float], den: Sequence[float]) -> float | None:
        """sum(num) / sum(den) over problems (None if the denominator is 0)."""
        total = float(np.sum(den)) if len(den) else 0.0
        point = float(np.sum(num)) / total if total > 0 else None
        ci = None
        if point is not None:
            ci = bootstrap_ci((list(num), list(den)), ratio_stat,
                              n_resamples=self.n_resamples, seed=self.seed, name=name)
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
