"""The one bootstrap (sparring.stats): seeded, shaped by its inputs, paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from sparring.stats import bootstrap_ci, paired_difference, ratio_stat


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
