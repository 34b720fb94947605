"""The exercises' grading contract, checked by grading in a throw-away course directory.

A solution notebook submitted as a learner gets full marks (apart from the written answer,
which waits for manual grading); a blank release gets 0 without breaking the run; exercises/
is exactly what nbgrader makes from solutions/; and a learner who runs the blank release sees
only NotImplementedError.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from pgcourse.grading import driver

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = driver.Course(REPO).assignments()


def grade_cells(notebook: Path) -> dict[str, tuple[str, float]]:
    """grade_id -> (cell type, points) of every graded cell of a source notebook."""
    cells = nbformat.read(notebook, as_version=4).cells
    return {
        cell.metadata.nbgrader.grade_id: (cell.cell_type, cell.metadata.nbgrader.points)
        for cell in cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A scratch course where each solution and each blank release was autograded."""
    course = driver.scratch_course(REPO, tmp_path_factory.mktemp("course"))
    for assignment in course.assignments():
        for name in course.notebooks(assignment):
            driver.submit(course, "solution", assignment, course.solutions / assignment / name)
            driver.submit(course, "blank", assignment, course.exercises / assignment / name)
    # Two broken submissions: they must be reported by name without stopping the others.
    driver.submit(course, "badjson", "score_function", '{"cells": [')
    (course.submitted / "nothing" / "score_function").mkdir(parents=True)
    # One at a time: the suite's other workers grade beside it (the training budgets count CPU
    # seconds, but the whole submission still has a wall-clock time limit).
    outcomes = driver.autograde(course, jobs=1)
    return course, {(o.student, o.assignment): o for o in outcomes}


def test_every_assignment_has_its_release():
    assert ASSIGNMENTS, "no assignment in solutions/"
    assert sorted(p.name for p in (REPO / "exercises").iterdir() if p.is_dir()) == ASSIGNMENTS


def test_exercises_are_what_nbgrader_generates_from_solutions(tmp_path):
    course = driver.scratch_course(REPO, tmp_path / "course")
    for assignment in ASSIGNMENTS:
        release = tmp_path / "release"
        args = ["generate_assignment", assignment, "--force"]
        result = driver.run_nbgrader(
            course, [*args, f"--CourseDirectory.release_directory={release}"]
        )
        assert result.returncode == 0, result.stderr
        driver.strip_release(release / assignment)
        generated = sorted(p.name for p in (release / assignment).iterdir())
        committed = sorted(p.name for p in (REPO / "exercises" / assignment).iterdir())
        assert committed == generated, f"exercises/{assignment} has other files than the release"
        for name in generated:
            fresh = nbformat.read(release / assignment / name, as_version=4)
            ours = nbformat.read(REPO / "exercises" / assignment / name, as_version=4)
            assert [(c.cell_type, c.source, c.metadata) for c in ours.cells] == [
                (c.cell_type, c.source, c.metadata) for c in fresh.cells
            ], f"exercises/{assignment}/{name} is stale: run `make exercises`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_gets_full_marks(graded, assignment):
    course, outcomes = graded
    assert outcomes["solution", assignment].ok, outcomes["solution", assignment]
    cells = grade_cells(REPO / "solutions" / assignment / f"{assignment}.ipynb")
    with Gradebook(course.db_url) as gradebook:
        grades = gradebook.find_submission(assignment, "solution").notebooks[0].grades
        by_cell = {grade.cell.name: grade for grade in grades}
        assert set(by_cell) == set(cells)
        for name, (cell_type, points) in cells.items():
            grade = by_cell[name]
            assert grade.max_score == points
            if cell_type == "markdown":
                assert grade.needs_manual_grade, f"{name} should wait for manual grading"
            else:
                assert grade.auto_score == points, f"{assignment}: {name} lost points"
                assert not grade.needs_manual_grade


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_scores_zero(graded, assignment):
    course, outcomes = graded
    assert outcomes["blank", assignment].ok, outcomes["blank", assignment]
    with Gradebook(course.db_url) as gradebook:
        submission = gradebook.find_submission(assignment, "blank")
        assert submission.max_score > 0
        assert submission.score == 0


def test_broken_submissions_are_reported_and_the_rest_graded(graded):
    _, outcomes = graded
    bad_json, nothing = outcomes["badjson", "score_function"], outcomes["nothing", "score_function"]
    assert not bad_json.ok and "score_function.ipynb is not a valid notebook" in bad_json.detail
    assert not nothing.ok and "no notebook submitted" in nothing.detail
    assert all(o.ok for (student, _), o in outcomes.items() if student in {"solution", "blank"})


def test_feedback_and_grades_export(graded, tmp_path):
    course, _ = graded
    outcomes = driver.feedback(course, jobs=2, student="solution")
    assert [o.ok for o in outcomes] == [True] * len(ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        page = course.root / "feedback" / "solution" / assignment / f"{assignment}.html"
        assert "test_" in page.read_text()
        assert not (page.parent / driver.VERDICT_FILE).exists()  # it holds the judge's seed
    with driver.grades(course, tmp_path / "grades.csv").open() as file:
        rows = {(row["student_id"], row["assignment"]): row for row in csv.DictReader(file)}
    assert float(rows["blank", "reinforce"]["score"]) == 0
    assert float(rows["solution", "reinforce"]["score"]) == float(
        rows["solution", "reinforce"]["max_score"]
    )


def test_collect_imports_a_zip_from_the_learning_platform(tmp_path):
    import zipfile

    course = driver.scratch_course(REPO, tmp_path / "course")
    blank = (REPO / "exercises" / "reinforce" / "reinforce.ipynb").read_text()
    archive = tmp_path / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("alice_1234_5678_reinforce.ipynb", blank)
        zipped.writestr("bob_late_reinforce.ipynb", blank)
        zipped.writestr("carol_homework.ipynb", blank)  # not the assignment's notebook name
    assert driver.collect(course, archive, "reinforce") == ["alice", "bob"]
    submitted = course.submitted / "alice" / "reinforce" / "reinforce.ipynb"
    assert json.loads(submitted.read_text()) == json.loads(blank)
    with pytest.raises(ValueError, match="unknown assignment"):
        driver.collect(course, archive, "no_such_assignment")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_learner_sees_only_not_implemented_errors(assignment):
    """Running the blank release top to bottom fails only where code is still to be written."""
    path = REPO / "exercises" / assignment / f"{assignment}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=120, allow_errors=True, resources={"metadata": {"path": path.parent}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    errors = [output.ename for output in outputs if output.output_type == "error"]
    assert errors, "the blank notebook should stop at the first function to write"
    assert set(errors) == {"NotImplementedError"}, errors
    stderr = [output.text for output in outputs if output.get("name") == "stderr"]
    assert not stderr, f"the blank notebook writes to stderr: {stderr}"
