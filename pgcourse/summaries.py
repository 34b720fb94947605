"""A mean over seeds with its 95% interval, for the summaries the chapters state in prose."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_with_interval(
    values: Sequence[float], num_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """The mean of ``values`` and a 95% bootstrap percentile interval for it: (mean, low, high).

    A bootstrap needs no assumption about the shape of the distribution, which for returns over
    a handful of seeds is often skewed; the seed makes the interval reproducible.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"values must be a 1-D sequence of at least 2 numbers, got {values!r}")
    resamples = np.random.default_rng(seed).choice(values, size=(num_resamples, len(values)))
    low, high = np.percentile(resamples.mean(axis=1), [2.5, 97.5])
    return float(values.mean()), float(low), float(high)
