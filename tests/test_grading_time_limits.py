"""Grading keeps to its time limits: a cell that ignores the interrupt at its timeout costs only
its own tests, and the judge stops at the submission's time limit whatever the answers do."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from pgcourse.grading import driver, grade, judge, submission
from pgcourse.grading.outcomes import Kind, Verdict
from pgcourse.grading.sandbox import Limits, Sandbox

REPO = Path(__file__).resolve().parents[1]
# A cell's time limit in nbgrader and the judge: far above what an honest cell needs even on a
# loaded machine (the suite grades on every core at once), so that only the stalls hit it.
CELL_TIMEOUT = 30
# The last test's judge alone: each check's limit, and the deadline that comes first.
CHECK_TIMEOUT, DEADLINE = 10, 30

# Ignores the interrupt nbgrader sends at the cell's timeout, and never ends.
DEAF = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"

# Answers that work in nbgrader's kernel and sleep when the judge's worker calls them.
STALLS_IN_THE_JUDGE = """
import functools
import time


def stalls_in_the_judge(function):
    @functools.wraps(function)
    def stalling(*args, **kwargs):
        if type(get_ipython()).__name__ != "ZMQInteractiveShell":
            time.sleep(10**6)
        return function(*args, **kwargs)

    return stalling

"""
ANSWERS = [
    "log_prob",
    "grad_log_prob",
    "discounted_return",
    "reward_to_go",
    "score_function_estimate",
    "surrogate_loss",
]


def solution(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)


def cell_of(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in notebook.cells if submission.grade_id(c) == grade_id]
    return cell


def stalling_answers() -> str:
    notebook = solution("score_function")
    cell_of(notebook, ANSWERS[0]).source = (
        STALLS_IN_THE_JUDGE + cell_of(notebook, ANSWERS[0]).source
    )
    for name in ANSWERS:
        cell_of(notebook, name).source += f"\n\n{name} = stalls_in_the_judge({name})\n"
    return nbformat.writes(notebook)


def deaf_answer() -> str:
    notebook = solution("score_function")
    cell_of(notebook, "log_prob").source = DEAF + cell_of(notebook, "log_prob").source
    return nbformat.writes(notebook)


def points_of(assignment: str) -> dict[str, float]:
    return {
        submission.grade_id(c): c.metadata.nbgrader.points
        for c in solution(assignment).cells
        if submission.is_test(c)
    }


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = driver.scratch_course(REPO, tmp_path_factory.mktemp("course"))
    with (course.root / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.ExecutePreprocessor.timeout = {CELL_TIMEOUT}\n")
    driver.submit(course, "deaf", "score_function", deaf_answer())
    driver.submit(course, "stalls", "score_function", stalling_answers())
    driver.sync_gradebook(course, ["score_function"])
    return course


def scores(
    course: driver.Course, student: str, assignment: str = "score_function"
) -> dict[str, float]:
    with Gradebook(course.db_url) as gradebook:
        grades = gradebook.find_submission(assignment, student).notebooks[0].grades
        return {g.cell.name: g.auto_score for g in grades if g.cell.cell_type == "code"}


def verdicts(course: driver.Course, student: str) -> dict:
    path = course.autograded / student / "score_function" / driver.VERDICT_FILE
    return json.loads(path.read_text())


def test_a_cell_that_ignores_the_interrupt_costs_only_its_tests(course):
    outcome = driver.grade_submission(course, "deaf", "score_function")
    assert outcome.ok, outcome
    lost = {"test_log_prob": 0, "test_log_prob_large_logits": 0}  # log_prob was never defined
    # The later cells ran in a restarted kernel, after the setup cell ran again.
    assert scores(course, "deaf") == {**points_of("score_function"), **lost}
    autograded = nbformat.read(
        course.autograded / "deaf/score_function/score_function.ipynb", as_version=4
    )
    errors = [o.get("evalue", "") for o in cell_of(autograded, "log_prob").outputs]
    assert any("ignores SIGINT" in e for e in errors), errors
    # The judge's worker, restarted without that cell, checked all the others.
    failed = [k for k, v in verdicts(course, "deaf")["checks"].items() if v["kind"] != "passed"]
    assert sorted(failed) == sorted(lost), failed


def test_the_judge_stops_at_the_submissions_time_limit(course):
    # Unbounded, the judge would wait out the cell timeout on each of its 9 checks (4.5 minutes).
    limit = 90.0
    outcome = driver.grade_submission(course, "stalls", "score_function", timeout=limit)
    assert outcome.ok, outcome
    # Plus the start-up of the first grading in a process (the judge's reference, the gradebook
    # of the assignment), which the time limit does not count.
    assert outcome.seconds < limit + 40, outcome
    assert "the judge ran out of time" in outcome.detail
    assert set(scores(course, "stalls").values()) == {0}  # no grade stands unchecked
    record = verdicts(course, "stalls")
    unchecked = [k for k, v in record["checks"].items() if v["kind"] == "not_checked"]
    # A cell nbgrader did not credit (on a loaded machine one can hit the cell timeout) scored 0
    # before the judge and is not flagged; every other unchecked cell is.
    credited = [k for k in unchecked if k not in failed_in_nbgrader(course, "stalls")]
    # Flagged as not checked, not as tampering: nbgrader's points were never confirmed.
    assert credited and set(credited) <= set(record["flagged"]), record
    assert not set(unchecked) & set(record["tampering_suspected"]), record


def failed_in_nbgrader(course: driver.Course, student: str) -> set[str]:
    """The test cells that raised in nbgrader's own run, not counting the grader's annotation."""
    path = course.autograded / student / "score_function" / "score_function.ipynb"
    return {
        submission.grade_id(cell)
        for cell in nbformat.read(path, as_version=4).cells
        if any(
            o.output_type == "error" and o.ename != "GradingCheckFailed"
            for o in cell.get("outputs", [])
        )
    }


@pytest.fixture(scope="module")
def reinforce_judge(tmp_path_factory):
    """The judge's sandbox, scratch folder and reference for the reinforce assignment."""
    scratch = tmp_path_factory.mktemp("scratch")
    box = Sandbox.for_course(REPO, scratch, True, Limits())
    source = [(code, True) for code, _ in submission.program(solution("reinforce"))]
    return box, scratch, judge.reference("reinforce", source, box, scratch, CHECK_TIMEOUT)


def test_training_in_the_judge_stops_at_the_deadline(reinforce_judge):
    box, scratch, ref = reinforce_judge
    notebook = solution("reinforce")
    train = cell_of(notebook, "train_reinforce")
    train.source = train.source.replace(
        '"""\n', '"""\n    import time\n\n    time.sleep(10**6)\n', 1
    )
    start = time.monotonic()
    deadline = start + DEADLINE
    found = judge.judge(
        "reinforce", submission.program(notebook), ref, box, scratch, CHECK_TIMEOUT, deadline
    )
    assert time.monotonic() - start < DEADLINE + 5
    assert found["test_reinforce_weights"].passed  # checked in time
    assert found["test_own_update"].detail.endswith(f"no answer within {CHECK_TIMEOUT} s")
    assert found["test_train_reinforce"] == Verdict(Kind.NOT_CHECKED, judge.OUT_OF_TIME)


def test_a_training_run_over_its_cpu_budget_fails(reinforce_judge):
    """The budget counts the CPU seconds of the worker's process tree: the solution's loop,
    given 1 s of CPU, is cut off there and fails, like any wrong answer."""
    box, scratch, ref = reinforce_judge
    check = replace(judge.CHECKS["reinforce"]["test_train_reinforce"], cpu_seconds=1.0)
    with judge.Worker(submission.program(solution("reinforce")), box, scratch, 30) as worker:
        found = judge.first_problem(worker, check, ref, "test_train_reinforce")
    assert found and "used more than 1 CPU seconds" in found, found


def waiting_loop() -> list[tuple[str, bool]]:
    """The solution's training loop, which first waits for 100 s without using the CPU."""
    notebook = solution("reinforce")
    train = cell_of(notebook, "train_reinforce")
    train.source = train.source.replace('"""\n', '"""\n    import time\n\n    time.sleep(100)\n', 1)
    return submission.program(notebook)


def test_a_training_run_past_the_wall_limit_is_withheld_for_a_regrade(reinforce_judge, tmp_path):
    """Only a loop that waits outlives its wall-clock limit (here 1 s of CPU budget, so 10 s):
    the points are withheld and flagged for a regrade, not as tampering; a wrong answer still
    is."""
    box, scratch, ref = reinforce_judge
    check = replace(judge.CHECKS["reinforce"]["test_train_reinforce"], cpu_seconds=1.0)
    with judge.Worker(waiting_loop(), box, scratch, 30) as worker:
        with pytest.raises(judge.Unconfirmed) as slow:
            judge.first_problem(worker, check, ref, "test_train_reinforce")
    assert "within 10 s on the grader's clock" in str(slow.value), slow.value
    scores = {"reinforce.ipynb": {"test_train_reinforce": 4, "test_own_update": 2}}
    record = grade.Record("learner", "reinforce", "fingerprint", scores=scores)
    verdicts = {
        "test_train_reinforce": Verdict(Kind.UNCONFIRMED, str(slow.value)),
        "test_own_update": Verdict(Kind.FAILED, "0 updates but 0 calls of reinforce_loss"),
    }
    result = grade.apply_verdicts(record, verdicts, [], POINTS)
    assert result.scores == {"reinforce.ipynb": {"test_train_reinforce": 0, "test_own_update": 0}}
    assert result.flagged["test_train_reinforce"] == verdicts["test_train_reinforce"]
    assert result.flagged["test_own_update"].kind is Kind.TAMPERING


POINTS = {"test_train_reinforce": 4, "test_own_update": 2}


def test_the_judge_alone_scores_what_it_checks():
    """A training cell that timed out in nbgrader's kernel on a busy machine (0 there) gets its
    points from the judge's passing check, with a note; a cell the judge could not confirm is
    flagged for a regrade even when the kernel failed it too: no silent 0."""
    scores = {"reinforce.ipynb": {"test_train_reinforce": 0, "test_own_update": 0}}
    record = grade.Record("learner", "reinforce", "fingerprint", scores=scores)
    passed = {grade_id: Verdict(Kind.PASSED) for grade_id in POINTS}
    result = grade.apply_verdicts(record, passed, [], POINTS)
    assert result.scores == {"reinforce.ipynb": POINTS}
    assert not result.flagged
    assert any("test_train_reinforce failed in the notebook" in n for n in result.notes)
    unconfirmed = {**passed, "test_train_reinforce": Verdict(Kind.UNCONFIRMED, "wall")}
    result = grade.apply_verdicts(record, unconfirmed, [], POINTS)
    assert result.scores["reinforce.ipynb"] == {"test_train_reinforce": 0, "test_own_update": 2}
    assert result.flagged == {"test_train_reinforce": unconfirmed["test_train_reinforce"]}


@contextlib.contextmanager
def one_core():
    """The processes this process starts meanwhile confined to one core (yielded)."""
    before = os.sched_getaffinity(0)
    core = min(before)
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def spinning(core: int, busy: int):
    """``busy`` processes that spin on ``core``, each in a session of its own (Linux shares a
    core fairly between sessions)."""
    spin = ["taskset", "-c", str(core), sys.executable, "-c", "while True: pass"]
    spinners = [subprocess.Popen(spin, start_new_session=True) for _ in range(busy)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def test_a_busy_machine_does_not_change_the_grades(reinforce_judge, tmp_path, monkeypatch):
    """A reinforce class (the solution, and a loop that ascends its loss) graded with one seed on
    the machine as it is, then confined to one core shared with two busy processes, under a
    training budget of twice the CPU the solution's loop uses: the same scores and the same
    flags (none on honest work), though the busy grading of the solution took longer on the wall
    clock than that budget (which a wall-clock budget would fail)."""
    box, scratch, _ = reinforce_judge
    seed = 20261208
    check = judge.CHECKS["reinforce"]["test_train_reinforce"]
    (args,) = judge.draw_inputs("reinforce", seed)["test_train_reinforce"]
    args = {name: value for name, value in args.items() if name != "eval_seed"}
    with judge.Worker(submission.program(solution("reinforce")), box, scratch, 30) as worker:
        check.train(worker, args, check.cpu_seconds)
        (_, idle, _) = worker.calls[0]
    budget = 2 * idle
    monkeypatch.setitem(judge.CHECKS["reinforce"], "test_train_reinforce",
                        replace(check, cpu_seconds=budget))  # fmt: skip
    course = driver.scratch_course(REPO, tmp_path / "course")
    ascends = solution("reinforce")
    train = cell_of(ascends, "train_reinforce")
    train.source = train.source.replace("loss.backward()", "(-loss).backward()")
    driver.submit(course, "honest", "reinforce", nbformat.writes(solution("reinforce")))
    driver.submit(course, "ascends", "reinforce", nbformat.writes(ascends))
    driver.sync_gradebook(course, ["reinforce"])
    options = grade.Options(seed=seed)

    def graded() -> dict[str, tuple]:
        found = {}
        for student in ("honest", "ascends"):
            outcome = driver.grade_submission(course, student, "reinforce", options=options)
            path = course.autograded / student / "reinforce" / driver.VERDICT_FILE
            flags = json.loads(path.read_text())["flagged"]
            found[student] = (scores(course, student, "reinforce"), sorted(flags), outcome)
        return found

    idle_grades = graded()
    with one_core() as core, spinning(core, 2):
        busy_grades = graded()
    for student in ("honest", "ascends"):
        print(student, "idle:", idle_grades[student][2], "\nbusy:", busy_grades[student][2])
        assert idle_grades[student][:2] == busy_grades[student][:2], student
    assert idle_grades["honest"][:2] == (points_of("reinforce"), [])
    assert idle_grades["ascends"][0]["test_train_reinforce"] == 0
    print(f"budget {budget:.1f} CPU s (the solution's training used {idle:.1f} idle)")
    assert busy_grades["honest"][2].seconds > budget, "the machine was not busy enough"


def test_the_learners_cells_count_in_the_training_budget(reinforce_judge):
    """An answer cell that computes when it runs (it could train there and load the weights in
    its loop) spends the training budget too: the check runs in a fresh worker and counts the
    learner's cells with the training."""
    box, scratch, ref = reinforce_judge
    notebook = solution("reinforce")
    cell_of(notebook, "train_reinforce").source += (
        "\n\nimport time\n\n_start = time.process_time()\n"
        "while time.process_time() - _start < 3:\n    pass\n"
    )
    check = replace(judge.CHECKS["reinforce"]["test_train_reinforce"], cpu_seconds=2.5)
    with judge.Worker(submission.program(notebook), box, scratch, 30) as worker:
        worker.call("reinforce_weights", ref.inputs["test_reinforce_weights"][0], 30)
        found = judge.first_problem(worker, check, ref, "test_train_reinforce")
        # A new process, whose only call was the training: earlier calls' work is gone.
        assert [adapter for adapter, *_ in worker.calls] == ["train_reinforce"]
    assert found and "the learner's cells and training used" in found, found


def test_training_waits_for_nbgraders_kernel_to_end(reinforce_judge):
    """While the kernel runs the learner's code it could train there, uncounted: the judge
    trains only once it has ended, and what the deadline leaves unchecked is not checked."""
    box, scratch, ref = reinforce_judge
    program = submission.program(solution("reinforce"))
    start = time.monotonic()
    found = judge.judge(
        "reinforce", program, ref, box, scratch, 10, start + 20, kernel_done=threading.Event()
    )
    assert found["test_reinforce_weights"].passed
    assert found["test_train_reinforce"] == Verdict(Kind.NOT_CHECKED, judge.OUT_OF_TIME)
    assert time.monotonic() - start < 30
