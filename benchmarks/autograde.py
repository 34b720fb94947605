"""Autograding time: seconds per submission, one at a time and two at a time.

Run by hand: `.venv/bin/python benchmarks/autograde.py [--students 20]`.

For each assignment, a class of `--students` generated submissions (about 40% solutions, 20%
blank releases and 40% mutants: a solution with one typical mistake, made as
tests/test_grading_mutants.py makes them) is graded through the course's own command,
`python -m pgcourse.grading autograde`, in two temporary copies of the course: once with
`JOBS=1` and once with `JOBS=2`. Both gradebooks must give every submission the same score.
Targets: two jobs at least 1.6x faster than one on 2 cores; score_function under 10 s per
submission. A second table gives the cores kept busy (the machine's CPU time over the wall time,
so run it on an idle machine): what one job already uses bounds what more jobs can gain.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from pgcourse.grading import driver

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_grading_mutants import MUTANTS, mutate  # noqa: E402  (the mutants the tests use)

SPEEDUP_TARGET = 1.6
SECONDS_TARGET = {"score_function": 10.0}


def class_of(course: driver.Course, assignment: str, size: int) -> dict[str, str]:
    """``size`` notebooks' texts by student name: solutions, blanks and mutants, in turn."""
    solution = nbformat.read(course.solutions / assignment / f"{assignment}.ipynb", as_version=4)
    blank = (course.exercises / assignment / f"{assignment}.ipynb").read_text()
    mutants = [
        mutate(solution, grade_id, old, new)
        for name, grade_id, _, old, new in MUTANTS
        if name == assignment
    ]
    kinds = ["solution", "mutant", "solution", "blank", "mutant"]  # 2:1:2 out of every 5
    submissions = {}
    for number in range(size):
        kind = kinds[number % len(kinds)]
        if kind == "solution":
            text = nbformat.writes(solution)
        elif kind == "blank":
            text = blank
        else:
            text = mutants[number % len(mutants)]
        submissions[f"{kind}{number:02d}"] = text
    return submissions


def make_course(folder: Path, size: int) -> driver.Course:
    course = driver.scratch_course(ROOT, folder)
    for assignment in course.assignments():
        for student, text in class_of(course, assignment, size).items():
            driver.submit(course, student, assignment, text)
    return course


def grading(course: driver.Course, *args: str, jobs: int = 1) -> None:
    command = [sys.executable, "-m", "pgcourse.grading", "--root", str(course.root), *args]
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "JOBS": str(jobs)}
    )
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise SystemExit(f"{' '.join(args)} failed:\n{output}")


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since it booted (/proc/stat)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def timed_autograde(course: driver.Course, assignment: str, jobs: int) -> tuple[float, float]:
    """Wall seconds of grading every submission of ``assignment``, and the cores kept busy."""
    start, cpu = time.perf_counter(), busy_cpu_seconds()
    grading(course, "autograde", "--assignment", assignment, jobs=jobs)
    wall = time.perf_counter() - start
    return wall, (busy_cpu_seconds() - cpu) / wall


def scores(course: driver.Course) -> dict[tuple[str, str], str]:
    output = course.root / "grades.csv"
    grading(course, "grades", "--output", str(output))
    with output.open() as file:
        return {(r["assignment"], r["student_id"]): r["raw_score"] for r in csv.DictReader(file)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = make_course(Path(tmp) / "one_job", args.students)
        two = make_course(Path(tmp) / "two_jobs", args.students)
        rows = []
        for assignment in one.assignments():
            sequential, busy_one = timed_autograde(one, assignment, jobs=1)
            parallel, busy_two = timed_autograde(two, assignment, jobs=2)
            rows.append((assignment, sequential, parallel, busy_one, busy_two))
        sequential_scores, parallel_scores = scores(one), scores(two)
    assert len(sequential_scores) == len(rows) * args.students, sequential_scores
    assert sequential_scores == parallel_scores, "one job and two jobs gave different grades"
    print(f"{args.students} submissions per assignment; identical grades with 1 and 2 jobs\n")
    print(
        f"{'assignment':<16}{'s/sub, JOBS=1':>15}{'s/sub, JOBS=2':>15}{'speed-up':>10}"
        f"{'target':>8}{'met':>5}"
    )
    for assignment, sequential, parallel, _, _ in rows:
        speedup = sequential / parallel
        per_submission = sequential / args.students
        met = speedup >= SPEEDUP_TARGET and per_submission < SECONDS_TARGET.get(
            assignment, float("inf")
        )
        print(
            f"{assignment:<16}{per_submission:>15.1f}{parallel / args.students:>15.1f}"
            f"{speedup:>9.2f}x{SPEEDUP_TARGET:>7.1f}x{'yes' if met else 'NO':>5}"
        )
    # One job already keeps more than one core busy (nbgrader's kernel and the judge's worker
    # run side by side), so no number of jobs can be faster than cores / (cores busy at 1 job).
    cores = os.cpu_count() or 1
    print(f"\ncores busy (machine-wide CPU time / wall time) on {cores} cores\n")
    print(f"{'assignment':<16}{'JOBS=1':>8}{'JOBS=2':>8}{'most any JOBS can gain':>24}")
    for assignment, _, _, busy_one, busy_two in rows:
        print(f"{assignment:<16}{busy_one:>8.2f}{busy_two:>8.2f}{cores / busy_one:>23.2f}x")


if __name__ == "__main__":
    main()
