"""Play many linear softmax policies at once, optionally with common random numbers.

Chapter 2 estimates J(theta) at every point of a grid of parameters and chapter 3 at every
perturbation of a finite-difference gradient. Both play K policies side by side in one
vectorised CartPole: sub-environments ``k * n`` to ``(k + 1) * n - 1`` follow ``thetas[k]``.

With common random numbers, episode ``j`` of every policy starts from the same state and draws
the same uniform number ``u`` at every step; the action is the first ``a`` whose cumulative
probability exceeds ``u``. Two nearby policies then play nearly the same episodes, so the
difference of their returns measures the difference of the policies, not the luck of the draw.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch.distributions import Categorical

from pgcourse.envs import make_vec_env
from pgcourse.rollouts import rollout, sample_by_inverse_cdf


class _InverseCdfCategorical(Categorical):
    """A categorical distribution sampled by comparing uniform numbers with cumulative sums."""

    def __init__(self, logits: torch.Tensor, uniforms: torch.Tensor) -> None:
        super().__init__(logits=logits, validate_args=False)
        self.uniforms = uniforms  # (n, 1), one number per row

    def sample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        if tuple(sample_shape):
            raise ValueError(f"draws one action per row; got sample_shape {sample_shape}")
        return sample_by_inverse_cdf(self.probs, self.uniforms)


class _StackedLinearPolicies:
    """K linear softmax policies; rows of a batch of observations are grouped by policy."""

    def __init__(self, thetas: torch.Tensor, common_random_numbers: bool, seed: int) -> None:
        self.thetas = thetas
        self.common = common_random_numbers
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, obs: torch.Tensor) -> Categorical:
        num_policies = self.thetas.shape[0]
        grouped = obs.reshape(num_policies, -1, obs.shape[-1])  # (K, n, obs_dim)
        logits = torch.einsum("kno,koa->kna", grouped, self.thetas).reshape(obs.shape[0], -1)
        per_policy = grouped.shape[1]
        draws = per_policy if self.common else obs.shape[0]
        uniforms = torch.rand(draws, 1, generator=self.generator)
        if self.common:
            uniforms = uniforms.repeat(num_policies, 1)
        return _InverseCdfCategorical(logits, uniforms)


class _SameStartStates(gym.vector.VectorWrapper):
    """Give the j-th episode of every block of ``block_size`` sub-environments the same start."""

    def __init__(self, envs: gym.vector.VectorEnv, block_size: int) -> None:
        super().__init__(envs)
        self.block_size = block_size

    def reset(self, **kwargs):
        _, info = self.env.reset(**kwargs)
        cartpole = self.env.unwrapped  # CartPole's vectorised env keeps its state as (4, num_envs)
        num_blocks = self.num_envs // self.block_size
        cartpole.state = np.tile(cartpole.state[:, : self.block_size], num_blocks)
        return cartpole.state.T.astype(np.float32), info


def linear_policy_returns(
    thetas: torch.Tensor,
    episodes_each: int,
    *,
    seed: int,
    common_random_numbers: bool = False,
) -> torch.Tensor:
    """Undiscounted returns of ``episodes_each`` CartPole-v1 episodes for each of K policies.

    ``thetas`` has shape (K, 4, num_actions): ``thetas[k]`` is the parameter of the linear
    softmax policy pi(a | s) = softmax(s @ thetas[k])[a]. Returns a tensor of shape
    (K, episodes_each). The result depends only on the arguments: ``seed`` fixes the start
    states and every random action.
    """
    if thetas.ndim != 3 or thetas.shape[1] != 4:
        raise ValueError(
            f"thetas must have shape (num_policies, 4, num_actions), got {tuple(thetas.shape)}"
        )
    if not isinstance(episodes_each, int) or episodes_each < 1:
        raise ValueError(f"episodes_each must be a positive integer, got {episodes_each!r}")
    num_policies = thetas.shape[0]
    envs = make_vec_env(num_policies * episodes_each)
    if common_random_numbers:
        envs = _SameStartStates(envs, episodes_each)
    policy = _StackedLinearPolicies(thetas.detach().float(), common_random_numbers, seed)
    try:
        batch = rollout(policy, envs, num_policies * episodes_each, seed=seed)
    finally:
        envs.close()
    return batch.episode_returns.reshape(num_policies, episodes_each)
