"""Grading holds against broken and hostile submissions.

One class of hostile submissions is autograded in one run of the driver, with a short cell
timeout: each must get exactly the points its honest cells earn, none may reach another's files,
and the whole class must get the same grades when graded again through the command line.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from pgcourse.grading import driver, judge
from pgcourse.grading.hidden_tests import JUDGE_SAYS
from pgcourse.grading.outcomes import Kind

REPO = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 20  # a hung cell is cut off; importing torch, even on a busy machine, is not
SECRET = "pgcourse-test-secret-value"

# The shell's error reporting replaced, as a new user of nbgrader would find it: every failing
# test cell then looks like a pass to nbgrader.
SILENCE_ERRORS = """
ip = get_ipython()
_run_cell = ip.run_cell
def run_cell(*args, **kwargs):
    result = _run_cell(*args, **kwargs)
    result.error_in_exec = None
    return result
ip.run_cell = run_cell
ip.showtraceback = lambda *args, **kwargs: None
"""

# Everything the tests rely on, patched to agree with any answer.
PATCH_TESTS = """
import builtins, math, sys
import numpy, torch
from pgcourse.grading import checks as real_checks
numpy.allclose = torch.allclose = math.isclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None
for name in dir(real_checks):
    if name.startswith("check_") and name != "check_has_gradient":
        setattr(real_checks, name, lambda *args, **kwargs: None)
sys.modules["pgcourse.grading.checks"] = real_checks
builtins.AssertionError = type("Never", (Exception,), {})
"""

# Attempts to reach outside the submission's folder; prints what got through.
ESCAPE = """
import json, os, pathlib, shutil, socket
course, repo = pathlib.Path({course!r}), pathlib.Path({repo!r})
source = "solutions/score_function/score_function.ipynb"
report = {{}}
def attempt(name, action):
    try:
        result = action()
        report[name] = "succeeded" if result not in (b"", "", [], None, False) else "empty"
    except Exception as err:
        report[name] = "blocked: " + type(err).__name__
attempt("read solutions", lambda: (course / source).read_text())
attempt("read repo solutions", lambda: (repo / source).read_text())
attempt("read gradebook", lambda: (course / "gradebook.db").read_bytes())
attempt("list autograded", lambda: os.listdir(course / "autograded"))
attempt("list submitted", lambda: os.listdir(course / "submitted"))
attempt("delete a submission", lambda: shutil.rmtree(course / "submitted/honest") or True)
attempt("overwrite gradebook", lambda: (course / "gradebook.db").write_text("x") or True)
attempt("overwrite source", lambda: (course / source).write_text("x") or True)
attempt("write in the course", lambda: (course / "pwned.txt").write_text("x") or True)
attempt("write in the repo", lambda: (repo / "pwned.txt").write_text("x") or True)
attempt("network", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2) and True)
attempt("secret in environment", lambda: {secret!r} in str(os.environ))
print("ESCAPE REPORT " + json.dumps(report))
"""


def cell_of(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    (cell,) = [
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    return cell


def notebook(assignment: str, kind: str = "solutions") -> nbformat.NotebookNode:
    return nbformat.read(REPO / kind / assignment / f"{assignment}.ipynb", as_version=4)


def prepend(nb: nbformat.NotebookNode, edits: dict[str, str]) -> str:
    """``nb`` with each cell ``grade_id`` of ``edits`` starting with the given code."""
    for grade_id, code in edits.items():
        cell = cell_of(nb, grade_id)
        cell.source = f"{code}\n{cell.source}"
    return nbformat.writes(nb)


def replace(nb: nbformat.NotebookNode, edits: dict[str, str]) -> str:
    """``nb`` with each cell ``grade_id`` of ``edits`` holding the given code."""
    for grade_id, code in edits.items():
        cell_of(nb, grade_id).source = code
    return nbformat.writes(nb)


def hungry() -> str:
    """50 GB asked for in an answer cell; a million lines printed by a cell of its own (which may
    run out of time on a busy machine: either way its output must be cut short)."""
    nb = notebook("score_function")
    cell_of(nb, "log_prob").source = (
        "block = bytearray(50 * 2**30)\n" + cell_of(nb, "log_prob").source
    )
    flood = nbformat.v4.new_code_cell("for i in range(10**6):\n    print(i)")
    nb.cells.insert(nb.cells.index(cell_of(nb, "reward_to_go")) + 1, flood)
    return nbformat.writes(nb)


def edited_tests() -> str:
    """Correct answers whose tests were emptied or deleted; wrong ones whose tests were
    rewritten to pass or stripped of their metadata."""
    nb = notebook("score_function")
    cell_of(nb, "test_log_prob").source = ""
    nb.cells.remove(cell_of(nb, "test_reward_to_go"))
    cell_of(
        nb, "discounted_return"
    ).source = "def discounted_return(rewards, gamma):\n    return 0.0"
    cell_of(nb, "test_discounted_return").source = "pass"
    large = cell_of(nb, "test_grad_log_prob_large_logits")
    large.source, large.metadata = "print('fine')", {}
    large.cell_type = "markdown"
    del large["outputs"], large["execution_count"]
    answer = cell_of(nb, "grad_log_prob")
    answer.source = answer.source.replace("np.exp(logits - logits.max())", "np.exp(logits)")
    return nbformat.writes(nb)


def training_cheat(assignment: str, loop: str) -> str:
    """Correct answers before the training loop ``loop``, no training, and an evaluate that says
    it is solved, put in pgcourse too (the visible tests call pgcourse.evaluate), called as the
    loop's two checks would be: nbgrader's kernel believes every visible test, the judge not."""
    nb = notebook(assignment)
    cell_of(nb, loop).source = (
        "class Solved:\n    mean = 500.0\n\n\n"
        "def evaluate(policy, *args, **kwargs):\n    return Solved()\n\n\n"
        "pgcourse.evaluate = evaluate\n\n\n"
        f"def {loop}(max_updates=300, seed=0):\n"
        "    for _ in range(2):\n        evaluate(MLPPolicy(hidden=32))\n"
        "    return MLPPolicy(hidden=32), 10\n"
    )
    return nbformat.writes(nb)


# student -> (assignment, notebook text or None for a file written by hand, expected points of
# each test cell that differ from full marks (0 unless given))
def class_of(course: driver.Course) -> dict[str, tuple[str, str]]:
    blank = nbformat.writes(notebook("score_function", "exercises"))
    solution = nbformat.writes(notebook("score_function"))
    escape = ESCAPE.format(course=str(course.root), repo=str(REPO), secret=SECRET)
    return {
        "honest": ("score_function", solution),
        "hangs": ("score_function", prepend(notebook("score_function"), {
            "log_prob": "while True: pass", "reward_to_go": "import time; time.sleep(10**6)"})),
        "exits": ("score_function", prepend(notebook("score_function"), {
            "surrogate_loss": "import os; os._exit(1)"})),
        "crashes": ("score_function", prepend(notebook("score_function"), {
            "score_function_estimate": "import ctypes; ctypes.string_at(0)"})),
        "interrupts": ("score_function", prepend(notebook("score_function"), {
            "grad_log_prob": "raise KeyboardInterrupt",
            "discounted_return": "import sys; sys.exit(3)"})),
        "hungry": ("score_function", hungry()),
        "edits": ("score_function", edited_tests()),
        "silences": ("score_function", prepend(notebook("score_function", "exercises"), {
            "log_prob": SILENCE_ERRORS})),
        "patches": ("score_function", replace(notebook("score_function", "exercises"), {
            "log_prob": PATCH_TESTS + "def log_prob(theta, s, a):\n    return 0.0\n"})),
        "escapes": ("score_function", prepend(notebook("score_function"), {"log_prob": escape})),
        "fakes": ("reinforce", training_cheat("reinforce", "train_reinforce")),
        "notjson": ("score_function", '{"cells": ['),
        "nometa": ("score_function", nbformat.writes(nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell(cell_of(notebook("score_function"), "log_prob").source)]))),
    } | {"blank": ("score_function", blank)} | {
        # stochastic_policy
        "forges-stochastic_policy": ("stochastic_policy", prepend(
            notebook("stochastic_policy", "exercises"), {"softmax": SILENCE_ERRORS})),
        "breaks-stochastic_policy": ("stochastic_policy", prepend(notebook("stochastic_policy"), {
            "sequence_log_prob": "import os; os._exit(1)"})),

        # objective
        "forges-objective": ("objective", prepend(notebook("objective", "exercises"), {
            "exact_objective": SILENCE_ERRORS})),
        "breaks-objective": ("objective", prepend(notebook("objective"), {
            "central_difference_gradient": "import os; os._exit(1)"})),

        # variance
        "forges-variance": ("variance", prepend(notebook("variance", "exercises"), {
            "reward_to_go_weights": SILENCE_ERRORS})),
        "breaks-variance": ("variance", prepend(notebook("variance"), {
            "batch_baseline": "import os; os._exit(1)"})),

        # actor_critic
        "forges-actor_critic": ("actor_critic", prepend(notebook("actor_critic", "exercises"), {
            "fit_critic": SILENCE_ERRORS})),
        "breaks-actor_critic": ("actor_critic", prepend(notebook("actor_critic"), {
            "train_actor_critic": "import os; os._exit(1)"})),
        "fakes-actor_critic": ("actor_critic", training_cheat(
            "actor_critic", "train_actor_critic")),

    }  # fmt: skip


FULL = {
    "score_function": 18,
    "reinforce": 11,
    "stochastic_policy": 14,
    "objective": 16,
    "variance": 14,
    "actor_critic": 14,
}
# The points each test cell must get; cells not listed get their full points. The judge alone
# scores: a correct function in a cell after one that killed nbgrader's kernel earns its points
# (the judge's worker skips the killing cell), with a note on the submission's line.
EXPECTED = {
    "honest": {},
    "hangs": {"test_log_prob": 0, "test_log_prob_large_logits": 0, "test_reward_to_go": 0},
    "exits": {"test_surrogate_loss": 0},
    "crashes": {"test_score_function_estimate": 0, "test_score_function_unbiased": 0},
    "interrupts": {
        "test_grad_log_prob": 0,
        "test_grad_log_prob_large_logits": 0,
        "test_discounted_return": 0,
        "test_score_function_estimate": 0,
        "test_score_function_unbiased": 0,
    },
    "hungry": {"test_log_prob": 0, "test_log_prob_large_logits": 0},
    "edits": {
        "test_discounted_return": 0,
        "test_grad_log_prob_large_logits": 0,
        "test_score_function_estimate": 0,
        "test_score_function_unbiased": 0,
    },
    "silences": "all 0",
    "patches": "all 0",
    "escapes": {},
    "fakes": {"test_train_reinforce": 0, "test_own_update": 0},
    "blank": "all 0",
    # stochastic_policy
    "forges-stochastic_policy": "all 0",
    # The kernel dies in sequence_log_prob: its test and the cells after it are never run.
    "breaks-stochastic_policy": {"test_sequence_log_prob": 0},
    # objective
    "forges-objective": "all 0",
    "breaks-objective": {
        "test_central_difference": 0,
        "test_common_random_numbers": 0,
        "test_central_difference_errors": 0,
    },
    # variance
    "forges-variance": "all 0",
    "breaks-variance": {"test_batch_baseline": 0},
    # actor_critic
    "forges-actor_critic": "all 0",
    "breaks-actor_critic": {"test_train_actor_critic": 0, "test_own_update": 0},
    "fakes-actor_critic": {"test_train_actor_critic": 0, "test_own_update": 0},
}


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def scores(course: driver.Course) -> dict[tuple[str, str], dict[str, float]]:
    result = {}
    with Gradebook(course.db_url) as gradebook:
        for assignment in FULL:
            for sub in gradebook.assignment_submissions(assignment):
                grades = sub.notebooks[0].grades
                result[sub.student_id, assignment] = {
                    g.cell.name: g.auto_score for g in grades if g.cell.cell_type == "code"
                }
    return result


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = driver.scratch_course(REPO, tmp_path_factory.mktemp("course"))
    with (course.root / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.ExecutePreprocessor.timeout = {CELL_TIMEOUT}\n")
    for student, (assignment, text) in class_of(course).items():
        driver.submit(course, student, assignment, text)
    wrong_name = course.submitted / "renamed" / "score_function"
    wrong_name.mkdir(parents=True)
    (wrong_name / "Score_Function (1).ipynb").write_text(class_of(course)["honest"][1])
    (course.submitted / "nothing" / "score_function").mkdir(parents=True)
    before = digest(course.submitted)
    os.environ["PGCOURSE_TEST_SECRET"] = SECRET
    try:
        outcomes = driver.autograde(course, jobs=2)
    finally:
        del os.environ["PGCOURSE_TEST_SECRET"]
    return course, {o.student: o for o in outcomes}, before


def test_broken_files_are_reported_by_name(graded):
    _, outcomes, _ = graded
    assert "is not a valid notebook" in outcomes["notjson"].detail
    assert "has none of the assignment's cells" in outcomes["nometa"].detail
    assert "rename Score_Function (1).ipynb to score_function.ipynb" in outcomes["renamed"].detail
    assert "no notebook submitted" in outcomes["nothing"].detail
    broken = {"notjson", "nometa", "renamed", "nothing"}
    assert {s for s, o in outcomes.items() if not o.ok} == broken, [
        str(o) for o in outcomes.values()
    ]


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_scores_what_its_honest_cells_earn(graded, student):
    course, outcomes, _ = graded
    assignment = class_of(course)[student][0]
    got = scores(course)[student, assignment]
    points = {
        name: points for name, (kind, points) in grade_cells(assignment).items() if kind == "code"
    }
    expected = EXPECTED[student]
    if expected == "all 0":
        expected = dict.fromkeys(points, 0)
    assert got == {name: expected.get(name, points[name]) for name in points}, outcomes[student]


def test_a_cell_the_kernel_lost_and_the_judge_passed_is_noted(graded):
    _, outcomes, _ = graded
    note = "test_surrogate_loss failed in the notebook and passed the judge's check"
    assert note in outcomes["crashes"].detail
    assert "failed in the notebook" not in outcomes["honest"].detail


def grade_cells(assignment: str) -> dict[str, tuple[str, float]]:
    return {
        c.metadata.nbgrader.grade_id: (c.cell_type, c.metadata.nbgrader.points)
        for c in notebook(assignment).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


def test_forged_passes_are_flagged(graded, tmp_path):
    course, outcomes, _ = graded
    for student in ("silences", "patches"):
        assert "tampering suspected" in outcomes[student].detail
    assert "test_train_reinforce" in outcomes["fakes"].detail
    assert "test_train_actor_critic" in outcomes["fakes-actor_critic"].detail
    assert "tampering" not in outcomes["honest"].detail
    feedback = driver.feedback(course, student="silences")
    assert [o.ok for o in feedback] == [True]
    page = course.root / "feedback/silences/score_function/score_function.html"
    assert JUDGE_SAYS[Kind.TAMPERING] in html.unescape(page.read_text())
    assert not (page.parent / driver.VERDICT_FILE).exists()  # the details stay with you
    with driver.grades(course, tmp_path / "grades.csv").open() as file:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(file)}
    assert "test_log_prob" in rows["silences", "score_function"]["tampering_suspected"].split()
    assert rows["honest", "score_function"]["tampering_suspected"] == ""


def test_nothing_outside_the_submission_is_reached(graded):
    course, _, before = graded
    assert digest(course.submitted) == before
    assert not (course.root / "pwned.txt").exists() and not (REPO / "pwned.txt").exists()
    autograded = nbformat.read(
        course.autograded / "escapes/score_function/score_function.ipynb", as_version=4
    )
    text = "".join(o.get("text", "") for o in cell_of(autograded, "log_prob").outputs)
    report = json.loads(text.split("ESCAPE REPORT ", 1)[1].splitlines()[0])
    assert report and all(r != "succeeded" for r in report.values()), report


def test_output_floods_are_truncated(graded):
    course, _, _ = graded
    path = course.autograded / "hungry/score_function/score_function.ipynb"
    assert path.stat().st_size < 1_000_000
    log_prob = cell_of(nbformat.read(path, as_version=4), "log_prob")
    assert any(o.get("ename") == "MemoryError" for o in log_prob.outputs)


@pytest.mark.parametrize("student", ["escapes", "silences"])
def test_grading_again_from_the_command_line_gives_the_same_grades(graded, student):
    course, _, _ = graded
    first = scores(course)
    command = [sys.executable, "-m", "pgcourse.grading", "--root", str(course.root)]
    result = subprocess.run(
        [*command, "autograde", "--student", student], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert scores(course) == first


def test_every_autograded_test_cell_has_a_judge_check():
    for assignment in FULL:
        code_tests = {k for k, (kind, _) in grade_cells(assignment).items() if kind == "code"}
        assert set(judge.CHECKS[assignment]) == code_tests
        assert sum(grade_cells(assignment)[k][1] for k in code_tests) == FULL[assignment]


def test_grading_refuses_to_run_unsandboxed_without_bwrap(tmp_path):
    course = driver.scratch_course(REPO, tmp_path / "course")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent))
    result = subprocess.run(
        [sys.executable, "-m", "pgcourse.grading", "--root", str(course.root), "autograde"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 2
    assert "apt-get install bubblewrap" in result.stderr and "--no-sandbox" in result.stderr
