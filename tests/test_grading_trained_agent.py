"""The training test: the judge trains the learner's loop again and evaluates the agent itself.

The judge must pass the solution and deny, with a reason, every agent that does not balance the
pole or was not trained by the learner's own update: weights trained elsewhere and embedded in
the notebook, however the loop dresses them up.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbgrader.api import Gradebook

import pgcourse
from pgcourse import MLPPolicy
from pgcourse.grading import driver, judge, sandbox, submission, worker

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "reinforce" / "reinforce.ipynb"
EVAL_SEED = 55_555_555
"""Start states of the judge's evaluation in these tests (the judge draws its own per run)."""


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


def parameters(policy: torch.nn.Module) -> dict:
    return {name: tensor.tolist() for name, tensor in policy.state_dict().items()}


# --- the judge's own evaluation --------------------------------------------------------------


def test_an_agent_that_balances_passes():
    assert judge.agent_problem(parameters(balancing_mlp()), EVAL_SEED) is None


def test_the_judge_evaluates_on_start_states_of_its_own(monkeypatch):
    """Not on those of evaluate's default seed, where the learner's loop decides to stop."""
    seen = []
    real = pgcourse.evaluate
    monkeypatch.setattr(
        pgcourse, "evaluate", lambda policy, **kw: seen.append(kw) or real(policy, **kw)
    )
    assert judge.agent_problem(parameters(balancing_mlp()), EVAL_SEED) is None
    assert seen == [{"seed": EVAL_SEED}]


def test_the_evaluation_seed_comes_with_the_judges_inputs_and_stays_out_of_the_worker():
    """Drawn from the judge's generator (a regrade from the same inputs evaluates on the same
    episodes), away from the exercises' seeds, and never sent to the learner's code."""
    draws = [judge.training_seed(np.random.default_rng(n))[0]["eval_seed"] for n in range(50)]
    assert draws == [
        judge.training_seed(np.random.default_rng(n))[0]["eval_seed"] for n in range(50)
    ]
    assert len(set(draws)) == 50 and min(draws) >= 2**20  # not 10_000 + i, nor 20_000 + i

    sent = []

    class Worker:
        cpu_used, cells_cpu, calls = 1.0, 0.0, []

        def ready(self):
            pass

        def stop(self):
            pass

        def call(self, adapter, args, timeout, cpu_seconds=None):
            sent.append(args)
            trained = balancing_mlp() if not args.get("useless_update") else MLPPolicy(hidden=32)
            return {"value": {"steps": 3, "unmade": 0, "parameters": parameters(trained)}}

    (args,) = judge.training_seed(np.random.default_rng(0))
    check = judge.CHECKS["reinforce"]["test_train_reinforce"]
    torch.manual_seed(0)
    assert check.problem(Worker(), args, None) is None
    assert len(sent) == 2 and all("eval_seed" not in args for args in sent)


def test_an_untrained_agent_fails():
    torch.manual_seed(0)
    problem = judge.agent_problem(parameters(MLPPolicy(hidden=32)), EVAL_SEED)
    assert "the greedy policy returns" in problem and "the loop never saw" in problem


@pytest.mark.parametrize(
    "forged",
    [
        parameters(MLPPolicy(hidden=16)),
        {"net.0.weight": "x"},
        {"net.0.weight": [[1.0, 2.0], [3.0]]},
        [1, 2, 3],
    ],
)
def test_parameters_of_another_network_fail(forged):
    assert "not an MLPPolicy(hidden=32)" in judge.agent_problem(forged, EVAL_SEED)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e300])
def test_non_finite_or_huge_parameters_do_not_pass(value):
    shapes = {name: torch.tensor(v).shape for name, v in parameters(MLPPolicy(hidden=32)).items()}
    agent = {name: torch.full(shape, value, dtype=torch.float64).tolist()
             for name, shape in shapes.items()}  # fmt: skip
    assert judge.agent_problem(agent, EVAL_SEED) is not None


@pytest.mark.parametrize("got", [float("nan"), float("inf"), 1e300, None, [[1.0]], {}, "x"])
def test_malformed_answers_are_wrong_answers(got):
    assert judge.compare(got, 1.0, 1e-6) is not None


# --- what the worker reports about a training run ----------------------------------------------


def program_namespace(path: Path) -> dict:
    """A solution notebook's setup and answer cells, run in this process."""
    namespace: dict = {}
    for code, _ in submission.program(nbformat.read(path, as_version=4)):
        exec(code, namespace)
    return namespace


@pytest.fixture(scope="module")
def solution_namespace() -> dict:
    return program_namespace(SOLUTION)


@pytest.fixture(scope="module")
def pretrained(solution_namespace) -> dict:
    """The state of an agent the solution's loop trained here, outside any sandbox."""
    policy, _ = solution_namespace["train_reinforce"](max_updates=300, seed=0)
    assert judge.agent_problem(parameters(policy), EVAL_SEED) is None
    return policy.state_dict()


def loop_that(namespace: dict, ending: str) -> dict:
    """``namespace`` with a three-update training loop whose last lines are ``ending``."""
    code = f"""
def train_reinforce(max_updates=300, seed=0):
    pgcourse.seed_everything(seed)
    envs = make_vec_env(16, seed=seed)
    policy = MLPPolicy(hidden=32)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    for update in range(1, max_updates + 1):
        batch = rollout(policy, envs, 16)
        loss = reinforce_loss(policy, batch, reinforce_weights(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update == 2:
            best = copy.deepcopy(policy)
{ending}
"""
    mine = {**namespace, "copy": copy}
    exec(code, mine)
    return mine


@pytest.mark.parametrize(
    "ending, unmade",
    [
        ("    return policy, update", False),
        ("    return best, 2  # a copy of an earlier step's policy", False),
        ("    policy.load_state_dict(PRETRAINED)\n    return policy, update", True),
        ("    return MLPPolicy(hidden=32), update  # a policy no optimiser trained", True),
        ("    policy.net[0].weight.data += 1e-3\n    return policy, update", True),
    ],
)
def test_parameters_no_optimiser_step_made_are_counted(
    solution_namespace, pretrained, ending, unmade
):
    namespace = loop_that({**solution_namespace, "PRETRAINED": pretrained}, ending)
    run = worker.train_reinforce(namespace, max_updates=3, seed=5)
    assert (run["steps"], run["calls"]) == (3, 3)
    assert bool(run["unmade"]) == unmade, run["unmade"]


def test_a_useless_update_learns_nothing(solution_namespace):
    namespace = loop_that(solution_namespace, "    return policy, update")
    one = worker.train_reinforce(namespace, max_updates=1, seed=5, useless_update=True)
    three = worker.train_reinforce(namespace, max_updates=3, seed=5, useless_update=True)
    learned = worker.train_reinforce(namespace, max_updates=3, seed=5)
    assert three["steps"] == 3 and three["calls"] == 3
    assert one["parameters"] == three["parameters"] != learned["parameters"]
    assert namespace["reinforce_loss"] is solution_namespace["reinforce_loss"]  # restored


AC_SOLUTION = REPO / "solutions" / "actor_critic" / "actor_critic.ipynb"


@pytest.fixture(scope="module")
def actor_critic_namespace() -> dict:
    return program_namespace(AC_SOLUTION)


def test_the_critics_steps_are_not_updates_of_the_policy(actor_critic_namespace):
    fit = actor_critic_namespace["fit_critic"]
    run = worker.train_actor_critic(actor_critic_namespace, max_updates=3, seed=5)
    assert (run["steps"], run["calls"], run["unmade"]) == (3, 3, 0)  # besides 45 of the critic
    assert actor_critic_namespace["fit_critic"] is fit  # restored


def test_steps_of_the_policy_inside_the_critics_fit_are_counted(actor_critic_namespace):
    """A loop that also trains the policy through fit_critic, with the actor's optimiser."""
    (cell,) = [
        c
        for c in nbformat.read(AC_SOLUTION, as_version=4).cells
        if submission.grade_id(c) == "train_actor_critic"
    ]
    honest_step = "        actor_optimizer.step()\n"
    assert honest_step in cell.source
    sneaky = (
        "        logits = lambda obs: policy(obs).logits[..., 0]\n"
        "        fit_critic(logits, actor_optimizer, batch, weights, 10)\n"
    )
    mine = dict(actor_critic_namespace)
    exec(cell.source.replace(honest_step, honest_step + sneaky), mine)
    run = worker.train_actor_critic(mine, max_updates=2, seed=5)
    assert run["steps"] == 2 * (1 + 10), run["steps"]


# --- realistic attacks, graded end to end ------------------------------------------------------

EMBEDDED = """import base64
import io

PRETRAINED = "{weights}"


def pretrained_policy():
    \"\"\"The agent I trained at home.\"\"\"
    policy = MLPPolicy(hidden=32)
    policy.load_state_dict(torch.load(io.BytesIO(base64.b64decode(PRETRAINED))))
    return policy

"""

ATTACKS = {
    # The weights themselves, with a small claimed number of updates.
    "embedded": (
        """
def train_reinforce(max_updates=300, seed=0):
    return pretrained_policy(), 5
""",
        "no optimiser step was taken",
    ),
    # The weights, then two real but tiny updates: reinforce_loss is called, the count is true.
    "few_updates": (
        """
def train_reinforce(max_updates=300, seed=0):
    pgcourse.seed_everything(seed)
    envs = make_vec_env(16, seed=seed)
    policy = pretrained_policy()
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-5)
    for update in range(1, min(max_updates, 2) + 1):
        batch = rollout(policy, envs, 16)
        loss = reinforce_loss(policy, batch, reinforce_weights(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    envs.close()
    return policy, update
""",
        "even when reinforce_loss is multiplied by 0",
    ),
    # A loop that calls reinforce_loss once an update, then loads the weights at the end.
    "loads_at_end": (
        """
def train_reinforce(max_updates=300, seed=0):
    pgcourse.seed_everything(seed)
    envs = make_vec_env(16, seed=seed)
    policy = MLPPolicy(hidden=32)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    for update in range(1, min(max_updates, 20) + 1):
        batch = rollout(policy, envs, 16)
        loss = reinforce_loss(policy, batch, reinforce_weights(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    envs.close()
    policy.load_state_dict(pretrained_policy().state_dict())
    return policy, update
""",
        "no optimiser step made",
    ),
    # The solution's loop, finished off with the weights once its own agent starts to learn:
    # with a useless update it never does, so only the parameters' history gives it away.
    "tops_off": (
        """
def train_reinforce(max_updates=300, seed=0):
    pgcourse.seed_everything(seed)
    envs = make_vec_env(16, seed=seed)
    policy = MLPPolicy(hidden=32)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    for update in range(1, max_updates + 1):
        batch = rollout(policy, envs, 16)
        loss = reinforce_loss(policy, batch, reinforce_weights(batch))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update % 5 == 0 and evaluate(policy).mean >= 60:
            policy.load_state_dict(pretrained_policy().state_dict())
            break
    envs.close()
    return policy, update
""",
        "no optimiser step made",
    ),
}


def with_training(loop: str, weights: str) -> str:
    """The solution with its training loop replaced by ``loop``, after the embedded weights."""
    notebook = nbformat.read(SOLUTION, as_version=4)
    (cell,) = [c for c in notebook.cells if submission.grade_id(c) == "train_reinforce"]
    cell.source = EMBEDDED.format(weights=weights) + loop
    return nbformat.writes(notebook)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, pretrained):
    buffer = io.BytesIO()
    torch.save(pretrained, buffer)
    weights = base64.b64encode(buffer.getvalue()).decode()
    course = driver.scratch_course(REPO, tmp_path_factory.mktemp("course"))
    driver.submit(course, "honest", "reinforce", SOLUTION.read_text())
    for student, (loop, _) in ATTACKS.items():
        driver.submit(course, student, "reinforce", with_training(loop, weights))
    outcomes = {o.student: o for o in driver.autograde(course, jobs=2)}
    with Gradebook(course.db_url) as gradebook:
        scores = {
            student: {
                g.cell.name: g.auto_score
                for g in gradebook.find_submission("reinforce", student).notebooks[0].grades
            }
            for student in outcomes
        }
    return course, outcomes, scores


def test_the_solution_keeps_full_marks(graded):
    _, outcomes, _ = graded
    assert outcomes["honest"].ok and outcomes["honest"].detail == "11 / 11 points"


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_embedded_weights_lose_the_training_points_and_are_flagged(graded, student):
    course, outcomes, scores = graded
    assert outcomes[student].ok, outcomes[student]
    assert scores[student]["test_train_reinforce"] == 0
    assert scores[student]["test_reinforce_weights"] == 3  # the honest parts keep their points
    verdicts = json.loads((course.autograded / student / "reinforce" / "judge.json").read_text())
    assert "test_train_reinforce" in verdicts["tampering_suspected"]  # nbgrader gave it points
    detail = verdicts["checks"]["test_train_reinforce"]["detail"]
    assert ATTACKS[student][1] in detail, detail


# --- the library's training code -----------------------------------------------------------------


def test_sandboxed_code_cannot_call_the_librarys_training(tmp_path):
    sandbox.check_bwrap()
    box = sandbox.Sandbox(enabled=True)
    code = "import pgcourse; pgcourse.run_reinforce()"
    argv = [sandbox.python(), "-c", code]
    result = subprocess.run(box.command(argv, tmp_path), capture_output=True, text=True)
    assert "the library's training code is not available" in result.stderr
    assert result.returncode != 0


def test_without_the_sandbox_the_judge_still_trains_the_agent(tmp_path):
    course = driver.scratch_course(REPO, tmp_path / "course")
    driver.submit(course, "alice", "reinforce", SOLUTION.read_text())
    (outcome,) = driver.autograde(course, options=driver.Options(sandbox=False))
    assert outcome.ok and outcome.detail == "11 / 11 points", outcome
