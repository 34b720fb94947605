"""The grades for the learning platform: a wide table with known scores, from a graded class.

alice hands in the score_function solution a day late, with a surrogate loss of the wrong sign
whose failing test she hides from nbgrader (the judge flags it); carol is in the gradebook but
hands in nothing; the course has a second assignment, reinforce, that nobody has handed in yet.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from test_grading_hostile import SILENCE_ERRORS, cell_of, notebook, prepend

from pgcourse.grading import driver, reports

REPO = Path(__file__).resolve().parents[1]

# A late submission loses 3 points (nbgrader's own plugins only know "none" and "zero").
LATE_PENALTY = """
from nbgrader.plugins import LateSubmissionPlugin


class ThreePointsOff(LateSubmissionPlugin):
    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return min(3.0, score)


c.AssignLatePenalties.plugin_class = ThreePointsOff
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = driver.scratch_course(REPO, tmp_path_factory.mktemp("course"))
    with (course.root / "nbgrader_config.py").open("a") as config:
        config.write(LATE_PENALTY)
    # A new gradebook is made with the `alembic` next to this Python, as nbgrader does it.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        with Gradebook(course.db_url) as gradebook:
            gradebook.update_or_create_assignment("score_function", duedate="2024-01-01 00:00:00")
            gradebook.update_or_create_assignment("reinforce")
            gradebook.update_or_create_student("carol", first_name="Carol", last_name="Doe")
    nb = notebook("score_function")
    loss = cell_of(nb, "surrogate_loss")
    loss.source = loss.source.replace("return -(", "return (")  # the gradient is +g_hat
    path = driver.submit(
        course, "alice", "score_function", prepend(nb, {"log_prob": SILENCE_ERRORS})
    )
    (path.parent / "timestamp.txt").write_text("2024-01-02 00:00:00 UTC")
    outcomes = driver.autograde(course)
    assert [o.ok for o in outcomes] == [True], [str(o) for o in outcomes]
    return course


def read_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    return reader.fieldnames, rows


@pytest.fixture(scope="module")
def exported(course, tmp_path_factory):
    """`make grades`: nbgrader's long table and the wide one, from the command line."""
    folder = tmp_path_factory.mktemp("grades")
    command = [sys.executable, "-m", "pgcourse.grading", "--root", str(course.root), "grades"]
    files = ["--output", str(folder / "grades.csv"), "--wide", str(folder / "wide.csv")]
    result = subprocess.run([*command, *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return read_csv(folder / "grades.csv")[1], *read_csv(folder / "wide.csv")


def test_the_wide_table_has_one_row_per_student_with_known_scores(exported):
    _, header, rows = exported
    assert header == [
        *reports.IDENTITY,
        "reinforce",
        "score_function",
        "Final Points",
        "reinforce late penalty",
        "score_function late penalty",
        "reinforce tampering suspected",
        "score_function tampering suspected",
    ]
    blank = dict.fromkeys(header, "")
    assert rows == [
        # 18 points from nbgrader, 3 of them forged (the judge denies them), 3 off for lateness.
        blank
        | {"Student": "alice", "SIS Login ID": "alice", "score_function": "12"}
        | {"Final Points": "12", "score_function late penalty": "3"}
        | {"score_function tampering suspected": "test_surrogate_loss"},
        blank | {"Student": "Doe, Carol", "SIS Login ID": "carol", "Final Points": "0"},
    ]


def test_the_wide_table_agrees_with_nbgraders_export(exported):
    long, _, wide = exported
    by_student = {row["SIS Login ID"]: row for row in wide}
    for row in long:
        cell = by_student[row["student_id"]][row["assignment"]]
        if row["timestamp"]:  # handed in
            assert float(cell) == float(row["score"]), row
            penalty = by_student[row["student_id"]][f"{row['assignment']} late penalty"]
            assert float(penalty) == float(row["late_submission_penalty"]), row
            flagged = by_student[row["student_id"]][f"{row['assignment']} tampering suspected"]
            assert flagged == row["tampering_suspected"], row
        else:
            assert cell == "", row  # nbgrader's export says 0; the wide table, no grade


def test_the_wide_table_imports_into_canvas_and_moodle(exported):
    """Canvas reads the student columns first, in its order, then one column per assignment;
    Moodle maps any column to a grade item and rejects a mapped cell that is not a number."""
    _, header, rows = exported
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert all(row["SIS Login ID"] for row in rows)  # who each row is, on both platforms
    numeric = [c for c in header[5:] if not c.endswith("tampering suspected")]
    for row in rows:
        for name in numeric:
            assert row[name] == "" or float(row[name]) >= 0, (name, row)
