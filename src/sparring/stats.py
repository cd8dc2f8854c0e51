"""The one bootstrap: percentile intervals over problems, for probes, rerank and findings.

Resampling is over the items given (problems), never over samples of one item. The stream
is ``numpy.random.default_rng([seed, crc32(name)])``: reproducible, and two statistics
with different names are not correlated by construction. A paired difference is the
bootstrap of the per-item differences (``paired_difference``).
"""

from __future__ import annotations

import zlib
from typing import Callable, Sequence

import numpy as np

Interval = tuple[float, float]


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
    cols = columns if len(columns) and isinstance(columns[0], (list, tuple, np.ndarray)) else (columns,)
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


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, n_resamples: int = 2000, seed: int = 0, name: str = "paired"
) -> tuple[float, Interval] | None:
    """mean(a - b) over paired items and its percentile interval (None for no data)."""
    x = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ci = bootstrap_ci(x, n_resamples=n_resamples, seed=seed, name=name)
    return None if ci is None else (float(x.mean()), ci)


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's correlation of paired values (None for fewer than 2 pairs or a constant side)."""
    if len(x) != len(y) or len(x) < 2:
        return None
    value = correlation_stat(np.asarray([x], dtype=float), np.asarray([y], dtype=float))[0]
    return float(value) if np.isfinite(value) else None


def correlation_stat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's correlation per bootstrap row (``bootstrap_ci``'s ``stat`` for two columns);
    NaN for a row where either side is constant (dropped by the bootstrap)."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))


def pooled(values: Sequence[float], intervals: Sequence[Interval | None]) -> tuple[float, float]:
    """(mean, standard error) of one metric measured in several runs (seeds).

    The mean is over the runs; each run's standard error is its 95% interval's width / 3.92
    (a run without an interval counts as exact), and the mean's is
    sqrt(sum of their squares) / number of runs. Used for unpaired metrics by the lab's
    findings and by bench/controls.py.
    """
    if not values:
        raise ValueError("pooled: no values")
    ses = [(ci[1] - ci[0]) / 3.92 if ci else 0.0 for ci in intervals]
    return float(np.mean(values)), float(np.sqrt(sum(s * s for s in ses)) / len(values))


def normal_difference(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, Interval]:
    """a - b with its 95% normal-approximation interval, from two (mean, standard error)."""
    diff, half = a[0] - b[0], 1.96 * float(np.hypot(a[1], b[1]))
    return diff, (diff - half, diff + half)
