"""A submitted notebook put back into the shape of its source before it is graded.

Learners can edit, empty, delete, duplicate, reorder or retype any cell, and strip its nbgrader
metadata. :func:`normalized` rebuilds the notebook from the source: every cell of the source in
its order, the learner's text only in the answer cells (nbgrader ``solution: true``), and any
cell the learner added kept, without nbgrader metadata, after the graded cell it followed. Test
cells and setup cells are always the source's, so they run as written. The source's cells
without nbgrader metadata (instructions) are the source's too: the learner's unchanged copy of
one is not a cell the learner added.
"""

from __future__ import annotations

import copy
from collections import Counter

import nbformat
from nbformat import NotebookNode

MISSING_ANSWER = "# This answer cell was missing from the submitted notebook."


def grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_answer(cell: NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def is_test(cell: NotebookNode) -> bool:
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(nbgrader.get("grade")) and not nbgrader.get("solution")


def points(notebook: NotebookNode) -> dict[str, float]:
    """Each test cell's points, by grade_id."""
    return {
        grade_id(c): float(c.metadata["nbgrader"].get("points", 0))
        for c in notebook.cells
        if is_test(c)
    }


def recognised(source: NotebookNode, submitted: NotebookNode) -> int:
    """How many of the source's graded and locked cells the submission still has."""
    known = {grade_id(c) for c in source.cells} - {None}
    return len(known & {grade_id(c) for c in submitted.cells})


def plain(cell: NotebookNode) -> NotebookNode:
    """A learner's own cell: its type and text only."""
    if cell.cell_type == "code":
        return nbformat.v4.new_code_cell(cell.source)
    return nbformat.v4.new_markdown_cell(cell.source)


def normalized(source: NotebookNode, submitted: NotebookNode) -> NotebookNode:
    """The source notebook with the learner's answers and added cells (see module docs)."""
    by_id = {grade_id(c): c for c in source.cells if grade_id(c)}
    instructions = Counter((c.cell_type, c.source) for c in source.cells if not grade_id(c))
    answers: dict[str, str] = {}
    added: dict[str | None, list[NotebookNode]] = {None: []}
    anchor = None
    for cell in submitted.cells:
        name = grade_id(cell)
        if name in by_id and name not in added:
            anchor = name
            added[name] = []
            if is_answer(by_id[name]) and cell.cell_type == by_id[name].cell_type:
                answers[name] = cell.source
        elif instructions[cell.cell_type, cell.source] > 0:
            instructions[cell.cell_type, cell.source] -= 1  # the source's own, kept from there
        elif cell.cell_type in ("code", "markdown"):
            added[anchor].append(plain(cell))
    result = nbformat.v4.new_notebook(metadata=copy.deepcopy(source.metadata))
    result.cells = list(added[None])
    for cell in source.cells:
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        name = grade_id(cell)
        if name and is_answer(cell):
            cell.source = answers.get(name, MISSING_ANSWER)
        result.cells.append(cell)
        result.cells.extend(added.get(name, []) if name else [])
    return result


def program(notebook: NotebookNode) -> list[tuple[str, bool]]:
    """The code the judge runs: every code cell except the tests, each with whether it is the
    source's own (a setup cell) rather than the learner's (an answer or an added cell)."""
    return [
        (c.source, grade_id(c) is not None and not is_answer(c))
        for c in notebook.cells
        if c.cell_type == "code" and not is_test(c)
    ]
