"""What learners receive never holds a hidden test, its code, or what it printed or raised; and
the course has none: the judge is the hidden part."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_output

from pgcourse.grading import driver, submission
from pgcourse.grading.execute import error_output
from pgcourse.grading.hidden_tests import (
    GRADER_ERRORS,
    HIDDEN_NOTE,
    JUDGE_SAYS,
    TEST_FAILED,
    HideHiddenTests,
)
from pgcourse.grading.outcomes import Kind, Verdict

REPO = Path(__file__).resolve().parents[1]


def test_no_assignment_has_hidden_tests():
    """The judge is the grading's hidden part: its inputs are drawn for each run and never reach
    a learner. A test cell's tests are all visible, so they check every kind of property the
    judge does (tests/test_grading_mutants.py); nbgrader's hidden tests would only leak."""
    for path in (REPO / "solutions").glob("*/*.ipynb"):
        assert "BEGIN HIDDEN TESTS" not in path.read_text(), path.name
        for cell in filter(submission.is_test, nbformat.read(path, as_version=4).cells):
            code = [line for line in cell.source.splitlines() if line.strip()[:1] not in "#"]
            assert code, f"{submission.grade_id(cell)} tests nothing a learner can run"


def traceback_at(line: int, message: str) -> dict:
    frame = f"\x1b[0;32mCell In[7], line {line}\x1b[0m\n  assert x == 3  # secret 0.4142"
    return new_output("error", ename="AssertionError", evalue=message, traceback=[frame, message])


def graded_cell(tmp_path: Path, flagged: dict[str, Verdict], score: float):
    """The variance solution's first test cell, with a hidden test an author added, as nbgrader
    leaves it after grading, with ``score`` (as GetGrades sets it), in a folder with its
    judge.json: the learner's code printed a hidden input, raised with a hidden value, and sent
    errors dressed as the grader's."""
    notebook = nbformat.read(REPO / "solutions/variance/variance.ipynb", as_version=4)
    (cell, *_) = [c for c in notebook.cells if submission.is_test(c)]
    cell.source += "\n### BEGIN HIDDEN TESTS\nassert x == 3  # secret 0.4142\n### END HIDDEN TESTS"
    cell.metadata.nbgrader.update(score=score, points=cell.metadata.nbgrader.points)
    cell.outputs = [
        new_output("stream", name="stdout", text="inputs: [[0.4142]]\n"),
        traceback_at(1, "expected 0.4142"),
        error_output("GradingCheckFailed", "tampering suspected: expected 0.4142"),
        error_output("KernelDied", "expected 0.4142"),
    ]
    flags = {k: flag.to_json() for k, flag in flagged.items()}
    (tmp_path / driver.VERDICT_FILE).write_text(json.dumps({"flagged": flags}))
    return cell


def hide(cell, folder: Path):
    resources = {"metadata": {"path": str(folder)}}
    return HideHiddenTests().preprocess_cell(cell, resources, 0)[0]


def test_a_flagged_hidden_test_cell_shows_only_the_graders_words(tmp_path):
    flag = Verdict(Kind.TAMPERING, "reward_to_go_weights on the judge's input 1: 0.4142")
    cell = graded_cell(tmp_path, {"test_reward_to_go_weights": flag}, score=0)
    shown = hide(cell, tmp_path)
    assert "HIDDEN TESTS" not in shown.source and shown.source.endswith(HIDDEN_NOTE)
    assert [(o.ename, o.evalue) for o in shown.outputs] == [
        ("KernelDied", GRADER_ERRORS["KernelDied"]),
        ("GradingCheckFailed", JUDGE_SAYS[Kind.TAMPERING]),  # judge.json's kind, no detail
    ]
    assert "0.4142" not in json.dumps(shown.outputs)


def test_a_test_cell_that_lost_points_says_so_and_one_that_passed_shows_nothing(tmp_path):
    lost = hide(graded_cell(tmp_path, {}, score=0), tmp_path)
    assert [o.ename for o in lost.outputs] == ["KernelDied", "TestFailed"]
    assert lost.outputs[1].evalue == TEST_FAILED
    passed = graded_cell(tmp_path, {}, score=None)
    passed.metadata.nbgrader.score = passed.metadata.nbgrader.points
    passed.outputs = [new_output("stream", name="stdout", text="inputs: [[0.4142]]\n")]
    assert hide(passed, tmp_path).outputs == []


def test_an_answer_cell_keeps_its_code_and_loses_its_outputs(tmp_path):
    notebook = nbformat.read(REPO / "solutions/variance/variance.ipynb", as_version=4)
    (answer, *_) = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
    answer.outputs = [new_output("stream", name="stdout", text="In[-2]: ... 0.4142\n")]
    source = answer.source
    shown = hide(answer, tmp_path)
    assert shown.source == source and shown.outputs == []


def test_a_learners_marker_text_does_not_break_the_feedback(tmp_path):
    notebook = nbformat.read(REPO / "solutions/variance/variance.ipynb", as_version=4)
    (answer, *_) = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]
    answer.source += "\n# ### BEGIN HIDDEN TESTS (a learner's comment)\n"
    assert "BEGIN HIDDEN TESTS" in hide(answer, tmp_path).source  # not a test cell: untouched
