"""Grade one submission: a pure function of (course checkout, submission) to a :class:`Record`.

:func:`grade` writes the submission's files to a temporary folder, normalised
(:mod:`pgcourse.grading.submission`), and has nbgrader autograde them with a sandboxed kernel
into a gradebook of its own in that folder; meanwhile the judge (:mod:`pgcourse.grading.judge`)
checks the answers in a sandboxed worker. The judge scores every test cell it checks
(:func:`apply_verdicts`); nbgrader's run makes the outputs of the autograded notebook, and its
score of a cell is only evidence of tampering. The result is a plain record (scores per cell,
flags, the autograded notebooks, the judge's reasons, timings) that only the driver writes into
the course's gradebook (:mod:`pgcourse.grading.gradebook`). Grading never opens that gradebook
and needs no credentials, so it runs the same in the driver's process, in a local pool or on a
Dask worker.

It fails closed: a test cell whose points the judge did not confirm (the judge crashed or ran
out of time, nbgrader failed after saving scores) gets 0 and a flag with the reason.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import nbformat

from pgcourse.grading import judge, submission
from pgcourse.grading.course import Course, errors_in, run_nbgrader
from pgcourse.grading.execute import error_output
from pgcourse.grading.outcomes import Kind, Verdict
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

SCRATCH_PREFIX = "pgcourse-grading-"
"""Temporary folders of grading are named ``pgcourse-grading-<pid>-...`` after their process."""


@dataclass(frozen=True)
class Options:
    """How submissions run: in bubblewrap (``sandbox``), with ``limits`` on each process, judged
    on the inputs drawn from ``seed`` (one per grading run, recorded with every result, so that
    every worker judges the class on the same inputs and a regrade with it reproduces them)."""

    sandbox: bool = True
    limits: Limits = field(default_factory=Limits)
    seed: int | None = None  # None: the driver draws one for the run

    def seeded(self) -> Options:
        """These options with a seed, drawn now if they have none."""
        return self if self.seed is not None else replace(self, seed=secrets.randbits(63))


@dataclass(frozen=True)
class Task:
    """One submission to grade: its files by relative path, and the course checkout to grade it
    with (the same path on every machine that grades)."""

    root: str
    student: str
    assignment: str
    files: Mapping[str, bytes]
    timeout: float = SUBMISSION_TIMEOUT
    options: Options = field(default_factory=Options)
    refused: str = ""  # why the driver did not read the files (a link, a pipe, ...)


@dataclass(frozen=True)
class Record:
    """What grading one submission found; plain data, written to the gradebook by the driver.

    ``scores`` and ``comments`` map each notebook to its cells' automatic scores and comments
    (empty when nothing could be graded: every cell then scores 0); ``checks`` holds the judge's
    verdicts; ``flagged`` maps a test cell that lost nbgrader's points to why (a verdict of kind
    tampering, not_checked or unconfirmed); ``problem`` is why the submission was not graded
    normally ("" when it was).
    """

    student: str
    assignment: str
    fingerprint: str
    problem: str = ""
    notes: tuple[str, ...] = ()
    scores: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    comments: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    notebooks: Mapping[str, str] = field(default_factory=dict)
    checks: Mapping[str, Verdict] = field(default_factory=dict)
    flagged: Mapping[str, Verdict] = field(default_factory=dict)
    timestamp: str | None = None
    seconds: float = 0.0
    grader: str = ""
    seed: int | None = None  # the judge's inputs were drawn from it (Options.seed)

    @property
    def ok(self) -> bool:
        return not self.problem

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(course: Course, assignment: str, files: Mapping[str, bytes]) -> str:
    """A digest of the submission's files and the assignment's source: grading again is only
    needed when either changed."""
    digest = hashlib.sha256()
    parts = {
        f"source/{n}": (course.solutions / assignment / n).read_bytes()
        for n in course.notebooks(assignment)
    }
    parts |= {f"submitted/{name}": data for name, data in files.items()}
    for name, data in sorted(parts.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def grade(task: Task) -> Record:
    """Grade ``task``; raises only when the course itself cannot grade (a broken solution)."""
    start = time.perf_counter()
    course = Course(Path(task.root))
    digest = fingerprint(course, task.assignment, task.files)
    base = Record(task.student, task.assignment, digest, seed=task.options.seed)
    base = replace(base, grader=f"{socket.gethostname()}:{os.getpid()}")
    if task.options.sandbox:
        sandbox_available()
    remove_stale_scratch()
    with scratch_folder() as scratch:
        folder = scratch / "submitted" / task.student / task.assignment
        write_files(folder, task.files)
        problem = task.refused or check_notebooks(course, task.assignment, folder)
        if problem:
            result = replace(base, problem=problem)
        else:
            result = grade_folder(course, task, scratch, base)
    return replace(result, seconds=time.perf_counter() - start)


def grade_folder(course: Course, task: Task, scratch: Path, base: Record) -> Record:
    """Autograde the submission written under ``scratch``/submitted, and judge it meanwhile."""
    student, assignment = task.student, task.assignment
    ref = reference(course, assignment, task.options) if judge.CHECKS.get(assignment) else None
    prepare(course, assignment, scratch / "submitted" / student / assignment)
    sandbox = Sandbox.for_course(course.root, scratch, task.options.sandbox, task.options.limits)
    shutil.copy(template_gradebook(course, assignment), scratch / "gradebook.db")
    verdicts: dict[str, Verdict] = {}
    judge_errors: list[str] = []
    deadline = time.monotonic() + task.timeout  # the judge stops there too, like nbgrader
    kernel_done = threading.Event()

    def run() -> None:
        try:
            found = run_judge(
                course, student, assignment, ref, sandbox, scratch, deadline, kernel_done
            )
            verdicts.update(found)
        except Exception as err:  # the cells it did not check score 0 (fail closed)
            judge_errors.append(f"{type(err).__name__}: {err}")

    judging = threading.Thread(target=run)
    judging.start()
    try:
        result = run_nbgrader(
            course.root,
            [
                "autograde",
                assignment,
                "--student",
                student,
                "--force",
                f"--CourseDirectory.submitted_directory={scratch / 'submitted'}",
                f"--CourseDirectory.autograded_directory={scratch / 'autograded'}",
                f"--Execute.kernel_name={KERNEL_NAME}",
                # Unix sockets next to the connection file: the sandbox has no network.
                "--KernelManager.transport=ipc",
                f"--KernelManager.connection_file={kernel_runtime(scratch) / 'kernel.json'}",
            ],
            db_url=f"sqlite:///{scratch / 'gradebook.db'}",
            timeout=task.timeout,
            environment=kernel_environment(sandbox, scratch),
            prefix=["prlimit", f"--as={2 * task.options.limits.memory_bytes}", "--"],
            inherit=False,  # the driver's variables may hold the gradebook's credentials
        )
    except subprocess.TimeoutExpired:
        return replace(
            base, problem=f"grading took longer than {task.timeout:.0f} s and was stopped"
        )
    finally:
        kernel_done.set()
        judging.join()
    graded = read_scratch_gradebook(scratch, student, assignment)
    notes = []
    if "the kernel died" in result.stderr:
        notes.append("the kernel died (the cells it did not run scored 0)")
    missing = [
        n
        for n in course.notebooks(assignment)
        if not (scratch / "submitted" / student / assignment / n).exists()
    ]
    notes += [f"missing {name} (scored 0)" for name in missing]
    if any(verdict.detail == judge.OUT_OF_TIME for verdict in verdicts.values()):
        notes.append("the judge ran out of time (what it did not check scored 0)")
    if result.returncode != 0:
        unchecked = f"nbgrader failed: {errors_in(result.stderr)}"
        return failed_closed(base, graded, scratch, unchecked, tuple(notes))
    record = replace(base, notes=tuple(notes), **graded)
    return apply_verdicts(record, verdicts, judge_errors, points(course, assignment))


def read_scratch_gradebook(scratch: Path, student: str, assignment: str) -> dict[str, Any]:
    """What nbgrader saved in the submission's own gradebook, and the autograded notebooks."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}") as gradebook:
        try:
            found = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return {}
        notebooks = found.notebooks
        scores = {nb.name: {g.name: g.auto_score for g in nb.grades} for nb in notebooks}
        comments = {nb.name: {c.name: c.auto_comment for c in nb.comments} for nb in notebooks}
    folder = scratch / "autograded" / student / assignment
    notebooks = {p.name: p.read_text() for p in sorted(folder.glob("*.ipynb"))}
    timestamp = folder / "timestamp.txt"
    return {
        "scores": scores,
        "comments": comments,
        "notebooks": notebooks,
        "timestamp": timestamp.read_text().strip() if timestamp.exists() else None,
    }


def apply_verdicts(
    record: Record,
    verdicts: dict[str, Verdict],
    judge_errors: list[str],
    points: Mapping[str, float],
) -> Record:
    """The judge scores every test cell it checks: the cell's ``points`` when its verdict passed,
    else 0 (no verdict: the judge failed). nbgrader's score of such a cell is only evidence: a
    cell it passed and the judge failed is flagged as tampering suspected, and a cell the judge
    could not decide (not checked, unconfirmed) is flagged for a regrade, both in the record and
    in the autograded notebook. A cell whose test failed in the kernel (a wall-clock timeout on a
    busy machine, a warning on stderr) and passed the judge keeps its points, with a note."""
    must_confirm = set(judge.CHECKS.get(record.assignment, {}))
    no_verdict = Verdict(
        Kind.NOT_CHECKED, judge_errors[0] if judge_errors else "the judge gave no verdict"
    )
    scores = {name: dict(cells) for name, cells in record.scores.items()}
    flagged, notes = {}, list(record.notes)
    for cells in scores.values():
        for grade_id in sorted(must_confirm & set(cells)):
            verdict = verdicts.get(grade_id, no_verdict)
            kernel_passed = (cells[grade_id] or 0) > 0
            cells[grade_id] = points[grade_id] if verdict.passed else 0
            if verdict.kind is Kind.FAILED and kernel_passed:
                flagged[grade_id] = Verdict(Kind.TAMPERING, verdict.detail)
            elif verdict.kind in (Kind.NOT_CHECKED, Kind.UNCONFIRMED):
                flagged[grade_id] = verdict
            elif verdict.passed and not kernel_passed:
                notes.append(f"{grade_id} failed in the notebook and passed the judge's check")
    problem = f"the judge could not check the answers: {judge_errors[0]}" if judge_errors else ""
    return replace(
        record,
        scores=scores,
        flagged=flagged,
        checks=dict(verdicts),
        problem=problem,
        notes=tuple(notes),
        notebooks=annotated(record.notebooks, flagged),
    )


def failed_closed(
    base: Record, graded: dict[str, Any], scratch: Path, reason: str, notes: tuple[str, ...]
) -> Record:
    """nbgrader failed: none of its scores is trusted; every cell it gave points scores 0."""
    scores = {name: dict(cells) for name, cells in graded.get("scores", {}).items()}
    flagged = {}
    for cells in scores.values():
        for grade_id, score in cells.items():
            if (score or 0) > 0:
                cells[grade_id], flagged[grade_id] = 0, Verdict(Kind.NOT_CHECKED, reason)
    notebooks = annotated(graded.get("notebooks", {}), flagged)
    return replace(
        base,
        **{**graded, "scores": scores, "notebooks": notebooks},
        flagged=flagged,
        problem=reason,
        notes=notes,
    )


def annotated(notebooks: Mapping[str, str], flagged: Mapping[str, Verdict]) -> dict[str, str]:
    """The autograded notebooks with each flagged cell's reason under it, for the formgrader
    (the feedback says it in fixed words: pgcourse.grading.hidden_tests)."""
    result = {}
    for name, text in notebooks.items():
        notebook = nbformat.reads(text, as_version=4)
        for cell in notebook.cells:
            flag = flagged.get(submission.grade_id(cell) or "")
            if flag and cell.cell_type == "code":
                cell.outputs.append(error_output("GradingCheckFailed", explanation(flag)))
        result[name] = nbformat.writes(notebook)
    return result


def explanation(flag: Verdict) -> str:
    """What the autograded notebook says under a flagged test cell, detail included."""
    if flag.kind is Kind.TAMPERING:
        return (
            "tampering suspected: this test passed in the notebook, but the grader's own "
            f"check, run outside the notebook, failed ({flag.detail}). No points."
        )
    return f"{flag}. The grader could not confirm this test's points: no points."


# --- the submission's folder ---------------------------------------------------------------------


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write the submission's files under ``folder``; a path that would leave it is refused."""
    folder.mkdir(parents=True)
    for name, data in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"refusing a submitted file outside its folder: {name!r}")
        path = folder.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def check_notebooks(course: Course, assignment: str, folder: Path) -> str | None:
    """Why the submitted notebooks in ``folder`` cannot be graded, or None if they can.

    One missing notebook of several is gradable (nbgrader scores it 0); a submission without any
    notebook, with a file that is not a notebook, or with a notebook that has none of the
    assignment's cells (written anew instead of from the release) is not.
    """
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


def points(course: Course, assignment: str) -> dict[str, float]:
    """Each test cell's points in the assignment's source notebooks."""
    found: dict[str, float] = {}
    for name in course.notebooks(assignment):
        found |= submission.points(nbformat.read(course.solutions / assignment / name, 4))
    return found


def prepare(course: Course, assignment: str, folder: Path) -> None:
    """Normalize the submitted notebooks in ``folder`` (see :mod:`pgcourse.grading.submission`)."""
    for name in course.notebooks(assignment):
        if (folder / name).exists():
            source = nbformat.read(course.solutions / assignment / name, as_version=4)
            learner = nbformat.read(folder / name, as_version=4)
            nbformat.write(submission.normalized(source, learner), folder / name)


# --- what each grading process computes once -----------------------------------------------------

_lock = threading.Lock()
_references: dict[tuple[str, int, int | None], judge.Reference] = {}
_templates: dict[tuple[str, str, int], Path] = {}


def source_key(course: Course, assignment: str) -> tuple[str, int]:
    path = course.solutions / assignment / f"{assignment}.ipynb"
    return str(path), path.stat().st_mtime_ns


def reference(course: Course, assignment: str, options: Options) -> judge.Reference:
    """The judge's inputs (from ``options.seed``) and the solution's answers, computed once per
    source, seed and process."""
    key = (*source_key(course, assignment), options.seed)
    with _lock:
        if key not in _references:
            path = course.solutions / assignment / f"{assignment}.ipynb"
            cells = [
                (code, True) for code, _ in submission.program(nbformat.read(path, as_version=4))
            ]
            with scratch_folder() as scratch:
                sandbox = Sandbox.for_course(course.root, scratch, options.sandbox, options.limits)
                _references[key] = judge.reference(
                    assignment, cells, sandbox, scratch, course.cell_timeout(), options.seed
                )
        return _references[key]


def template_gradebook(course: Course, assignment: str) -> Path:
    """An empty gradebook that knows the assignment, made once per source and process; each
    submission is autograded into a copy of it."""
    key = (str(course.root), *source_key(course, assignment))
    with _lock:
        if key not in _templates or not _templates[key].exists():
            prefix = f"{SCRATCH_PREFIX}{os.getpid()}-template-"
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_base()))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            result = run_nbgrader(
                course.root,
                [
                    "generate_assignment",
                    assignment,
                    "--force",
                    f"--CourseDirectory.release_directory={folder / 'release'}",
                ],
                db_url=f"sqlite:///{folder / 'gradebook.db'}",
            )
            if result.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                raise RuntimeError(
                    f"cannot read assignment {assignment}: {errors_in(result.stderr)}"
                )
            _templates[key] = folder / "gradebook.db"
        return _templates[key]


def scratch_base() -> Path:
    """Where grading's temporary folders go: the usual temporary folder, unless its path is too
    long for the kernel's Unix sockets (108 bytes on Linux, as a cluster's ``$TMPDIR`` can be)."""
    base = Path(tempfile.gettempdir())
    return base if len(str(base)) <= 40 or not os.access("/tmp", os.W_OK) else Path("/tmp")


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A temporary folder named after this process, so that a later grading process can remove
    it if this one is killed before it can (:func:`remove_stale_scratch`)."""
    prefix = f"{SCRATCH_PREFIX}{os.getpid()}-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=scratch_base()) as folder:
        yield Path(folder)


@functools.cache
def remove_stale_scratch() -> None:
    """Remove the temporary folders of grading processes that were killed (once per process)."""
    for folder in scratch_base().glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def sandbox_available() -> None:
    """Fail once, with how to install it, when bubblewrap cannot make a sandbox."""
    check_bwrap()


# --- nbgrader's kernel and the judge's worker ----------------------------------------------------


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
    deadline: float,
    kernel_done: threading.Event | None = None,
) -> dict[str, Verdict]:
    """The judge's verdicts on the normalized submission (none for an unknown assignment),
    those it has not reached by ``deadline`` (``time.monotonic()``) failed; its training
    checks wait for ``kernel_done``."""
    name = f"{assignment}.ipynb"
    path = scratch / "submitted" / student / assignment / name
    if ref is None or not path.exists():
        return {}
    cells = submission.program(nbformat.read(path, as_version=4))
    timeout = course.cell_timeout()
    return judge.judge(assignment, cells, ref, sandbox, scratch, timeout, deadline, kernel_done)
