"""Typical wrong answers must lose points.

Each mutant is a solution notebook with one solution cell changed by one typical mistake. Every
mutant must fail a test the learner sees in the notebook, and one of the judge's checks, which
alone score the cells. The mutants of an assignment run together, forked from one run of its
notebook (tests/mutation.py).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pgcourse.grading import driver

REPO = Path(__file__).resolve().parents[1]

# (assignment, grade_id of the solution cell, mistake, text in the solution, its replacement)
MUTANTS = [
    # log_prob
    ("score_function", "log_prob", "probabilities, not log-probabilities",
     "return float(shifted[a] - np.log(np.exp(shifted).sum()))",
     "return float(np.exp(shifted[a]) / np.exp(shifted).sum())"),
    ("score_function", "log_prob", "wrong sign",
     "return float(shifted[a] - np.log(np.exp(shifted).sum()))",
     "return float(np.log(np.exp(shifted).sum()) - shifted[a])"),
    ("score_function", "log_prob", "unstable softmax overflows on large logits",
     "shifted = logits - logits.max()", "shifted = logits"),
    # grad_log_prob
    ("score_function", "grad_log_prob", "wrong sign",
     "np.outer(s, onehot - probs)", "np.outer(s, probs - onehot)"),
    ("score_function", "grad_log_prob", "wrong axis (transposed)",
     "np.outer(s, onehot - probs)", "np.outer(onehot - probs, s)"),
    ("score_function", "grad_log_prob", "probabilities not subtracted",
     "np.outer(s, onehot - probs)", "np.outer(s, onehot)"),
    ("score_function", "grad_log_prob", "unstable softmax overflows on large logits",
     "probs = np.exp(logits - logits.max())", "probs = np.exp(logits)"),
    # discounted_return
    ("score_function", "discounted_return", "every reward discounted once too often",
     "gamma ** np.arange(len(rewards))", "gamma ** np.arange(1, len(rewards) + 1)"),
    ("score_function", "discounted_return", "mean where the formula sums",
     "np.sum(", "np.mean("),
    ("score_function", "discounted_return", "no discount",
     "gamma ** np.arange(len(rewards)) * rewards", "rewards"),
    # reward_to_go
    ("score_function", "reward_to_go", "whole episode's return at every step",
     "    return togo", "    return np.full_like(togo, togo[0])"),
    ("score_function", "reward_to_go", "gamma applied at the wrong step",
     "running = rewards[t] + gamma * running", "running = gamma * (rewards[t] + running)"),
    ("score_function", "reward_to_go", "summed from the start instead of to the end",
     "reversed(range(len(rewards)))", "range(len(rewards))"),
    # score_function_estimate
    ("score_function", "score_function_estimate", "mean over time where the formula sums",
     "* episode_return\n", "* episode_return / len(states)\n"),
    ("score_function", "score_function_estimate", "sum over episodes where the formula averages",
     "return grad / len(features)", "return grad"),
    ("score_function", "score_function_estimate", "reward-to-go instead of the return",
     "grad += grad_log_prob(theta, s, a) * episode_return",
     "grad += grad_log_prob(theta, s, a) * reward_to_go(episode_rewards, gamma)[len(states) - 1]"),
    ("score_function", "score_function_estimate", "wrong sign", "grad += ", "grad -= "),
    # surrogate_loss
    ("score_function", "surrogate_loss", "wrong sign", "return -(taken", "return (taken"),
    ("score_function", "surrogate_loss", "gradient not flowing (detach)",
     "features @ theta, dim=-1", "features @ theta.detach(), dim=-1"),
    ("score_function", "surrogate_loss", "mean over time where the formula sums",
     "taken.sum(dim=1)", "taken.mean(dim=1)"),
    ("score_function", "surrogate_loss", "softmax over the wrong axis",
     "features @ theta, dim=-1", "features @ theta, dim=0"),
    ("score_function", "surrogate_loss", "probabilities, not log-probabilities",
     "torch.log_softmax(", "torch.softmax("),
    ("score_function", "surrogate_loss", "every reward discounted once too often",
     "torch.arange(rewards.shape[1], dtype=rewards.dtype)",
     "torch.arange(1, rewards.shape[1] + 1, dtype=rewards.dtype)"),
    # reinforce_weights
    ("reinforce", "reinforce_weights", "no baseline",
     "return (reward_to_go - baseline) * mask", "return reward_to_go * mask"),
    ("reinforce", "reinforce_weights", "whole episode's return instead of reward-to-go",
     "reward_to_go = batch.rewards.flip(1).cumsum(1).flip(1)",
     "reward_to_go = batch.rewards.sum(1, keepdim=True).expand_as(batch.rewards)"),
    ("reinforce", "reinforce_weights", "baseline averaged over padded steps too",
     "baseline = (reward_to_go * mask).sum(0) / running", "baseline = reward_to_go.mean(0)"),
    ("reinforce", "reinforce_weights", "padded steps not masked",
     "return (reward_to_go - baseline) * mask", "return reward_to_go - baseline"),
    ("reinforce", "reinforce_weights", "baseline over the wrong axis",
     "baseline = (reward_to_go * mask).sum(0) / running",
     "baseline = (reward_to_go * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True)"),
    # reinforce_loss
    ("reinforce", "reinforce_loss", "wrong sign", "return -(log_probs", "return (log_probs"),
    ("reinforce", "reinforce_loss", "gradient not flowing (recorded log-probs)",
     "log_probs = policy(batch.obs).log_prob(batch.actions)", "log_probs = batch.log_probs"),
    ("reinforce", "reinforce_loss", "mean over all steps where the formula sums",
     ".sum() / batch.num_episodes", ".mean()"),
    ("reinforce", "reinforce_loss", "probabilities, not log-probabilities",
     ".log_prob(batch.actions)", ".log_prob(batch.actions).exp()"),
    ("reinforce", "reinforce_loss", "padded steps not masked", " * batch.mask", ""),
    # train_reinforce
    ("reinforce", "train_reinforce", "gradient ascent on the loss (wrong sign)",
     "loss.backward()", "(-loss).backward()"),
    ("reinforce", "train_reinforce", "calls a library's training code instead of its own update",
     "loss = reinforce_loss(policy, batch, reinforce_weights(batch))",
     "loss = library_update(policy, batch)"),
    # stochastic_policy
    # softmax
    ("stochastic_policy", "softmax", "unstable softmax overflows on large logits",
     "shifted = logits - logits.max(axis=-1, keepdims=True)", "shifted = logits"),
    ("stochastic_policy", "softmax", "largest logit of the whole batch, not of each row",
     "logits.max(axis=-1, keepdims=True)", "logits.max()"),
    ("stochastic_policy", "softmax", "normalised over the wrong axis",
     "exps.sum(axis=-1, keepdims=True)", "exps.sum(axis=0, keepdims=True)"),
    ("stochastic_policy", "softmax", "normalised by the sum of the whole batch",
     "exps.sum(axis=-1, keepdims=True)", "exps.sum()"),
    # sample_action
    ("stochastic_policy", "sample_action", "F(a) >= u where the rule says F(a) > u",
     "cumulative[:-1] <= u", "cumulative[:-1] < u"),
    ("stochastic_policy", "sample_action", "probabilities compared with u, not cumulative ones",
     "cumulative = np.cumsum(probs)", "cumulative = np.asarray(probs)"),
    ("stochastic_policy", "sample_action", "off the end when rounding leaves the total below 1",
     "cumulative[:-1] <= u", "cumulative <= u"),
    ("stochastic_policy", "sample_action", "off-by-one: actions counted from 1",
     "return int(np.sum(cumulative[:-1] <= u))", "return int(np.sum(cumulative[:-1] <= u)) + 1"),
    ("stochastic_policy", "sample_action", "accumulated from the last action",
     "np.cumsum(probs)", "np.cumsum(probs[::-1])"),
    # sequence_log_prob
    ("stochastic_policy", "sequence_log_prob", "sum of probabilities, not of log-probabilities",
     "return float(log_probs[np.arange(len(actions)), actions].sum())",
     "return float(np.exp(log_probs)[np.arange(len(actions)), actions].sum())"),
    ("stochastic_policy", "sequence_log_prob", "probability of the sequence, not its log",
     "return float(log_probs[np.arange(len(actions)), actions].sum())",
     "return float(np.exp(log_probs[np.arange(len(actions)), actions].sum()))"),
    ("stochastic_policy", "sequence_log_prob", "probabilities of the wrong actions (every action)",
     "log_probs[np.arange(len(actions)), actions]", "log_probs[:, actions]"),
    ("stochastic_policy", "sequence_log_prob", "mean over steps where the formula sums",
     ".sum())", ".mean())"),
    ("stochastic_policy", "sequence_log_prob", "log of the softmax underflows to -inf",
     "log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))",
     "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True))"),
    ("stochastic_policy", "sequence_log_prob", "log of the product underflows to -inf",
     "return float(log_probs[np.arange(len(actions)), actions].sum())",
     "return float(np.log(np.exp(log_probs[np.arange(len(actions)), actions]).prod()))"),
    # episode_return
    ("stochastic_policy", "episode_return", "greedy takes the least probable action",
     "np.argmax(probs)", "np.argmin(probs)"),
    ("stochastic_policy", "episode_return", "reset without the seed: another start state",
     "state, _ = env.reset(seed=seed)", "state, _ = env.reset()"),
    ("stochastic_policy", "episode_return", "truncation at 500 steps ignored",
     "done = terminated or truncated", "done = terminated"),
    ("stochastic_policy", "episode_return", "the state is never updated",
     "state, reward, terminated, truncated, _ = env.step(action)",
     "_, reward, terminated, truncated, _ = env.step(action)"),
    ("stochastic_policy", "episode_return", "a new generator every step: the same u each time",
     "rng.random()", "np.random.default_rng(sample_seed).random()"),
    ("stochastic_policy", "episode_return", "samples with pgcourse's sampler, not its own",
     "sample_action(probs, rng.random())",
     "int(__import__('pgcourse.rollouts').rollouts.sample_by_inverse_cdf(\n"
     "            torch.tensor(probs), torch.tensor([rng.random()])))"),

    # objective
    # exact_objective
    ("objective", "exact_objective", "every reward discounted once too often",
     "gamma**t * rewards[s, a]", "gamma ** (t + 1) * rewards[s, a]"),
    ("objective", "exact_objective", "no discount", "gamma**t * rewards[s, a]", "rewards[s, a]"),
    ("objective", "exact_objective", "initial-state distribution left out",
     "initial[tau[0][0]], 0.0", "1.0, 0.0"),
    ("objective", "exact_objective", "dynamics left out of P(tau)",
     "probability *= transitions[s, a, tau[t + 1][0]]", "pass"),
    ("objective", "exact_objective", "dynamics indexed on the wrong axes",
     "transitions[s, a, tau[t + 1][0]]", "transitions[tau[t + 1][0], a, s]"),
    ("objective", "exact_objective", "mean over trajectories where the formula sums",
     "return float(total)", "return float(total) / len(steps) ** horizon"),
    ("objective", "exact_objective", "off-by-one in T (one step too few)",
     "repeat=horizon", "repeat=horizon - 1"),
    ("objective", "exact_objective", "calls the library's enumeration instead of its own",
     "    return float(total)",
     "    from pgcourse.tiny_mdp import TinyMDP\n\n"
     "    features = torch.eye(len(initial), dtype=torch.float64)\n"
     "    arrays = [torch.tensor(a) for a in (initial, transitions, rewards)]\n"
     "    library = TinyMDP(features, *arrays, horizon, gamma)\n"
     "    return float(library.objective(torch.log(torch.tensor(pi))))"),
    # monte_carlo_interval
    ("objective", "monte_carlo_interval", "std with ddof=0",
     "returns.std(ddof=1)", "returns.std()"),
    ("objective", "monte_carlo_interval", "z = 1: a 68% interval", "1.96 * ", ""),
    ("objective", "monte_carlo_interval", "z = 1.645: a 90% interval", "1.96", "1.645"),
    ("objective", "monte_carlo_interval", "divided by m instead of sqrt(m)",
     "np.sqrt(len(returns))", "len(returns)"),
    ("objective", "monte_carlo_interval", "not divided by sqrt(m)", " / np.sqrt(len(returns))", ""),
    ("objective", "monte_carlo_interval", "variance instead of standard deviation",
     "returns.std(ddof=1)", "returns.var(ddof=1)"),
    # central_difference_gradient
    ("objective", "central_difference_gradient", "forward difference",
     "(estimate(theta + nudge, seed) - estimate(theta - nudge, seed)) / (2 * delta)",
     "(estimate(theta + nudge, seed) - estimate(theta, seed)) / delta"),
    ("objective", "central_difference_gradient", "backward difference",
     "(estimate(theta + nudge, seed) - estimate(theta - nudge, seed)) / (2 * delta)",
     "(estimate(theta, seed) - estimate(theta - nudge, seed)) / delta"),
    ("objective", "central_difference_gradient", "missing 2 in 2 delta",
     "/ (2 * delta)", "/ delta"),
    ("objective", "central_difference_gradient", "different seeds on the two sides",
     "estimate(theta - nudge, seed)", "estimate(theta - nudge, seed + 1)"),
    ("objective", "central_difference_gradient", "every entry nudged at once",
     "nudge[i] = delta", "nudge[...] = delta"),
    ("objective", "central_difference_gradient", "theta nudged in place and not restored",
     "        nudge = np.zeros_like(theta)\n        nudge[i] = delta\n"
     "        gradient[i] = (estimate(theta + nudge, seed) - estimate(theta - nudge, seed))",
     "        theta[i] += delta\n        plus = estimate(theta, seed)\n"
     "        theta[i] -= 2 * delta\n        gradient[i] = (plus - estimate(theta, seed))"),
    # central_difference_errors
    ("objective", "central_difference_errors", "signed error, no absolute value",
     "np.abs(gradient - exact).max()", "(gradient - exact).max()"),
    ("objective", "central_difference_errors", "sum over the entries where the error is the max",
     "np.abs(gradient - exact).max()", "np.abs(gradient - exact).sum()"),
    ("objective", "central_difference_errors", "mean over the entries where the error is the max",
     "np.abs(gradient - exact).max()", "np.abs(gradient - exact).mean()"),
    ("objective", "central_difference_errors", "the first delta used for every delta",
     "theta, delta, seed=0)", "theta, deltas[0], seed=0)"),

    # variance
    # reward_to_go_weights
    ("variance", "reward_to_go_weights", "gamma^k instead of gamma^(k - t)",
     "    if gamma_t:\n", "    if True:\n"),
    ("variance", "reward_to_go_weights", "summed forwards (cumsum from the start)",
     "reversed(range(rewards.shape[1]))", "range(rewards.shape[1])"),
    ("variance", "reward_to_go_weights", "off by one in t: r_t left out of R_t",
     "running = rewards[:, t] + gamma * running\n        to_go[:, t] = running",
     "to_go[:, t] = gamma * running\n        running = rewards[:, t] + gamma * running"),
    ("variance", "reward_to_go_weights", "padding not masked",
     "rewards = batch.rewards * batch.mask", "rewards = batch.rewards"),
    ("variance", "reward_to_go_weights", "no discount",
     "running = rewards[:, t] + gamma * running", "running = rewards[:, t] + running"),
    ("variance", "reward_to_go_weights", "gamma^t missing from the exact form",
     "    if gamma_t:\n", "    if False:\n"),
    ("variance", "reward_to_go_weights", "gamma^(t + 1) in the exact form",
     "torch.arange(rewards.shape[1], dtype=rewards.dtype)",
     "torch.arange(1, rewards.shape[1] + 1, dtype=rewards.dtype)"),
    ("variance", "reward_to_go_weights", "calls the library's reward-to-go",
     "    if gamma_t:\n",
     "    to_go = __import__('pgcourse').rewards_to_go(rewards, gamma)\n    if gamma_t:\n"),
    # batch_baseline
    ("variance", "batch_baseline", "mean over all n episodes",
     "/ running.clamp(min=1)", "/ len(to_go)"),
    ("variance", "batch_baseline", "mean over the wrong axis (the steps of each episode)",
     "(to_go * mask).sum(0) / running.clamp(min=1)",
     "(to_go * mask).sum(1) / mask.sum(1).clamp(min=1)"),
    ("variance", "batch_baseline", "division by zero where no episode runs (nan)",
     "running.clamp(min=1)", "running"),
    ("variance", "batch_baseline", "padded entries of to_go counted",
     "(to_go * mask).sum(0)", "to_go.sum(0)"),
    # exact_moments
    ("variance", "exact_moments", "trajectories not weighted by their probability",
     "mean = (prob[:, None, None] * g).sum(axis=0)", "mean = g.mean(axis=0)"),
    ("variance", "exact_moments", "E||g||^2 without subtracting the mean",
     "((g - mean) ** 2)", "(g**2)"),
    ("variance", "exact_moments", "mean over the components of theta for the trace",
     ".sum(axis=(1, 2))).sum())", ".mean(axis=(1, 2))).sum())"),
    ("variance", "exact_moments", "mean over the steps where g_hat sums",
     "weights[:, :, None, None]).sum(axis=1)", "weights[:, :, None, None]).mean(axis=1)"),
    ("variance", "exact_moments", "standard deviation for the variance",
     "variance = float(", "variance = np.sqrt("),
    ("variance", "exact_moments", "calls the library's estimator_moments",
     "    return mean, variance",
     "    mean, variance = tiny_mdp.estimator_moments(mdp, theta, torch.from_numpy(weights))\n"
     "    return mean.numpy(), float(variance)"),
    # optimal_baseline
    ("variance", "optimal_baseline", "the mean return E[R]",
     "return float((prob * score_sq * returns).sum() / (prob * score_sq).sum())",
     "return float((prob * returns).sum())"),
    ("variance", "optimal_baseline", "sum of the squared step scores for ||S||^2",
     "(scores.sum(axis=1) ** 2).sum(axis=(1, 2))", "(scores**2).sum(axis=(1, 2, 3))"),
    ("variance", "optimal_baseline", "trajectories not weighted by their probability",
     "(prob * score_sq * returns).sum() / (prob * score_sq).sum()",
     "(score_sq * returns).mean() / score_sq.mean()"),

    # actor_critic
    # fit_critic
    ("actor_critic", "fit_critic", "mean over all entries where the formula averages real steps",
     ".sum() / mask.sum()", ".mean()"),
    ("actor_critic", "fit_critic", "padded steps not masked",
     "(mask * (critic(batch.obs) - targets) ** 2)", "((critic(batch.obs) - targets) ** 2)"),
    ("actor_critic", "fit_critic", "no zero_grad: the gradients add up",
     "        optimizer.zero_grad()\n", ""),
    ("actor_critic", "fit_critic", "targets not detached (a full gradient, not a semi-gradient)",
     "targets, mask = targets.detach(), batch.mask.float()", "mask = batch.mask.float()"),
    ("actor_critic", "fit_critic", "loss returned after the last step",
     "return float(loss.detach())",
     "return float((mask * (critic(batch.obs) - targets) ** 2).sum() / mask.sum())"),
    # advantages
    ("actor_critic", "advantages", "no detach: the actor's loss trains the critic",
     "    with torch.no_grad():\n        values = critic(batch.obs)",
     "    values = critic(batch.obs)"),
    ("actor_critic", "advantages", "wrong sign", "(targets - values)", "(values - targets)"),
    ("actor_critic", "advantages", "padded steps not masked",
     "return (targets - values) * batch.mask", "return targets - values"),
    ("actor_critic", "advantages", "V(s_(t+1)) instead of V(s_t)",
     "critic(batch.obs)", "critic(batch.next_obs)"),
    # one_step_targets
    ("actor_critic", "one_step_targets", "truncation treated as termination",
     "* ~batch.terminated)",
     "* torch.cat([batch.mask[:, 1:], torch.zeros_like(batch.mask[:, :1])], 1))"),
    ("actor_critic", "one_step_targets", "termination bootstrapped",
     "next_values * ~batch.terminated", "next_values"),
    ("actor_critic", "one_step_targets", "V(s_t) instead of V(s_(t+1))",
     "critic(batch.next_obs)", "critic(batch.obs)"),
    ("actor_critic", "one_step_targets", "gamma missing",
     "gamma * next_values", "next_values"),
    ("actor_critic", "one_step_targets", "padded steps not masked",
     "return (batch.rewards + gamma * next_values * ~batch.terminated) * batch.mask",
     "return batch.rewards + gamma * next_values * ~batch.terminated"),
    ("actor_critic", "one_step_targets", "targets not detached",
     "    with torch.no_grad():\n        next_values = critic(batch.next_obs)",
     "    next_values = critic(batch.next_obs)"),
    # train_actor_critic
    ("actor_critic", "train_actor_critic", "gradient ascent on the loss (wrong sign)",
     "loss.backward()", "(-loss).backward()"),
    ("actor_critic", "train_actor_critic", "recorded log-probabilities (no gradient)",
     "log_probs = policy(batch.obs).log_prob(batch.actions)", "log_probs = batch.log_probs"),
    ("actor_critic", "train_actor_critic",
     "calls a library's training code instead of its own update",
     "loss = -(log_probs * weights).sum() / batch.num_episodes",
     "loss = library_update(policy, batch)"),

]  # fmt: skip

# The library's training module, as a learner might call it: a correct update under a name
# that is not the learner's. The tests must notice it however it was imported.
LIBRARY_STAND_IN = """
import sys
import types

library = types.ModuleType("pgcourse.training")
exec(
    "def library_update(policy, batch):\\n"
    "    rtg = batch.rewards.flip(1).cumsum(1).flip(1)\\n"
    "    mask = batch.mask.float()\\n"
    "    weights = (rtg - (rtg * mask).sum(0) / mask.sum(0).clamp(min=1)) * mask\\n"
    "    log_probs = policy(batch.obs).log_prob(batch.actions)\\n"
    "    return -(log_probs * weights).sum() / batch.num_episodes\\n",
    library.__dict__,
)
sys.modules["pgcourse.training"] = library
library_update = library.library_update

"""


def mutate(notebook: nbformat.NotebookNode, grade_id: str, old: str, new: str) -> str:
    """The notebook's text with ``old`` replaced by ``new`` in the cell ``grade_id``."""
    mutant = nbformat.from_dict(notebook)
    (cell,) = [
        c for c in mutant.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    assert old in cell.source, f"{grade_id}: {old!r} is not in the solution any more"
    cell.source = cell.source.replace(old, new)
    if new == "loss = library_update(policy, batch)":
        cell.source = LIBRARY_STAND_IN + cell.source
    return nbformat.writes(mutant)


def cell_source(text: str, grade_id: str) -> str:
    (cell,) = [
        c
        for c in nbformat.reads(text, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    return cell.source


def verdicts(variants: list[tuple], tmp_path: Path, *mode: str) -> dict[str, str | None]:
    """What failed each of ``variants`` (solution notebooks each with one cell's text replaced,
    as in MUTANTS, all of one assignment), by its cell and name, None when nothing did:
    tests/mutation.py in ``mode``. Every verdict is printed."""
    assignment = variants[0][0]
    shutil.copytree(REPO / "solutions" / assignment, tmp_path / assignment)
    path = tmp_path / assignment / f"{assignment}.ipynb"
    solution = nbformat.read(path, as_version=4)
    changed = [
        {
            "grade_id": grade_id,
            "source": cell_source(mutate(solution, grade_id, old, new), grade_id),
        }
        for _, grade_id, _, old, new in variants
    ]
    (tmp_path / "variants.json").write_text(json.dumps(changed))
    program = [sys.executable, str(REPO / "tests/mutation.py"), str(path)]
    result = subprocess.run(
        [*program, str(tmp_path / "variants.json"), *mode],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    named = {f"{v[1]}: {v[2]}": found[str(n)] for n, v in enumerate(variants)}
    lines = [f"{name} -> {verdict or 'nothing failed'}" for name, verdict in named.items()]
    print(f"\n{assignment} {' '.join(mode)}:\n  " + "\n  ".join(lines))
    return named


def survivors(assignment: str, tmp_path: Path, *mode: str) -> list[str]:
    """The mutants of ``assignment`` that nothing catches (tests/mutation.py in ``mode``)."""
    found = verdicts([m for m in MUTANTS if m[0] == assignment], tmp_path, *mode)
    return [name for name, verdict in found.items() if verdict is None]


@pytest.mark.parametrize("assignment", sorted({m[0] for m in MUTANTS}))
def test_every_mutant_is_caught_by_a_test(assignment, tmp_path):
    """Each mutant fails one of the tests its notebook shows the learner (tests/mutation.py): the
    visible tests check every kind of mistake the judge denies, so no learner whose tests pass
    loses points by surprise."""
    assert not survivors(assignment, tmp_path), "mutants the learner's tests pass"


@pytest.mark.parametrize("assignment", sorted({m[0] for m in MUTANTS}))
def test_every_mutant_is_caught_by_the_judge(assignment, tmp_path):
    """Each mutant fails one of the judge's checks of its assignment, on the inputs of a seed
    drawn for this run (printed), compared with the solution's answers: the judge alone, without
    the notebook's tests, denies every typical mistake its points."""
    seed = secrets.randbits(63)
    print(f"judge's inputs from seed {seed}")
    assert not survivors(assignment, tmp_path, "--judge", assignment, str(seed)), (
        f"mutants the judge passes (seed {seed})"
    )


@pytest.mark.parametrize("assignment", driver.Course(REPO).assignments())
def test_every_assignment_has_ten_mutants(assignment):
    assert sum(m[0] == assignment for m in MUTANTS) >= 10


@pytest.mark.parametrize("grade_id", sorted({m[1] for m in MUTANTS}))
def test_every_graded_function_has_mutants(grade_id):
    assert sum(m[1] == grade_id for m in MUTANTS) >= 2
