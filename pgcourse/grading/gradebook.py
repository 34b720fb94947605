"""The course's gradebook, written only by the driver: one transaction per graded submission.

The gradebook is nbgrader's own (an SQLAlchemy URL: the SQLite file ``gradebook.db`` by
default, or PostgreSQL). Next to nbgrader's tables, ``pgcourse_records`` holds, per submission,
the fingerprint of the files and source that were graded; it is written in the same transaction
as the grades, so a submission either has all of its grades and its record or neither. A driver
that was killed resumes by grading only what has no record for its current files.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select
from sqlalchemy.exc import SAWarning

from pgcourse.grading.course import Course, errors_in, run_nbgrader
from pgcourse.grading.grade import Record
from pgcourse.grading.outcomes import Kind, Verdict

VERDICT_FILE = "judge.json"
"""Written next to each autograded notebook: the judge's verdicts and the flagged cells."""

RECORDS = Table(
    "pgcourse_records",
    MetaData(),
    Column("student_id", String(128), primary_key=True),
    Column("assignment", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    Column("problem", Text, nullable=False),
    Column("grader", String(256), nullable=False),
)


def open_gradebook(course: Course):  # -> nbgrader.api.Gradebook
    """The course's gradebook (nbgrader's), with the table of records; a clear error when the
    database cannot be reached."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import OperationalError

    # A new gradebook is stamped by running `alembic`: the one next to this Python.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        gradebook = Gradebook(course.db_url, course.course_id)
    except OperationalError as err:
        url = safe_url(course.db_url)
        raise RuntimeError(f"cannot open the gradebook {url}: {err.orig}") from err
    RECORDS.create(gradebook.engine, checkfirst=True)
    return gradebook


def safe_url(db_url: str) -> str:
    """``db_url`` without its password, fit to print."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def sync(course: Course, assignments: Iterable[str]) -> None:
    """Record each assignment's current source (its test cells and points) in the gradebook.

    The release goes to a throw-away folder: exercises/ only changes with ``exercises``.
    """
    open_gradebook(course).close()  # fails clearly if the database is unreachable
    with tempfile.TemporaryDirectory() as release:
        for assignment in sorted(set(assignments)):
            args = ["generate_assignment", assignment, "--force"]
            args.append(f"--CourseDirectory.release_directory={release}")
            result = run_nbgrader(course.root, args, db_url=course.db_url)
            if result.returncode != 0:
                raise RuntimeError(
                    f"cannot read assignment {assignment}: {errors_in(result.stderr)}"
                )


def recorded(course: Course) -> dict[tuple[str, str], str]:
    """The fingerprint of each (student, assignment) whose grades are recorded."""
    with open_gradebook(course) as gradebook:
        rows = gradebook.db.execute(
            select(RECORDS.c.student_id, RECORDS.c.assignment, RECORDS.c.fingerprint)
        )
        return {(s, a): f for s, a, f in rows}


def record(course: Course, result: Record) -> None:
    """Write ``result`` into the gradebook and ``autograded/<student>/<assignment>/``.

    The files come first: if the driver dies before the gradebook's commit, the submission has
    no record and is graded again, its files overwritten.
    """
    folder = course.autograded / result.student / result.assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in result.notebooks.items():
        write_atomically(folder / name, text)
    verdicts = {
        "tampering_suspected": sorted(
            k for k, flag in result.flagged.items() if flag.kind is Kind.TAMPERING
        ),
        "flagged": {k: flag.to_json() for k, flag in result.flagged.items()},
        "problem": result.problem,
        "checks": {k: verdict.to_json() for k, verdict in result.checks.items()},
        "seed": result.seed,
    }
    write_atomically(folder / VERDICT_FILE, json.dumps(verdicts, indent=1))
    with open_gradebook(course) as gradebook:
        write_grades(gradebook, course, result)
        write_record_row(gradebook, result)
        gradebook.db.commit()


def write_grades(gradebook: Any, course: Course, result: Record) -> None:
    """The submission's rows, as nbgrader's autograde would leave them (manual grades kept)."""
    from nbgrader.utils import parse_utc

    gradebook.update_or_create_student(result.student)
    timestamp = parse_utc(result.timestamp) if result.timestamp else None
    with warnings.catch_warnings():
        # nbgrader builds a new submission's rows with autoflush on, which SQLAlchemy warns
        # about (harmlessly: they are added to the session all the same).
        warnings.simplefilter("ignore", SAWarning)
        submitted = gradebook.update_or_create_submission(
            result.assignment, result.student, **({"timestamp": timestamp} if timestamp else {})
        )
    for notebook in submitted.notebooks:
        scores = result.scores.get(notebook.name)
        comments = result.comments.get(notebook.name, {})
        for grade in notebook.grades:
            # No scores at all: the notebook could not be graded, every cell gets 0.
            grade.auto_score = scores.get(grade.name) if scores is not None else 0
            needs_review = grade.manual_score is not None or grade.auto_score is None
            grade.needs_manual_grade = needs_review
        for comment in notebook.comments:
            comment.auto_comment = comments.get(comment.name)
        notebook.flagged = any(g.name in result.flagged for g in notebook.grades)
    gradebook.db.flush()
    assign_late_penalties(course, submitted)


def assign_late_penalties(course: Course, submitted: Any) -> None:
    """nbgrader's late penalty of each notebook, by the course's LateSubmissionPlugin."""
    from nbgrader.preprocessors import AssignLatePenalties

    assigner = AssignLatePenalties(config=course.config())
    assigner.init_plugin()
    for notebook in submitted.notebooks:
        notebook.late_submission_penalty = None
        if submitted.total_seconds_late > 0:
            penalty = assigner.plugin_inst.late_submission_penalty(
                submitted.student.id, notebook.score, submitted.total_seconds_late
            )
            if penalty is not None:
                notebook.late_submission_penalty = assigner._check_late_penalty(notebook, penalty)


def write_record_row(gradebook: Any, result: Record) -> None:
    key = {"student_id": result.student, "assignment": result.assignment}
    values = {
        "fingerprint": result.fingerprint,
        "recorded_at": datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
        "problem": result.problem,
        "grader": result.grader,
    }
    where = (RECORDS.c.student_id == result.student) & (RECORDS.c.assignment == result.assignment)
    if gradebook.db.execute(select(RECORDS.c.fingerprint).where(where)).first():
        gradebook.db.execute(RECORDS.update().where(where).values(**values))
    else:
        gradebook.db.execute(RECORDS.insert().values(**key, **values))


def score_summary(course: Course, student: str, assignment: str) -> str:
    """The submission's score as recorded in the gradebook."""
    with open_gradebook(course) as gradebook:
        found = gradebook.find_submission(assignment, student)
        summary = f"{found.score:g} / {found.max_score:g} points"
        if found.needs_manual_grade:
            summary += ", needs manual grading"
    return summary


def flags(course: Course, student: str, assignment: str) -> dict[str, Verdict]:
    """The flagged test cells of a graded submission, with why (judge.json)."""
    return read_flags(course.autograded / student / assignment / VERDICT_FILE)


def read_flags(path: Path) -> dict[str, Verdict]:
    """The flagged test cells in the judge.json at ``path`` ({} when there is none); files
    written before flags were recorded hold only the tampering suspected."""
    if not path.is_file():
        return {}
    verdicts = json.loads(path.read_text())
    if "flagged" not in verdicts:
        return {k: Verdict(Kind.TAMPERING) for k in verdicts.get("tampering_suspected", [])}
    return {k: Verdict.from_json(v) for k, v in verdicts["flagged"].items()}


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a reader sees the old file or the new, never half."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as file:
        file.write(text)
    os.replace(file.name, path)
