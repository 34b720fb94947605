"""Bootstrap confidence intervals for summaries over seeds or over independent batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Interval(NamedTuple):
    """A statistic of the samples and its percentile-bootstrap interval ``[low, high]``; a tuple,
    so that ``value, low, high = interval`` and ``interval[0]`` work too."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def bootstrap_interval(
    samples: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    confidence: float = 0.95,
    num_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """``statistic(samples)`` with its percentile-bootstrap interval.

    ``samples`` holds independent draws along its first axis (seeds, batches); each resample
    draws that many rows with replacement, so rows that belong together (several estimators
    measured on the same batch) stay together and a statistic may compare them. The seed
    makes the interval reproducible.
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
