"""A submitted notebook is rebuilt in its source's shape: nothing lost, nothing doubled."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from pgcourse.grading import driver, submission

REPO = Path(__file__).resolve().parents[1]


def read(kind: str, assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / kind / assignment / f"{assignment}.ipynb", as_version=4)


@pytest.mark.parametrize("assignment", driver.Course(REPO).assignments())
def test_the_release_handed_in_as_it_is_has_the_sources_cells_once(assignment):
    source = read("solutions", assignment)
    rebuilt = submission.normalized(source, read("exercises", assignment))
    assert [(c.cell_type, submission.grade_id(c)) for c in rebuilt.cells] == [
        (c.cell_type, submission.grade_id(c)) for c in source.cells
    ]
    assert [c.source for c in rebuilt.cells if not submission.is_answer(c)] == [
        c.source for c in source.cells if not submission.is_answer(c)
    ]


def test_a_learners_own_cells_and_edited_instructions_are_kept_once():
    source = read("solutions", "variance")
    handed_in = read("exercises", "variance")
    (intro, *_) = [c for c in handed_in.cells if not submission.grade_id(c)]
    intro.source += "\n\nMy notes."
    answer = next(i for i, c in enumerate(handed_in.cells) if submission.is_answer(c))
    handed_in.cells.insert(answer + 1, nbformat.v4.new_code_cell("print('mine')"))
    rebuilt = submission.normalized(source, handed_in)
    sources = [c.source for c in rebuilt.cells]
    assert len(rebuilt.cells) == len(source.cells) + 2  # the note and the learner's cell
    assert sources.count("print('mine')") == 1 and sources.count(intro.source) == 1
