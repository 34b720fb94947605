"""The training test's agent: handed in by nbgrader's kernel, evaluated again by the judge.

The judge must pass an agent that balances the pole and deny, with a reason, every agent that
does not, that breaks the budget, or that is not an agent at all.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from pgcourse import MLPPolicy
from pgcourse.grading import checks, driver, judge, sandbox

REPO = Path(__file__).resolve().parents[1]


def balancing_mlp() -> MLPPolicy:
    """An MLPPolicy(hidden=32) that pushes the cart toward the side the pole leans and moves to."""
    policy = MLPPolicy(hidden=32)
    push_right = torch.tensor([0.5, 1.0, 10.0, 3.0])  # weights of x, x_dot, theta, theta_dot
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.zero_()
        policy.net[0].weight[0] = push_right
        policy.net[2].weight[:, 0] = torch.tensor([-1.0, 1.0])
    return policy


def hand_in(folder: Path, monkeypatch, policy, updates: int = 40, seconds: float = 3.0) -> Path:
    path = folder / sandbox.AGENT_FILE
    monkeypatch.setenv(sandbox.AGENT_VARIABLE, str(path))
    checks.hand_in_agent(policy, updates, seconds)
    return path


def test_nothing_is_handed_in_outside_grading(tmp_path, monkeypatch):
    monkeypatch.delenv(sandbox.AGENT_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    checks.hand_in_agent(balancing_mlp(), 40, 3.0)
    assert list(tmp_path.iterdir()) == []


def test_an_agent_that_balances_passes(tmp_path, monkeypatch):
    path = hand_in(tmp_path, monkeypatch, balancing_mlp())
    assert judge.judge_trained_agent("reinforce", path) == {
        "test_train_reinforce": judge.Verdict(True, "passed")
    }
    assert judge.judge_trained_agent("score_function", path) == {}


@pytest.mark.parametrize(
    "updates, seconds, reason",
    [
        (judge.TRAINING_UPDATES + 1, 3.0, "the budget is 300"),
        (40, judge.TRAINING_SECONDS + 1, "the budget is 60 s"),
    ],
)
def test_an_agent_over_budget_fails(tmp_path, monkeypatch, updates, seconds, reason):
    path = hand_in(tmp_path, monkeypatch, balancing_mlp(), updates, seconds)
    assert reason in judge.trained_agent_problem(path)


def test_an_untrained_agent_fails_on_the_judges_own_evaluation(tmp_path, monkeypatch):
    torch.manual_seed(0)
    path = hand_in(tmp_path, monkeypatch, MLPPolicy(hidden=32))
    assert "the greedy policy returns" in judge.trained_agent_problem(path)


def test_another_network_fails(tmp_path, monkeypatch):
    path = hand_in(tmp_path, monkeypatch, MLPPolicy(hidden=16))
    assert "not an MLPPolicy(hidden=32)" in judge.trained_agent_problem(path)


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "no trained agent was handed in"),
        ("{not json", "malformed"),
        ("[1, 2, 3]", "malformed"),
        ('{"updates": 5, "seconds": 1.0, "parameters": {"net.0.weight": "x"}}', "malformed"),
        ('{"updates": "many", "seconds": 1.0, "parameters": {}}', "malformed"),
        (" " * (judge.MAX_AGENT_BYTES + 1), "larger than"),
    ],
)
def test_a_missing_or_forged_file_fails_with_a_reason(tmp_path, content, reason):
    path = tmp_path / sandbox.AGENT_FILE
    if content is not None:
        path.write_text(content)
    assert reason in judge.trained_agent_problem(path)


def test_a_link_to_a_file_outside_the_sandbox_is_not_followed(tmp_path, monkeypatch):
    agent = hand_in(tmp_path, monkeypatch, balancing_mlp())
    link = tmp_path / "link" / sandbox.AGENT_FILE
    link.parent.mkdir()
    link.symlink_to(agent)
    assert "symbolic link" in judge.trained_agent_problem(link)


def test_sandboxed_code_cannot_call_the_librarys_training(tmp_path):
    sandbox.check_bwrap()
    box = sandbox.Sandbox(enabled=True)
    code = "import pgcourse; pgcourse.run_reinforce()"
    argv = [sandbox.python(), "-c", code]
    result = subprocess.run(box.command(argv, tmp_path), capture_output=True, text=True)
    assert "the library's training code is not available" in result.stderr
    assert result.returncode != 0


def test_without_the_sandbox_the_kernel_still_hands_in_its_agent(tmp_path):
    course = driver.scratch_course(REPO, tmp_path / "course")
    solution = (course.solutions / "reinforce" / "reinforce.ipynb").read_text()
    driver.submit(course, "alice", "reinforce", solution)
    (outcome,) = driver.autograde(course, options=driver.Options(sandbox=False))
    assert outcome.ok and outcome.detail == "11 / 11 points", outcome
