"""Time to solve CartPole-v1: the course's REINFORCE against the classic one-episode loop.

Run by hand: `.venv/bin/python benchmarks/time_to_solve.py [--seeds 10]`.

(a) the course's REINFORCE exactly as chapter 5 runs it (`pgcourse.training`), and
(b) the classic loop many courses teach: one episode per update, one forward pass per
    environment step, 16 hidden units, Adam lr 1e-2, gamma = 1, reward-to-go normalised per
    episode, up to 1000 episodes.

Both are evaluated greedily over 100 seeded episodes after every update of (a), that is
every `CHAPTER5_CONFIG.episodes_per_update` training episodes; evaluation
time is not counted as training time. Per seed the table gives the training wall seconds and
environment steps until the first greedy mean >= 475, the greedy mean at the end of training,
and whether every later evaluation stayed solved. Then the medians and the ratio (b)/(a).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.distributions import Categorical

import pgcourse as pg
from pgcourse.training import CHAPTER5_CONFIG, run_reinforce

# Both methods are checked after the same number of training episodes: one update of (a).
EVAL_EVERY_EPISODES = CHAPTER5_CONFIG.episodes_per_update


@dataclass
class Outcome:
    seconds_to_solved: float | None
    steps_to_solved: int | None
    final_greedy_mean: float
    stayed_solved: bool


class ClassicPolicy(nn.Module):
    """The classic CartPole policy: 16 ReLU units and a softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 16), nn.Linear(16, 2)

    def forward(self, obs: torch.Tensor) -> Categorical:
        return Categorical(probs=torch.softmax(self.fc2(torch.relu(self.fc1(obs))), dim=-1))


def classic_reinforce(seed: int, num_episodes: int = 1000, gamma: float = 1.0) -> Outcome:
    """One episode per update, the log-probability kept from each step's own forward pass."""
    pg.seed_everything(seed)
    env = pg.make_env(seed=seed)
    policy = ClassicPolicy()
    optimiser = torch.optim.Adam(policy.parameters(), lr=1e-2)
    train_seconds, steps, evaluations = 0.0, 0, []
    solved_seconds = solved_steps = None
    for episode in range(1, num_episodes + 1):
        tick = time.perf_counter()
        state, _ = env.reset()
        log_probs, rewards, done = [], [], False
        while not done:
            dist = policy(torch.as_tensor(state, dtype=torch.float32))
            action = dist.sample()
            log_probs.append(dist.log_prob(action))
            state, reward, terminated, truncated, _ = env.step(int(action))
            rewards.append(float(reward))
            done = terminated or truncated
        returns, running = [], 0.0
        for reward in reversed(rewards):
            running = reward + gamma * running
            returns.insert(0, running)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + 1e-8)
        loss = -(torch.stack(log_probs) * returns).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        train_seconds += time.perf_counter() - tick
        steps += len(rewards)
        if episode % EVAL_EVERY_EPISODES == 0 or episode == num_episodes:
            evaluations.append(pg.evaluate(policy).mean)
            if solved_seconds is None and evaluations[-1] >= pg.SOLVED_RETURN:
                solved_seconds, solved_steps = train_seconds, steps
    solved = [mean >= pg.SOLVED_RETURN for mean in evaluations]
    stayed = True in solved and all(solved[solved.index(True) :])  # from the first solve on
    return Outcome(solved_seconds, solved_steps, evaluations[-1], stayed)


def course_reinforce(seed: int) -> Outcome:
    run = run_reinforce(replace(CHAPTER5_CONFIG, eval_interval=1), seed)
    return Outcome(
        run.seconds_to_solved, run.steps_to_solved, run.final_eval_mean, run.stayed_solved
    )


def print_table(name: str, outcomes: list[Outcome]) -> float:
    print(f"\n{name}")
    print(f"{'seed':>4}{'seconds to 475':>16}{'steps to 475':>14}{'final greedy':>14}{'stayed':>8}")
    for seed, o in enumerate(outcomes):
        secs = f"{o.seconds_to_solved:.1f}" if o.seconds_to_solved is not None else "never"
        steps = f"{o.steps_to_solved:,}" if o.steps_to_solved is not None else "never"
        print(
            f"{seed:>4}{secs:>16}{steps:>14}{o.final_greedy_mean:>14.1f}{str(o.stayed_solved):>8}"
        )
    solved = [o for o in outcomes if o.seconds_to_solved is not None]
    # A seed that never solved counts as infinitely slow, so the median stays honest.
    median_seconds = statistics.median(
        [o.seconds_to_solved if o.seconds_to_solved is not None else float("inf") for o in outcomes]
    )
    median_steps = statistics.median(
        [o.steps_to_solved if o.steps_to_solved is not None else float("inf") for o in outcomes]
    )
    print(
        f"solved {len(solved)}/{len(outcomes)}, ended solved "
        f"{sum(o.final_greedy_mean >= pg.SOLVED_RETURN for o in outcomes)}/{len(outcomes)}, "
        f"stayed solved {sum(o.stayed_solved for o in outcomes)}/{len(outcomes)}; "
        f"median {median_seconds:.1f} s, {median_steps:,.0f} steps"
    )
    return median_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    # Seed by seed, (a) then (b): a change of load on a shared machine hits both alike.
    course, classic = [], []
    for seed in range(args.seeds):
        course.append(course_reinforce(seed))
        classic.append(classic_reinforce(seed))
        print(f"seed {seed}: (a) {course[-1]}\n        (b) {classic[-1]}", flush=True)
    course_median = print_table("(a) course REINFORCE", course)
    classic_median = print_table("(b) classic loop", classic)
    print(f"\nmedian wall time to solve, (b)/(a): {classic_median / course_median:.1f}x")


if __name__ == "__main__":
    main()
