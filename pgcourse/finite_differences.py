"""Central finite differences, the gradient estimator of the chapter on gradient ascent.

The chapter on the policy gradient theorem compares it with the score-function estimator, so the
one text lives here; the function takes any ``J``, exact or a Monte Carlo estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def finite_difference_gradient(
    J: Callable[[torch.Tensor], float | torch.Tensor], theta: torch.Tensor, delta: float
) -> torch.Tensor:
    """Central differences (J(theta + delta e_i) - J(theta - delta e_i)) / (2 delta), each i."""
    gradient = torch.zeros_like(theta)
    for i in np.ndindex(*theta.shape):
        nudge = torch.zeros_like(theta)
        nudge[i] = delta
        gradient[i] = (J(theta + nudge) - J(theta - nudge)) / (2 * delta)
    return gradient
