"""The Fisher information and the trajectory KL divergence of the tiny MDP."""

import pytest
import torch

from pgcourse.tiny_mdp import fisher_information, trajectory_kl, two_state_mdp

THETA = torch.tensor([[0.2, -0.3], [0.1, 0.4], [-0.5, 0.2]], dtype=torch.float64)


@pytest.mark.parametrize("horizon", [1, 3])
def test_fisher_is_the_covariance_of_the_trajectory_score(horizon):
    mdp = two_state_mdp(horizon=horizon)
    fisher = fisher_information(mdp, THETA)
    assert fisher.shape == (6, 6)
    torch.testing.assert_close(fisher, fisher.T)
    assert torch.linalg.eigvalsh(fisher).min() > -1e-12, "positive semi-definite"
    # Two states, two actions: two free logits, so rank 2 whatever the six parameters.
    assert int(torch.linalg.matrix_rank(fisher)) == 2
    # F = -E[Hessian of log P(tau; theta)], the information identity, by autograd.
    states, actions = mdp.trajectories()
    prob = mdp.trajectory_probabilities(THETA)

    def mean_log_prob(flat):
        log_pi = mdp.policy(flat.reshape(3, 2)).log()
        return (prob * log_pi[states, actions].sum(dim=1)).sum()

    hessian = torch.autograd.functional.hessian(mean_log_prob, THETA.flatten())
    torch.testing.assert_close(fisher, -hessian)


def test_kl_matches_the_definition_and_is_zero_only_between_equal_policies():
    mdp = two_state_mdp()
    other = THETA + torch.tensor([[0.3, -0.1], [0.0, 0.2], [0.1, 0.1]], dtype=torch.float64)
    p, q = mdp.trajectory_probabilities(THETA), mdp.trajectory_probabilities(other)
    torch.testing.assert_close(trajectory_kl(mdp, THETA, other), (p * (p / q).log()).sum())
    assert abs(float(trajectory_kl(mdp, THETA, THETA))) < 1e-15
    assert float(trajectory_kl(mdp, THETA, other)) > 0
    # A shift of every action's column by the same vector leaves the policy, so the KL, alone.
    shifted = THETA + torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)
    assert abs(float(trajectory_kl(mdp, THETA, shifted))) < 1e-15


def test_kl_is_half_the_fisher_quadratic_to_second_order():
    mdp = two_state_mdp()
    fisher = fisher_information(mdp, THETA)
    direction = torch.tensor([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.1]], dtype=torch.float64)
    errors = []
    for size in (1e-1, 1e-2):
        delta = size * direction.flatten()
        quadratic = 0.5 * delta @ fisher @ delta
        errors.append(
            abs(float(trajectory_kl(mdp, THETA, THETA + delta.reshape(3, 2)) - quadratic))
        )
    assert errors[1] < errors[0] / 500, "the error is third order: 10x smaller step, 1000x smaller"
