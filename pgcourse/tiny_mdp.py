"""A Markov decision process small enough to list every trajectory.

With every trajectory and its probability P(tau; theta) in hand, the objective
J(theta) = sum_tau P(tau; theta) R(tau) is an exact, differentiable sum, and autograd gives its
exact gradient. Estimators of that gradient can then be checked against the truth.

The policy is linear softmax: pi_theta(a | s) = softmax(phi(s) @ theta)[a], with the state's
feature vector phi(s) of length num_features and theta of shape (num_features, num_actions).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TinyMDP:
    """A finite-horizon MDP: every episode lasts exactly ``horizon`` steps."""

    features: torch.Tensor  # (num_states, num_features): phi(s), the policy's input in state s
    initial: torch.Tensor  # (num_states,): the initial-state distribution p(s_0)
    transitions: torch.Tensor  # (num_states, num_actions, num_states): p(s' | s, a), the dynamics
    rewards: torch.Tensor  # (num_states, num_actions): reward r(s, a) for taking a in s
    horizon: int = 3
    gamma: float = 1.0

    @property
    def num_states(self) -> int:
        return self.features.shape[0]

    @property
    def num_actions(self) -> int:
        return self.rewards.shape[1]

    def check_theta(self, theta: torch.Tensor) -> None:
        expected = (self.features.shape[1], self.num_actions)
        if tuple(theta.shape) != expected:
            raise ValueError(f"theta must have shape {expected}, got {tuple(theta.shape)}")

    def policy(self, theta: torch.Tensor) -> torch.Tensor:
        """pi_theta(a | s) for every state and action, shape (num_states, num_actions)."""
        self.check_theta(theta)
        return torch.softmax(self.features @ theta, dim=1)

    def trajectories(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every trajectory as (states, actions), each of shape (num_trajectories, horizon)."""
        steps = itertools.product(range(self.num_states), range(self.num_actions))
        paths = list(itertools.product(list(steps), repeat=self.horizon))
        pairs = torch.tensor(paths)  # (num_trajectories, horizon, 2)
        return pairs[..., 0], pairs[..., 1]

    def trajectory_probabilities(self, theta: torch.Tensor) -> torch.Tensor:
        """P(tau; theta) = p(s_0) prod_t pi_theta(a_t | s_t) p(s_{t+1} | s_t, a_t), each tau."""
        states, actions = self.trajectories()
        pi = self.policy(theta)
        prob = self.initial[states[:, 0]]
        for t in range(self.horizon):
            prob = prob * pi[states[:, t], actions[:, t]]
            if t + 1 < self.horizon:
                prob = prob * self.transitions[states[:, t], actions[:, t], states[:, t + 1]]
        return prob

    def trajectory_returns(self) -> torch.Tensor:
        """R(tau) = sum_t gamma^t r(s_t, a_t), per trajectory."""
        states, actions = self.trajectories()
        discounts = self.gamma ** torch.arange(self.horizon, dtype=self.rewards.dtype)
        return (self.rewards[states, actions] * discounts).sum(dim=1)

    def objective(self, theta: torch.Tensor) -> torch.Tensor:
        """The exact J(theta) = sum_tau P(tau; theta) R(tau), differentiable in theta."""
        return (self.trajectory_probabilities(theta) * self.trajectory_returns()).sum()

    def exact_gradient(self, theta: torch.Tensor) -> torch.Tensor:
        """The exact gradient of J at theta, by autograd through the enumeration."""
        theta = theta.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(self.objective(theta), theta)
        return grad

    def sample(
        self, theta: torch.Tensor, num_episodes: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Play ``num_episodes`` episodes with pi_theta.

        Returns NumPy arrays ``states`` and ``actions`` (int, shape (m, horizon)), ``features``
        (phi(s_t), shape (m, horizon, num_features)) and ``rewards`` (shape (m, horizon)).
        """
        if not isinstance(num_episodes, int) or num_episodes < 1:
            raise ValueError(f"num_episodes must be a positive integer, got {num_episodes!r}")
        pi = self.policy(theta).detach().numpy().astype(float)
        transitions = self.transitions.numpy().astype(float)
        states = np.zeros((num_episodes, self.horizon), dtype=int)
        actions = np.zeros((num_episodes, self.horizon), dtype=int)
        states[:, 0] = rng.choice(self.num_states, size=num_episodes, p=self.initial.numpy())
        for t in range(self.horizon):
            actions[:, t] = _sample_rows(pi[states[:, t]], rng)
            if t + 1 < self.horizon:
                states[:, t + 1] = _sample_rows(transitions[states[:, t], actions[:, t]], rng)
        return {
            "states": states,
            "actions": actions,
            "features": self.features.numpy()[states],
            "rewards": self.rewards.numpy()[states, actions],
        }


def _sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``probs``, by inverting each row's cumulative sum."""
    cumulative = probs.cumsum(axis=1)
    draws = rng.random((len(probs), 1)) * cumulative[:, -1:]
    return (draws > cumulative).sum(axis=1)


def two_state_mdp(horizon: int = 3, gamma: float = 1.0) -> TinyMDP:
    """The course's example: two states, two actions, 64 trajectories for horizon 3.

    Action 1 pays more in state 0 but tends to lead to state 1, where action 0 pays more:
    the best policy has to weigh the immediate reward against where it leads.
    """
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    return TinyMDP(
        features=torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5]], dtype=torch.float64),
        initial=torch.tensor([0.7, 0.3], dtype=torch.float64),
        transitions=torch.tensor(
            [[[0.9, 0.1], [0.2, 0.8]], [[0.6, 0.4], [0.3, 0.7]]], dtype=torch.float64
        ),
        rewards=torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64),
        horizon=horizon,
        gamma=gamma,
    )


def state_values(mdp: TinyMDP, theta: torch.Tensor) -> torch.Tensor:
    """The exact V_t(s) = E[sum_{k >= t} gamma^(k - t) r_k | s_t = s] under pi_theta.

    Shape (horizon + 1, num_states): the horizon is finite, so the value of a state depends on
    the steps left, and row ``horizon`` (no step left) is zero. Computed backwards from it:
    V_t(s) = sum_a pi(a | s) (r(s, a) + gamma sum_s' p(s' | s, a) V_{t+1}(s')).
    """
    pi = mdp.policy(theta)
    values = [torch.zeros(mdp.num_states, dtype=mdp.rewards.dtype)]
    for _ in range(mdp.horizon):
        q = mdp.rewards + mdp.gamma * mdp.transitions @ values[0]  # Q_t(s, a)
        values.insert(0, (pi * q).sum(dim=1))
    return torch.stack(values)


def trajectory_scores(mdp: TinyMDP, theta: torch.Tensor) -> torch.Tensor:
    """grad_theta log pi_theta(a_t | s_t) for every trajectory and step.

    Shape (num_trajectories, horizon, num_features, num_actions); for the linear softmax policy
    the score is phi(s_t) (onehot(a_t) - pi_theta(. | s_t))^T.
    """
    states, actions = mdp.trajectories()
    pi = mdp.policy(theta).detach()
    onehot = torch.eye(mdp.num_actions, dtype=pi.dtype)[actions]
    return mdp.features[states][..., :, None] * (onehot - pi[states])[..., None, :]


def estimator_moments(
    mdp: TinyMDP, theta: torch.Tensor, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact mean and variance of the one-episode estimate sum_t score_t w_t(tau).

    ``weights`` has shape (num_trajectories, horizon), one w_t(tau) per trajectory and step.
    Returns E[g_hat], shaped like theta, and E||g_hat - E[g_hat]||^2, both under P(tau; theta).
    """
    g = (trajectory_scores(mdp, theta) * weights[..., None, None]).sum(dim=1)
    prob = mdp.trajectory_probabilities(theta).detach()[:, None, None]
    mean = (prob * g).sum(dim=0)
    return mean, (prob * (g - mean) ** 2).sum()


# --- A two-state chain whose objective has a long plateau (chapter on gradient ascent). ---


def trap_mdp(horizon: int = 3) -> TinyMDP:
    """Two states in a row, tabular features, deterministic moves; episodes start in state 0.

    Action a moves to state a. Staying in state 0 pays 1, moving to state 1 pays 0, staying in
    state 1 pays 3 and moving back costs 1. Always staying in state 0 earns ``horizon``; moving
    at once and staying earns 3 * (horizon - 1), more for any horizon of 2 or more. A policy that
    seldom stays in state 1 finds that moving there costs, so gradient ascent started there first
    learns to stay in state 0 and then crawls along a plateau where J is close to ``horizon`` and
    the gradient nearly vanishes. The plateau holds no stationary point: the gradient there is
    small but not zero, and its component for staying in state 1 stays positive, so exact ascent
    (horizon 3, step size 1, from preferences (0, -2) for action 1) leaves it after about 550
    steps for the best value. The Hessian's positive eigenvalue there shows only that J is not
    concave.
    """
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    moves = torch.eye(2, dtype=torch.float64).expand(2, 2, 2)  # p(s' | s, a) = [s' == a]
    return TinyMDP(
        features=torch.eye(2, dtype=torch.float64),
        initial=torch.tensor([1.0, 0.0], dtype=torch.float64),
        transitions=moves.clone(),
        rewards=torch.tensor([[1.0, 0.0], [-1.0, 3.0]], dtype=torch.float64),
        horizon=horizon,
    )


# --- Distances between policies, measured on trajectories (chapter "Beyond REINFORCE"). ---


def fisher_information(mdp: TinyMDP, theta: torch.Tensor) -> torch.Tensor:
    """The exact F(theta) = E_tau[grad log P(tau; theta) grad log P(tau; theta)^T].

    theta is flattened, so F has shape (theta.numel(), theta.numel()). The dynamics do not
    depend on theta, so grad log P(tau; theta) = sum_t grad log pi_theta(a_t | s_t).
    """
    scores = trajectory_scores(mdp, theta).sum(dim=1).flatten(start_dim=1)
    prob = mdp.trajectory_probabilities(theta).detach()
    return scores.T @ (prob[:, None] * scores)


def trajectory_kl(mdp: TinyMDP, theta_p: torch.Tensor, theta_q: torch.Tensor) -> torch.Tensor:
    """The exact KL(P(.; theta_p) || P(.; theta_q)) between two policies' trajectory distributions.

    Differentiable in theta_q. The dynamics cancel in log P(tau; theta_p) / P(tau; theta_q),
    leaving sum_t log pi_p(a_t | s_t) / pi_q(a_t | s_t), averaged under P(tau; theta_p).
    """
    states, actions = mdp.trajectories()
    log_ratio = mdp.policy(theta_p).log() - mdp.policy(theta_q).log()
    prob = mdp.trajectory_probabilities(theta_p).detach()
    return (prob * log_ratio[states, actions].sum(dim=1)).sum()
