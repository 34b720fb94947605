"""The book's intervals (pgcourse.intervals), each with its coverage measured by simulation at
the sizes the book uses: 6 and 10 seeds for medians, 150 batches for the bootstrap; Wilson's
exact coverage at 10 trials is computed."""

import math

import numpy as np
import pytest

from pgcourse.intervals import (
    Interval,
    bootstrap_interval,
    median_interval,
    order_statistic_coverage,
    rate_interval,
)

# Skewed as per-seed results often are (a few seeds far from the rest), and symmetric.
DISTRIBUTIONS = {
    "normal": (lambda rng, size: rng.normal(3.0, 2.0, size=size), 3.0),
    "exponential": (lambda rng, size: rng.exponential(1.0, size=size), np.log(2.0)),
    "lognormal": (lambda rng, size: rng.lognormal(0.0, 1.0, size=size), 1.0),
}


@pytest.mark.parametrize("n", [6, 10])
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_the_median_interval_covers_the_true_median_at_least_95_percent_of_the_time(name, n):
    draw, true_median = DISTRIBUTIONS[name]
    rng = np.random.default_rng(n)
    intervals = [median_interval(draw(rng, n)) for _ in range(4000)]
    covered = np.mean([low <= true_median <= high for _, low, high in intervals])
    # Exact coverage is 0.969 at 6 values and 0.979 at 10; 4000 draws estimate it to about 0.003.
    assert covered >= 0.95, f"{name}, n={n}: covered {covered:.3f}"
    assert covered == pytest.approx(order_statistic_coverage(n, 1 if n < 9 else 2), abs=0.012)


def test_the_percentile_bootstrap_of_the_mean_falls_short_at_a_handful_of_seeds():
    """Why the book does not use it over seeds: at 5 skewed values it covers well under 95 %."""
    rng = np.random.default_rng(5)
    covered = [
        interval.low <= 1.0 <= interval.high
        for interval in (
            bootstrap_interval(rng.exponential(1.0, size=5), num_resamples=400, seed=k)
            for k in range(600)
        )
    ]
    assert np.mean(covered) < 0.88


def test_the_bootstrap_covers_a_variance_ratio_of_150_batches_about_95_percent_of_the_time():
    # Two estimators measured on the same batches, as chapter 6 compares them: the ratio of their
    # variances is 1.69 / 4.
    rng = np.random.default_rng(3)
    covered = []
    for k in range(300):
        z = rng.normal(size=(150, 2))
        pairs = np.stack([2 * z[:, 0], 1.2 * z[:, 0] + 0.5 * z[:, 1]], axis=1)
        interval = bootstrap_interval(
            pairs, lambda rows: rows[:, 1].var() / rows[:, 0].var(), num_resamples=500, seed=k
        )
        covered.append(interval.low <= 1.69 / 4 <= interval.high)
    # Measured: 0.933 (book/statistics.md quotes about 93 %); 300 draws give about +-0.03.
    assert 0.91 <= np.mean(covered) <= 0.99


def test_wilsons_interval_is_approximate_its_exact_coverage_at_10_trials_is_84_to_99_percent():
    intervals = [rate_interval(count, 10) for count in range(11)]
    coverage = [
        sum(
            math.comb(10, c) * p**c * (1 - p) ** (10 - c)
            for c, (_, low, high) in enumerate(intervals)
            if low <= p <= high
        )
        for p in np.linspace(0.001, 0.999, 999)
    ]
    assert min(coverage) == pytest.approx(0.842, abs=0.002)
    assert max(coverage) == pytest.approx(0.990, abs=0.002)


@pytest.mark.parametrize(("n", "k"), [(6, 1), (8, 1), (9, 2), (10, 2), (11, 2), (12, 3)])
def test_the_median_interval_takes_the_narrowest_order_statistics_that_reach_95_percent(n, k):
    values = np.arange(float(n))
    _, low, high = median_interval(values[::-1])
    assert (low, high) == (values[k - 1], values[n - k])
    assert order_statistic_coverage(n, k) >= 0.95 > order_statistic_coverage(n, k + 1)


def test_five_values_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="at least 6 values, got 5: run more seeds"):
        median_interval([1.0, 2.0, 3.0, 4.0, 5.0])


def test_the_rate_interval_is_wilsons():
    assert rate_interval(10, 10) == pytest.approx((1.0, 0.7225, 1.0), abs=1e-4)
    assert rate_interval(0, 10) == pytest.approx((0.0, 0.0, 0.2775), abs=1e-4)
    assert rate_interval(9, 10) == pytest.approx((0.9, 0.5958, 0.9821), abs=1e-4)
    with pytest.raises(ValueError, match="count <= n"):
        rate_interval(11, 10)


def test_interval_brackets_the_statistic_and_is_reproducible():
    samples = np.random.default_rng(1).normal(3.0, 2.0, size=40)
    interval = bootstrap_interval(samples)
    assert interval.value == pytest.approx(samples.mean())
    assert interval.low < interval.value < interval.high
    assert bootstrap_interval(samples) == interval
    assert bootstrap_interval(samples, seed=1) != interval


def test_rows_stay_together_for_a_paired_statistic():
    # Two estimators measured on the same draws: the second is the first plus a little noise,
    # so their difference is tightly known although each varies a lot.
    rng = np.random.default_rng(4)
    first = rng.normal(0.0, 10.0, size=150)
    pairs = np.stack([first, first + 1.0 + rng.normal(0.0, 0.1, size=150)], axis=1)
    interval = bootstrap_interval(pairs, lambda rows: float((rows[:, 1] - rows[:, 0]).mean()))
    assert 0.9 < interval.low < interval.high < 1.1


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
