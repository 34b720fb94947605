"""Autograding throughput: submissions per minute and CPU seconds per submission.

Run by hand on an idle machine: `.venv/bin/python benchmarks/autograde.py [--students 20]
[--assignment score_function] [--executors jobs1,jobs2,dask1,dask2]`.

For each assignment, a class of `--students` generated submissions (about 40% solutions, 20%
blank releases and 40% mutants: a solution with one typical mistake, made as
tests/test_grading_mutants.py makes them) is graded through the course's own command,
`python -m pgcourse.grading autograde`, once per executor, each in its own copy of the course:

- `jobs1`, `jobs2`: the local pool with one and two jobs;
- `dask1`, `dask2`: a local Dask cluster (`dask scheduler` and `dask worker --nthreads 1`
  processes, as tests/servers.py starts them) of one worker pinned to core 0 with `taskset`, and
  of two workers pinned to cores 0 and 1; a worker's grading processes inherit its core.

Every executor must give every submission the same score. CPU seconds are the whole machine's
busy time (/proc/stat) over the run, divided by the submissions. Targets: 500 `score_function`
submissions within 15 minutes on 2 cores (`--students 500 --assignment score_function
--executors jobs2`), and two Dask workers at least 1.7 times the throughput of one.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import nbformat

from pgcourse.grading import driver

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers import dask_cluster  # noqa: E402  (the cluster the tests use)
from test_grading_mutants import MUTANTS, mutate  # noqa: E402  (the mutants the tests use)

SCALING_TARGET = 1.7
EXECUTORS = ("jobs1", "jobs2", "dask1", "dask2")


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
        submissions[f"{kind}{number:03d}"] = text
    return submissions


def make_course(folder: Path, assignments: list[str], size: int) -> driver.Course:
    course = driver.scratch_course(ROOT, folder)
    for assignment in assignments:
        for student, text in class_of(course, assignment, size).items():
            driver.submit(course, student, assignment, text)
    return course


def grading(course: driver.Course, *args: str) -> None:
    command = [sys.executable, "-m", "pgcourse.grading", "--root", str(course.root), *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise SystemExit(f"{' '.join(args)} failed:\n{output}")


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since it booted (/proc/stat)."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def timed_autograde(course: driver.Course, assignment: str, executor: list[str]) -> tuple:
    """Wall seconds of grading every submission of ``assignment``, and the CPU seconds."""
    start, cpu = time.perf_counter(), busy_cpu_seconds()
    grading(course, "autograde", "--assignment", assignment, *executor)
    return time.perf_counter() - start, busy_cpu_seconds() - cpu


def scores(course: driver.Course) -> dict[tuple[str, str], str]:
    output = course.root / "grades.csv"
    grading(course, "grades", "--output", str(output), "--wide", str(course.root / "wide.csv"))
    with output.open() as file:
        return {(r["assignment"], r["student_id"]): r["raw_score"] for r in csv.DictReader(file)}


def executor_arguments(name: str, stack: ExitStack) -> list[str]:
    if name.startswith("jobs"):
        return ["--jobs", name.removeprefix("jobs")]
    workers = int(name.removeprefix("dask"))
    cluster = stack.enter_context(dask_cluster(workers, cores=list(range(workers))))
    return ["--scheduler", cluster.address]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--assignment", action="append", help="default: every assignment")
    parser.add_argument("--executors", default=",".join(EXECUTORS))
    args = parser.parse_args()
    names = args.executors.split(",")
    assignments = args.assignment or driver.Course(ROOT).assignments()
    rows, grades = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            course = make_course(Path(tmp) / name, assignments, args.students)
            with ExitStack() as stack:
                executor = executor_arguments(name, stack)
                for assignment in assignments:
                    wall, cpu = timed_autograde(course, assignment, executor)
                    rows.append((assignment, name, wall, cpu))
            grades[name] = scores(course)
    first = grades[names[0]]
    assert len(first) == len(assignments) * args.students, first
    assert all(g == first for g in grades.values()), "executors gave different grades"
    print(f"{args.students} submissions per assignment; identical grades with {', '.join(names)}")
    print(f"\n{'assignment':<19}{'executor':<10}{'wall s':>8}{'sub/min':>9}{'CPU s/sub':>11}")
    for assignment, name, wall, cpu in rows:
        print(
            f"{assignment:<19}{name:<10}{wall:>8.0f}{args.students / wall * 60:>9.1f}"
            f"{cpu / args.students:>11.2f}"
        )
    walls = {(a, n): w for a, n, w, _ in rows}
    for assignment in assignments:
        if ("dask1" in names) and ("dask2" in names):
            scaling = walls[assignment, "dask1"] / walls[assignment, "dask2"]
            met = "met" if scaling >= SCALING_TARGET else "NOT met"
            print(f"{assignment}: 2 Dask workers / 1 = {scaling:.2f}x "
                  f"(target {SCALING_TARGET}x: {met})")  # fmt: skip


if __name__ == "__main__":
    main()
