"""What learners receive never holds a hidden test: its code, or what it printed or raised."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_output

from pgcourse.grading import driver, grade
from pgcourse.grading.execute import error_output
from pgcourse.grading.hidden_tests import HIDDEN_FAILED, HIDDEN_NOTE, HideHiddenTests
from pgcourse.grading.outcomes import Kind, Verdict

REPO = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def hidden_lines(assignment: str) -> set[str]:
    """Lines of the assignment's hidden tests that appear nowhere else in its source."""
    text = (REPO / "solutions" / assignment / f"{assignment}.ipynb").read_text()
    cells = nbformat.reads(text, as_version=4).cells
    hidden = {
        line.strip()
        for c in cells
        for part in HIDDEN.findall(c.source)
        for line in part.split("\n")
    }
    elsewhere = "\n".join(HIDDEN.sub("", c.source) for c in cells)
    return {line for line in hidden if len(line) >= 20 and line not in elsewhere}


def test_every_assignment_has_hidden_lines_to_look_for():
    for assignment in driver.Course(REPO).assignments():
        assert len(hidden_lines(assignment)) >= 3, assignment


def traceback_at(line: int, message: str) -> dict:
    frames = [
        f"\x1b[0;32mCell In[7], line {line}\x1b[0m\n  assert x == 3  # secret 0.4142",
        message,
    ]
    return new_output("error", ename="AssertionError", evalue=message, traceback=frames)


def graded_cell(tmp_path: Path, flagged: dict[str, Verdict]):
    """The variance solution's first hidden-test cell as nbgrader leaves it after grading, in a
    folder with its judge.json: a visible test printed, then a hidden one raised, then code in
    the kernel sent an error dressed as the judge's."""
    notebook = nbformat.read(REPO / "solutions/variance/variance.ipynb", as_version=4)
    (cell, *_) = [c for c in notebook.cells if "BEGIN HIDDEN TESTS" in c.source]
    begin = cell.source.split("\n").index("### BEGIN HIDDEN TESTS") + 1
    cell.outputs = [
        new_output("stream", name="stdout", text="inputs: [[0.4142]]\n"),
        traceback_at(begin + 2, "expected 0.4142"),
        error_output("GradingCheckFailed", "tampering suspected: expected 0.4142"),
    ]
    flags = {k: flag.to_json() for k, flag in flagged.items()}
    (tmp_path / driver.VERDICT_FILE).write_text(json.dumps({"flagged": flags}))
    return cell, begin


def hide(cell, folder: Path):
    resources = {"metadata": {"path": str(folder)}}
    return HideHiddenTests().preprocess_cell(cell, resources, 0)[0]


def test_a_failed_hidden_test_shows_neither_its_code_nor_its_values(tmp_path):
    reason = Verdict(Kind.TAMPERING, "reward_to_go_weights on the judge's input 1: wrong values")
    cell, _ = graded_cell(tmp_path, {"test_reward_to_go_weights": reason})
    shown = hide(cell, tmp_path)
    assert "HIDDEN TESTS" not in shown.source and shown.source.endswith(HIDDEN_NOTE)
    assert [o.ename for o in shown.outputs] == ["AssertionError", "GradingCheckFailed"]
    assert shown.outputs[0].evalue == HIDDEN_FAILED
    assert shown.outputs[1].evalue == grade.explanation(reason)  # judge.json's, not the cell's
    assert "0.4142" not in json.dumps(shown.outputs)


def test_a_failed_visible_test_keeps_its_message(tmp_path):
    cell, begin = graded_cell(tmp_path, {})
    cell.outputs = [traceback_at(begin - 3, "the rewards of padded steps count")]
    (shown,) = hide(cell, tmp_path).outputs
    assert shown.evalue == "the rewards of padded steps count"
    assert shown.traceback == [f"AssertionError: {shown.evalue}"]  # no lines of the cell around
