"""The networks the course trains on CartPole: two policies and a critic.

Chapter 1 builds the linear softmax policy and chapter 5 the neural one; later chapters import
them from here. Chapter 7 adds the critic, a network of the same shape as the neural policy.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Categorical


class LinearSoftmaxPolicy(nn.Module):
    """pi_theta(a | s) = softmax(s @ theta)[a], with theta of shape (obs_dim, num_actions)."""

    def __init__(self, obs_dim: int = 4, num_actions: int = 2) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(obs_dim, num_actions))

    def forward(self, obs: torch.Tensor) -> Categorical:
        if obs.shape[-1] != self.theta.shape[0]:
            raise ValueError(
                f"observations must have {self.theta.shape[0]} features in the last axis, "
                f"got shape {tuple(obs.shape)}"
            )
        return Categorical(logits=obs @ self.theta, validate_args=False)


class MLPPolicy(nn.Module):
    """A two-layer tanh network whose outputs are the action preferences (logits)."""

    def __init__(self, obs_dim: int = 4, num_actions: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, num_actions)
        )

    def forward(self, obs: torch.Tensor) -> Categorical:
        return Categorical(logits=self.net(obs), validate_args=False)


class ValueNet(nn.Module):
    """V_phi(s): a two-layer tanh network from an observation to one number."""

    def __init__(self, obs_dim: int = 4, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)
