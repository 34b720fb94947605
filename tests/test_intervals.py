"""Unit tests of the bootstrap intervals that chapter 6 puts on its summaries."""

import numpy as np
import pytest

from pgcourse.intervals import Interval, bootstrap_interval


def test_interval_brackets_the_statistic_and_is_reproducible():
    samples = np.random.default_rng(1).normal(3.0, 2.0, size=40)
    interval = bootstrap_interval(samples)
    assert interval.value == pytest.approx(samples.mean())
    assert interval.low < interval.value < interval.high
    assert bootstrap_interval(samples) == interval
    assert bootstrap_interval(samples, seed=1) != interval


def test_interval_narrows_with_more_samples():
    rng = np.random.default_rng(2)
    few = bootstrap_interval(rng.normal(size=20))
    many = bootstrap_interval(rng.normal(size=2000))
    assert many.high - many.low < 0.3 * (few.high - few.low)


def test_95_percent_interval_of_the_mean_covers_it_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    covered = [
        interval.low <= 1.0 <= interval.high
        for interval in (
            bootstrap_interval(rng.normal(1.0, 1.0, size=30), num_resamples=400, seed=k)
            for k in range(200)
        )
    ]
    assert 0.88 <= np.mean(covered) <= 0.99


def test_rows_stay_together_for_a_paired_statistic():
    # Two estimators measured on the same draws: the second is the first plus a little noise,
    # so their difference is tightly known although each varies a lot.
    rng = np.random.default_rng(4)
    first = rng.normal(0.0, 10.0, size=50)
    pairs = np.stack([first, first + 1.0 + rng.normal(0.0, 0.1, size=50)], axis=1)
    interval = bootstrap_interval(pairs, lambda rows: float((rows[:, 1] - rows[:, 0]).mean()))
    assert 0.9 < interval.low < 1.0 < interval.high < 1.1


def test_interval_prints_value_and_bounds():
    assert str(Interval(1.5, 1.0, 2.0)) == "1.5 [1, 2]"


def test_interval_unpacks_and_indexes_as_value_low_high():
    value, low, high = interval = Interval(1.5, 1.0, 2.0)
    assert (value, low, high) == (1.5, 1.0, 2.0) == (interval[0], interval[1], interval[2])


@pytest.mark.parametrize(
    ("samples", "options", "message"),
    [
        ([1.0], {}, "at least two samples"),
        (3.0, {}, "at least two samples"),
        ([1.0, 2.0], {"confidence": 1.0}, "confidence"),
        ([1.0, 2.0], {"num_resamples": 0}, "num_resamples"),
    ],
)
def test_bad_arguments_are_refused(samples, options, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_interval(samples, **options)
