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


def rollout_rate(width: int) -> float:
    """Real steps per second of whole episodes; masked (finished) slots do not count."""
    torch.manual_seed(0)
    policy = pg.MLPPolicy(hidden=32)
    envs = pg.make_vec_env(width, seed=0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        steps += pg.rollout(policy, envs, width).num_steps
    return steps / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'what':<34}{'steps/s':>12}{'vs simulator':>14}")
    print(f"{'one CartPole (gym.make)':<34}{single_env_rate():>12,.0f}{'':>14}")
    for width in WIDTHS:
        simulator = vec_env_rate(width)
        rollout = rollout_rate(width)
        print(f"{f'vectorised CartPole, {width} envs':<34}{simulator:>12,.0f}{'1.00':>14}")
        ratio = rollout / simulator
        print(f"{f'pgcourse.rollout, {width} envs':<34}{rollout:>12,.0f}{ratio:>14.2f}")


if __name__ == "__main__":
    main()
