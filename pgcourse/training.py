"""The REINFORCE training loop that chapters 5 and 6 walk through, saved once.

One update: play a batch of whole episodes, weight each step's log-probability, and step the
optimiser on the surrogate loss ``-(logp * weights * mask).sum() / m`` whose gradient is the
policy-gradient estimate. :class:`ReinforceConfig` chooses the weights; :func:`run_reinforce`
trains one seed and returns a :class:`ReinforceRun` with its learning curves.

Chapter 5 writes the same loop in the open, with the whole return as weights, and then uses
this one for many seeds: ``tests/test_training.py`` checks that both train the same parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pgcourse.envs import DEFAULT_ENV_ID, make_vec_env
from pgcourse.evaluation import SOLVED_RETURN, evaluate
from pgcourse.policies import MLPPolicy
from pgcourse.progress import Progress
from pgcourse.rollouts import Batch, rollout
from pgcourse.seeding import seed_everything

WEIGHTINGS = ("return", "reward_to_go")
BASELINES = ("none", "batch_mean")


@dataclass(frozen=True)
class ReinforceConfig:
    """Everything that defines one REINFORCE run except the seed.

    ``weighting`` is what multiplies grad log pi(a_t | s_t): the whole return R(tau)
    ("return") or the reward-to-go from step t ("reward_to_go"). ``baseline="batch_mean"``
    subtracts, at each step t, the mean weight of the batch's episodes still running at t.
    ``normalise_per_episode`` standardises each episode's weights to mean 0 and std 1 (shown in
    chapter 6 as a counter-example on CartPole). ``final_lr_fraction`` decays the learning rate
    linearly from ``lr`` towards ``lr * final_lr_fraction``, which it would reach one update after
    the last (1.0 keeps it constant).
    The defaults learn CartPole-v1 steadily and are what chapter 6 varies; chapter 5 runs
    :data:`CHAPTER5_CONFIG`, tuned to solve it in as little wall time as it reliably can.
    """

    episodes_per_update: int = 32
    num_updates: int = 60
    lr: float = 1e-2
    final_lr_fraction: float = 0.2
    hidden: int = 32
    gamma: float = 0.99
    weighting: str = "reward_to_go"
    baseline: str = "batch_mean"
    normalise_per_episode: bool = False
    entropy_coef: float = 0.0
    eval_interval: int = 5
    eval_episodes: int = 100
    env_id: str = DEFAULT_ENV_ID

    def __post_init__(self) -> None:
        positive = (
            "episodes_per_update",
            "num_updates",
            "hidden",
            "eval_interval",
            "eval_episodes",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"final_lr_fraction must be in [0, 1], got {self.final_lr_fraction!r}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.entropy_coef < 0:
            raise ValueError(f"entropy_coef must be non-negative, got {self.entropy_coef!r}")


@dataclass
class ReinforceRun:
    """What one seed's training produced.

    ``train_returns[k]`` is the mean undiscounted return of the episodes played for update
    ``k + 1`` (sampled actions); ``env_steps[k]`` counts environment steps up to and including
    them. ``eval_updates`` lists after how many updates the greedy policy was evaluated (0 is
    before training) and ``eval_means`` its mean return over ``eval_episodes`` seeded episodes.
    ``train_seconds`` counts rollouts and updates only: how often a run is evaluated is a
    reporting choice, so evaluation time is kept out of it (``wall_seconds`` includes it).
    """

    config: ReinforceConfig
    seed: int
    policy: nn.Module
    train_returns: np.ndarray
    env_steps: np.ndarray
    eval_updates: np.ndarray
    eval_means: np.ndarray
    train_seconds: float
    wall_seconds: float
    solved_at_update: int | None = None
    steps_to_solved: int | None = None
    seconds_to_solved: float | None = None

    @property
    def final_eval_mean(self) -> float:
        return float(self.eval_means[-1])

    @property
    def stayed_solved(self) -> bool:
        """Solved at some evaluation and at every evaluation after it."""
        if self.solved_at_update is None:
            return False
        after = self.eval_means[self.eval_updates >= self.solved_at_update]
        return bool((after >= SOLVED_RETURN).all())


def _returns_to_go(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """sum_{k >= t} gamma^(k - t) r_k for every step, as one matrix product.

    ``discount[k, t] = gamma^(k - t)`` for ``k >= t`` and 0 before: column t of ``rewards @
    discount`` is the reward-to-go from t. One product instead of a loop over t, whose
    hundreds of small tensor operations cost more than the whole update.
    """
    steps = torch.arange(rewards.shape[1], dtype=rewards.dtype)
    lag = steps[:, None] - steps[None, :]  # k - t
    discount = torch.where(lag >= 0, gamma ** lag.clamp(min=0), 0.0)
    return rewards @ discount


def _step_weights(batch: Batch, config: ReinforceConfig) -> torch.Tensor:
    """The weight of grad log pi(a_t | s_t) for every step, shape (n, T); zero when padded."""
    mask = batch.mask.float()
    to_go = _returns_to_go(batch.rewards, config.gamma)
    if config.weighting == "return":
        weights = to_go[:, :1].expand_as(to_go) * mask  # R(tau) = reward-to-go from step 0
    else:
        weights = to_go * mask
    if config.normalise_per_episode:
        lengths = mask.sum(dim=1, keepdim=True)
        mean = weights.sum(dim=1, keepdim=True) / lengths
        var = ((weights - mean) ** 2 * mask).sum(dim=1, keepdim=True) / lengths
        weights = (weights - mean) / (var.sqrt() + 1e-8) * mask
    if config.baseline == "batch_mean":
        alive = mask.sum(dim=0).clamp(min=1)  # episodes still running at each step t
        weights = (weights - weights.sum(dim=0) / alive) * mask
    return weights


def _surrogate_loss(
    policy: nn.Module, batch: Batch, weights: torch.Tensor, entropy_coef: float
) -> torch.Tensor:
    """-(1/m) sum_i sum_t log pi(a_t^i | s_t^i) w_t^i, minus the entropy bonus."""
    mask = batch.mask.float()
    dist = policy(batch.obs)
    logp = dist.log_prob(batch.actions)
    loss = -(logp * weights * mask).sum() / batch.num_episodes
    if entropy_coef > 0:
        loss = loss - entropy_coef * (dist.entropy() * mask).sum() / mask.sum()
    return loss


def run_reinforce(
    config: ReinforceConfig,
    seed: int,
    *,
    policy: nn.Module | None = None,
    show_progress: bool = False,
) -> ReinforceRun:
    """Train one seed of REINFORCE on ``config.env_id`` and record its learning curves.

    ``policy`` defaults to a fresh :class:`~pgcourse.MLPPolicy` with ``config.hidden`` units,
    initialised from ``seed``. The run is reproducible: the same config and seed give the
    same curves.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    # A 32-unit network is too small to gain from threads; on a busy machine they cost a lot.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(config, seed, policy, show_progress)
    finally:
        torch.set_num_threads(threads)


def _train(
    config: ReinforceConfig, seed: int, policy: nn.Module | None, show_progress: bool
) -> ReinforceRun:
    seed_everything(seed)
    envs = make_vec_env(config.episodes_per_update, env_id=config.env_id, seed=seed)
    obs_dim = envs.single_observation_space.shape[0]
    num_actions = int(envs.single_action_space.n)
    if policy is None:
        policy = MLPPolicy(obs_dim, num_actions, hidden=config.hidden)
    optimiser = torch.optim.Adam(policy.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.LinearLR(
        optimiser, 1.0, config.final_lr_fraction, total_iters=config.num_updates
    )
    progress = Progress(total=config.num_updates) if show_progress else None

    def greedy_mean() -> float:
        return evaluate(policy, config.eval_episodes, env_id=config.env_id).mean

    start = time.perf_counter()
    train_seconds = 0.0
    train_returns, env_steps = [], []
    eval_updates, eval_means = [0], [greedy_mean()]
    solved_at = steps_to_solved = seconds_to_solved = None
    steps = 0
    for update in range(1, config.num_updates + 1):
        tick = time.perf_counter()
        batch = rollout(policy, envs, config.episodes_per_update)
        loss = _surrogate_loss(policy, batch, _step_weights(batch, config), config.entropy_coef)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        train_seconds += time.perf_counter() - tick
        steps += batch.num_steps
        train_returns.append(float(batch.episode_returns.mean()))
        env_steps.append(steps)
        if update % config.eval_interval == 0 or update == config.num_updates:
            eval_updates.append(update)
            eval_means.append(greedy_mean())
            if solved_at is None and eval_means[-1] >= SOLVED_RETURN:
                solved_at, steps_to_solved, seconds_to_solved = update, steps, train_seconds
        if progress is not None:
            progress.update(update, mean_return=train_returns[-1], greedy=eval_means[-1])
    envs.close()
    if progress is not None:
        progress.close(final_greedy_mean=eval_means[-1])
    return ReinforceRun(
        config=config,
        seed=seed,
        policy=policy,
        train_returns=np.array(train_returns),
        env_steps=np.array(env_steps),
        eval_updates=np.array(eval_updates),
        eval_means=np.array(eval_means),
        train_seconds=train_seconds,
        wall_seconds=time.perf_counter() - start,
        solved_at_update=solved_at,
        steps_to_solved=steps_to_solved,
        seconds_to_solved=seconds_to_solved,
    )


CHAPTER5_CONFIG = ReinforceConfig(episodes_per_update=64, num_updates=40, lr=2e-2, hidden=64)
"""REINFORCE as chapter 5 runs it: reward-to-go minus the batch mean, 64 episodes per update.

Wall time grows with the number of updates times the longest episode of each, hardly with the
number of episodes played side by side in lockstep: many episodes and a large learning rate
give good gradient estimates in few updates (benchmarks/time_to_solve.py measures it).
"""
