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


def _trap_objective(point: torch.Tensor) -> torch.Tensor:
    """J of trap_mdp() whose preferences for action 1 are point = (theta_01, theta_11)."""
    return trap_mdp().objective(torch.stack([torch.zeros_like(point), point], dim=1))


def test_trap_mdp_plateau_is_not_a_local_maximum():
    # Near "always stay left" (theta_01 = -6), J is flat at 3 but curves upwards in one direction.
    point = torch.tensor([-6.0, 1.0], dtype=torch.float64)
    gradient = torch.autograd.functional.jacobian(_trap_objective, point)
    curvatures = torch.linalg.eigvalsh(torch.autograd.functional.hessian(_trap_objective, point))
    assert _trap_objective(point).item() == pytest.approx(3.0, abs=0.01)
    assert gradient.norm() < 0.01 and gradient[1] > 0  # staying right pays on the rare visits
    assert curvatures[0] < 0 < curvatures[1]
    # Far out on the plateau, moving right pays on average once pi(stay right) exceeds the root
    # (-3 + sqrt(37)) / 4 of 4 q^2 + 6 q - 7, the slope of J in pi(move right) at 0.
    root = (-3 + 37**0.5) / 4
    for q, sign in ((root - 0.01, -1), (root + 0.01, 1)):
        far = torch.tensor([-12.0, np.log(q / (1 - q))], dtype=torch.float64)
        slope = torch.autograd.functional.jacobian(_trap_objective, far)[0].item()
        assert np.sign(slope) == sign, (q, slope)


def test_trap_mdp_exact_ascent_leaves_the_plateau():
    point = torch.tensor([0.0, -2.0], dtype=torch.float64)
    values = []
    for _ in range(600):
        point = point.detach().requires_grad_(True)
        value = _trap_objective(point)
        (gradient,) = torch.autograd.grad(value, point)
        values.append(value.item())
        point = point.detach() + gradient  # step size 1, as in chapter 3
    assert np.all(np.diff(values) >= -1e-12)
    assert abs(values[200] - 3) < 0.01  # on the plateau after 200 steps ...
    assert values[-1] > 5.9  # ... and near the best value 6 after 600
