"""Hidden tests stay hidden in the feedback learners receive.

nbgrader puts the hidden tests back into the autograded notebook, and ``generate_feedback``
renders it as it is, so each feedback page would show the hidden tests' code, inputs and
expected values (nbgrader #917, #1363), and a failing hidden test's traceback would quote its
lines. nbgrader_config.py adds :class:`HideHiddenTests` to ``GenerateFeedback``'s
preprocessors (and only there: the formgrader shows instructors everything). In a test cell
with hidden tests it removes them, as the release does, and says where they were. Of the
cell's outputs it keeps only the errors, each reduced to its message when the visible tests
raised it, or to a fixed sentence when the hidden ones did: what a learner's function prints
or raises when a hidden test calls it could carry the hidden inputs.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests

from pgcourse.grading import submission
from pgcourse.grading.execute import error_output
from pgcourse.grading.grade import explanation
from pgcourse.grading.gradebook import VERDICT_FILE, read_flags
from pgcourse.grading.outcomes import Verdict

HIDDEN_NOTE = "# Hidden tests ran here: they check the same kinds of property on other inputs."
HIDDEN_FAILED = (
    "a hidden test of this cell failed. Hidden tests check what the visible tests above check, "
    "on other inputs, which are not shown: try your function on inputs of your own."
)
GRADER_ERRORS = {
    "KernelDied": "the kernel died while running this cell or an earlier one",
    "CellTimeoutError": "this cell did not end at its timeout nor at the interrupt after it",
}
"""What the grader's own errors (pgcourse.grading.execute) say, in words of its own: a learner's
code can send an error output of any name and text, so none is shown as it came."""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_LINE = re.compile(r"Cell In\s*\[\d*\],\s*line (\d+)")


def failing_line(output: NotebookNode) -> int | None:
    """The line of the test cell where an error output was raised (IPython's "Cell In[n],
    line L", the cell's own frame coming first), or None if the traceback does not say."""
    for entry in output.get("traceback", []):
        found = CELL_LINE.search(ANSI.sub("", entry))
        if found:
            return int(found.group(1))
    return None


class HideHiddenTests(ClearHiddenTests):
    """Feedback without the hidden tests, their tracebacks or their values."""

    def preprocess_cell(self, cell, resources, index):
        lines = cell.source.split("\n")
        begin = next((n for n, line in enumerate(lines, 1) if self.begin_test_delimeter in line), 0)
        cell, resources = super().preprocess_cell(cell, resources, index)
        if begin:
            cell.source = f"{cell.source.rstrip()}\n{HIDDEN_NOTE}"
            outputs = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            shown = [reduced(error, begin) for error in outputs]
            reason = judge_reasons(resources).get(submission.grade_id(cell) or "")
            if (
                reason
            ):  # the judge's, from judge.json: not the one in the cell, which code can forge
                shown.append(error_output("GradingCheckFailed", explanation(reason)))
            cell.outputs = [error for error in shown if error is not None]
        return cell, resources


def reduced(error: NotebookNode, hidden_from: int) -> NotebookNode | None:
    """An error output of a cell whose hidden tests start at line ``hidden_from``, as the learner
    may see it: its message when a visible test raised it, :data:`HIDDEN_FAILED` when a hidden
    one did, the grader's own words for the grader's errors, None for the judge's reason (it
    is added again from judge.json)."""
    line = failing_line(error)
    ename, evalue = error.get("ename", "Error"), error.get("evalue", "")
    if line is None and ename == "GradingCheckFailed":
        return None
    if line is None and ename in GRADER_ERRORS:
        return error_output(ename, GRADER_ERRORS[ename])
    if line is None or line >= hidden_from:
        evalue = HIDDEN_FAILED
    return error_output(ename, evalue)


def judge_reasons(resources: dict) -> dict[str, Verdict]:
    """The flagged cells of the notebook being converted, with why (judge.json beside the
    autograded notebook), or {}."""
    return read_flags(Path(resources.get("metadata", {}).get("path", "")) / VERDICT_FILE)
