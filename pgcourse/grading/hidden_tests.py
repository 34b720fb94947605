"""Hidden tests stay hidden in the feedback learners receive, should an author add any.

The course's exercises have none: the judge is the hidden part of grading. But nbgrader puts
hidden tests back into the autograded notebook, and ``generate_feedback`` renders it as it is,
so each feedback page would show the hidden tests' code, inputs and expected values (nbgrader
#917, #1363). And the hidden tests run in the learner's kernel, so whatever the kernel printed,
raised or displayed from then on can carry them (a function can read the cell that calls it).
nbgrader_config.py adds :class:`HideHiddenTests` to ``GenerateFeedback``'s preprocessors (and
only there: the formgrader shows instructors everything), and keeps ``judge.json`` out of the
feedback folder. The page then shows what the learner wrote, without the hidden tests, each
cell's points and comments, and, in place of the kernel's outputs, the grader's own words: why a
test cell lost points, whether the kernel died or a cell overran, what the judge found. Learners
see their outputs by running their notebook.
"""

from __future__ import annotations

from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests

from pgcourse.grading import submission
from pgcourse.grading.execute import error_output
from pgcourse.grading.gradebook import VERDICT_FILE, read_flags
from pgcourse.grading.outcomes import Kind, Verdict

HIDDEN_NOTE = "# Hidden tests ran here: they check the same kinds of property on other inputs."
TEST_FAILED = (
    "this test cell did not get its points. Run it in your notebook: a test that fails names "
    "the mistake. If the tests pass there, the grader's own check failed: it checks the same "
    "kinds of property on inputs of its own, which are not shown."
)
GRADER_ERRORS = {
    "KernelDied": "the kernel died while running this cell or an earlier one",
    "CellTimeoutError": "this cell did not end at its timeout nor at the interrupt after it",
}
"""What the grader's own errors (pgcourse.grading.execute) say: fixed words, since code in the
kernel can send an error of any name and text."""
JUDGE_SAYS = {
    Kind.TAMPERING: "this test passed in your notebook, but the grader's own check, run outside "
    "the notebook on inputs of its own, failed. No points; your instructor has the details.",
    Kind.NOT_CHECKED: "the grader could not check this test (a time limit or a crash). No "
    "points for now; your instructor can grade it again.",
    Kind.UNCONFIRMED: "the grader's training run of your loop outlived its time limit on a busy "
    "machine. No points for now; your instructor can grade it again.",
}
"""What the feedback says of the judge's flags: the details, which may hold text from the
learner's code, stay with the instructor (judge.json, the formgrader)."""


class HideHiddenTests(ClearHiddenTests):
    """Feedback without the hidden tests or anything the learner's kernel output."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if submission.is_test(cell):
            had_hidden = self.begin_test_delimeter in cell.source
            cell, resources = super().preprocess_cell(cell, resources, index)
            if had_hidden:
                cell.source = f"{cell.source.rstrip()}\n{HIDDEN_NOTE}"
        flag = read_flags(verdicts_path(resources)).get(submission.grade_id(cell) or "")
        cell.outputs = graders_words(cell, flag)
        return cell, resources


def verdicts_path(resources: dict) -> Path:
    """judge.json beside the autograded notebook being converted."""
    return Path(resources.get("metadata", {}).get("path", "")) / VERDICT_FILE


def graders_words(cell: NotebookNode, flag: Verdict | None) -> list[NotebookNode]:
    """The outputs the feedback shows under a code cell: the grader's errors, a test cell's
    lost points, and the judge's flag, each in fixed words."""
    names = {output.get("ename") for output in cell.get("outputs", [])}
    shown = [error_output(name, text) for name, text in GRADER_ERRORS.items() if name in names]
    grade = cell.metadata.get("nbgrader", {})
    lost = submission.is_test(cell) and grade.get("score", 0) < grade.get("points", 0)
    if flag is not None:
        shown.append(error_output("GradingCheckFailed", JUDGE_SAYS[flag.kind]))
    elif lost:
        shown.append(error_output("TestFailed", TEST_FAILED))
    return shown
