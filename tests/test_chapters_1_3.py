"""pgcourse.many_policies, which chapters 2 and 3 use to play many linear policies at once."""

import pytest
import torch

from pgcourse import LinearSoftmaxPolicy, evaluate
from pgcourse.many_policies import linear_policy_returns

BALANCING = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 5.0], [0.0, 2.0]])


def test_shape_and_reproducibility():
    thetas = torch.stack([torch.zeros(4, 2), BALANCING])
    first = linear_policy_returns(thetas, 6, seed=3)
    assert first.shape == (2, 6)
    assert torch.equal(first, linear_policy_returns(thetas, 6, seed=3))
    assert not torch.equal(first, linear_policy_returns(thetas, 6, seed=4))


def test_common_random_numbers_make_identical_policies_play_identical_episodes():
    thetas = BALANCING.expand(3, 4, 2)
    common = linear_policy_returns(thetas, 8, seed=0, common_random_numbers=True)
    assert torch.equal(common[0], common[1]) and torch.equal(common[0], common[2])
    independent = linear_policy_returns(thetas, 8, seed=0, common_random_numbers=False)
    assert not torch.equal(independent[0], independent[1])


def test_each_block_follows_its_own_policy():
    # A policy that pushes the pole over lasts about ten steps; the balancing one far longer.
    thetas = torch.stack([-BALANCING, BALANCING])
    returns = linear_policy_returns(thetas, 32, seed=1, common_random_numbers=True)
    assert returns[0].mean() < 15 < 100 < returns[1].mean()


def test_mean_return_agrees_with_evaluate():
    policy = LinearSoftmaxPolicy()
    with torch.no_grad():
        policy.theta.copy_(BALANCING)
    torch.manual_seed(0)
    reference = evaluate(policy, num_episodes=200, greedy=False)
    returns = linear_policy_returns(BALANCING[None], 200, seed=5)[0]
    standard_error = (reference.std**2 / 200 + returns.var().item() / 200) ** 0.5
    assert abs(returns.mean().item() - reference.mean) < 4 * standard_error


@pytest.mark.parametrize(
    ("thetas", "episodes_each"),
    [(torch.zeros(4, 2), 3), (torch.zeros(2, 3, 2), 3), (torch.zeros(2, 4, 2), 0)],
)
def test_bad_input_raises_value_error(thetas, episodes_each):
    with pytest.raises(ValueError, match="must"):
        linear_policy_returns(thetas, episodes_each, seed=0)
