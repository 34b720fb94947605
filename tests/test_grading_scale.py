"""Grading at scale: a PostgreSQL gradebook and a Dask cluster.

Real servers: PostgreSQL's own `initdb`/`pg_ctl` and `dask scheduler`/`dask worker` processes on
127.0.0.1 (tests/servers.py). A mixed class must get the same grades and flags whichever
executor grades it into whichever gradebook. The faults a long run meets are in
test_grading_faults.py.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from servers import dask_cluster, killed_with_this_process, postgres
from test_grading_hostile import class_of
from test_grading_mutants import MUTANTS, mutate

from pgcourse.grading import driver

REPO = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 20
MIXED = ["honest", "blank", "silences", "exits", "edits", "notjson"]


def scratch(folder: Path) -> driver.Course:
    course = driver.scratch_course(REPO, folder)
    with (course.root / "nbgrader_config.py").open("a") as config:
        config.write(f"\nc.ExecutePreprocessor.timeout = {CELL_TIMEOUT}\n")
    return course


def mixed_class(folder: Path) -> driver.Course:
    """Solutions, a blank, mutants and part of the hostile class, in a course of its own."""
    course = scratch(folder)
    hostile = class_of(course)
    for student in MIXED:
        driver.submit(course, student, *hostile[student])
    solution = nbformat.read(REPO / "solutions/score_function/score_function.ipynb", 4)
    for number in (0, 16):  # a mutant of log_prob and one of surrogate_loss
        _, grade_id, _, old, new = MUTANTS[number]
        driver.submit(course, f"mutant{number}", "score_function",
                      mutate(solution, grade_id, old, new))  # fmt: skip
    return course


def grading(course: driver.Course, *args: str, env: dict | None = None) -> subprocess.Popen:
    """The instructor's command on ``course``, started in the background."""
    return subprocess.Popen(
        killed_with_this_process(
            [sys.executable, "-m", "pgcourse.grading", "--root", str(course.root), *args]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def run(course: driver.Course, *args: str, env: dict | None = None) -> tuple[int, str]:
    process = grading(course, *args, env=env)
    output, _ = process.communicate(timeout=900)
    return process.returncode, output


def results(course: driver.Course) -> dict[str, dict]:
    """Every recorded submission's per-cell scores and flags, whether it was recorded, and the
    judge's seed and verdicts."""
    found = {}
    with Gradebook(course.db_url) as gradebook:
        for assignment in ("score_function", "reinforce"):
            for submission in gradebook.assignment_submissions(assignment):
                (notebook,) = submission.notebooks
                path = course.autograded / submission.student_id / assignment / "judge.json"
                verdicts = json.loads(path.read_text())
                found[submission.student_id] = {
                    "scores": {g.name: g.auto_score for g in notebook.grades},
                    "flagged": sorted(verdicts["flagged"]),
                    "notebook_flagged": notebook.flagged,
                    "seed": verdicts["seed"],
                    "kinds": {k: v["kind"] for k, v in verdicts["checks"].items()},
                }
    return found


def leftover_folders(tmp: Path) -> list[str]:
    return [p.name for p in tmp.glob("pgcourse-grading-*")]


def leftover_processes(tmp: Path) -> list[str]:
    """The processes that grade in a temporary folder under ``tmp`` (nbgrader, its kernel, the
    judge's worker all name it on their command line)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"{tmp}/pgcourse-grading-" in command:
            found.append(f"{proc.name}: {command[:200]}")
    return found


@pytest.fixture(scope="module")
def database():
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def cluster():
    with dask_cluster(workers=2) as servers:
        yield servers


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The mixed class graded with one local job into SQLite: the grades to match."""
    course = mixed_class(tmp_path_factory.mktemp("jobs1"))
    code, output = run(course, "autograde", "--jobs", "1")
    assert code == 1 and "FAILED notjson" in output, output  # notjson cannot be graded
    return results(course)


def the_seed(results: dict[str, dict]) -> int:
    """The one seed the judge drew every submission's inputs from in a run."""
    (seed,) = {found["seed"] for found in results.values()}
    return seed


def test_the_reference_grades_are_what_each_submission_earns(reference):
    assert set(reference) == {*MIXED, "mutant0", "mutant16"}
    assert isinstance(the_seed(reference), int)
    assert sum(v or 0 for v in reference["honest"]["scores"].values()) == 18
    assert sum(v or 0 for v in reference["blank"]["scores"].values()) == 0
    assert reference["silences"]["flagged"] and reference["silences"]["notebook_flagged"]
    assert reference["honest"]["flagged"] == [] and not reference["honest"]["notebook_flagged"]
    assert all(
        sum(v or 0 for v in reference[m]["scores"].values()) < 18 for m in ("mutant0", "mutant16")
    )


# The executor only grades and the driver alone writes the gradebook, so each executor and each
# gradebook is met once: the local pool into SQLite, and a cluster into PostgreSQL.
@pytest.mark.parametrize(("executor", "gradebook"), [("jobs2", "sqlite"), ("dask", "postgresql")])
def test_the_same_grades_everywhere(executor, gradebook, reference, database, cluster, tmp_path):
    """The same grades, flags and verdicts, on the same inputs (the reference run's seed), on
    two local jobs and on two Dask workers."""
    course = mixed_class(tmp_path / "course")
    args = ["--jobs", "2"] if executor == "jobs2" else ["--scheduler", cluster.address]
    args += ["--seed", str(the_seed(reference))]
    if gradebook == "postgresql":
        name = f"{executor}_{gradebook}"
        url = database.new_database(name)
        course = driver.Course(course.root, url)
        args += ["--db-url", url]
    code, output = run(course, "autograde", *args)
    assert code == 1 and "FAILED notjson" in output, output
    assert f"from seed {the_seed(reference)} " in output
    assert results(course) == reference
    if gradebook == "postgresql":
        assert not (course.root / "gradebook.db").exists()  # the rows are in PostgreSQL
        count = database.query("SELECT count(*) FROM submitted_assignment", database=name)
        assert count == [(len(reference),)]
        # The credentials stay with the driver: not in a record, a verdict or a notebook.
        written = "".join(p.read_text() for p in course.autograded.rglob("*") if p.is_file())
        assert database.password not in written


def test_postgresql_serves_feedback_and_grades(database, tmp_path):
    course = scratch(tmp_path / "course")
    solution = (REPO / "solutions/score_function/score_function.ipynb").read_text()
    driver.submit(course, "alice", "score_function", solution)
    url = database.new_database("commands")
    env = {"DB_URL": url}  # as `make autograde DB_URL=...` passes it
    for command in (["autograde"], ["feedback"], ["grades", "--output", str(tmp_path / "g.csv")]):
        code, output = run(course, *command, env=env)
        assert code == 0, output
    with (tmp_path / "g.csv").open() as file:
        (row,) = csv.DictReader(file)
    assert (row["student_id"], row["assignment"], row["score"]) == (
        "alice",
        "score_function",
        "18.0",
    )
    assert (course.root / "feedback/alice/score_function/score_function.html").exists()
    assert not (course.root / "gradebook.db").exists()
    rows = database.query("SELECT student_id, assignment FROM pgcourse_records",
                          database="commands")  # fmt: skip
    assert rows == [("alice", "score_function")]


def small_class(folder: Path, size: int) -> driver.Course:
    course = scratch(folder)
    texts = [(REPO / kind / "score_function/score_function.ipynb").read_text()
             for kind in ("solutions", "exercises")]  # fmt: skip
    for number in range(size):
        driver.submit(course, f"learner{number}", "score_function", texts[number % 2])
    return course


def expected_totals(size: int) -> dict[str, float]:
    return {f"learner{n}": 18.0 if n % 2 == 0 else 0.0 for n in range(size)}


def totals(course: driver.Course) -> dict[str, float]:
    return {s: sum(v or 0 for v in r["scores"].values()) for s, r in results(course).items()}
