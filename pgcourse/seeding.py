"""One call to make a run reproducible."""

from __future__ import annotations

import random

import gymnasium as gym
import numpy as np
import torch


def seed_everything(seed: int, env: gym.Env | gym.vector.VectorEnv | None = None) -> None:
    """Seed Python's ``random``, NumPy, torch and, if given, the environment."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if env is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
