"""Confidence intervals for the book's summaries, each with coverage close to nominal at its size.

- Over seeds (6 to 10 runs of an experiment): ``median_interval``, the median and an interval
  between two order statistics. Its coverage is exact for any continuous distribution (at least
  nominal with ties), so it holds at 6 or 10 seeds, where on skewed (lognormal) values the
  percentile bootstrap of the mean covers 73 % at 5 seeds, 76 % at 6 and 81 % at 10, and
  Student's t interval 83 % to 85 % (appendix ``book/statistics.md``). A paired comparison is
  the median of the per-seed differences (the sign test's interval).
- A count of successes, such as "solved on 9 of 10 seeds": ``rate_interval`` (Wilson's), an
  approximate interval: its exact coverage at 10 trials lies between about 84 % and 99 %,
  depending on the rate.
- A smooth statistic of many (100 or more) independent batches, such as a ratio of variances:
  ``bootstrap_interval``, the percentile bootstrap, whose coverage is close to nominal there.

Only the median interval's coverage is exact. ``tests/test_intervals.py`` measures the median
and bootstrap intervals' coverage by simulation at the sizes the book uses, and computes
Wilson's exact coverage.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Interval(NamedTuple):
    """A statistic of the samples and its interval ``[low, high]``; a tuple, so that
    ``value, low, high = interval`` and ``interval[0]`` work too."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def order_statistic_coverage(n: int, k: int) -> float:
    """P(x_(k) <= true median <= x_(n+1-k)) for n independent draws of a continuous variable:
    1 - 2 P(Binomial(n, 1/2) < k), whatever the distribution."""
    return 1 - 2 * sum(math.comb(n, j) for j in range(k)) / 2**n


def median_interval(values, confidence: float = 0.95) -> Interval:
    """The median of ``values`` and the narrowest interval ``[x_(k), x_(n+1-k)]`` between order
    statistics whose coverage of the true median is at least ``confidence``. For 95 %: the
    smallest and largest of 6 to 8 values, the second smallest and second largest of 9 to 11."""
    x = np.sort(np.asarray(values, dtype=float).ravel())
    n = len(x)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n == 0 or order_statistic_coverage(n, 1) < confidence:
        fewest = next(m for m in range(1, 64) if order_statistic_coverage(m, 1) >= confidence)
        raise ValueError(
            f"a {confidence:.0%} interval for a median needs at least {fewest} values, got {n}: "
            "run more seeds"
        )
    k = max(k for k in range(1, n // 2 + 1) if order_statistic_coverage(n, k) >= confidence)
    return Interval(float(np.median(x)), float(x[k - 1]), float(x[n - k]))


def rate_interval(count: int, n: int, z: float = 1.96) -> Interval:
    """``count / n`` and Wilson's 95 % interval for the rate behind ``count`` successes of ``n``."""
    if not 0 <= count <= n or n < 1:
        raise ValueError(f"need 0 <= count <= n and n >= 1, got count={count}, n={n}")
    centre = (count + z**2 / 2) / (n + z**2)
    half = z * math.sqrt(count * (n - count) / n + z**2 / 4) / (n + z**2)
    return Interval(count / n, max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_interval(
    samples: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    confidence: float = 0.95,
    num_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """``statistic(samples)`` with its percentile-bootstrap interval, for 100 or more samples.

    ``samples`` holds independent draws along its first axis (batches); each resample draws
    that many rows with replacement, so rows that belong together (several estimators measured
    on the same batch) stay together and a statistic may compare them. The seed makes the
    interval reproducible. With few samples its coverage falls well short (for the mean of
    lognormal values, 73 % at 5 and 81 % at 10): summaries over seeds use ``median_interval``.
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim == 0 or len(samples) < 2:
        raise ValueError(f"need at least two samples along the first axis, got {samples.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if not isinstance(num_resamples, int) or num_resamples < 1:
        raise ValueError(f"num_resamples must be a positive integer, got {num_resamples!r}")
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(samples), size=(num_resamples, len(samples)))
    values = np.array([statistic(samples[rows]) for rows in picks], dtype=float)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(statistic(samples)), float(low), float(high))
