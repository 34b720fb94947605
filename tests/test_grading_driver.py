"""The grading driver survives submissions that hang or kill their kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from pgcourse.grading import driver

REPO = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 5


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
    assert scores["test_discounted_return"] == 2  # later cells still ran


def test_a_dying_kernel_fails_only_what_it_did_not_run(course):
    outcome = driver.grade_submission(course, "dies", "score_function")
    assert outcome.ok, outcome
    assert "the kernel died" in outcome.detail
    with Gradebook(course.db_url) as gradebook:
        grades = gradebook.find_submission("score_function", "dies").notebooks[0].grades
        scores = {grade.cell.name: grade.auto_score for grade in grades}
    assert scores["test_surrogate_loss"] == 0  # the kernel died before surrogate_loss existed
    assert scores["test_discounted_return"] == 2  # earlier cells keep their points


def test_a_submission_past_its_time_limit_is_stopped(course):
    outcome = driver.grade_submission(course, "slow", "score_function", timeout=1.0)
    assert not outcome.ok
    assert "longer than 1 s" in outcome.detail
    assert outcome.seconds < 30
