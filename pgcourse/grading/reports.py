"""Grades for the learning platform: one row per student, one column per assignment.

nbgrader's export (``grades.csv``) has a row per student and assignment. Canvas and Moodle import
a gradebook with a row per student, which :func:`write_wide` writes from nbgrader's gradebook:

- ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``: the columns Canvas needs
  first, in this order. ``Student`` is "Last, First" when the gradebook has the names, else the
  student id; ``SIS Login ID`` is nbgrader's student id; the others are left empty (nbgrader does
  not know them, and Canvas matches on the first of ``ID``, ``SIS User ID``, ``SIS Login ID``
  that is filled in, then on the name);
- one column per assignment, named as the assignment: its score after the late penalty, as
  nbgrader's export computes it, or empty when the student submitted nothing (both platforms
  read an empty cell as "no grade", and Canvas leaves the grade it has);
- ``Final Points``: the sum of those scores, a missing submission counting 0 (Canvas reads this
  column as its own, computed total and ignores it);
- ``<assignment> late penalty``: the points the late penalty took off;
- ``<assignment> tampering suspected``: the test cells the judge flagged, space-separated.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from pgcourse.grading import driver, gradebook
from pgcourse.grading.outcomes import Kind

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
"""The columns Canvas reads a student from, first and in this order; Moodle maps any of them."""
TOTAL = "Final Points"


def tampering_suspected(course: driver.Course, student: str, assignment: str) -> list[str]:
    """The test cells of a submission where the judge denied nbgrader's points."""
    flagged = gradebook.flags(course, student, assignment)
    return sorted(k for k, flag in flagged.items() if flag.kind is Kind.TAMPERING)


def columns(assignments: list[str]) -> list[str]:
    """The wide table's columns, in order."""
    return [
        *IDENTITY,
        *assignments,
        TOTAL,
        *(f"{name} late penalty" for name in assignments),
        *(f"{name} tampering suspected" for name in assignments),
    ]


def points(value: float) -> str:
    """Points as both platforms read them: 18, 17.5."""
    return f"{round(value, 2):g}"


def wide_table(
    course: driver.Course,
) -> tuple[list[str], list[dict[str, str]]]:
    """The columns, and one row per student of the gradebook (see the module's docstring)."""
    with Gradebook(course.db_url, course.course_id) as gradebook:
        assignments = sorted(a.name for a in gradebook.assignments)
        rows = []
        for student in sorted(gradebook.students, key=lambda s: s.id):
            named = student.last_name and student.first_name
            row = dict.fromkeys(columns(assignments), "")
            row["Student"] = f"{student.last_name}, {student.first_name}" if named else student.id
            row["SIS Login ID"] = student.id
            total = 0.0
            for name in assignments:
                try:
                    submission = gradebook.find_submission(name, student.id)
                except MissingEntry:
                    continue
                penalty = submission.late_submission_penalty or 0.0
                score = max(0.0, submission.score - penalty)
                total += score
                row[name] = points(score)
                row[f"{name} late penalty"] = points(penalty)
                flagged = tampering_suspected(course, student.id, name)
                row[f"{name} tampering suspected"] = " ".join(flagged)
            row[TOTAL] = points(total)
            rows.append(row)
    return columns(assignments), rows


def write_wide(course: driver.Course, output: Path) -> Path:
    """Write the wide table of grades to ``output`` (CSV, UTF-8)."""
    header, rows = wide_table(course)
    with output.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    print(f"grades for the learning platform written to {output}")
    return output
