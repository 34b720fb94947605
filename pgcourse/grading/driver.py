"""The instructor's workflow, one submission at a time.

nbgrader does the work (``generate_assignment``, ``zip_collect``, ``autograde``,
``generate_feedback``, ``export``); this module runs it once per (student, assignment) in its
own process, so a broken submission (invalid JSON, a missing notebook, a kernel that dies or
hangs) is reported by name and the rest of the class is still graded. The gradebook is
nbgrader's SQLite ``gradebook.db`` in the course root.

Grading one submission happens in :func:`grade_submission` only. The submitted files are never
changed: a normalized copy (:mod:`pgcourse.grading.submission`) is graded from a temporary
folder. Learners' code runs only in sandboxed processes (:mod:`pgcourse.grading.sandbox`):
nbgrader's kernel, and the worker of the judge (:mod:`pgcourse.grading.judge`), which checks the
answers again where the submission cannot forge the verdict. Each test cell keeps the smaller
of the two scores; a cell where nbgrader gave points the judge denies is flagged.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from pgcourse.grading import judge, submission
from pgcourse.grading.execute import error_output
from pgcourse.grading.sandbox import (
    KERNEL_NAME,
    SETTINGS_VARIABLE,
    Limits,
    Sandbox,
    check_bwrap,
    write_kernel_spec,
)

SUBMISSION_TIMEOUT = 600.0
"""Seconds one submission may take in total; each cell has its own limit in nbgrader_config.py."""

VERDICT_FILE = "judge.json"
"""Written next to each autograded notebook: the judge's verdicts and the flagged cells."""

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

    def cell_timeout(self) -> float:
        """Seconds a cell may run (``ExecutePreprocessor.timeout`` in nbgrader_config.py)."""
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        return float(config.ExecutePreprocessor.get("timeout", 30))

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
class Options:
    """How submissions run: in bubblewrap (``sandbox``), with ``limits`` on each process."""

    sandbox: bool = True
    limits: Limits = field(default_factory=Limits)


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
    course: Course,
    args: Sequence[str],
    timeout: float | None = None,
    environment: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader <args>`` for ``course`` in a new process group, killed whole on timeout.

    ``environment`` is added to this process's; ``prefix`` goes before the command (prlimit).
    """
    command = [
        *prefix,
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
    env.update(environment or {})
    # Output goes to files, not pipes: a process that escaped the group (a kernel has its own
    # session) could hold a pipe open, and reading it to the end would wait for that process.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            command,
            cwd=course.root,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # a group of its own, killed whole on timeout
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        stdout.seek(0)
        stderr.seek(0)
        return subprocess.CompletedProcess(
            command, process.returncode, stdout.read(), stderr.read()
        )


def errors_in(log: str, limit: int = 3) -> str:
    """The last few error lines of an nbgrader log, joined on one line."""
    lines = [line.strip() for line in log.splitlines() if "ERROR" in line or "Error:" in line]
    return " | ".join(lines[-limit:]) or (log.strip().splitlines() or ["no output"])[-1]


def check_notebooks(course: Course, student: str, assignment: str) -> str | None:
    """Why the submitted notebooks cannot be graded, or None if they can.

    One missing notebook of several is gradable (nbgrader scores it 0); a submission without any
    notebook, with a file that is not a notebook, or with a notebook that has none of the
    assignment's cells (written anew instead of from the release) is not.
    """
    folder = course.submitted / student / assignment
    expected = course.notebooks(assignment)
    if not any((folder / name).exists() for name in expected):
        found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        hint = f": rename {found[0]} to {expected[0]}" if len(found) == len(expected) == 1 else ""
        return f"no notebook submitted: expected {', '.join(expected)}, found {found}{hint}"
    for name in expected:
        path = folder / name
        if not path.exists():
            continue
        try:
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
        except Exception as err:  # any parse or schema error makes the file ungradable
            return f"{name} is not a valid notebook ({type(err).__name__}: {err})"[:300]
        source = nbformat.read(course.solutions / assignment / name, as_version=4)
        if not submission.recognised(source, notebook):
            return (
                f"{name} has none of the assignment's cells (no nbgrader metadata): it was not "
                f"made from exercises/{assignment}/{name}"
            )
    return None


def prepare(course: Course, student: str, assignment: str, folder: Path) -> None:
    """Copy the submission to ``folder``, its notebooks normalized; submitted/ is not changed."""
    shutil.copytree(course.submitted / student / assignment, folder)
    for name in course.notebooks(assignment):
        if (folder / name).exists():
            source = nbformat.read(course.solutions / assignment / name, as_version=4)
            learner = nbformat.read(folder / name, as_version=4)
            nbformat.write(submission.normalized(source, learner), folder / name)


_references: dict[tuple[str, int], judge.Reference] = {}
_reference_lock = threading.Lock()


def reference(course: Course, assignment: str, options: Options) -> judge.Reference:
    """The judge's inputs and the solution's answers, computed once per source and process."""
    path = course.solutions / assignment / f"{assignment}.ipynb"
    key = (str(path), path.stat().st_mtime_ns)
    with _reference_lock:
        if key not in _references:
            cells = [
                (code, True) for code, _ in submission.program(nbformat.read(path, as_version=4))
            ]
            with tempfile.TemporaryDirectory(prefix="pgcourse-reference-") as scratch:
                sandbox = Sandbox.for_course(
                    course.root, Path(scratch), options.sandbox, options.limits
                )
                timeout = course.cell_timeout()
                _references[key] = judge.reference(
                    assignment, cells, sandbox, Path(scratch), timeout
                )
        return _references[key]


def grade_submission(
    course: Course,
    student: str,
    assignment: str,
    timeout: float = SUBMISSION_TIMEOUT,
    options: Options | None = None,
) -> Outcome:
    """Autograde one submission into the gradebook and say how it went.

    Everything about grading one submission happens here: nbgrader in its own process with a
    sandboxed kernel, and meanwhile the judge with its sandboxed worker, so nothing a
    submission does can stop the others from being graded or reach their files.
    """
    options = options or Options()
    start = time.perf_counter()

    def outcome(ok: bool, detail: str) -> Outcome:
        return Outcome(student, assignment, ok, time.perf_counter() - start, detail)

    if options.sandbox:
        sandbox_available()
    problem = check_notebooks(course, student, assignment)
    if problem:
        return outcome(False, problem)
    missing = [
        name
        for name in course.notebooks(assignment)
        if not (course.submitted / student / assignment / name).exists()
    ]
    try:
        ref = reference(course, assignment, options) if judge.CHECKS.get(assignment) else None
    except RuntimeError as err:
        return outcome(False, str(err))
    with tempfile.TemporaryDirectory(prefix="pgcourse-grading-") as folder:
        scratch = Path(folder)
        sandbox = Sandbox.for_course(course.root, scratch, options.sandbox, options.limits)
        prepare(course, student, assignment, scratch / "submitted" / student / assignment)
        verdicts: dict[str, judge.Verdict] = {}
        judge_errors: list[str] = []
        deadline = time.monotonic() + timeout  # the judge stops here too, like nbgrader

        def run() -> None:
            try:
                verdicts.update(
                    run_judge(course, student, assignment, ref, sandbox, scratch, deadline)
                )
            except Exception as err:  # reported below: the grade must not stand unchecked
                judge_errors.append(f"{type(err).__name__}: {err}")

        judging = threading.Thread(target=run)
        judging.start()
        try:
            result = run_nbgrader(
                course,
                [
                    "autograde",
                    assignment,
                    "--student",
                    student,
                    "--force",
                    f"--CourseDirectory.submitted_directory={scratch / 'submitted'}",
                    f"--Execute.kernel_name={KERNEL_NAME}",
                    # Unix sockets next to the connection file: the sandbox has no network.
                    "--KernelManager.transport=ipc",
                    f"--KernelManager.connection_file={kernel_runtime(scratch) / 'kernel.json'}",
                ],
                timeout=timeout,
                environment=kernel_environment(sandbox, scratch),
                prefix=["prlimit", f"--as={2 * options.limits.memory_bytes}", "--"],
            )
        except subprocess.TimeoutExpired:
            return outcome(False, f"grading took longer than {timeout:.0f} s and was stopped")
        finally:
            judging.join()
    if result.returncode != 0:
        return outcome(False, errors_in(result.stderr))
    if judge_errors:
        return outcome(False, f"the judge could not check the answers: {judge_errors[0]}")
    flagged = apply_verdicts(course, student, assignment, verdicts)
    detail = score_summary(course, student, assignment)
    if "the kernel died" in result.stderr:
        detail += "; the kernel died (the cells it did not run scored 0)"
    if any(verdict.detail == judge.NOT_CHECKED for verdict in verdicts.values()):
        detail += "; the judge ran out of time (what it did not check scored 0)"
    if flagged:
        detail += f"; tampering suspected in {', '.join(flagged)}"
    if missing:
        detail += f"; missing {', '.join(missing)} (scored 0)"
    return outcome(True, detail)


@functools.cache
def sandbox_available() -> None:
    """Fail once, with how to install it, when bubblewrap cannot make a sandbox."""
    check_bwrap()


def kernel_runtime(scratch: Path) -> Path:
    """The folder of the kernel's connection file and sockets."""
    return scratch / "runtime"


def kernel_environment(sandbox: Sandbox, scratch: Path) -> dict[str, str]:
    """What nbgrader needs to start its kernel in the sandbox (see sandbox.start_kernel)."""
    jupyter = scratch / "jupyter"
    runtime = kernel_runtime(scratch)
    runtime.mkdir()
    write_kernel_spec(jupyter)
    paths = [str(jupyter), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    return {
        "JUPYTER_PATH": os.pathsep.join(paths),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        SETTINGS_VARIABLE: sandbox.to_json(),
    }


def run_judge(
    course: Course,
    student: str,
    assignment: str,
    ref: judge.Reference | None,
    sandbox: Sandbox,
    scratch: Path,
    deadline: float | None = None,
) -> dict[str, judge.Verdict]:
    """The judge's verdicts on the normalized submission (none for an unknown assignment),
    those it has not reached by ``deadline`` (``time.monotonic()``) failed."""
    name = f"{assignment}.ipynb"
    path = scratch / "submitted" / student / assignment / name
    if ref is None or not path.exists():
        return {}
    cells = submission.program(nbformat.read(path, as_version=4))
    timeout = course.cell_timeout()
    return judge.judge(assignment, cells, ref, sandbox, scratch, timeout, deadline)


def apply_verdicts(
    course: Course, student: str, assignment: str, verdicts: dict[str, judge.Verdict]
) -> list[str]:
    """Keep the smaller of nbgrader's and the judge's score of each test cell.

    Returns the cells where nbgrader gave points the judge denies ("tampering suspected"): they
    are recorded in judge.json next to the autograded notebook, flagged in the gradebook (the
    formgrader shows it) and explained in the notebook, hence in the learner's feedback.
    """
    from nbgrader.api import Gradebook

    if not verdicts:
        return []
    name = f"{assignment}.ipynb"
    flagged = []
    with Gradebook(course.db_url) as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        for grade in notebook.grades:
            verdict = verdicts.get(grade.name)
            if verdict is not None and not verdict.passed and (grade.auto_score or 0) > 0:
                flagged.append(grade.name)
                grade.auto_score = 0
        notebook.flagged = bool(flagged)
        gradebook.db.commit()
    folder = course.autograded / student / assignment
    record = {
        "tampering_suspected": flagged,
        "checks": {k: {"passed": v.passed, "detail": v.detail} for k, v in verdicts.items()},
    }
    (folder / VERDICT_FILE).write_text(json.dumps(record, indent=1))
    if flagged and (folder / name).exists():
        autograded = nbformat.read(folder / name, as_version=4)
        for cell in autograded.cells:
            if submission.grade_id(cell) in flagged:
                detail = verdicts[cell.metadata.nbgrader.grade_id].detail
                message = (
                    "tampering suspected: this test passed in the notebook, but the grader's "
                    f"own check, run outside the notebook, failed ({detail}). No points."
                )
                cell.outputs.append(error_output("GradingCheckFailed", message))
        nbformat.write(autograded, folder / name)
    return sorted(flagged)


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
    options: Options | None = None,
) -> list[Outcome]:
    """Autograde every submission under submitted/ (or those of one assignment or student).

    Raises RuntimeError, saying how to install it, when bubblewrap is missing and ``options``
    asks for the sandbox (the default).
    """
    options = options or Options()
    if options.sandbox:
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
    sync_gradebook(course, (a for _, a in pairs))
    return for_each(pairs, lambda s, a: grade_submission(course, s, a, timeout, options), jobs)


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
    """Export every grade in the gradebook to a CSV file, with a column that names the test
    cells where tampering is suspected (see :func:`apply_verdicts`)."""
    result = run_nbgrader(course, ["export", f"--to={output.resolve()}"])
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader export failed: {errors_in(result.stderr)}")
    with output.open() as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        verdicts = course.autograded / row["student_id"] / row["assignment"] / VERDICT_FILE
        flagged = (
            json.loads(verdicts.read_text())["tampering_suspected"] if verdicts.exists() else []
        )
        row["tampering_suspected"] = " ".join(flagged)
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
