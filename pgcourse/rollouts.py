"""Collect whole episodes from a policy as padded tensors with an alive-mask."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch.distributions import Categorical, Distribution

Policy = Callable[[torch.Tensor], Distribution]
"""A policy maps a batch of observations, shape (n, obs_dim), to a distribution over actions."""


@dataclass
class Batch:
    """A batch of ``n`` episodes padded to the longest one, ``T`` steps.

    Step ``t`` of episode ``i`` happened if and only if ``mask[i, t]``; padded steps hold
    zeros, so sums over ``t`` of ``rewards`` or ``mask * anything`` only see real steps.
    ``log_probs`` are recorded without gradient: to differentiate them, recompute them in
    one pass with ``policy(batch.obs).log_prob(batch.actions)``.
    """

    obs: torch.Tensor  # (n, T, obs_dim) float32: the state s_t seen before acting
    actions: torch.Tensor  # (n, T) int64: the action a_t taken in s_t
    rewards: torch.Tensor  # (n, T) float32: the reward r_t that follows a_t, zero when padded
    log_probs: torch.Tensor  # (n, T) float32: log pi(a_t | s_t) when sampled, zero when padded
    mask: torch.Tensor  # (n, T) bool: True on the steps that really happened
    # Optional, for bootstrapped targets: every rollout fills them, a hand-made batch may not.
    next_obs: torch.Tensor | None = None  # (n, T, obs_dim) float32: s_{t+1}, the state after a_t
    terminated: torch.Tensor | None = None  # (n, T) bool: s_{t+1} is terminal (not a time limit)

    @property
    def num_episodes(self) -> int:
        return self.mask.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        """Number of steps of each episode, shape (n,)."""
        return self.mask.sum(dim=1)

    @property
    def num_steps(self) -> int:
        """Environment steps taken by the whole batch."""
        return int(self.mask.sum())

    @property
    def episode_returns(self) -> torch.Tensor:
        """Undiscounted return of each episode, shape (n,)."""
        return self.rewards.sum(dim=1)


def _as_batch_env(env: gym.Env | gym.vector.VectorEnv) -> tuple[int, bool]:
    if isinstance(env, gym.vector.VectorEnv):
        return env.num_envs, True
    if isinstance(env, gym.Env):
        return 1, False
    raise ValueError(f"env must be a gymnasium Env or VectorEnv, got {type(env).__name__}")


def sample_by_inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One index per row of ``probs``: the first whose cumulative probability exceeds the row's
    number in ``uniforms`` (shape ``(..., 1)``, uniform on [0, 1)), the smallest a with F(a) > u.

    Index a takes the numbers in [F(a-1), F(a)), an interval of length probs[a], so an index of
    probability 0 other than the last is never returned. Counting the sums F(a) <= u over all but
    the last index gives the answer; the last index takes every number in [F(K-2), 1), so rounding
    that leaves the total a hair below 1 cannot push the index out of range, and the last index
    can come up even with probability 0, with probability at most the rounding gap 1 - F(K-2).
    """
    return (probs.cumsum(dim=-1)[..., :-1] <= uniforms).sum(dim=-1)


def _sample(dist: Distribution, greedy: bool) -> torch.Tensor:
    """One action per row: the most probable one, or a sample.

    A categorical sample is drawn by inverting its CDF, one uniform number per row: the same
    distribution as ``dist.sample()`` at a third of its cost, which matters once per step.
    """
    if greedy:
        return dist.mode
    if type(dist) is Categorical:  # a subclass may sample its own way: leave it to it
        return sample_by_inverse_cdf(dist.probs, torch.rand(dist.probs.shape[:-1] + (1,)))
    return dist.sample()


@torch.no_grad()
def _run_lockstep(
    policy: Policy, env: gym.Env | gym.vector.VectorEnv, greedy: bool, seed: int | None
) -> dict[str, torch.Tensor]:
    """Run one episode in every sub-environment at once, until all of them have ended.

    A step does only what cannot wait (one forward pass, one action, one env step) and appends
    to lists; log-probabilities, masking and stacking happen once at the end, on whole
    tensors, because each small tensor operation costs about as much as a CartPole step.
    """
    width, vectorised = _as_batch_env(env)
    obs, _ = env.reset(seed=seed)
    alive = np.ones(width, dtype=bool)
    observations, actions, rewards, alive_before, terminal = [], [], [], [], []
    while alive.any():
        obs_t = torch.from_numpy(np.array(obs, dtype=np.float32).reshape(width, -1))
        action = _sample(policy(obs_t), greedy)
        if action.shape != (width,):
            raise ValueError(
                f"the policy's distribution gave actions of shape {tuple(action.shape)} for "
                f"observations of shape {tuple(obs_t.shape)}: expected one action per row, "
                f"shape ({width},)"
            )
        observations.append(obs_t)
        actions.append(action)
        alive_before.append(alive.copy())
        obs, reward, terminated, truncated, _ = env.step(
            action.numpy() if vectorised else int(action[0])
        )
        rewards.append(np.reshape(reward, width))
        terminal.append(np.reshape(terminated, width))
        # An ended sub-environment resets on its next step; its steps stay masked from here on.
        alive &= ~(np.reshape(terminated, width) | np.reshape(truncated, width))
    mask = torch.from_numpy(np.stack(alive_before, axis=1))
    obs_all, actions_all = torch.stack(observations, dim=1), torch.stack(actions, dim=1)
    # A sub-environment resets only on the step after it ended (gymnasium's next-step
    # autoreset), so the observation after each real step is the next one recorded, or the last.
    last_obs = torch.from_numpy(np.array(obs, dtype=np.float32).reshape(width, -1))
    next_obs_all = torch.cat([obs_all[:, 1:], last_obs[:, None]], dim=1)
    # The policy did not change during the episodes: one pass gives every log pi(a_t | s_t).
    flat_obs = obs_all.reshape(-1, obs_all.shape[-1])
    log_probs = policy(flat_obs).log_prob(actions_all.reshape(-1)).reshape(mask.shape)
    return {
        "obs": obs_all * mask[..., None],
        "actions": actions_all * mask,
        "rewards": torch.from_numpy(np.stack(rewards, axis=1).astype(np.float32)) * mask,
        "log_probs": log_probs * mask,
        "mask": mask,
        "next_obs": next_obs_all * mask[..., None],
        "terminated": torch.from_numpy(np.stack(terminal, axis=1)) & mask,
    }


def _pad_and_concat(chunks: list[torch.Tensor]) -> torch.Tensor:
    longest = max(chunk.shape[1] for chunk in chunks)
    padded = []
    for chunk in chunks:
        pad = torch.zeros(
            (chunk.shape[0], longest - chunk.shape[1], *chunk.shape[2:]), dtype=chunk.dtype
        )
        padded.append(torch.cat([chunk, pad], dim=1))
    return torch.cat(padded, dim=0)


def rollout(
    policy: Policy,
    env: gym.Env | gym.vector.VectorEnv,
    num_episodes: int,
    *,
    greedy: bool = False,
    seed: int | None = None,
) -> Batch:
    """Play ``num_episodes`` whole episodes with ``policy`` and return them as a :class:`Batch`.

    A vectorised ``env`` plays ``env.num_envs`` episodes at a time; a single ``env`` plays
    them one after another. ``greedy=True`` takes the most probable action instead of
    sampling. ``seed`` reseeds the environment before the first episode.
    """
    if not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive integer, got {num_episodes!r}")
    width, _ = _as_batch_env(env)
    chunks: list[dict[str, torch.Tensor]] = []
    collected = 0
    while collected < num_episodes:
        chunk = _run_lockstep(policy, env, greedy, seed if not chunks else None)
        keep = min(width, num_episodes - collected)
        chunks.append({key: value[:keep] for key, value in chunk.items()})
        collected += keep
    return Batch(**{key: _pad_and_concat([chunk[key] for chunk in chunks]) for key in chunks[0]})
