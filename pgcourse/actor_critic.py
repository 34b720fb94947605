"""A learned state value V_phi(s) for policy gradients: its fit, the TD target.

Chapter 7 writes the training loops themselves; these are the pieces they share with its
measurements and tests. The network, ``pgcourse.policies.ValueNet``, lives with the policies:
graded exercises build it too, and must not reach the fit or the target from here.
"""

from __future__ import annotations

import torch
from torch import nn

from pgcourse.training import _returns_to_go


def td_targets(
    rewards: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> torch.Tensor:
    """The one-step target r_t + gamma V(s_{t+1}), with V(s_{t+1}) = 0 where s_{t+1} is terminal.

    Only termination ends the future. An episode cut off by a time limit (``truncated``) would
    have gone on from s_{t+1}, so its last target bootstraps like any other step. That is right
    for a critic V(s) that cannot see the time: it estimates the value of the task without a time
    limit, and the target then follows that task, not the return cut at the limit.
    """
    return rewards + gamma * next_values * (~terminated)


def bootstrapped_rewards_to_go(
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """hat R_t, plus gamma^(T - t) V(s_T) where the episode was cut by a time limit after T steps.

    The Monte Carlo target of the same task as :func:`td_targets`, the one without a time limit:
    an episode that fell has no future, one cut by the limit goes on from s_T, which only the
    critic can value. The value is added to the reward of the last step, r_(T-1) + gamma V(s_T),
    and the sum discounted back from there, so each earlier step gets it with gamma^(T - t).
    """
    last = mask & ~torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)  # step T - 1
    cut = last & ~terminated
    return rewards_to_go(rewards + gamma * next_values * cut, gamma)


def fit_values(
    critic: nn.Module,
    optimiser: torch.optim.Optimizer,
    obs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    num_steps: int,
) -> float:
    """Regress V_phi(s_t) on fixed ``targets``: ``num_steps`` steps on the masked mean squared
    error over the real steps. Returns the error before the last step."""
    targets, weight = targets.detach(), mask.float() / mask.sum()
    for _ in range(num_steps):
        loss = (weight * (critic(obs) - targets) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return float(loss.detach())


def rewards_to_go(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """hat R_t = sum_{k >= t} gamma^(k - t) r_k for every step of a padded batch, shape (n, T).

    The Monte Carlo target of the value fit: what chapter 5's REINFORCE weights step t by.
    """
    return _returns_to_go(rewards, gamma)
