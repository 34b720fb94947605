"""The shared REINFORCE loop: its weights, its loss, its checks and that it learns CartPole."""

import dataclasses
import re
from pathlib import Path

import pytest
import torch

import pgcourse as pg
from pgcourse import SOLVED_RETURN, Batch, LinearSoftmaxPolicy
from pgcourse.training import (
    ReinforceConfig,
    _step_weights,
    _surrogate_loss,
    run_reinforce,
)

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "reinforce.md"


def chapter_loop():
    """The function ``reinforce`` as chapter 5's code cell defines it, run from its text."""
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", CHAPTER.read_text(), re.S)
    (source,) = [cell for cell in cells if cell.startswith("def reinforce(")]
    namespace = {"torch": torch, "pg": pg}
    exec(compile(source, str(CHAPTER), "exec"), namespace)
    return namespace["reinforce"]


@pytest.mark.parametrize("seed", [0, 3])
def test_the_chapters_loop_and_run_reinforce_train_the_same_parameters(seed):
    m, updates = 8, 4
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the chapter and run_reinforce run
    try:
        pg.seed_everything(seed)
        policy = pg.MLPPolicy(hidden=16)
        initial = [value.detach().clone() for value in policy.parameters()]
        returns = chapter_loop()(policy, pg.make_vec_env(m, seed=seed), m=m, num_updates=updates)
    finally:
        torch.set_num_threads(threads)
    config = ReinforceConfig(
        episodes_per_update=m,
        num_updates=updates,
        lr=1e-2,
        final_lr_fraction=1.0,
        hidden=16,
        gamma=1.0,
        weighting="return",
        baseline="none",
        eval_interval=updates,
        eval_episodes=5,
    )
    run = run_reinforce(config, seed)
    assert returns == run.train_returns.tolist()
    trained = dict(run.policy.named_parameters())
    for name, value in policy.named_parameters():
        assert torch.equal(value, trained[name]), f"{name} differs after {updates} updates"
    changed = [not torch.equal(a, b) for a, b in zip(initial, policy.parameters(), strict=True)]
    assert all(changed), "every parameter should have moved in training"


def hand_made_batch() -> Batch:
    """Two CartPole-like episodes of lengths 3 and 2, rewards +1, the second one padded."""
    mask = torch.tensor([[True, True, True], [True, True, False]])
    return Batch(
        obs=torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 10 * mask[..., None],
        actions=torch.tensor([[0, 1, 1], [1, 0, 0]]),
        rewards=mask.float(),
        log_probs=torch.zeros(2, 3),
        mask=mask,
    )


def weights_for(**options) -> torch.Tensor:
    config = ReinforceConfig(**{"baseline": "none", "gamma": 1.0, **options})
    return _step_weights(hand_made_batch(), config)


def test_return_weights_repeat_the_whole_return_on_real_steps():
    expected = torch.tensor([[3.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    assert torch.equal(weights_for(weighting="return"), expected)


def test_reward_to_go_counts_rewards_from_t_on_with_discount():
    expected = torch.tensor([[3.0, 2.0, 1.0], [2.0, 1.0, 0.0]])
    assert torch.equal(weights_for(weighting="reward_to_go"), expected)
    gamma = 0.5
    discounted = torch.tensor([[1 + gamma + gamma**2, 1 + gamma, 1.0], [1 + gamma, 1.0, 0.0]])
    assert torch.allclose(weights_for(weighting="reward_to_go", gamma=gamma), discounted)


def test_batch_mean_baseline_subtracts_the_mean_of_the_episodes_alive_at_t():
    weights = weights_for(weighting="reward_to_go", baseline="batch_mean")
    # t=0: mean(3, 2) = 2.5; t=1: mean(2, 1) = 1.5; t=2: only the first episode, mean 1.
    expected = torch.tensor([[0.5, 0.5, 0.0], [-0.5, -0.5, 0.0]])
    assert torch.allclose(weights, expected)


def test_normalising_per_episode_gives_each_episode_mean_zero_and_std_one():
    weights = weights_for(weighting="reward_to_go", normalise_per_episode=True)
    mask = hand_made_batch().mask
    for row, alive in zip(weights, mask, strict=True):
        real = row[alive]
        assert abs(float(real.mean())) < 1e-6
        assert abs(float(real.std(unbiased=False)) - 1) < 1e-4
        assert torch.all(row[~alive] == 0)
    # Every reward is +1, so the last real step of each episode always gets a negative weight.
    assert weights[0, 2] < 0 and weights[1, 1] < 0


def test_surrogate_gradient_is_the_score_function_estimate():
    """autograd of the loss equals -(1/m) sum_i sum_t grad log pi(a_t|s_t) w_t, by hand."""
    torch.manual_seed(0)
    policy = LinearSoftmaxPolicy()
    with torch.no_grad():
        policy.theta.normal_()
    batch = hand_made_batch()
    weights = weights_for(weighting="reward_to_go")
    _surrogate_loss(policy, batch, weights, entropy_coef=0.0).backward()
    # Score of linear softmax: phi(s) (onehot(a) - pi(.|s))^T.
    probs = torch.softmax(batch.obs @ policy.theta.detach(), dim=-1)
    onehot = torch.nn.functional.one_hot(batch.actions, 2).float()
    scores = batch.obs[..., :, None] * (onehot - probs)[..., None, :]
    by_hand = (scores * (weights * batch.mask)[..., None, None]).sum(dim=(0, 1)) / 2
    assert torch.allclose(policy.theta.grad, -by_hand, atol=1e-6)


@pytest.mark.parametrize(
    "change",
    [
        {"episodes_per_update": 0},
        {"num_updates": 2.5},
        {"lr": 0.0},
        {"final_lr_fraction": 1.5},
        {"gamma": 1.1},
        {"weighting": "returns"},
        {"baseline": "mean"},
        {"entropy_coef": -0.1},
        {"eval_interval": 0},
    ],
)
def test_bad_config_raises_value_error(change):
    with pytest.raises(ValueError, match=next(iter(change))):
        ReinforceConfig(**change)


def test_bad_seed_raises_value_error():
    with pytest.raises(ValueError, match="seed"):
        run_reinforce(ReinforceConfig(num_updates=1), seed=-1)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ReinforceConfig().lr = 1.0


def test_it_solves_cartpole_on_one_seed_and_is_reproducible():
    config = ReinforceConfig(
        episodes_per_update=16,
        num_updates=40,
        final_lr_fraction=1.0,
        gamma=1.0,
        eval_interval=10,
        eval_episodes=20,
    )
    run = run_reinforce(config, seed=0)
    assert run.eval_means[0] < 100, "an untrained policy should not balance the pole"
    assert run.solved_at_update is not None, f"not solved: {run.eval_means}"
    assert run.final_eval_mean >= SOLVED_RETURN
    assert run.steps_to_solved <= run.env_steps[-1]
    assert len(run.train_returns) == len(run.env_steps) == config.num_updates
    assert list(run.eval_updates) == [0, 10, 20, 30, 40]
    assert run.train_seconds <= run.wall_seconds
    again = run_reinforce(dataclasses.replace(config, num_updates=3), seed=0)
    assert again.train_returns.tolist() == run.train_returns[:3].tolist()
