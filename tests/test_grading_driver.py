"""The grading driver survives submissions that hang or kill their kernel."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from pgcourse.grading import driver

REPO = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 15  # far above a cell of the solution, even on a busy machine


def with_first_line(grade_id: str, line: str) -> str:
    """The score_function solution with ``line`` run first in the cell ``grade_id``."""
    notebook = nbformat.read(REPO / "solutions/score_function/score_function.ipynb", as_version=4)
    (cell,) = [
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    cell.source = f"{line}\n{cell.source}"
    return nbformat.writes(notebook)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = driver.scratch_course(REPO, tmp_path_factory.mktemp("course"))
    with (course.root / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.ExecutePreprocessor.timeout = {CELL_TIMEOUT}\n")
    driver.submit(
        course, "hangs", "score_function", with_first_line("log_prob", "while True: pass")
    )
    driver.submit(
        course,
        "dies",
        "score_function",
        with_first_line("surrogate_loss", "import os; os._exit(1)"),
    )
    driver.submit(course, "slow", "score_function", with_first_line("log_prob", "import time"))
    driver.sync_gradebook(course, ["score_function"])
    return course


def test_a_hung_cell_is_cut_off_and_the_rest_graded(course):
    outcome = driver.grade_submission(course, "hangs", "score_function")
    assert outcome.ok, outcome
    with Gradebook(course.db_url) as gradebook:
        grades = gradebook.find_submission("score_function", "hangs").notebooks[0].grades
        scores = {grade.cell.name: grade.auto_score for grade in grades}
    assert scores["test_log_prob"] == 0  # log_prob was never defined
    assert scores["test_discounted_return"] == 2, errors(course, "hangs")  # later cells ran


def test_a_dying_kernel_fails_only_what_it_did_not_run(course):
    outcome = driver.grade_submission(course, "dies", "score_function")
    assert outcome.ok, outcome
    assert "the kernel died" in outcome.detail
    with Gradebook(course.db_url) as gradebook:
        grades = gradebook.find_submission("score_function", "dies").notebooks[0].grades
        scores = {grade.cell.name: grade.auto_score for grade in grades}
    assert scores["test_surrogate_loss"] == 0  # the kernel died before surrogate_loss existed
    assert scores["test_discounted_return"] == 2, errors(course, "dies")  # earlier cells count


def test_a_submission_past_its_time_limit_is_stopped(course):
    outcome = driver.grade_submission(course, "slow", "score_function", timeout=1.0)
    assert not outcome.ok
    assert "longer than 1 s" in outcome.detail
    assert outcome.seconds < 30


def test_a_timeout_is_not_held_up_by_a_process_that_left_the_group(course):
    # A kernel runs in a session of its own, with nbgrader's output as its own.
    escapes = (
        "import subprocess, time; "
        "subprocess.Popen(['sleep', '20'], start_new_session=True); time.sleep(20)"
    )
    start = time.perf_counter()
    with pytest.raises(subprocess.TimeoutExpired):
        driver.run_nbgrader(
            course, ["--version"], timeout=1.0, prefix=[sys.executable, "-c", escapes]
        )
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize("parent_ends", ["before", "after"])
def test_a_kernel_launcher_does_not_outlive_the_process_that_started_it(tmp_path, parent_ends):
    """Whether its parent ends before or after the launcher starts watching it, it goes too."""
    pid_file = tmp_path / "launcher.pid"
    delay = 4 if parent_ends == "before" else 0  # the parent lives for 2 s
    launcher = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
        f"time.sleep({delay}); from pgcourse.grading.sandbox import die_with_parent; "
        f"die_with_parent({{parent}}); time.sleep(60)"
    )
    parent = (
        "import os, subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', {launcher!r}.format(parent=os.getpid())]); "
        "time.sleep(2)"
    )
    subprocess.run([sys.executable, "-c", parent], check=True, cwd=REPO)
    assert within(15, lambda: pid_file.exists() and pid_file.read_text()), "no launcher started"
    launcher_pid = int(pid_file.read_text())
    ended = within(15, lambda: not running(launcher_pid))
    assert ended, f"the launcher survived a parent that ended {parent_ends}"


def errors(course: driver.Course, student: str) -> dict[str, list[str]]:
    """The errors in each cell of the student's autograded notebook, to explain a failure."""
    path = course.autograded / student / "score_function/score_function.ipynb"
    return {
        cell.metadata.get("nbgrader", {}).get("grade_id", "?"): [
            f"{o.ename}: {o.evalue}"[:200] for o in cell.outputs if o.output_type == "error"
        ]
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code"
    }


def within(seconds: float, condition: Callable[[], object]) -> bool:
    """Whether ``condition()`` becomes true within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
