"""The instructor's workflow: release, collect, autograde, feedback, grades.

nbgrader does the work (``generate_assignment``, ``autograde``, ``generate_feedback``,
``export``; :mod:`pgcourse.grading.intake` collects the platform's zip). Autograding is split
in two steps with plain data between them: :func:`pgcourse.grading.grade.grade` grades one
submission anywhere (a thread here, or a Dask worker) into a
:class:`~pgcourse.grading.grade.Record`, and the driver alone writes each record into the
gradebook (:mod:`pgcourse.grading.gradebook`) as it arrives. One driver at a
time grades a course (a lock file); a driver that was killed resumes where it stopped.
"""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from pgcourse.grading import executors, gradebook, intake
from pgcourse.grading.course import JUNK_NAMES, Course, errors_in
from pgcourse.grading.course import run_nbgrader as run_nbgrader_at
from pgcourse.grading.grade import SUBMISSION_TIMEOUT, Options, Record, Task
from pgcourse.grading.gradebook import VERDICT_FILE
from pgcourse.grading.outcomes import Kind
from pgcourse.grading.sandbox import Limits

__all__ = ["Course", "Limits", "Options", "SUBMISSION_TIMEOUT", "VERDICT_FILE"]

LOCK_FILE = ".grading.lock"


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


def run_nbgrader(course: Course, args: Sequence[str], **kwargs):  # -> CompletedProcess[str]
    """``nbgrader <args>`` on ``course`` and its gradebook (see course.run_nbgrader)."""
    return run_nbgrader_at(course.root, args, db_url=course.db_url, **kwargs)


# --- autograding ---------------------------------------------------------------------------------


def autograde(
    course: Course,
    jobs: int = 1,
    assignment: str | None = None,
    student: str | None = None,
    timeout: float = SUBMISSION_TIMEOUT,
    options: Options | None = None,
    scheduler: str | None = None,
    regrade: bool = False,
) -> list[Outcome]:
    """Autograde the submissions under submitted/ (or those of one assignment or student) that
    have no record for their current files (all of them with ``regrade``), on ``jobs`` local
    workers or on the Dask cluster of ``scheduler``, recording each result as it arrives.

    Raises RuntimeError, saying what to do, when bubblewrap is missing and ``options`` asks for
    the sandbox (the default), when another driver grades the course, when the gradebook or the
    scheduler cannot be reached; nothing is written then.
    """
    options = (options or Options()).seeded()
    if options.sandbox:
        from pgcourse.grading.grade import sandbox_available

        sandbox_available()
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
    with exclusive(course), stopped_by_signals():
        client = executors.connect(scheduler) if scheduler else None
        if client is not None:
            client.close()  # reachable: nothing is written before that is known
        gradebook.sync(course, (a for _, a in pairs))
        tasks = [task(course, s, a, timeout, options) for s, a in pairs]
        done = {} if regrade else gradebook.recorded(course)
        todo = [t for t in tasks if done.get((t.student, t.assignment)) != fingerprint(course, t)]
        if len(todo) < len(tasks):
            print(
                f"{len(tasks) - len(todo)} of {len(tasks)} submissions already graded "
                "(--regrade grades them again)"
            )
        if todo:
            print(f"the judge's inputs come from seed {options.seed} (--seed reuses them)")
        results = executors.cluster(todo, scheduler) if scheduler else executors.local(todo, jobs)
        outcomes = list(record_all(course, results, len(todo)))
    return sorted(outcomes, key=lambda o: (o.assignment, o.student))


def task(course: Course, student: str, assignment: str, timeout: float, options: Options) -> Task:
    """The submission's files, read here, and how to grade them. Only regular files are read:
    a submission holding a link, a pipe or a device is refused by name, and graded as empty."""
    folder = course.submitted / student / assignment
    refused = intake.irregular(course.submitted, student, assignment)
    files = {} if refused else {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }  # fmt: skip
    return Task(str(course.root), student, assignment, files, timeout, options, refused or "")


def fingerprint(course: Course, task: Task) -> str:
    from pgcourse.grading.grade import fingerprint as digest

    return digest(course, task.assignment, task.files)


def record_all(
    course: Course, results: Iterable[executors.Result], total: int
) -> Iterator[Outcome]:
    """Record each result as it arrives, printing it with the run's progress."""
    progress = Progress(total)
    for task_, result in results:
        outcome = record_one(course, task_, result)
        progress.count(outcome.ok)
        print(f"{outcome}  [{progress}]", flush=True)
        yield outcome
    if total:
        print(progress.summary(), flush=True)


def record_one(course: Course, task_: Task, result: Record | BaseException) -> Outcome:
    """Write one result into the gradebook; a task that could not be graded is not recorded
    (it is graded again next time)."""
    if isinstance(result, BaseException):
        detail = f"not graded: {type(result).__name__}: {result}"
        return Outcome(task_.student, task_.assignment, False, 0.0, detail)
    gradebook.record(course, result)
    detail = gradebook.score_summary(course, result.student, result.assignment)
    if result.problem:
        detail = f"{result.problem}; recorded as {detail}"
    detail += "".join(f"; {note}" for note in result.notes)
    suspected = [k for k, flag in result.flagged.items() if flag.kind is Kind.TAMPERING]
    unchecked = [k for k, flag in result.flagged.items() if flag.kind is not Kind.TAMPERING]
    if suspected:
        detail += f"; tampering suspected in {', '.join(sorted(suspected))}"
    if unchecked:
        detail += f"; not checked, scored 0: {', '.join(sorted(unchecked))}"
    return Outcome(result.student, result.assignment, result.ok, result.seconds, detail)


def grade_submission(
    course: Course,
    student: str,
    assignment: str,
    timeout: float = SUBMISSION_TIMEOUT,
    options: Options | None = None,
) -> Outcome:
    """Grade one submission here and record it (the gradebook must know the assignment)."""
    from pgcourse.grading.grade import grade

    task_ = task(course, student, assignment, timeout, (options or Options()).seeded())
    try:
        result: Record | BaseException = grade(task_)
    except Exception as err:  # noqa: BLE001 (reported like any task that could not run)
        result = err
    return record_one(course, task_, result)


def sync_gradebook(course: Course, assignments: Iterable[str]) -> None:
    gradebook.sync(course, assignments)


class Progress:
    """done/total, rate, time left and failures so far, for the line of each result."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.start = time.monotonic()

    def count(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok

    def rate(self) -> float:
        return self.done / max(time.monotonic() - self.start, 1e-9) * 60

    def __str__(self) -> str:
        left = (self.total - self.done) / self.rate() * 60 if self.done else float("nan")
        eta = "?" if left != left else time.strftime("%H:%M:%S", time.gmtime(left))
        return f"{self.done}/{self.total}, {self.rate():.1f}/min, {eta} left, {self.failed} failed"

    def summary(self) -> str:
        minutes = (time.monotonic() - self.start) / 60
        return (
            f"graded {self.done} of {self.total} in {minutes:.1f} min "
            f"({self.rate():.1f}/min), {self.failed} failed"
        )


@contextmanager
def exclusive(course: Course) -> Iterator[None]:
    """Hold the course's grading lock, or refuse: two drivers would grade the same submissions."""
    path = course.root / LOCK_FILE
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise RuntimeError(
                f"another driver is grading {course.root} ({holder}): wait for it to finish, "
                "or stop it; a stopped driver's work is kept and resumed"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        lock.flush()
        yield


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl-C does, so temporary folders are removed and
    the processes started for grading are stopped (a SIGKILL's leftovers are removed later)."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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


# --- feedback, grades, release, collect ----------------------------------------------------------


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
    """Export every grade in the gradebook to a CSV file, with columns that name the test cells
    where tampering is suspected and those the judge could not check (both scored 0)."""
    result = run_nbgrader(course, ["export", f"--to={output.resolve()}"])
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader export failed: {errors_in(result.stderr)}")
    with output.open() as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        flagged = gradebook.flags(course, row["student_id"], row["assignment"])
        row["tampering_suspected"] = " ".join(
            sorted(k for k, flag in flagged.items() if flag.kind is Kind.TAMPERING)
        )
        row["not_checked"] = " ".join(
            sorted(k for k, flag in flagged.items() if flag.kind is not Kind.TAMPERING)
        )
    if rows:
        with output.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
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


def collect(
    course: Course, archive: Path, assignment: str, limits: intake.ArchiveLimits | None = None
) -> list[str]:
    """Import a zip of submissions downloaded from the learning platform into submitted/.

    The file names say whose each notebook is (``FileNameCollectorPlugin.named_regexp`` in
    nbgrader_config.py); the zip is untrusted (see :mod:`pgcourse.grading.intake`): each entry
    skipped is printed with why. Returns the students with a submission of ``assignment``.
    """
    if not archive.is_file():
        raise ValueError(f"no zip file at {archive}: pass the downloaded archive, ZIP=path.zip")
    if assignment not in course.assignments():
        raise ValueError(
            f"unknown assignment {assignment!r}: expected one of {course.assignments()}"
        )
    print(intake.collect(course, archive, assignment, limits))
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
