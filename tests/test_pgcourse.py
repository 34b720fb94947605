"""Unit tests of the pgcourse helper library."""

import importlib
import subprocess
import sys
import types

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch.distributions import Categorical

import pgcourse as pg
from pgcourse.plotting import cartpole_animation, cartpole_filmstrip, plot_learning_curves


def test_make_env_is_reproducible():
    first = pg.make_env(seed=3).reset(seed=3)[0]
    again = pg.make_env(seed=3).reset(seed=3)[0]
    other = pg.make_env(seed=4).reset(seed=4)[0]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_vec_env_has_requested_width():
    envs = pg.make_vec_env(8, seed=0)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (8, 4)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_vec_env_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        pg.make_vec_env(bad)


def test_unknown_env_id_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown environment id 'CartPole-v9'"):
        pg.make_env("CartPole-v9")


@pytest.mark.parametrize("width", [1, 5, 16])
def test_rollout_masks_every_step_after_an_episode_ends(random_policy, width):
    env = pg.make_vec_env(width, seed=1) if width > 1 else pg.make_env(seed=1)
    batch = pg.rollout(random_policy, env, 12, seed=1)
    n, horizon = batch.mask.shape
    assert n == 12 and batch.obs.shape == (12, horizon, 4)
    lengths = batch.lengths
    # The mask of each episode is a run of ones followed by zeros: no step after the end.
    steps = torch.arange(horizon)
    torch.testing.assert_close(batch.mask, steps[None, :] < lengths[:, None])
    # CartPole pays +1 per step, so the return equals the length and padding pays nothing.
    torch.testing.assert_close(batch.episode_returns, lengths.float())
    assert torch.all(batch.obs[~batch.mask] == 0)
    assert torch.all(batch.log_probs[~batch.mask] == 0)
    assert batch.num_steps == int(lengths.sum())


def test_rollout_log_probs_match_the_policy(random_policy):
    batch = pg.rollout(random_policy, pg.make_vec_env(4, seed=2), 4, seed=2)
    recomputed = random_policy(batch.obs).log_prob(batch.actions) * batch.mask
    torch.testing.assert_close(batch.log_probs, recomputed)


def test_single_and_vectorised_rollouts_are_seeded(random_policy):
    def play():
        torch.manual_seed(0)
        return pg.rollout(random_policy, pg.make_vec_env(6), 6, seed=7).episode_returns

    torch.testing.assert_close(play(), play())


def test_rollout_rejects_bad_arguments(random_policy):
    with pytest.raises(ValueError, match="num_episodes must be a positive integer"):
        pg.rollout(random_policy, pg.make_env(), 0)
    with pytest.raises(ValueError, match="gymnasium Env or VectorEnv"):
        pg.rollout(random_policy, "CartPole-v1", 1)


def test_rollout_rejects_a_policy_with_the_wrong_output_shape():
    def transposed(obs):
        return Categorical(logits=torch.zeros(2, obs.shape[0], 2))

    with pytest.raises(ValueError, match=r"expected one action per row, shape \(3,\)"):
        pg.rollout(transposed, pg.make_vec_env(3), 3)


def test_greedy_evaluation_of_a_pole_follower_beats_random():
    # Pushing towards the side the pole leans to is a classic hand-made controller.
    def lean_follower(obs):
        right = obs[:, 2] + obs[:, 3] > 0
        return Categorical(logits=torch.stack([~right, right], dim=1).float() * 20)

    def uniform(obs):
        return Categorical(logits=torch.zeros(obs.shape[0], 2))

    good = pg.evaluate(lean_follower, 20)
    bad = pg.evaluate(uniform, 20, greedy=False)
    assert good.returns.shape == (20,)
    assert good.mean > 150 > bad.mean
    assert good.std >= 0 and "over 20 episodes" in str(good)


def test_evaluation_uses_the_same_start_states_for_the_same_seed(random_policy):
    torch.testing.assert_close(
        pg.evaluate(random_policy, 10, seed=5).returns,
        pg.evaluate(random_policy, 10, seed=5).returns,
    )


def test_evaluate_rejects_non_positive_counts(random_policy):
    with pytest.raises(ValueError, match="num_episodes must be a positive integer"):
        pg.evaluate(random_policy, -1)


def test_seed_everything_makes_torch_numpy_and_python_repeat():
    import random

    def draw():
        pg.seed_everything(11)
        return random.random(), np.random.rand(), torch.rand(1).item()

    assert draw() == draw()
    with pytest.raises(ValueError, match="non-negative integer"):
        pg.seed_everything(-1)


def test_seed_everything_seeds_the_environment():
    env = pg.make_env()
    pg.seed_everything(2, env)
    first = env.reset()[0]
    pg.seed_everything(2, env)
    np.testing.assert_array_equal(first, env.reset()[0])


def test_learning_curves_plot_median_and_band():
    curves = {"a": np.array([[0, 1, 2], [2, 3, 4], [4, 5, 6]])}
    ax = plot_learning_curves(curves, x=[10, 20, 30], title="t", xlabel="x", solved_line=True)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [2, 3, 4])
    assert ax.get_title() == "t" and ax.get_xlabel() == "x" and ax.get_ylabel() == "return"
    assert len(ax.collections) == 1  # the percentile band
    with pytest.raises(ValueError, match=r"shape \(num_seeds, num_points\)"):
        plot_learning_curves({"a": [1, 2, 3]}, title="t", xlabel="x")


def test_cartpole_pictures_render_without_ffmpeg():
    states = np.zeros((40, 4))
    states[:, 2] = np.linspace(-0.2, 0.2, 40)
    fig = cartpole_filmstrip(states, 4, title="episode")
    assert len(fig.axes) == 4
    html = cartpole_animation(states, every=10).to_jshtml()
    assert html.count("data:image/png;base64") == 4
    with pytest.raises(ValueError, match=r"shape \(T, 4\)"):
        cartpole_filmstrip(np.zeros((3, 2)), title="bad")


def test_tiny_mdp_probabilities_sum_to_one_and_gradient_matches_finite_differences():
    from pgcourse.tiny_mdp import two_state_mdp

    mdp = two_state_mdp()
    theta = torch.tensor([[0.3, -0.2], [0.1, 0.4], [0.5, -0.5]], dtype=torch.float64)
    probs = mdp.trajectory_probabilities(theta)
    assert probs.shape == (64,)
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0, dtype=torch.float64))
    eps = 1e-6
    numeric = torch.zeros_like(theta)
    for index in np.ndindex(*theta.shape):
        step = torch.zeros_like(theta)
        step[index] = eps
        numeric[index] = (mdp.objective(theta + step) - mdp.objective(theta - step)) / (2 * eps)
    torch.testing.assert_close(mdp.exact_gradient(theta), numeric, atol=1e-8, rtol=1e-6)
    with pytest.raises(ValueError, match=r"theta must have shape \(3, 2\)"):
        mdp.objective(torch.zeros(2, 3))


def test_tiny_mdp_samples_follow_the_policy_and_the_objective():
    from pgcourse.tiny_mdp import two_state_mdp

    mdp = two_state_mdp()
    theta = torch.zeros(3, 2, dtype=torch.float64)
    episodes = mdp.sample(theta, 40_000, np.random.default_rng(0))
    assert episodes["features"].shape == (40_000, 3, 3)
    assert abs(episodes["actions"].mean() - 0.5) < 0.01  # uniform policy at theta = 0
    mc_objective = episodes["rewards"].sum(axis=1).mean()
    assert abs(mc_objective - float(mdp.objective(theta))) < 0.03


def test_progress_prints_one_summary_outside_jupyter(capsys):
    from pgcourse.progress import Progress

    progress = Progress(total=3, unit="update")
    for i in range(3):
        progress.update(i + 1, mean_return=10.0 * i)
    progress.close(greedy_mean=500.0)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("done: update 3/3 | greedy mean 500.0")
    with pytest.raises(ValueError, match="positive integer"):
        Progress(total=0)


def test_policies_output_one_distribution_per_observation():
    obs = torch.randn(5, 4)
    linear = pg.LinearSoftmaxPolicy()
    # theta starts at zero: both actions equally likely.
    torch.testing.assert_close(linear(obs).probs, torch.full((5, 2), 0.5))
    assert pg.MLPPolicy(hidden=8)(obs).probs.shape == (5, 2)
    with pytest.raises(ValueError, match="4 features in the last axis"):
        linear(torch.randn(5, 3))


def test_every_public_name_is_what_its_module_defines():
    for name in pg.__all__:
        value = getattr(pg, name)
        assert not isinstance(value, types.ModuleType), f"pgcourse.{name} is a module"
        assert value is getattr(importlib.import_module(pg._EXPORTS[name]), name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pg.nothing  # noqa: B018


def test_grading_tools_start_without_loading_torch():
    code = (
        "import sys\n"
        "import pgcourse.grading.driver, pgcourse.grading.execute, pgcourse.grading.sandbox\n"
        "print(sorted({'torch', 'gymnasium'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_inverse_cdf_sampling_picks_the_bin_of_each_uniform_number():
    from pgcourse.rollouts import sample_by_inverse_cdf

    probs = torch.tensor([0.2, 0.5, 0.3]).expand(6, 3)
    uniforms = torch.tensor([[0.0], [0.1], [0.21], [0.69], [0.71], [1.5]])  # 1.5: past the total
    assert sample_by_inverse_cdf(probs, uniforms).tolist() == [0, 0, 1, 1, 2, 2]
    draws = sample_by_inverse_cdf(probs[:1].expand(40_000, 3), torch.rand(40_000, 1))
    frequencies = torch.bincount(draws, minlength=3) / 40_000
    assert torch.allclose(frequencies, probs[0], atol=0.01), frequencies


def test_inverse_cdf_sampling_returns_the_first_action_whose_cumulative_probability_exceeds_u():
    from pgcourse.rollouts import sample_by_inverse_cdf

    # u = 0 must not pick a leading action of probability 0.
    probs = torch.tensor([[0.0, 0.4, 0.6], [0.0, 0.0, 1.0]])
    assert sample_by_inverse_cdf(probs, torch.zeros(2, 1)).tolist() == [1, 2]
    # At an exact boundary u = F(a), action a's interval [F(a-1), F(a)) has ended: the next one.
    probs = torch.tensor([0.25, 0.5, 0.25]).expand(3, 3)  # F = (0.25, 0.75, 1), exact in binary
    assert sample_by_inverse_cdf(probs, torch.tensor([[0.25], [0.75], [0.5]])).tolist() == [1, 2, 1]
    # u just below 1 with a trailing action of probability 0, and rounding in the sums.
    below_one = torch.nextafter(torch.tensor(1.0), torch.tensor(0.0))
    assert sample_by_inverse_cdf(torch.tensor([0.3, 0.7, 0.0]), below_one[None]).item() == 1
    assert sample_by_inverse_cdf(torch.full((10,), 0.1), below_one[None]).item() == 9
