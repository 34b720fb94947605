"""Units of the learned value: TD targets, the value fit, rollouts' next states, exact values."""

import gymnasium as gym
import numpy as np
import torch

import pgcourse as pg
from pgcourse.actor_critic import bootstrapped_rewards_to_go, fit_values, td_targets
from pgcourse.policies import ValueNet
from pgcourse.tiny_mdp import estimator_moments, state_values, two_state_mdp

THETA = torch.tensor([[0.2, -0.3], [0.1, 0.4], [-0.5, 0.2]], dtype=torch.float64)


def uniform_policy(obs):
    return torch.distributions.Categorical(logits=torch.zeros(obs.shape[0], 2))


def test_td_target_bootstraps_except_at_termination():
    rewards = torch.tensor([[1.0, 1.0, 1.0]])
    next_values = torch.tensor([[5.0, 6.0, 7.0]])
    terminated = torch.tensor([[False, False, True]])
    targets = td_targets(rewards, next_values, terminated, gamma=0.5)
    torch.testing.assert_close(targets, torch.tensor([[3.5, 4.0, 1.0]]))
    # The same last step cut off by a time limit instead: it bootstraps.
    truncated = td_targets(rewards, next_values, torch.zeros_like(terminated), gamma=0.5)
    assert truncated[0, -1] == 1.0 + 0.5 * 7.0


def test_fit_values_regresses_on_the_real_steps_only():
    torch.manual_seed(0)
    obs = torch.randn(4, 6, 4)
    mask = torch.arange(6)[None, :] < torch.tensor([[6], [3], [5], [2]])
    targets = torch.where(mask, obs[..., 0] * 3.0 + 2.0, 100.0)  # padding holds a decoy
    critic = ValueNet(hidden=16)
    optimiser = torch.optim.Adam(critic.parameters(), lr=1e-2)
    first = fit_values(critic, optimiser, obs, targets, mask, 1)
    last = fit_values(critic, optimiser, obs, targets, mask, 500)
    assert last < 0.01 * first
    with torch.no_grad():
        assert (critic(obs)[mask] - targets[mask]).abs().max() < 0.5


def test_value_net_gives_one_number_per_state():
    assert ValueNet()(torch.zeros(7, 5, 4)).shape == (7, 5)


def out_of_bounds(state):
    """CartPole's termination rule: the cart off the track or the pole past 12 degrees."""
    x, _, angle, _ = state.tolist()
    return abs(x) > 2.4 or abs(angle) > 12 * 2 * np.pi / 360


def check_next_states_and_ends(batch):
    for i, length in enumerate(batch.lengths.tolist()):
        torch.testing.assert_close(batch.next_obs[i, : length - 1], batch.obs[i, 1:length])
        assert not batch.terminated[i, : length - 1].any()
        assert not batch.terminated[i, length:].any()
        # The recorded last state is the real one, not a reset: it ended the episode if terminal.
        assert bool(batch.terminated[i, length - 1]) == out_of_bounds(batch.next_obs[i, length - 1])


def test_rollout_records_next_states_and_terminations():
    batch = pg.rollout(uniform_policy, pg.make_vec_env(8, seed=3), 8, seed=3)
    check_next_states_and_ends(batch)
    # A random policy drops the pole long before 500 steps: every episode terminates.
    assert batch.terminated.sum() == 8


def test_time_limit_is_a_truncation_not_a_termination():
    vectorised = gym.make_vec(
        "CartPole-v1", num_envs=6, vectorization_mode="vector_entry_point", max_episode_steps=12
    )
    for env in (vectorised, gym.make("CartPole-v1", max_episode_steps=12)):
        batch = pg.rollout(uniform_policy, env, 6, seed=0)
        check_next_states_and_ends(batch)
        cut = batch.lengths == 12
        assert cut.any() and batch.terminated.sum() < len(batch.lengths)  # some were truncated


def test_state_values_are_the_expected_rewards_to_go():
    mdp = two_state_mdp(horizon=3)
    values = state_values(mdp, THETA)
    states, actions = mdp.trajectories()
    prob = mdp.trajectory_probabilities(THETA)
    rewards = mdp.rewards[states, actions]
    for t in range(mdp.horizon):
        to_go = rewards[:, t:].sum(dim=1)
        for s in range(mdp.num_states):
            at_s = prob * (states[:, t] == s)
            assert torch.isclose(values[t, s], (at_s * to_go).sum() / at_s.sum())
    assert torch.all(values[-1] == 0)
    assert torch.isclose((mdp.initial * values[0]).sum(), mdp.objective(THETA))


def test_estimator_moments_of_the_whole_return_are_unbiased():
    mdp = two_state_mdp(horizon=3)
    returns = mdp.trajectory_returns()[:, None].expand(-1, mdp.horizon)
    mean, variance = estimator_moments(mdp, THETA, returns)
    torch.testing.assert_close(mean, mdp.exact_gradient(THETA))
    assert variance > 0
    _, zero = estimator_moments(mdp, THETA, torch.zeros_like(returns))
    assert zero == 0
    assert np.isfinite(float(variance))


def test_rewards_to_go_sum_the_discounted_rewards_from_each_step():
    rewards = torch.tensor([[1.0, 2.0, 4.0], [3.0, 0.0, 0.0]])
    expected = torch.tensor([[1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4.0], [3.0, 0.0, 0.0]])
    torch.testing.assert_close(pg.rewards_to_go(rewards, 0.5), expected)


def test_bootstrapped_rewards_to_go_add_the_value_after_a_time_limit_only():
    rewards = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])
    next_values = torch.tensor([[5.0, 6.0, 8.0], [4.0, 3.0, 99.0], [2.0, 99.0, 99.0]])
    # Episode 0 was cut after 3 steps, episode 1 fell after 2, episode 2 was cut after 1.
    terminated = torch.tensor([[False, False, False], [False, True, False], [False, False, False]])
    targets = bootstrapped_rewards_to_go(rewards, next_values, terminated, mask, gamma=0.5)
    expected = torch.tensor(
        [
            [1 + 0.5 + 0.25 + 0.125 * 8.0, 1 + 0.5 + 0.25 * 8.0, 1 + 0.5 * 8.0],
            [1 + 0.5, 1.0, 0.0],
            [1 + 0.5 * 2.0, 0.0, 0.0],
        ]
    )
    torch.testing.assert_close(targets, expected)
    # No episode cut: the plain rewards-to-go. The padded steps' values are never read.
    fell = mask & ~torch.cat([mask[:, 1:], torch.zeros(3, 1, dtype=torch.bool)], dim=1)
    plain = bootstrapped_rewards_to_go(rewards, next_values, fell, mask, gamma=0.5)
    torch.testing.assert_close(plain, pg.rewards_to_go(rewards, 0.5))


def test_bootstrapped_rewards_to_go_unroll_backwards_on_a_real_batch():
    """Backwards, y_t = r_t + gamma y_(t+1) from y_T = V(s_T) after a cut, 0 after a fall."""
    env = gym.make_vec(
        "CartPole-v1", num_envs=8, vectorization_mode="vector_entry_point", max_episode_steps=20
    )
    batch = pg.rollout(uniform_policy, env, 8, seed=0)
    next_values = torch.rand(batch.rewards.shape, generator=torch.Generator().manual_seed(0))
    targets = bootstrapped_rewards_to_go(
        batch.rewards, next_values, batch.terminated, batch.mask, 0.9
    )
    cut = (batch.lengths == 20) & ~batch.terminated.any(dim=1)
    assert cut.any() and (~cut).any()
    for i, length in enumerate(batch.lengths.tolist()):
        future = float(next_values[i, length - 1]) if cut[i] else 0.0
        for t in reversed(range(length)):
            future = float(batch.rewards[i, t]) + 0.9 * future
            assert abs(float(targets[i, t]) - future) < 1e-4
        assert torch.all(targets[i, length:] == 0)
