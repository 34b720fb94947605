"""The instructor's workflow, one submission at a time.

nbgrader does the work (``generate_assignment``, ``zip_collect``, ``autograde``,
``generate_feedback``, ``export``); this module runs it once per (student, assignment) in its
own process, so a broken submission (invalid JSON, a missing notebook, a kernel that dies or
hangs) is reported by name and the rest of the class is still graded. The gradebook is
nbgrader's SQLite ``gradebook.db`` in the course root.

Grading one submission happens in :func:`grade_submission` only: that is where a sandbox (for
instance bubblewrap around the nbgrader command) and an out-of-process re-check of the
autograded notebook would go.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

SUBMISSION_TIMEOUT = 600.0
"""Seconds one submission may take in total; each cell has its own limit in nbgrader_config.py."""

# Files an editor or a kernel leaves behind that do not belong in the release.
JUNK_NAMES = frozenset({".ipynb_checkpoints", "__pycache__", ".DS_Store", ".virtual_documents"})


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory: solutions/, exercises/, submitted/, ... under ``root``."""

    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def db_url(self) -> str:
        # Parallel graders share this file: wait up to a minute for a lock instead of failing.
        return f"sqlite:///{self.root / 'gradebook.db'}?timeout=60"

    def assignments(self) -> list[str]:
        """The assignments that have a source folder with at least one notebook."""
        if not self.solutions.is_dir():
            raise ValueError(f"no solutions/ folder in {self.root}: expected an nbgrader course")
        return sorted(p.name for p in self.solutions.iterdir() if any(p.glob("*.ipynb")))

    def notebooks(self, assignment: str) -> list[str]:
        """File names of the assignment's notebooks."""
        return sorted(p.name for p in (self.solutions / assignment).glob("*.ipynb"))

    def submissions(
        self, assignment: str | None = None, student: str | None = None
    ) -> list[tuple[str, str]]:
        """Every (student, assignment) folder under submitted/, optionally filtered."""
        if not self.submitted.is_dir():
            return []
        pairs = [
            (folder.parent.name, folder.name)
            for folder in self.submitted.glob("*/*")
            if folder.is_dir() and not folder.name.startswith(".")
        ]
        return sorted(
            (s, a)
            for s, a in pairs
            if (assignment is None or a == assignment) and (student is None or s == student)
        )


@dataclass(frozen=True)
class Outcome:
    """What happened to one (student, assignment)."""

    student: str
    assignment: str
    ok: bool
    seconds: float
    detail: str

    def __str__(self) -> str:
        status = "ok    " if self.ok else "FAILED"
        return f"{status} {self.student}/{self.assignment} ({self.seconds:.1f} s): {self.detail}"


def run_nbgrader(
    course: Course, args: Sequence[str], timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader <args>`` for ``course`` in a new process group, killed whole on timeout."""
    command = [
        sys.executable,
        "-m",
        "nbgrader",
        *args,
        f"--CourseDirectory.root={course.root}",
        f"--CourseDirectory.db_url={course.db_url}",
    ]
    env = dict(os.environ)
    # nbgrader runs `alembic` to create the gradebook: it must find the one next to this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    process = subprocess.Popen(
        command,
        cwd=course.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the kernel joins this group, so a timeout kills it too
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def errors_in(log: str, limit: int = 3) -> str:
    """The last few error lines of an nbgrader log, joined on one line."""
    lines = [line.strip() for line in log.splitlines() if "ERROR" in line or "Error:" in line]
    return " | ".join(lines[-limit:]) or (log.strip().splitlines() or ["no output"])[-1]


def check_notebooks(course: Course, student: str, assignment: str) -> str | None:
    """Why the submitted notebooks cannot be graded, or None if they can.

    One missing notebook of several is gradable (nbgrader scores it 0); a submission without any
    notebook, or with a file that is not a notebook, is not.
    """
    folder = course.submitted / student / assignment
    expected = course.notebooks(assignment)
    if not any((folder / name).exists() for name in expected):
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        return f"no notebook submitted: expected {', '.join(expected)}, found {found}"
    for name in expected:
        path = folder / name
        if not path.exists():
            continue
        try:
            nbformat.validate(nbformat.read(path, as_version=4))
        except Exception as err:  # any parse or schema error makes the file ungradable
            return f"{name} is not a valid notebook ({type(err).__name__}: {err})"[:300]
    return None


def grade_submission(
    course: Course, student: str, assignment: str, timeout: float = SUBMISSION_TIMEOUT
) -> Outcome:
    """Autograde one submission into the gradebook and say how it went.

    Everything about grading one submission happens here, in a separate nbgrader process
    (and its own kernel), so nothing a submission does can stop the others from being graded.
    """
    start = time.perf_counter()

    def outcome(ok: bool, detail: str) -> Outcome:
        return Outcome(student, assignment, ok, time.perf_counter() - start, detail)

    problem = check_notebooks(course, student, assignment)
    if problem:
        return outcome(False, problem)
    missing = [
        name
        for name in course.notebooks(assignment)
        if not (course.submitted / student / assignment / name).exists()
    ]
    args = ["autograde", assignment, "--student", student, "--force"]
    try:
        result = run_nbgrader(course, args, timeout=timeout)
    except subprocess.TimeoutExpired:
        return outcome(False, f"grading took longer than {timeout:.0f} s and was stopped")
    if result.returncode != 0:
        return outcome(False, errors_in(result.stderr))
    detail = score_summary(course, student, assignment)
    if missing:
        detail += f"; missing {', '.join(missing)} (scored 0)"
    return outcome(True, detail)


def score_summary(course: Course, student: str, assignment: str) -> str:
    """The submission's score as recorded in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        summary = f"{submission.score:g} / {submission.max_score:g} points"
        if submission.needs_manual_grade:
            summary += ", needs manual grading"
    return summary


def for_each(
    pairs: Iterable[tuple[str, str]], task: Callable[[str, str], Outcome], jobs: int = 1
) -> list[Outcome]:
    """Run ``task(student, assignment)`` for every pair on ``jobs`` workers, printing each."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    outcomes = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(task, student, assignment) for student, assignment in pairs]
        for future in as_completed(futures):
            outcomes.append(future.result())
            print(outcomes[-1], flush=True)
    return sorted(outcomes, key=lambda o: (o.assignment, o.student))


def sync_gradebook(course: Course, assignments: Iterable[str]) -> None:
    """Record each assignment's current source (its test cells and points) in the gradebook.

    The release goes to a throw-away folder: exercises/ only changes with ``exercises``.
    """
    with tempfile.TemporaryDirectory() as release:
        for assignment in sorted(set(assignments)):
            args = ["generate_assignment", assignment, "--force"]
            args.append(f"--CourseDirectory.release_directory={release}")
            result = run_nbgrader(course, args)
            if result.returncode != 0:
                raise RuntimeError(
                    f"cannot read assignment {assignment}: {errors_in(result.stderr)}"
                )


def autograde(
    course: Course,
    jobs: int = 1,
    assignment: str | None = None,
    student: str | None = None,
    timeout: float = SUBMISSION_TIMEOUT,
) -> list[Outcome]:
    """Autograde every submission under submitted/ (or those of one assignment or student)."""
    pairs = course.submissions(assignment, student)
    if not pairs:
        print(f"no submissions under {course.submitted} to grade")
        return []
    unknown = sorted({a for _, a in pairs} - set(course.assignments()))
    if unknown:
        raise ValueError(
            f"submitted/ holds unknown assignments {unknown}: expected one of "
            f"{course.assignments()}"
        )
    sync_gradebook(course, (a for _, a in pairs))
    return for_each(pairs, lambda s, a: grade_submission(course, s, a, timeout), jobs)


def feedback_for(course: Course, student: str, assignment: str) -> Outcome:
    """Write the HTML feedback of one autograded submission under feedback/."""
    start = time.perf_counter()
    result = run_nbgrader(
        course, ["generate_feedback", assignment, "--student", student, "--force"]
    )
    ok = result.returncode == 0
    detail = f"feedback/{student}/{assignment}/" if ok else errors_in(result.stderr)
    return Outcome(student, assignment, ok, time.perf_counter() - start, detail)


def feedback(
    course: Course, jobs: int = 1, assignment: str | None = None, student: str | None = None
) -> list[Outcome]:
    """HTML feedback for every autograded submission."""
    pairs = [
        (s, a)
        for s, a in course.submissions(assignment, student)
        if (course.autograded / s / a).is_dir()
    ]
    if not pairs:
        print("nothing autograded yet: run autograde first")
        return []
    return for_each(pairs, lambda s, a: feedback_for(course, s, a), jobs)


def grades(course: Course, output: Path) -> Path:
    """Export every grade in the gradebook to a CSV file."""
    result = run_nbgrader(course, ["export", f"--to={output.resolve()}"])
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader export failed: {errors_in(result.stderr)}")
    print(f"grades written to {output}")
    return output


def strip_release(folder: Path) -> None:
    """Remove from a release what must not be committed: outputs, execution counts, editor junk."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.name in JUNK_NAMES:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for path in folder.rglob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(notebook, path)


def generate_exercises(course: Course, assignments: Sequence[str] = ()) -> None:
    """Regenerate exercises/<assignment>/ from solutions/ with nbgrader, then strip it."""
    for assignment in assignments or course.assignments():
        result = run_nbgrader(course, ["generate_assignment", assignment, "--force"])
        if result.returncode != 0:
            raise RuntimeError(f"cannot release {assignment}: {errors_in(result.stderr)}")
        strip_release(course.exercises / assignment)
        print(f"released exercises/{assignment}/")


def collect(course: Course, archive: Path, assignment: str) -> list[str]:
    """Import a zip of submissions downloaded from the learning platform into submitted/.

    This is nbgrader's ``zip_collect``: the file names say whose each notebook is (see
    ``FileNameCollectorPlugin.named_regexp`` in nbgrader_config.py). Returns the students.
    """
    if not archive.is_file():
        raise ValueError(f"no zip file at {archive}: pass the downloaded archive, ZIP=path.zip")
    if not (course.exercises / assignment).is_dir():
        raise ValueError(
            f"unknown assignment {assignment!r}: expected one of {course.assignments()}"
        )
    inbox = course.root / "downloaded" / assignment / "archive"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    shutil.copy(archive, inbox / archive.name)
    result = run_nbgrader(course, ["zip_collect", assignment, "--force"])
    for line in result.stderr.splitlines():
        if "Skipped" in line or "did not match" in line:
            print(line.strip())
    if result.returncode != 0:
        raise RuntimeError(f"zip_collect failed: {errors_in(result.stderr)}")
    students = [s for s, _ in course.submissions(assignment)]
    print(f"{len(students)} submissions of {assignment} in submitted/: {', '.join(students)}")
    return students


def scratch_course(source: Path, destination: Path) -> Course:
    """A throw-away copy of the course at ``source`` (sources, release, configuration).

    Grading there never touches the class's submitted/ folder or gradebook: for trying a
    submission by hand, and for the test suite.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for folder in ("solutions", "exercises"):
        shutil.copytree(
            source / folder, destination / folder, ignore=shutil.ignore_patterns(*JUNK_NAMES)
        )
    shutil.copy(source / "nbgrader_config.py", destination / "nbgrader_config.py")
    return Course(destination.resolve())


def submit(course: Course, student: str, assignment: str, notebook: Path | str) -> Path:
    """Place ``notebook`` (a file, or a notebook's text) as ``student``'s submission.

    Text is written under the assignment's first notebook name.
    """
    folder = course.submitted / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, Path):
        return Path(shutil.copy(notebook, folder / notebook.name))
    path = folder / course.notebooks(assignment)[0]
    path.write_text(notebook)
    return path
