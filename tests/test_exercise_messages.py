"""A typical mistake fails the learner's visible test with a message that names it.

Each case runs the released exercise's visible tests in one namespace, after the solution's
code cells with one of them changed by one mistake, and checks the message of the test that
fails first.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from pgcourse.grading import checks, driver

REPO = Path(__file__).resolve().parents[1]

# (assignment, grade_id of the solution cell, text in it, its replacement, words of the message)
MISTAKES = [
    ("score_function", "grad_log_prob", "return np.outer(s, onehot - probs)",
     "g = np.zeros((len(s), len(probs)))\n    g[:, a] = s * (1 - probs[a])\n    return g",
     "other actions' columns"),
    ("score_function", "discounted_return", "gamma ** np.arange(len(rewards))",
     "gamma ** np.arange(len(rewards))[::-1]", "the discounts are reversed"),
    ("score_function", "discounted_return", "gamma ** np.arange(len(rewards))",
     "gamma ** np.arange(1, len(rewards) + 1)", "every reward is discounted once too often"),
    ("score_function", "reward_to_go", "reversed(range(len(rewards)))", "range(len(rewards))",
     "you looped forwards"),
    ("score_function", "reward_to_go",
     "running = rewards[t] + gamma * running\n        togo[t] = running",
     "togo[t] = gamma * running\n        running = rewards[t] + gamma * running",
     "R_t starts with r_t itself"),
    # The same mistakes, made only at gamma = 0.99, reach the check on a full CartPole episode.
    ("score_function", "discounted_return", "gamma ** np.arange(len(rewards))",
     "gamma ** (np.arange(len(rewards)) + (gamma == 0.99))",
     "discounted_return(np.ones(500), 0.99): every reward is discounted once too often"),
    ("score_function", "reward_to_go", "togo[t] = running",
     "togo[t] = running * (gamma**t if gamma == 0.99 else 1.0)",
     "reward_to_go(np.ones(500), 0.99): the discount counts from the episode's start"),
    ("score_function", "reward_to_go", "togo[t] = running",
     "togo[t] = running * (gamma if gamma == 0.99 else 1.0)",
     "reward_to_go(np.ones(500), 0.99): r_t itself is not discounted"),
    ("score_function", "score_function_estimate", "grad_log_prob(theta, s, a)",
     "grad_log_prob(theta, s, 1 - a)", "the score of the action taken"),
    ("score_function", "score_function_estimate", "discounted_return(episode_rewards, gamma)",
     "discounted_return(episode_rewards, 1.0)", "R(tau) must be discounted"),
    ("score_function", "surrogate_loss", "returns).mean()", "returns).sum()",
     "average over the 4 episodes: you summed them"),
    ("score_function", "surrogate_loss", "taken.sum(dim=1)", "taken.mean(dim=1)",
     "sum over the 3 steps of each episode: you averaged them"),
    ("score_function", "surrogate_loss", "actions.unsqueeze(-1)", "(1 - actions).unsqueeze(-1)",
     "the log-probability of the action taken"),
    ("score_function", "surrogate_loss", "return -(taken.sum(dim=1) * returns).mean()",
     "steps = rewards.shape[1]\n    to_go = torch.stack(\n"
     "        [(rewards[:, t:] * discounts[: steps - t]).sum(1) for t in range(steps)], 1\n    )\n"
     "    return -(taken * to_go).sum(dim=1).mean()",
     "not the reward-to-go"),
    ("score_function", "surrogate_loss", "returns).mean()", "returns)",
     "got a tensor of shape (4,)"),
    ("reinforce", "reinforce_weights", "return (reward_to_go - baseline) * mask",
     "return ((reward_to_go - baseline) * mask).numpy()", "expected a torch tensor"),
    ("reinforce", "reinforce_weights", "return (reward_to_go - baseline) * mask",
     "spread = (((reward_to_go - baseline) ** 2 * mask).sum(0) / running).sqrt()\n"
     "    return (reward_to_go - baseline) / spread * mask",
     "do not divide by a standard deviation"),
    ("reinforce", "reinforce_loss", ".log_prob(batch.actions)", ".log_prob(1 - batch.actions)",
     "take log pi of the action taken"),
    ("reinforce", "reinforce_loss", ".sum() / batch.num_episodes", ".mean()",
     "not over all 9 entries"),
    ("reinforce", "reinforce_loss", ".sum() / batch.num_episodes", ".sum()",
     "batch.num_episodes"),
    # stochastic_policy
    ("stochastic_policy", "softmax", "exps.sum(axis=-1, keepdims=True)",
     "exps.sum(axis=0, keepdims=True)", "not each column"),
    ("stochastic_policy", "softmax", "return exps / exps.sum(axis=-1, keepdims=True)",
     "return exps", "divide the exponentials by their sum"),
    ("stochastic_policy", "softmax", "exps.sum(axis=-1, keepdims=True)", "exps.sum()",
     "normalise each row by itself"),
    ("stochastic_policy", "sample_action", "cumulative[:-1] <= u", "cumulative[:-1] < u",
     "not F(a) >= u"),
    ("stochastic_policy", "sequence_log_prob", "log_probs[np.arange(len(actions)), actions]",
     "np.exp(log_probs)[np.arange(len(actions)), actions]", "you summed the probabilities"),
    ("stochastic_policy", "sequence_log_prob", "log_probs[np.arange(len(actions)), actions]",
     "log_probs[:, actions]", "picks every action for every step"),
    ("stochastic_policy", "episode_return", "np.argmax(probs)", "np.argmin(probs)",
     "the most probable action, np.argmax"),
    ("stochastic_policy", "episode_return", "env.reset(seed=seed)", "env.reset()",
     "a reset without the seed"),
    ("stochastic_policy", "episode_return", "done = terminated or truncated",
     "done = terminated", "at most 500 steps"),

    # objective
    ("objective", "exact_objective", "gamma**t * rewards[s, a]", "gamma ** (t + 1) * rewards[s, a]",
     "r_0 is not discounted"),
    ("objective", "exact_objective", "initial[tau[0][0]], 0.0", "1.0, 0.0",
     "P(tau) starts with p(s_0)"),
    ("objective", "exact_objective", "probability *= transitions[s, a, tau[t + 1][0]]", "pass",
     "a factor p(s_{t+1} | s_t, a_t) for every move"),
    ("objective", "exact_objective", "return float(total)",
     "return float(total) / len(steps) ** horizon", "you averaged"),
    ("objective", "exact_objective", "transitions[s, a, tau[t + 1][0]]",
     "transitions[tau[t + 1][0], a, s]", "the next state is the last index"),
    ("objective", "monte_carlo_interval", "returns.std(ddof=1)", "returns.std()",
     "divides by m - 1"),
    ("objective", "monte_carlo_interval", "1.96 * ", "", "yours reaches 1 (68%)"),
    ("objective", "monte_carlo_interval", "np.sqrt(len(returns))", "len(returns)",
     "you divided by m"),
    ("objective", "central_difference_gradient", "- estimate(theta - nudge, seed)) / (2 * delta)",
     "- estimate(theta, seed)) / delta", "that is the forward difference"),
    ("objective", "central_difference_gradient", "/ (2 * delta)", "/ delta",
     "divide by 2 delta"),
    ("objective", "central_difference_gradient", "estimate(theta - nudge, seed)",
     "estimate(theta - nudge, seed + 1)", "same seed on both sides"),
    ("objective", "central_difference_gradient",
     "nudge = np.zeros_like(theta)\n        nudge[i] = delta",
     "nudge = theta\n        nudge[i] += delta", "changed the theta it was given"),
    ("objective", "central_difference_errors", "np.abs(gradient - exact).max()",
     "(gradient - exact).max()", "take np.abs"),

    # variance
    ("variance", "reward_to_go_weights", "    if gamma_t:\n", "    if True:\n",
     "you discounted from the episode's start"),
    ("variance", "reward_to_go_weights", "reversed(range(", "(range(", "loop backwards"),
    ("variance", "reward_to_go_weights",
     "running = rewards[:, t] + gamma * running\n        to_go[:, t] = running",
     "to_go[:, t] = gamma * running\n        running = rewards[:, t] + gamma * running",
     "R_t starts with r_t itself"),
    ("variance", "reward_to_go_weights", "rewards = batch.rewards * batch.mask",
     "rewards = batch.rewards", "multiply batch.rewards by batch.mask"),
    ("variance", "reward_to_go_weights", "    if gamma_t:\n", "    if False:\n",
     "gamma_t=True multiplies R_t by gamma^t"),
    ("variance", "reward_to_go_weights", "torch.arange(rewards.shape[1], dtype",
     "torch.arange(1, rewards.shape[1] + 1, dtype", "gamma^t starts at gamma^0 = 1"),
    ("variance", "batch_baseline", "running.clamp(min=1)", "running", "not 0 / 0"),
    ("variance", "batch_baseline", "/ running.clamp(min=1)", "/ len(to_go)", "not over all n"),
    ("variance", "batch_baseline", "(to_go * mask).sum(0) / running.clamp(min=1)",
     "(to_go * mask).sum(1) / mask.sum(1).clamp(min=1)", "average over the episodes, axis 0"),
    ("variance", "exact_moments", "((g - mean) ** 2)", "(g**2)", "subtract the mean"),
    ("variance", "exact_moments", ".sum(axis=(1, 2))).sum())", ".mean(axis=(1, 2))).sum())",
     "(the trace), not their mean"),
    ("variance", "exact_moments", "variance = float(", "variance = np.sqrt(",
     "not its square root"),
    ("variance", "optimal_baseline",
     "return float((prob * score_sq * returns).sum() / (prob * score_sq).sum())",
     "return float((prob * returns).sum())", "that is the mean return E[R]"),
    ("variance", "optimal_baseline", "(scores.sum(axis=1) ** 2).sum(axis=(1, 2))",
     "(scores**2).sum(axis=(1, 2, 3))", "square the sum over the steps"),

    # actor_critic
    ("actor_critic", "fit_critic", "        optimizer.zero_grad()\n", "",
     "call optimizer.zero_grad() before each backward()"),
    ("actor_critic", "fit_critic", ".sum() / mask.sum()", ".mean()", "all 6 entries"),
    ("actor_critic", "fit_critic", "(mask * (critic(batch.obs) - targets) ** 2)",
     "((critic(batch.obs) - targets) ** 2)", "multiply the squared errors by batch.mask"),
    ("actor_critic", "advantages", "    with torch.no_grad():\n        values = critic(batch.obs)",
     "    values = critic(batch.obs)", "the actor's loss reaches the critic's parameters"),
    ("actor_critic", "advantages", "return (targets - values) * batch.mask",
     "return targets - values", "padded steps must get 0"),
    ("actor_critic", "one_step_targets", "* ~batch.terminated)",
     "* torch.cat([batch.mask[:, 1:], torch.zeros_like(batch.mask[:, :1])], 1))",
     "cut off by the time limit, not terminated"),
    ("actor_critic", "one_step_targets", "next_values * ~batch.terminated", "next_values",
     "after a terminal state nothing follows"),
    ("actor_critic", "one_step_targets", "critic(batch.next_obs)", "critic(batch.obs)",
     "the value of the next state"),
    ("actor_critic", "one_step_targets", "gamma * next_values", "next_values",
     "multiply V(s_(t+1)) by gamma"),

]  # fmt: skip

# Tests that train an agent: run by the grading tests instead.
SLOW_TESTS = {
    "test_train_reinforce",
    # actor_critic
    "test_train_actor_critic",
}


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def code_cells(folder: str, assignment: str) -> list[nbformat.NotebookNode]:
    path = REPO / folder / assignment / f"{assignment}.ipynb"
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def run_visible_tests(assignment: str, changes: dict[str, tuple[str, str]]) -> None:
    """Run the release's setup and visible tests, with the solution's answers changed by
    ``changes`` (grade_id -> (old, new)), in order, in one namespace."""
    answers = {grade_id(c): c.source for c in code_cells("solutions", assignment)}
    for cell_id, (old, new) in changes.items():
        assert old in answers[cell_id], f"{cell_id}: {old!r} is not in the solution any more"
        answers[cell_id] = answers[cell_id].replace(old, new)
    namespace: dict = {}
    threads = torch.get_num_threads()  # the setup cell sets one thread
    try:
        for cell in code_cells("exercises", assignment):
            if grade_id(cell) not in SLOW_TESTS:
                exec(
                    compile(answers.get(grade_id(cell), cell.source), grade_id(cell), "exec"),
                    namespace,
                )
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("assignment", driver.Course(REPO).assignments())
def test_the_solution_passes_the_visible_tests(assignment):
    run_visible_tests(assignment, {})


@pytest.mark.parametrize(("assignment", "cell_id", "old", "new", "words"), MISTAKES)
def test_a_typical_mistake_is_named(assignment, cell_id, old, new, words):
    with pytest.raises(AssertionError) as failure:
        run_visible_tests(assignment, {cell_id: (old, new)})
    assert words in str(failure.value), f"the learner reads: {failure.value}"


@pytest.mark.parametrize(
    ("scale", "words"),
    [
        (-1.0, "-0.992 times the exact gradient: wrong sign"),
        (500.0, "496 times the exact gradient: you summed them"),
        (2.0, "1.98 times the exact gradient: the direction is right, but a constant factor"),
    ],
)
def test_an_estimate_off_by_a_factor_is_told_the_factor(scale, words):
    exact = np.array([[1.0, -1.0], [0.5, -0.5]])
    noise = np.random.default_rng(0).normal(scale=0.1, size=(20, 2, 2))
    checks.check_unbiased("unbiased", exact + noise, exact)
    with pytest.raises(AssertionError) as failure:
        checks.check_unbiased(
            "g_hat", scale * (exact + noise), exact, factors={"you summed them": 500.0}
        )
    assert words in str(failure.value), str(failure.value)
