"""The judge: the one scorer of the exercises' tests, deciding in a process the submission
cannot reach.

nbgrader decides in the learner's own kernel whether a test passed, so a submission can forge
that verdict (patch the shell's error reporting, ``numpy.allclose``, the checks, ...). The judge
asks a sandboxed worker (:mod:`pgcourse.grading.worker`) that runs only the notebook's setup
and answer cells to call the graded functions on inputs the judge draws at random, gets plain
numbers back, and compares them here with what the solution's functions return on the same
inputs. Each test cell the judge checks scores its points if and only if the judge's check
passed (:func:`pgcourse.grading.grade.apply_verdicts`); a cell nbgrader passed and the judge
failed is flagged. Every typical mistake of ``tests/test_grading_mutants.py`` fails a check.

A test that trains an agent is judged by training it again (:class:`TrainingCheck`): the
worker runs the learner's loop with a seed the judge draws, the judge counts the CPU seconds
of the worker's whole process tree from outside it (so a busy machine does not change the
grade), and evaluates the trained parameters here.

:data:`CHECKS` maps every autograded test cell (its ``grade_id``) to its check. The judge stops
at the submission's deadline; what it has not checked by then fails.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from pgcourse.grading.outcomes import Kind, Verdict
from pgcourse.grading.sandbox import Sandbox, python

Inputs = Callable[[np.random.Generator], list[dict[str, Any]]]

SETUP_SECONDS = 120.0
"""How long the source's own cells (imports) may take in a worker, even on a busy machine."""

TRAINING_UPDATES, TRAINING_CPU_SECONDS = 300, 60.0
"""The exercise's budget for training, in updates and CPU seconds (what the visible test counts
with ``time.process_time``)."""

WALL_FACTOR = 10
"""A training run may last this many times its CPU budget on the wall clock: a safety limit for
a loop that waits instead of computing, whose expiry withholds the points for a regrade."""

CPU_POLL_SECONDS = 0.5

JUDGED_RETURN = 450.0
"""The greedy mean return over the judge's own 100 start states that a trained agent must reach.
The loop stops when its policy reaches SOLVED_RETURN (475) on ``evaluate``'s default episodes,
and such a policy scores a little less on others (the model solution, 14 seeds and 4 of the
judge's evaluations each: up to 9.9 less); an untrained policy scores about 10. A bar of 475
here failed an honest loop now and then."""


# --- the judge's inputs: drawn afresh for each grading run, sent as plain lists ------------------


def normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> list:
    return (rng.normal(size=shape) * scale).tolist()


def small_logits(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [
        {"theta": normal(rng, 4, 2), "s": normal(rng, 4), "actions": [0, 1]},
        {"theta": normal(rng, 5, 3), "s": normal(rng, 5), "actions": [0, 1, 2]},
    ]


def large_logits(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Logits in the thousands, where exp overflows unless the largest logit is subtracted."""
    theta = rng.uniform(800, 1000, size=(3, 2)) * [1, -1]
    return [{"theta": theta.tolist(), "s": rng.uniform(0.5, 1.5, 3).tolist(), "actions": [0, 1]}]


def reward_lists(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Twelve rewards at several gamma, one reward, and an episode as long as CartPole's at the
    book's gamma = 0.99, like the visible tests (compared within 1e-5, which float32 meets)."""
    rewards = normal(rng, 12)
    calls = [{"rewards": rewards, "gamma": gamma} for gamma in (0.0, 0.5, 0.97, 0.99, 1.0)]
    cartpole = {"rewards": rng.uniform(0.5, 1.5, size=int(rng.integers(300, 501))).tolist()}
    return [*calls, {"rewards": normal(rng, 1), "gamma": 0.9}, {**cartpole, "gamma": 0.99}]


def episodes_of_equal_length(rng: np.random.Generator) -> list[dict[str, Any]]:
    def batch(m: int, steps: int, obs: int, actions: int, gamma: float) -> dict[str, Any]:
        return {
            "theta": normal(rng, obs, actions, scale=0.5),
            "features": normal(rng, m, steps, obs),
            "actions": rng.integers(0, actions, size=(m, steps)).tolist(),
            "rewards": normal(rng, m, steps),
            "gamma": gamma,
        }

    return [batch(4, 3, 3, 2, 0.9), batch(7, 5, 3, 3, 1.0), batch(1, 1, 2, 2, 0.5)]


def padded_episodes(rng: np.random.Generator, n: int, steps: int = 6) -> dict[str, Any]:
    """``n`` CartPole-like episodes of random lengths, padded to ``steps`` with a mask."""
    lengths = rng.integers(1, steps + 1, size=n)
    lengths[0] = steps
    mask = np.arange(steps)[None, :] < lengths[:, None]
    return {
        "obs": (rng.normal(size=(n, steps, 4)) * mask[..., None]).tolist(),
        "actions": (rng.integers(0, 2, size=(n, steps)) * mask).tolist(),
        "rewards": (rng.uniform(0.5, 2.0, size=(n, steps)) * mask).tolist(),
        "mask": mask.tolist(),
    }


def weight_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"episodes": padded_episodes(rng, 5)}, {"episodes": padded_episodes(rng, 1)}]


def loss_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    episodes = padded_episodes(rng, 5)
    return [{"theta": normal(rng, 4, 2), "episodes": episodes, "weights": normal(rng, 5, 6)}]


def training_seed(rng: np.random.Generator) -> list[dict[str, Any]]:
    """The exercises' budget and a seed drawn for this grading run: the loop must train from any
    start, not only from the seed its visible test uses. ``eval_seed``, drawn too, chooses the
    start states on which the judge evaluates the agent: never sent to the worker, and far from
    the seeds the exercises use (10_000 to stop, 20_000 in the visible test)."""
    return [
        {
            "max_updates": TRAINING_UPDATES,
            "seed": int(rng.integers(2**31)),
            "eval_seed": int(rng.integers(2**20, 2**31)),
        }
    ]


# --- the judge's inputs for stochastic_policy ----------------------------------------------------
def preferences(rng: np.random.Generator) -> list[dict[str, Any]]:
    """One state, a batch, a single action and tied preferences."""
    logits = [normal(rng, 3, scale=3), normal(rng, 6, 4, scale=3), normal(rng, 1), [[2.0] * 3]]
    return [{"logits": value} for value in logits]


def large_preferences(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Preferences in the thousands, in rows whose scales differ by thousands."""
    rows = rng.uniform(-1000, 1000, size=(5, 3))
    rows[:2] = [[1000.0], [-1000.0]] + rng.normal(size=(2, 3))  # 2000 apart: per row, or nan
    return [{"logits": rows.tolist()}, {"logits": (1000 + rng.normal(size=4)).tolist()}]


def probabilities_and_uniforms(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Each distribution's boundaries F(a), u = 0, u just below 1 and random u's; some actions of
    probability 0, and ten of 0.1 whose sum rounds below 1."""
    with_zeros = np.zeros(5)
    with_zeros[[1, 3]] = rng.dirichlet(np.ones(2))
    calls = []
    for probs in (rng.dirichlet(np.ones(4)), with_zeros, np.full(10, 0.1), np.ones(1)):
        edges = [0.0, float(np.nextafter(1.0, 0.0)), *np.cumsum(probs)[:-1]]
        calls.append({"probs": probs.tolist(), "uniforms": [*edges, *rng.random(20)]})
    return calls


def many_uniforms(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"probs": rng.dirichlet(np.ones(3)).tolist(), "uniforms": rng.random(2000).tolist()}]


def action_sequences(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Random sequences, one step, preferences in the thousands and 3000 steps whose product of
    probabilities underflows."""

    def sequence(steps: int, actions: int, scale: float) -> dict[str, Any]:
        return {
            "logits": normal(rng, steps, actions, scale=scale),
            "actions": rng.integers(0, actions, size=steps).tolist(),
        }

    unlikely = sequence(5, 2, 1000.0)  # its first action is one whose probability underflows
    unlikely["logits"][0] = [0.0, float(rng.uniform(800, 1000))]
    unlikely["actions"][0] = 0
    return [sequence(30, 4, 2.0), sequence(1, 3, 1.0), unlikely, sequence(3000, 2, 1)]


BALANCER = [[0.0, 0.0], [0.0, 0.0], [-2.5, 2.5], [-2.5, 2.5]]
"""Pushes the cart the way the pole falls: greedy, it reaches CartPole-v1's 500-step limit from
about 85 % of start states, where an episode that ignores the limit runs on (for a median of
3,500 steps; a balancer that never falls would make such an episode endless)."""


def episodes(rng: np.random.Generator) -> list[dict[str, Any]]:
    """The balancer greedy from four start states (all four fall short of the limit in about 5
    of 10,000 runs), and sampling; a random policy greedy and sampling."""

    def seeds() -> dict[str, int]:
        return {"seed": int(rng.integers(2**31)), "sample_seed": int(rng.integers(2**31))}

    runs = [(BALANCER, True)] * 4 + [(BALANCER, False)]
    runs += [(theta := normal(rng, 4, 2), True), (theta, False)]
    return [{"theta": theta, "greedy": greedy, **seeds()} for theta, greedy in runs]


def sampled_episode(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"theta": normal(rng, 4, 2), "seed": int(rng.integers(2**31)), "sample_seed": 0}]


# --- the judge's inputs for objective ------------------------------------------------------------


def random_mdp(
    rng: np.random.Generator, num_states: int, num_actions: int, horizon: int, gamma: float
) -> dict[str, Any]:
    """A policy and an MDP as the arrays of ``exact_objective``, each row a distribution."""
    return {
        "pi": rng.dirichlet(np.ones(num_actions), size=num_states).tolist(),
        "initial": rng.dirichlet(np.ones(num_states)).tolist(),
        "transitions": rng.dirichlet(np.ones(num_states), size=(num_states, num_actions)).tolist(),
        "rewards": normal(rng, num_states, num_actions),
        "horizon": horizon,
        "gamma": gamma,
    }


def tiny_mdps(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [random_mdp(rng, 2, 2, 3, 1.0), random_mdp(rng, 2, 2, 3, 0.9)]


def other_mdps(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [
        random_mdp(rng, 3, 2, 2, 0.8),
        random_mdp(rng, 2, 3, 1, 0.5),
        random_mdp(rng, 1, 2, 4, 0.9),
    ]


def sampled_return_lists(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"returns": normal(rng, m, scale=3.0)} for m in (2, 7, 100)]


def nudged_thetas(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Central differences of a Monte Carlo J of the two-state MDP, from a seed drawn here."""
    return [
        {
            "theta": normal(rng, 3, 2),
            "delta": delta,
            "seed": int(rng.integers(2**31)),
            "num_episodes": 50,
            "gamma": gamma,
        }
        for delta, gamma in ((0.1, 1.0), (0.3, 0.9))
    ]


def delta_lists(rng: np.random.Generator) -> list[dict[str, Any]]:
    """The two-state MDP's J, and -sum(theta^3) (no gamma), whose errors are all negative."""
    deltas = [0.5, 0.2, 0.1, 0.05]
    return [
        {"theta": normal(rng, 3, 2), "deltas": deltas, "gamma": 0.9},
        {"theta": normal(rng, 2, 2), "deltas": deltas},
    ]


# --- the judge's inputs for variance -------------------------------------------------------------


def padded_rewards(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """Padded episodes with rewards left on the padded steps too: they must count for nothing."""
    episodes = padded_episodes(rng, n)
    episodes["rewards"] = rng.uniform(0.5, 2.0, size=np.shape(episodes["mask"])).tolist()
    return episodes


def to_go_inputs(gamma_t: bool) -> Inputs:
    """Five padded episodes at gamma = 0, 0.9 and 1, and one episode, with or without gamma^t."""
    return lambda rng: [
        *(
            {"episodes": padded_rewards(rng, 5), "gamma": g, "gamma_t": gamma_t}
            for g in (0.0, 0.9, 1.0)
        ),
        {"episodes": padded_rewards(rng, 1), "gamma": 0.97, "gamma_t": gamma_t},
    ]


def running_mask_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Rewards-to-go with anything on the padded steps, and steps where no episode runs."""

    def case(n: int, steps: int, longest: int) -> dict[str, Any]:
        lengths = rng.integers(0, longest + 1, size=n)
        lengths[0] = longest
        mask = np.arange(steps)[None, :] < lengths[:, None]
        return {"to_go": normal(rng, n, steps), "mask": mask.tolist()}

    return [case(5, 6, 4), case(1, 3, 3), case(3, 4, 0)]


def trajectory_inputs(last: str) -> Inputs:
    """Every trajectory's probability, its scores (one theta-shaped array per step) and ``last``
    (one number per trajectory and step), in the tiny MDP's shapes and others."""

    def case(rng: np.random.Generator, trajectories: int, *shape: int) -> dict[str, Any]:
        return {
            "prob": rng.dirichlet(np.ones(trajectories)).tolist(),
            "scores": normal(rng, trajectories, *shape),
            last: normal(rng, trajectories, shape[0]),
        }

    return lambda rng: [case(rng, 64, 3, 3, 2), case(rng, 10, 4, 2, 3), case(rng, 1, 1, 2, 2)]


# --- the judge's inputs for actor_critic ---------------------------------------------------------


def critic_episodes(rng: np.random.Generator, n: int) -> dict[str, Any]:
    """:func:`padded_episodes` with the state after each step and whether it is terminal: the
    longest episode is cut off by a time limit, the second falls, the others either."""
    episodes = padded_episodes(rng, n)
    mask = np.array(episodes["mask"])
    last = mask & ~np.pad(mask[:, 1:], ((0, 0), (0, 1)))
    falls = rng.random(n) < 0.5
    falls[0], falls[1:2] = False, True
    return {
        **episodes,
        "next_obs": (rng.normal(size=(*mask.shape, 4)) * mask[..., None]).tolist(),
        "terminated": (last & falls[:, None]).tolist(),
    }


def critic_fit_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Targets on every entry, padded ones too (the fit must ignore those), and targets that
    still depend on the critic."""
    return [
        {
            "seed": int(rng.integers(2**31)),
            "episodes": padded_episodes(rng, n),
            "targets": normal(rng, n, 6, scale=3.0),
            "num_steps": num_steps,
            "lr": 0.1,
            "live": live,
        }
        for n, num_steps, live in ((5, 1, False), (4, 3, False), (1, 2, False), (4, 3, True))
    ]


def advantage_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    return [
        {"seed": int(rng.integers(2**31)), "episodes": padded_episodes(rng, n),
         "targets": normal(rng, n, 6, scale=3.0)}
        for n in (5, 1)
    ]  # fmt: skip


def one_step_inputs(rng: np.random.Generator) -> list[dict[str, Any]]:
    episodes = critic_episodes(rng, 5)
    return [
        {"seed": int(rng.integers(2**31)), "episodes": episodes, "gamma": gamma}
        for gamma in (0.9, 0.0, 1.0)
    ]


# --- the judge's clock ---------------------------------------------------------------------------


class OutOfTime(Exception):
    """The submission's deadline passed before the judge had checked everything."""


OUT_OF_TIME = "the submission's time limit (--timeout) ran out first"


class Unconfirmed(Exception):
    """A training run outlived the wall clock's safety limit: only a loop that waits, or a very
    busy grading machine, does that, so the points are withheld and flagged for a regrade
    (:attr:`Kind.UNCONFIRMED`), not suspected of tampering."""


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the process ``pid`` and every process below it (threads and
    reaped children included), read from the kernel's accounting: code in the tree cannot
    change it. Forked processes stay in the tree: the sandbox's own process namespace adopts
    orphans."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # ended since the listing: its parent now counts it
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


# --- the worker process --------------------------------------------------------------------------


class Worker:
    """A sandboxed worker that has run ``cells``, each ``(code, from the source)``; restarted
    without a learner's cell that killed or hung it. No request outlives ``deadline`` (a
    ``time.monotonic()`` value, None for none): past it, :class:`OutOfTime` is raised."""

    def __init__(
        self,
        cells: list[tuple[str, bool]],
        sandbox: Sandbox,
        scratch: Path,
        timeout: float,
        deadline: float | None = None,
    ) -> None:
        self.cells, self.sandbox, self.scratch, self.timeout = cells, sandbox, scratch, timeout
        self.deadline = deadline
        self.skipped: dict[int, str] = {}  # cells that killed or hung the worker, and why
        self.process: subprocess.Popen[bytes] | None = None
        self.answers: queue.Queue[bytes] = queue.Queue()
        self.cpu_used = 0.0  # CPU seconds of the worker's process tree during the last request
        self.cells_cpu = 0.0  # CPU seconds the learner's cells took when this process ran them
        self.calls: list[tuple[str, float, float]] = []  # (adapter, CPU seconds, wall seconds)

    def spawn(self) -> None:
        self.cells_cpu, self.calls = 0.0, []
        workdir = Path(tempfile.mkdtemp(prefix="worker-", dir=self.scratch))
        argv = [python(), "-m", "pgcourse.grading.worker"]
        self.process = subprocess.Popen(
            self.sandbox.command(argv, workdir),
            cwd=workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.answers = queue.Queue()
        threading.Thread(target=self.read, args=(self.process, self.answers), daemon=True).start()

    @staticmethod
    def read(process: subprocess.Popen[bytes], answers: queue.Queue[bytes]) -> None:
        assert process.stdout is not None
        for line in iter(lambda: process.stdout.readline(10_000_000), b""):
            answers.put(line)
        answers.put(b"")  # end of output: the worker died

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            self.process = None

    def limit(self, timeout: float) -> float:
        """``timeout``, or the seconds left before the deadline if fewer; OutOfTime if none."""
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OutOfTime
        return min(timeout, left)

    def ask(
        self, request: dict[str, Any], timeout: float, cpu_seconds: float | None = None
    ) -> tuple[dict[str, Any] | None, str]:
        """The worker's answer, or None and why there is none (it then is stopped). With
        ``cpu_seconds``, the request may use that much CPU time and ``timeout`` is only the
        wall clock's safety limit, whose expiry raises :class:`Unconfirmed`."""
        assert self.process is not None and self.process.stdin is not None
        limit = self.limit(timeout)
        start = tree_cpu_seconds(self.process.pid)
        self.cpu_used = 0.0
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            line = self.wait_for_answer(limit, start, cpu_seconds)
        except (BrokenPipeError, OSError):
            line = b""
        except queue.Empty:
            self.stop()
            if cpu_seconds is not None and self.cpu_used > cpu_seconds:
                return None, f"it used more than {cpu_seconds:.0f} CPU seconds"
            if limit < timeout:
                raise OutOfTime from None
            if cpu_seconds is not None:
                raise Unconfirmed(
                    f"no answer within {timeout:.0f} s on the grader's clock, having used "
                    f"{self.cpu_used:.0f} of its {cpu_seconds:.0f} CPU seconds (regrade when "
                    "the machine is not busy)"
                ) from None
            return None, f"no answer within {timeout:.0f} s"
        try:
            answer = json.loads(line)
            if not isinstance(answer, dict):
                raise ValueError("not an object")
            return answer, ""
        except ValueError:
            self.stop()
            return None, "the process died (or wrote garbage)" if line else "the process died"

    def wait_for_answer(self, limit: float, start: float, cpu_seconds: float | None) -> bytes:
        """The worker's next line, waiting at most ``limit`` seconds and, with ``cpu_seconds``,
        until its process tree has used that much CPU time (queue.Empty on either)."""
        assert self.process is not None
        end = time.monotonic() + limit
        while True:
            wait = end - time.monotonic()
            if cpu_seconds is not None:
                wait = min(wait, CPU_POLL_SECONDS)
            try:
                line = self.answers.get(timeout=max(wait, 0.0))
            except queue.Empty:
                if time.monotonic() >= end:
                    raise
            else:
                self.cpu_used = tree_cpu_seconds(self.process.pid) - start
                return line
            self.cpu_used = tree_cpu_seconds(self.process.pid) - start
            if cpu_seconds is not None and self.cpu_used > cpu_seconds:
                raise queue.Empty

    def ready(self) -> None:
        """Start the worker and run every cell that has not killed or hung it before."""
        while self.process is None:
            self.limit(self.timeout)  # no new process once the deadline has passed
            self.spawn()
            for index, (code, trusted) in enumerate(self.cells):
                if index in self.skipped:
                    continue
                timeout = max(SETUP_SECONDS, self.timeout) if trusted else self.timeout
                answer, problem = self.ask({"run": code}, timeout)
                self.cells_cpu += 0.0 if trusted else self.cpu_used
                if answer is not None and trusted and not answer.get("ok"):
                    problem = answer.get("error", "error")
                if (answer is None or problem) and trusted:
                    self.stop()
                    raise RuntimeError(f"the worker could not run a setup cell: {problem}")
                if answer is None:
                    self.skipped[index] = problem
                    break

    def call(
        self, adapter: str, args: dict[str, Any], timeout: float, cpu_seconds: float | None = None
    ) -> dict[str, Any]:
        self.ready()
        start = time.monotonic()
        answer, problem = self.ask({"call": adapter, "args": args}, timeout, cpu_seconds)
        self.calls.append((adapter, self.cpu_used, time.monotonic() - start))
        return answer if answer is not None else {"error": problem}

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the checks ----------------------------------------------------------------------------------


def uses_own(function: str) -> Callable[[Any], str | None]:
    """Accepts a training run that called the learner's ``function`` at least once an update."""

    def accept(value: Any) -> str | None:
        if value["calls"] < value["updates"] or value["updates"] < 1:
            return f"{value['updates']} updates but {value['calls']} calls of {function}"
        return None

    return accept


def uses_own_sampler(value: Any) -> str | None:
    if value["library_modules"]:
        modules = ", ".join(value["library_modules"])
        return f"it calls {modules}: sample the actions and play the episode yourself"
    if value["sampler_calls"] < 1:
        return "episode_return does not sample its actions with sample_action"
    return None


@dataclass(frozen=True)
class Check:
    """One test cell, checked by calling a worker adapter on each of the judge's inputs."""

    adapter: str  # a function of pgcourse.grading.worker.ADAPTERS
    inputs: Inputs
    tolerance: float = 1e-6  # absolute and relative, when compared with the solution's answer
    accept: Callable[[Any], str | None] | None = None  # judges the answer alone

    @property
    def compared(self) -> bool:
        """Whether the answers are compared with the solution's."""
        return self.accept is None

    def problem(self, worker: Worker, args: dict[str, Any], expected: Any) -> str | None:
        answer = worker.call(self.adapter, args, worker.timeout)
        if "value" not in answer:
            return str(answer.get("error", "no answer"))
        if self.accept is not None:
            return self.accept(answer["value"])
        return compare(answer["value"], expected, self.tolerance)


@dataclass(frozen=True)
class TrainingCheck:
    """A test cell that trains an agent: the judge runs the learner's training loop itself.

    It certifies that the loop, run in a fresh judge's worker with a seed drawn for this grading
    run once nbgrader's kernel has ended, returned within its budget of CPU seconds (of the
    worker's whole process tree, the learner's cells included, counted from outside it: the same
    on an idle and a busy machine), after at most the budget of optimiser
    steps (counted in the worker, by torch's hooks), a policy whose every parameter value some
    optimiser step made, which balances the pole in the judge's own evaluation, on start states
    the loop never saw (``eval_seed``: the loop stops on ``evaluate``'s default episodes, and
    a policy can pass those by luck); and that the
    same loop, with the same seed and as many updates but the learner's function ``ablated``
    (the loss, or the weights of its log-probabilities) multiplied by 0, which makes the
    policy's gradient 0, does not balance it. Code in the worker can defeat all of this but the
    CPU count and the evaluation, if it is written to (book/instructors.md, "the guarantee").
    The wall clock only bounds a loop that waits (``WALL_FACTOR`` times the CPU budget): its
    expiry withholds the points for a regrade.
    """

    inputs: Inputs
    adapter: str = "train_reinforce"  # runs the loop: see pgcourse.grading.worker.train_loop
    ablated: str = "reinforce_loss"
    cpu_seconds: float = TRAINING_CPU_SECONDS
    compared = False

    def train(self, worker: Worker, args: dict[str, Any], cpu_seconds: float) -> dict[str, Any]:
        wall = self.cpu_seconds * WALL_FACTOR  # the count starts after a restart: not training
        return worker.call(self.adapter, args, wall, cpu_seconds)

    def problem(self, worker: Worker, args: dict[str, Any], expected: Any) -> str | None:
        eval_seed = args["eval_seed"]  # the judge's own: the worker never sees it
        args = {name: value for name, value in args.items() if name != "eval_seed"}
        if worker.calls:  # a fresh process: what earlier calls computed is gone
            worker.stop()
        worker.ready()
        before = worker.cells_cpu  # the learner's cells may compute too: it counts
        answer = self.train(worker, args, max(self.cpu_seconds - before, 0.0))
        used = before + worker.cpu_used
        spent = (
            f"the learner's cells and training used {used:.0f} CPU seconds; the budget is "
            f"{self.cpu_seconds:.0f}"
        )
        if "value" not in answer:
            return f"{answer.get('error', 'no answer')} ({spent})"
        if used > self.cpu_seconds:
            return spent
        run = answer["value"]
        steps, budget = int(run["steps"]), args["max_updates"]
        if steps < 1:
            return "no optimiser step was taken: each update must call optimizer.step()"
        if steps > budget:
            return f"{steps} optimiser steps; the budget is {budget} updates"
        if run["unmade"]:
            return (
                "the trained policy holds parameters that no optimiser step made: weights "
                "loaded or set by hand do not count as training"
            )
        problem = agent_problem(run["parameters"], eval_seed)
        if problem:
            return problem
        useless = {**args, "max_updates": steps, "useless_update": True}
        try:
            ablated = self.train(worker, useless, self.cpu_seconds)
        except Unconfirmed:
            ablated = {}  # no agent: nothing to count against the learner
        if "value" in ablated and agent_problem(ablated["value"]["parameters"], eval_seed) is None:
            return (
                f"it balances the pole even when {self.ablated} is multiplied by 0, which makes "
                "the policy's gradient 0: the agent does not come from your update"
            )
        return None


def agent_problem(parameters: Any, seed: int) -> str | None:
    """Why ``parameters`` do not make an MLPPolicy(hidden=32) whose greedy policy balances the
    pole (:data:`JUDGED_RETURN`) in the judge's own evaluation, on the 100 start states ``seed``
    gives, or None."""
    import torch

    from pgcourse import MLPPolicy, evaluate

    policy = MLPPolicy(hidden=32)
    try:
        policy.load_state_dict({name: torch.tensor(v) for name, v in parameters.items()})
    except (AttributeError, RuntimeError, TypeError, ValueError) as err:
        return f"the trained policy is not an MLPPolicy(hidden=32): {str(err)[:200]}"
    if not all(torch.isfinite(p).all() for p in policy.state_dict().values()):
        return "the trained policy has parameters that are not finite numbers (nan, inf)"
    result = evaluate(policy, seed=seed)
    if result.mean < JUDGED_RETURN:
        return (
            f"the greedy policy returns {result} that the loop never saw; the judge "
            f"needs {JUDGED_RETURN:.0f}"
        )
    return None


def train(max_updates: int, seed: int) -> Inputs:
    return lambda rng: [{"max_updates": max_updates, "seed": seed}]


CHECKS: dict[str, dict[str, Check | TrainingCheck]] = {
    "score_function": {
        "test_log_prob": Check("log_prob", small_logits),
        "test_log_prob_large_logits": Check("log_prob", large_logits),
        "test_grad_log_prob": Check("grad_log_prob", small_logits),
        "test_grad_log_prob_large_logits": Check("grad_log_prob", large_logits),
        "test_discounted_return": Check("discounted_return", reward_lists, 1e-5),
        "test_reward_to_go": Check("reward_to_go", reward_lists, 1e-5),
        "test_score_function_estimate": Check("score_function_estimate", episodes_of_equal_length),
        "test_score_function_unbiased": Check("score_function_estimate", episodes_of_equal_length),
        "test_surrogate_loss": Check("surrogate_loss_gradient", episodes_of_equal_length),
    },
    "reinforce": {
        "test_reinforce_weights": Check("reinforce_weights", weight_inputs, 1e-4),
        "test_reinforce_loss": Check("reinforce_loss", loss_inputs, 1e-4),
        "test_own_update": Check("train_reinforce", train(2, 1), accept=uses_own("reinforce_loss")),
        "test_train_reinforce": TrainingCheck(training_seed),
    },
    "stochastic_policy": {
        "test_softmax": Check("softmax", preferences),
        "test_softmax_large_logits": Check("softmax", large_preferences),
        "test_sample_action": Check("sample_action", probabilities_and_uniforms),
        "test_sample_action_frequencies": Check("sample_action", many_uniforms),
        "test_sequence_log_prob": Check("sequence_log_prob", action_sequences),
        "test_episode_return": Check("episode_return", episodes),
        "test_own_code": Check("own_sampling", sampled_episode, accept=uses_own_sampler),
    },
    "objective": {
        "test_exact_objective": Check("exact_objective", tiny_mdps),
        "test_exact_objective_other_mdp": Check("exact_objective", other_mdps),
        "test_monte_carlo_interval": Check("monte_carlo_interval", sampled_return_lists),
        "test_interval_coverage": Check("monte_carlo_interval", sampled_return_lists),
        "test_central_difference": Check("central_difference_gradient", nudged_thetas),
        "test_common_random_numbers": Check("central_difference_gradient", nudged_thetas),
        "test_central_difference_errors": Check("central_difference_errors", delta_lists, 1e-9),
    },
    "variance": {
        "test_reward_to_go_weights": Check("reward_to_go_weights", to_go_inputs(False), 1e-4),
        "test_reward_to_go_gamma_t": Check("reward_to_go_weights", to_go_inputs(True), 1e-4),
        "test_batch_baseline": Check("batch_baseline", running_mask_inputs, 1e-4),
        "test_exact_moments": Check("exact_moments", trajectory_inputs("weights")),
        "test_optimal_baseline": Check("optimal_baseline", trajectory_inputs("rewards")),
    },
    "actor_critic": {
        "test_fit_critic": Check("fit_critic", critic_fit_inputs, 1e-4),
        "test_advantages": Check("advantages", advantage_inputs, 1e-4),
        "test_one_step_targets": Check("one_step_targets", one_step_inputs, 1e-4),
        "test_own_update": Check("train_actor_critic", train(2, 1), accept=uses_own("advantages")),
        "test_train_actor_critic": TrainingCheck(
            training_seed, "train_actor_critic", ablated="advantages"
        ),
    },
}


# --- judging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """The judge's inputs for one assignment and the solution's answers to them."""

    inputs: dict[str, list[dict[str, Any]]]
    answers: dict[str, list[Any]]


def draw_inputs(assignment: str, seed: int) -> dict[str, list[dict[str, Any]]]:
    """The inputs of every check of ``assignment``, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return {grade_id: check.inputs(rng) for grade_id, check in CHECKS.get(assignment, {}).items()}


def reference(
    assignment: str,
    solution_cells: list[tuple[str, bool]],
    sandbox: Sandbox,
    scratch: Path,
    timeout: float,
    seed: int | None = None,
) -> Reference:
    """Draw the inputs of every check from ``seed`` (a fresh one if None) and ask the
    solution's functions for their answers."""
    checks = CHECKS.get(assignment, {})
    inputs = draw_inputs(assignment, secrets.randbits(63) if seed is None else seed)
    answers: dict[str, list[Any]] = {}
    with Worker(solution_cells, sandbox, scratch, timeout) as worker:
        for grade_id, check in checks.items():
            if not check.compared:
                continue
            answers[grade_id] = []
            for args in inputs[grade_id]:
                answer = worker.call(check.adapter, args, timeout)
                if "value" not in answer:
                    raise RuntimeError(
                        f"the solution of {assignment} fails the judge's check {grade_id}: "
                        f"{answer.get('error')}"
                    )
                answers[grade_id].append(answer["value"])
    return Reference(inputs, answers)


def compare(got: Any, expected: Any, tolerance: float) -> str | None:
    """Why ``got`` is not ``expected`` (nested lists of numbers, or a dict of them), or None."""
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return f"expected the values {sorted(expected)}"
        problems = {k: compare(got[k], expected[k], tolerance) for k in expected}
        wrong = [f"{k}: {problem}" for k, problem in problems.items() if problem]
        return "; ".join(wrong) or None
    try:
        got_array = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return "the answer is not numbers"
    expected_array = np.asarray(expected, dtype=float)
    if got_array.shape != expected_array.shape:
        return f"expected shape {expected_array.shape}, got {got_array.shape}"
    if not np.allclose(got_array, expected_array, atol=tolerance, rtol=tolerance):
        return "wrong values"
    return None


def judge(
    assignment: str,
    learner_cells: list[tuple[str, bool]],
    ref: Reference,
    sandbox: Sandbox,
    scratch: Path,
    timeout: float,
    deadline: float | None = None,
    kernel_done: threading.Event | None = None,
) -> dict[str, Verdict]:
    """Each check of ``assignment`` passed or not by the learner's answer cells; the checks not
    done by ``deadline`` (a ``time.monotonic()`` value) fail, so no grade stands unchecked.
    A training check waits for ``kernel_done``: while nbgrader's kernel runs the same learner's
    code, it could train there, uncounted, and pass the weights over."""
    verdicts = {}
    with Worker(learner_cells, sandbox, scratch, timeout, deadline) as worker:
        for grade_id, check in CHECKS.get(assignment, {}).items():
            try:
                if isinstance(check, TrainingCheck) and kernel_done is not None:
                    worker.stop()  # the kernel's run can take long: no process idles meanwhile
                    kernel_done.wait(None if deadline is None else worker.limit(float("inf")))
                problem = first_problem(worker, check, ref, grade_id)
            except OutOfTime:
                verdicts[grade_id] = Verdict(Kind.NOT_CHECKED, OUT_OF_TIME)
            except Unconfirmed as err:
                verdicts[grade_id] = Verdict(Kind.UNCONFIRMED, str(err))
            else:
                verdicts[grade_id] = (
                    Verdict(Kind.FAILED, problem) if problem else Verdict(Kind.PASSED)
                )
    return verdicts


def first_problem(
    worker: Worker, check: Check | TrainingCheck, ref: Reference, grade_id: str
) -> str | None:
    """Why the learner's answer to the first of the judge's inputs it fails is wrong, or None;
    :class:`Unconfirmed` (saying which input) when a training run outlived its wall limit."""
    for number, args in enumerate(ref.inputs[grade_id]):
        where = f"{check.adapter} on the judge's input {number + 1}"
        expected = ref.answers[grade_id][number] if check.compared else None
        try:
            problem = check.problem(worker, args, expected)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            problem = f"the answer is malformed ({type(err).__name__})"
        except Unconfirmed as err:
            raise Unconfirmed(f"{where}: {err}") from None
        if problem:
            return f"{where}: {problem}"
    return None
