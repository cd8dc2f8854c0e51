"""The one bootstrap (sparring.stats): seeded, shaped by its inputs, paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.stats import bootstrap_ci, normal_difference, paired_difference, pooled, ratio_stat


def test_interval_is_seeded_named_and_covers_the_mean():
    vals = np.random.default_rng(1).random(200)
    a = bootstrap_ci(vals, seed=3, name="m")
    assert a == bootstrap_ci(list(vals), seed=3, name="m")  # an array or a list
    assert a != bootstrap_ci(vals, seed=3, name="other") and a != bootstrap_ci(vals, seed=4, name="m")
    assert a[0] < vals.mean() < a[1]
    assert bootstrap_ci([], seed=0) is None and bootstrap_ci(np.array([]), seed=0) is None
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(vals, n_resamples=0)


def test_ratio_and_paired_difference():
    num, den = [1, 0, 1, 1], [1, 1, 1, 1]
    lo, hi = bootstrap_ci((num, den), ratio_stat, seed=0, name="r")
    assert 0 <= lo <= 0.75 <= hi <= 1
    a = [1.0] * 50 + [0.0] * 50
    b = [0.0] * 100
    mean, (lo, hi) = paired_difference(a, b, seed=0)
    assert mean == 0.5 and lo < 0.5 < hi and lo > 0.3
    same = paired_difference(a, a, seed=0)
    assert same == (0.0, (0.0, 0.0))  # identical arms: no difference, no spread
    assert paired_difference([], [], seed=0) is None


def test_pooled_over_seeds_and_the_normal_difference():
    mean, se = pooled([0.2, 0.4, 0.6], [(0.1, 0.1 + 3.92 * 0.03), (0.3, 0.3 + 3.92 * 0.04), None])
    assert abs(mean - 0.4) < 1e-12 and abs(se - 0.05 / 3) < 1e-12  # sqrt(.03^2 + .04^2 + 0) / 3
    diff, (lo, hi) = normal_difference((0.5, 0.03), (0.2, 0.04))
    assert abs(diff - 0.3) < 1e-12 and abs(hi - lo - 2 * 1.96 * 0.05) < 1e-12
    with pytest.raises(ValueError, match="no values"):
        pooled([], [])
