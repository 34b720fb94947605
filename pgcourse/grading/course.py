"""An nbgrader course directory, and running nbgrader on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Files an editor or a kernel leaves behind that do not belong in the release.
JUNK_NAMES = frozenset({".ipynb_checkpoints", "__pycache__", ".DS_Store", ".virtual_documents"})


PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "JUPYTER_PATH")
"""The variables nbgrader gets when it runs learners' code: none that may hold a credential."""


def default_db_url(root: Path) -> str:
    """The embedded gradebook: nbgrader's SQLite file in the course root."""
    # Several processes may read it while the driver writes: wait for a lock, don't fail.
    return f"sqlite:///{root / 'gradebook.db'}?timeout=60"


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory: solutions/, exercises/, submitted/, ... under ``root``,
    graded into the gradebook at ``database`` (an SQLAlchemy URL; default ``gradebook.db``)."""

    root: Path
    database: str | None = None

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
        return self.database or default_db_url(self.root)

    @property
    def course_id(self) -> str:
        """The course's id in the gradebook (``CourseDirectory.course_id``)."""
        return self.config().CourseDirectory.get("course_id") or "default_course"

    def cell_timeout(self) -> float:
        """Seconds a cell may run (``ExecutePreprocessor.timeout`` in nbgrader_config.py)."""
        return float(self.config().ExecutePreprocessor.get("timeout", 30))

    def config(self):  # -> traitlets Config
        """The course's nbgrader_config.py, as nbgrader reads it."""
        from traitlets.config.loader import PyFileConfigLoader

        return PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()

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


def run_nbgrader(
    root: Path,
    args: Sequence[str],
    db_url: str,
    timeout: float | None = None,
    environment: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    inherit: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader <args>`` on the course at ``root`` with the gradebook at ``db_url``, in a
    new process group that is killed whole on timeout and dies with this process.

    ``environment`` is added to this process's variables (with ``inherit``) or to the few of
    :data:`PASSED_ON`; ``prefix`` goes before the command (prlimit).
    """
    command = [
        *prefix,
        sys.executable,
        "-m",
        "pgcourse.grading.orphanless",
        str(os.getpid()),
        sys.executable,
        "-m",
        "nbgrader",
        *args,
        f"--CourseDirectory.root={root}",
        f"--CourseDirectory.db_url={db_url}",
    ]
    env = dict(os.environ) if inherit else {k: os.environ[k] for k in PASSED_ON if k in os.environ}
    # nbgrader runs `alembic` to create the gradebook: it must find the one next to this Python.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env.update(environment or {})
    # Output goes to files, not pipes: a process that escaped the group (a kernel has its own
    # session) could hold a pipe open, and reading it to the end would wait for that process.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            command,
            cwd=root,
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
