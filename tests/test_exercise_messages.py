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
    # --- stochastic_policy: mistakes ---

    # --- objective: mistakes ---

    # --- variance: mistakes ---

    # --- actor_critic: mistakes ---
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
    # --- stochastic_policy: slow tests ---
    # --- objective: slow tests ---
    # --- variance: slow tests ---
    # --- actor_critic: slow tests ---
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
