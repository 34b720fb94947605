"""The judge's worker: runs a notebook's code and calls its functions, inside the sandbox.

``python -m pgcourse.grading.worker`` reads one JSON request per line on stdin and answers one
JSON line on the standard output it had when it started (the code it runs prints elsewhere):

- ``{"run": code}`` runs a cell in an IPython shell: ``{"ok": bool, "error": text}``;
- ``{"call": name, "args": {...}}`` calls the notebook's function through the adapter ``name``
  below on the judge's arguments: ``{"value": numbers}`` or ``{"error": text}``.

Answers are plain numbers, never verdicts: the judge, in another process, decides. Whatever the
submission does to this process (patching NumPy, PyTorch, builtins...) can only change the
numbers it sends back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

Namespace = dict[str, Any]


def numbers(value: Any) -> Any:
    """``value`` (a float, array or tensor) as nested lists of floats."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float).tolist()


def batch_of(episodes: dict[str, Any]) -> Any:
    """A ``pgcourse.Batch`` made from plain lists."""
    from pgcourse import Batch

    mask = torch.tensor(episodes["mask"], dtype=torch.bool)
    return Batch(
        obs=torch.tensor(episodes["obs"], dtype=torch.float32),
        actions=torch.tensor(episodes["actions"], dtype=torch.int64),
        rewards=torch.tensor(episodes["rewards"], dtype=torch.float32),
        log_probs=torch.zeros(mask.shape),
        mask=mask,
    )


@contextlib.contextmanager
def own_code(function: str, allowed: frozenset[str] | None = None) -> Iterator[None]:
    """Raise after the block if it called a pgcourse module outside ``allowed`` (the plumbing
    of :data:`pgcourse.grading.checks.ALLOWED_PGCOURSE_MODULES` by default): the notebook's
    ``function`` must compute its answer itself, not call the library's."""
    from pgcourse.grading import checks

    with checks.only_own_update(
        checks.ALLOWED_PGCOURSE_MODULES if allowed is None else allowed
    ) as called:
        yield
    if called:
        raise RuntimeError(f"{function} calls {', '.join(sorted(called))}: write it yourself")


def log_prob(ns: Namespace, theta: list, s: list, actions: list) -> Any:
    return [numbers(ns["log_prob"](np.array(theta), np.array(s), a)) for a in actions]


def grad_log_prob(ns: Namespace, theta: list, s: list, actions: list) -> Any:
    return [numbers(ns["grad_log_prob"](np.array(theta), np.array(s), a)) for a in actions]


def discounted_return(ns: Namespace, rewards: list, gamma: float) -> Any:
    return numbers(ns["discounted_return"](np.array(rewards), gamma))


def reward_to_go(ns: Namespace, rewards: list, gamma: float) -> Any:
    return numbers(ns["reward_to_go"](np.array(rewards), gamma))


def score_function_estimate(
    ns: Namespace, theta: list, features: list, actions: list, rewards: list, gamma: float
) -> Any:
    arrays = [np.array(theta), np.array(features), np.array(actions), np.array(rewards)]
    return numbers(ns["score_function_estimate"](*arrays, gamma))


def surrogate_loss_gradient(
    ns: Namespace, theta: list, features: list, actions: list, rewards: list, gamma: float
) -> Any:
    """Minus the gradient of the surrogate loss with respect to theta."""
    parameter = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    loss = ns["surrogate_loss"](
        parameter,
        torch.tensor(features, dtype=torch.float64),
        torch.tensor(actions, dtype=torch.int64),
        torch.tensor(rewards, dtype=torch.float64),
        gamma,
    )
    (grad,) = torch.autograd.grad(loss.reshape(()), parameter)
    return numbers(-grad)


def reinforce_weights(ns: Namespace, episodes: dict) -> Any:
    return numbers(ns["reinforce_weights"](batch_of(episodes)))


def reinforce_loss(ns: Namespace, theta: list, episodes: dict, weights: list) -> Any:
    """The loss of a linear policy and its gradient with respect to the policy's theta."""
    from pgcourse import LinearSoftmaxPolicy

    policy = LinearSoftmaxPolicy(len(theta), len(theta[0]))
    with torch.no_grad():
        policy.theta.copy_(torch.tensor(theta))
    batch = batch_of(episodes)
    with own_code("reinforce_loss"):
        loss = ns["reinforce_loss"](policy, batch, torch.tensor(weights))
    (grad,) = torch.autograd.grad(loss.reshape(()), policy.theta)
    return {"loss": numbers(loss), "grad": numbers(grad)}


class Steps:
    """The optimiser steps taken while recording (torch's global step hooks), and every value a
    stepped parameter held after a step, or before its first: the values training made.

    Steps taken while ``aside`` is positive (inside the fit of a critic) train another network:
    they count only if they stepped the policy after all (:meth:`of`)."""

    def __init__(self) -> None:
        self.count = 0
        self.aside = 0
        self.aside_steps: list[set[int]] = []  # the ids of the parameters each such step moved
        self.made: set[bytes] = set()
        self.stepped: dict[int, torch.Tensor] = {}  # by id, kept alive so that ids stay unique
        self.foreign = 0  # values found at a step that no step made

    @staticmethod
    def value(tensor: torch.Tensor) -> bytes:
        return tensor.detach().cpu().numpy().tobytes()

    def before(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        for parameter in parameters_of(optimizer):
            if id(parameter) not in self.stepped:
                self.stepped[id(parameter)] = parameter
                self.made.add(self.value(parameter))
            elif self.value(parameter) not in self.made:
                self.foreign += 1

    def after(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        if self.aside:
            self.aside_steps.append({id(parameter) for parameter in parameters_of(optimizer)})
        else:
            self.count += 1
        self.made.update(self.value(parameter) for parameter in parameters_of(optimizer))

    def of(self, policy: torch.nn.Module) -> int:
        """The steps that may have trained ``policy``: all but those taken aside on others."""
        ids = {id(parameter) for parameter in policy.parameters()}
        return self.count + sum(bool(ids & stepped) for stepped in self.aside_steps)

    def unmade(self, tensors: Any) -> int:
        """How many of ``tensors`` hold, or held at a step, a value that no step made."""
        return self.foreign + sum(self.value(t) not in self.made for t in tensors)


def parameters_of(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def train_loop(
    ns: Namespace,
    loop: str,
    update: str,
    max_updates: int,
    seed: int,
    useless_update: bool = False,
    aside: str | None = None,
) -> Any:
    """Train with the notebook's function ``loop``; send the trained parameters, the updates it
    returned, the optimiser steps and calls of the notebook's ``update`` counted here, and how
    many of the returned tensors hold values no optimiser step made (weights loaded from
    elsewhere). Steps taken inside the notebook's ``aside`` (a critic's fit) are not updates.

    With ``useless_update``, ``update`` (the loss, or the weights of its log-probabilities)
    returns its value times 0, which makes the policy's gradient 0: no step can learn, so an
    agent that solves anyway did not come from the update.
    """
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    originals, calls, steps = {name: ns[name] for name in (update, aside) if name}, [0], Steps()

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        value = originals[update](*args, **kwargs)
        return value * 0 if useless_update else value

    def apart(*args: Any, **kwargs: Any) -> Any:
        steps.aside += 1
        try:
            return originals[aside](*args, **kwargs)
        finally:
            steps.aside -= 1

    hooks = [register_optimizer_step_pre_hook(steps.before)]
    hooks.append(register_optimizer_step_post_hook(steps.after))
    ns[update] = counted
    if aside:
        ns[aside] = apart
    try:
        policy, updates = ns[loop](max_updates=max_updates, seed=seed)
    finally:
        ns.update(originals)
        for hook in hooks:
            hook.remove()
    state = policy.state_dict()
    return {
        "updates": int(updates),
        "calls": calls[0],
        "steps": steps.of(policy),
        "unmade": steps.unmade(state.values()),
        "parameters": {name: numbers(tensor) for name, tensor in state.items()},
    }


def train_reinforce(
    ns: Namespace, max_updates: int, seed: int, useless_update: bool = False
) -> Any:
    """:func:`train_loop` on ``train_reinforce``, whose update is ``reinforce_loss``."""
    return train_loop(ns, "train_reinforce", "reinforce_loss", max_updates, seed, useless_update)


# --- adapters of stochastic_policy ---------------------------------------------------------------


def softmax(ns: Namespace, logits: list) -> Any:
    return numbers(ns["softmax"](np.array(logits)))


def sample_action(ns: Namespace, probs: list, uniforms: list) -> Any:
    return numbers([ns["sample_action"](np.array(probs), u) for u in uniforms])


def sequence_log_prob(ns: Namespace, logits: list, actions: list) -> Any:
    return numbers(ns["sequence_log_prob"](np.array(logits), np.array(actions)))


def episode_return(ns: Namespace, theta: list, seed: int, greedy: bool, sample_seed: int) -> Any:
    return numbers(ns["episode_return"](np.array(theta), seed, greedy, sample_seed))


def own_sampling(ns: Namespace, theta: list, seed: int, sample_seed: int) -> Any:
    """The pgcourse modules of sampling or evaluation that a sampled episode calls, and how
    often it calls the notebook's ``sample_action``."""
    from pgcourse.grading import checks

    sampler_calls = checks.count_calls(ns, "sample_action")
    try:
        with checks.only_own_update(checks.ALLOWED_WITHOUT_SAMPLING) as library_modules:
            ns["episode_return"](np.array(theta), seed, False, sample_seed)
    finally:
        ns["sample_action"] = ns["sample_action"].original
    return {"library_modules": sorted(library_modules), "sampler_calls": sampler_calls()}


# --- adapters of objective -----------------------------------------------------------------------


def exact_objective(
    ns: Namespace,
    pi: list,
    initial: list,
    transitions: list,
    rewards: list,
    horizon: int,
    gamma: float,
) -> Any:
    arrays = [np.array(pi), np.array(initial), np.array(transitions), np.array(rewards)]
    with own_code("exact_objective", frozenset()):
        return numbers(ns["exact_objective"](*arrays, horizon, gamma))


def monte_carlo_interval(ns: Namespace, returns: list) -> Any:
    return numbers(list(ns["monte_carlo_interval"](np.array(returns))))


def central_difference_gradient(
    ns: Namespace, theta: list, delta: float, seed: int, num_episodes: int, gamma: float
) -> Any:
    """The notebook's central differences of a Monte Carlo J of the two-state MDP: the mean
    discounted return of ``num_episodes`` episodes played from the seed it is given."""
    from pgcourse.tiny_mdp import two_state_mdp

    mdp = two_state_mdp(gamma=gamma)
    discounts = gamma ** np.arange(mdp.horizon)

    def estimate(theta: Any, seed: int) -> float:
        parameter = torch.as_tensor(theta, dtype=torch.float64)
        episodes = mdp.sample(parameter, num_episodes, np.random.default_rng(seed))
        return float((episodes["rewards"] @ discounts).mean())

    return numbers(ns["central_difference_gradient"](estimate, np.array(theta), delta, seed))


def central_difference_errors(
    ns: Namespace, theta: list, deltas: list, gamma: float | None = None
) -> Any:
    """The notebook's errors of central differences of the two-state MDP's exact J at
    ``gamma``; without one, of -sum(theta^3), whose every central difference is off by exactly
    -delta^2 (an error's size, not its sign, is asked for)."""
    from pgcourse.tiny_mdp import two_state_mdp

    if gamma is None:
        exact = -3 * np.array(theta) ** 2

        def J(theta: Any) -> float:
            return -float(np.sum(np.asarray(theta) ** 3))

    else:
        mdp = two_state_mdp(gamma=gamma)
        exact = mdp.exact_gradient(torch.tensor(theta, dtype=torch.float64)).numpy()

        def J(theta: Any) -> float:
            return float(mdp.objective(torch.as_tensor(theta, dtype=torch.float64)))

    return numbers(ns["central_difference_errors"](J, np.array(theta), exact, np.array(deltas)))


# --- adapters of variance ------------------------------------------------------------------------


def reward_to_go_weights(ns: Namespace, episodes: dict, gamma: float, gamma_t: bool) -> Any:
    batch = batch_of(episodes)
    with own_code("reward_to_go_weights"):
        return numbers(ns["reward_to_go_weights"](batch, gamma, gamma_t=gamma_t))


def batch_baseline(ns: Namespace, to_go: list, mask: list) -> Any:
    to_go_tensor, mask_tensor = torch.tensor(to_go), torch.tensor(mask, dtype=torch.bool)
    return numbers(ns["batch_baseline"](to_go_tensor, mask_tensor))


def exact_moments(ns: Namespace, prob: list, scores: list, weights: list) -> Any:
    with own_code("exact_moments"):
        mean, variance = ns["exact_moments"](np.array(prob), np.array(scores), np.array(weights))
    return {"mean": numbers(mean), "variance": numbers(variance)}


def optimal_baseline(ns: Namespace, prob: list, scores: list, rewards: list) -> Any:
    return numbers(ns["optimal_baseline"](np.array(prob), np.array(scores), np.array(rewards)))


# --- adapters of actor_critic --------------------------------------------------------------------


def critic_of(seed: int) -> Any:
    """A small ``ValueNet`` whose weights ``seed`` draws, the same in every process."""
    from pgcourse import ValueNet

    torch.manual_seed(seed)
    return ValueNet(hidden=8)


def bootstrap_batch_of(episodes: dict[str, Any]) -> Any:
    """:func:`batch_of`, with the state after each step and whether it is terminal."""
    return dataclasses.replace(
        batch_of(episodes),
        next_obs=torch.tensor(episodes["next_obs"], dtype=torch.float32),
        terminated=torch.tensor(episodes["terminated"], dtype=torch.bool),
    )


def fit_critic(
    ns: Namespace,
    seed: int,
    episodes: dict,
    targets: list,
    num_steps: int,
    lr: float,
    live: bool = False,
) -> Any:
    """The loss the notebook's fit returns, and the fitted critic's values, by plain SGD (Adam's
    first steps hardly depend on the loss's scale, so they would hide a sum for a mean). With
    ``live``, the targets still depend on the critic, as bootstrapped ones do: the fit must hold
    them constant (a semi-gradient)."""
    critic, batch = critic_of(seed), batch_of(episodes)
    optimizer = torch.optim.SGD(critic.parameters(), lr=lr)
    goals = torch.tensor(targets) + (0.5 * critic(batch.obs) if live else 0.0)
    with own_code("fit_critic"):
        loss = ns["fit_critic"](critic, optimizer, batch, goals, num_steps)
    with torch.no_grad():
        values = critic(batch.obs)
    return {"loss": numbers(loss), "values": numbers(values)}


def advantages(ns: Namespace, seed: int, episodes: dict, targets: list) -> Any:
    """The advantages, and whether they are free of the critic's gradient (1) or not (0)."""
    got = ns["advantages"](critic_of(seed), batch_of(episodes), torch.tensor(targets))
    return {"advantages": numbers(got), "detached": numbers(not got.requires_grad)}


def one_step_targets(ns: Namespace, seed: int, episodes: dict, gamma: float) -> Any:
    critic, batch = critic_of(seed), bootstrap_batch_of(episodes)
    with own_code("one_step_targets"):
        got = ns["one_step_targets"](critic, batch, gamma)
    return {"targets": numbers(got), "detached": numbers(not got.requires_grad)}


def train_actor_critic(
    ns: Namespace, max_updates: int, seed: int, useless_update: bool = False
) -> Any:
    """:func:`train_loop` on ``train_actor_critic``: its update is the ``advantages`` that
    weight the actor's log-probabilities, and the steps of ``fit_critic`` train the critic."""
    return train_loop(
        ns, "train_actor_critic", "advantages", max_updates, seed, useless_update, "fit_critic"
    )


ADAPTERS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        log_prob,
        grad_log_prob,
        discounted_return,
        reward_to_go,
        score_function_estimate,
        surrogate_loss_gradient,
        reinforce_weights,
        reinforce_loss,
        train_reinforce,
        softmax,
        sample_action,
        sequence_log_prob,
        episode_return,
        own_sampling,
        exact_objective,
        monte_carlo_interval,
        central_difference_gradient,
        central_difference_errors,
        reward_to_go_weights,
        batch_baseline,
        exact_moments,
        optimal_baseline,
        fit_critic,
        advantages,
        one_step_targets,
        train_actor_critic,
    )
}


def answer(shell: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Run one request in ``shell``; any exception becomes an error answer."""
    try:
        if "run" in request:
            result = shell.run_cell(request["run"], store_history=False, silent=True)
            error = result.error_before_exec or result.error_in_exec
            return {"ok": error is None, "error": repr(error)[:300] if error else ""}
        value = ADAPTERS[request["call"]](shell.user_ns, **request["args"])
        return {"value": value}
    except BaseException as err:  # the learner's code may raise anything, SystemExit included
        return {"error": f"{type(err).__name__}: {err}"[:300]}


def main() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    channel = os.fdopen(os.dup(1), "w")
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)  # the notebook's prints and tracebacks go nowhere
    os.dup2(quiet, 2)
    shell = InteractiveShell.instance()
    for line in sys.stdin:
        channel.write(json.dumps(answer(shell, json.loads(line))) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
