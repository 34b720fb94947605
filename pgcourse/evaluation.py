"""Evaluate a policy over many seeded episodes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pgcourse.envs import DEFAULT_ENV_ID, make_vec_env
from pgcourse.rollouts import Policy, rollout


@dataclass
class EvalResult:
    """Returns of a policy over seeded evaluation episodes."""

    returns: torch.Tensor  # (num_episodes,) undiscounted return of each episode

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def std(self) -> float:
        return float(self.returns.std(unbiased=False))

    def __str__(self) -> str:
        return f"{self.mean:.1f} ± {self.std:.1f} over {len(self.returns)} episodes"


SOLVED_RETURN = 475.0
"""CartPole-v1 counts as solved when the mean return over 100 episodes reaches this."""


def evaluate(
    policy: Policy,
    num_episodes: int = 100,
    *,
    greedy: bool = True,
    seed: int = 10_000,
    env_id: str = DEFAULT_ENV_ID,
) -> EvalResult:
    """Run ``policy`` for ``num_episodes`` episodes from seeded start states.

    The same ``seed`` gives the same start states, so two policies evaluated with it are
    compared on the same episodes. ``greedy=True`` takes the most probable action; with
    ``greedy=False`` actions are sampled, as during training.
    """
    if not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive integer, got {num_episodes!r}")
    envs = make_vec_env(num_episodes, env_id=env_id)
    try:
        batch = rollout(policy, envs, num_episodes, greedy=greedy, seed=seed)
    finally:
        envs.close()
    return EvalResult(returns=batch.episode_returns)
