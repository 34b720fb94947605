"""Seeded CartPole environments, single or vectorised."""

from __future__ import annotations

import gymnasium as gym

DEFAULT_ENV_ID = "CartPole-v1"


def _check_env_id(env_id: str) -> None:
    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise ValueError(
            f"unknown environment id {env_id!r}: expected a registered Gymnasium id "
            f"such as {DEFAULT_ENV_ID!r} ({err})"
        ) from None


def make_env(env_id: str = DEFAULT_ENV_ID, seed: int | None = None) -> gym.Env:
    """Make one environment, reset with ``seed`` so its first episode is reproducible.

    Later ``env.reset()`` calls without a seed continue the same random stream.
    """
    _check_env_id(env_id)
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def make_vec_env(
    num_envs: int, env_id: str = DEFAULT_ENV_ID, seed: int | None = None
) -> gym.vector.VectorEnv:
    """Make ``num_envs`` copies of an environment that step in lockstep.

    CartPole has a native vectorised implementation (``vector_entry_point``): one NumPy
    array holds every cart, so stepping 256 carts costs little more than stepping one.
    """
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    _check_env_id(env_id)
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    return envs
