"""pgcourse.finite_differences and pgcourse.tiny_mdp.trap_mdp, used by chapters 3 and 4."""

import numpy as np
import pytest
import torch

from pgcourse.finite_differences import finite_difference_gradient
from pgcourse.tiny_mdp import trap_mdp, two_state_mdp


def test_central_differences_are_exact_for_quadratics_and_close_for_the_tiny_mdp():
    a = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)

    def quadratic(theta):
        return (a * theta**2).sum()

    theta = torch.tensor([[0.3, -0.1], [2.0, 1.0]], dtype=torch.float64)
    # A central difference of a quadratic has no truncation error, whatever delta.
    torch.testing.assert_close(finite_difference_gradient(quadratic, theta, 0.7), 2 * a * theta)
    mdp = two_state_mdp()
    theta = torch.tensor([[0.2, -0.3], [0.1, 0.4], [-0.5, 0.2]], dtype=torch.float64)
    approx = finite_difference_gradient(mdp.objective, theta, 1e-5)
    torch.testing.assert_close(approx, mdp.exact_gradient(theta), atol=1e-8, rtol=1e-6)


def test_central_differences_accept_a_sampled_objective():
    mdp = two_state_mdp()
    theta = torch.zeros(3, 2, dtype=torch.float64)

    def sampled_J(theta):
        return mdp.sample(theta, 50_000, np.random.default_rng(0))["rewards"].sum(1).mean()

    approx = finite_difference_gradient(sampled_J, theta, 0.2)
    assert (approx - mdp.exact_gradient(theta)).abs().max() < 0.1


def test_trap_mdp_values_of_its_deterministic_policies():
    mdp = trap_mdp(horizon=4)
    assert mdp.trajectory_probabilities(torch.zeros(2, 2, dtype=torch.float64)).sum() == 1
    stay_left = torch.tensor([[20.0, 0.0], [20.0, 0.0]], dtype=torch.float64)
    go_right = torch.tensor([[0.0, 20.0], [0.0, 20.0]], dtype=torch.float64)
    assert mdp.objective(stay_left).item() == pytest.approx(4.0, abs=1e-6)
    assert mdp.objective(go_right).item() == pytest.approx(9.0, abs=1e-6)
    with pytest.raises(ValueError, match="positive integer"):
        trap_mdp(horizon=0)
