"""Environment throughput: how close the course's rollout comes to the simulator's own limit.

Run by hand: `.venv/bin/python benchmarks/throughput.py`. Prints steps per second of one
CartPole, of the vectorised CartPole at several widths, and of `pgcourse.rollout` with a neural
policy (forward pass included), and each rollout's ratio to the bare vectorised simulator.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import pgcourse as pg

WIDTHS = (16, 64, 256)
SECONDS = 2.0  # wall time spent on each measurement


def single_env_rate() -> float:
    env = pg.make_env(seed=0)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        for _ in range(1000):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
            if terminated or truncated:
                env.reset()
        steps += 1000
    return steps / (time.perf_counter() - start)


def vec_env_rate(width: int) -> float:
    envs = pg.make_vec_env(width, seed=0)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        for _ in range(100):
            envs.step(rng.integers(2, size=width))
        steps += 100 * width
    return steps / (time.perf_counter() - start)


def balancing_policy() -> pg.LinearSoftmaxPolicy:
    """Push the cart toward the side the pole leans and moves to: episodes last 500 steps."""
    policy = pg.LinearSoftmaxPolicy()
    push_right = torch.tensor([0.5, 1.0, 10.0, 3.0])  # weights of x, x_dot, theta, theta_dot
    with torch.no_grad():
        policy.theta[:, 1], policy.theta[:, 0] = push_right, -push_right
    return policy


def rollout_rate(policy: torch.nn.Module, width: int) -> tuple[float, float]:
    """Real steps per second of whole episodes, and the fraction of stepped slots that were real."""
    envs = pg.make_vec_env(width, seed=0)
    steps = slots = 0
    start = time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        batch = pg.rollout(policy, envs, width)
        steps += batch.num_steps
        slots += batch.mask.numel()
    return steps / (time.perf_counter() - start), steps / slots


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    policies = {"untrained MLP": pg.MLPPolicy(hidden=32), "balancing": balancing_policy()}
    print(f"{'what':<44}{'steps/s':>12}{'slots used':>12}{'vs simulator':>14}")
    print(f"{'one CartPole (gym.make)':<44}{single_env_rate():>12,.0f}")
    for width in WIDTHS:
        simulator = vec_env_rate(width)
        print(f"{f'vectorised CartPole, {width} envs':<44}{simulator:>12,.0f}{'':>12}{'1.00':>14}")
        for name, policy in policies.items():
            rate, used = rollout_rate(policy, width)
            label = f"pgcourse.rollout, {width} envs, {name}"
            print(f"{label:<44}{rate:>12,.0f}{used:>12.2f}{rate / simulator:>14.2f}")


if __name__ == "__main__":
    main()
