"""Run a learner's code where it can only compute: bubblewrap, resource limits, no network.

Every process that runs a submission's code (nbgrader's kernel and the judge's worker) starts
through :meth:`Sandbox.command`: a read-only view of the machine, an empty ``/tmp``, the course's
private folders (solutions, submissions, gradebook, ...) hidden, one writable working folder, no
network, its own process tree, limits on memory, CPU time and file size, and a stand-in for
``pgcourse.training`` (graded code must train with the learner's own update).

``python -m pgcourse.grading.sandbox <connection file> [kernel args]`` is the kernel command of
the ``pgcourse-sandbox`` kernel spec the driver writes for nbgrader: it copies the kernel's
working folder (the assignment's data files) to a fresh folder and starts ipykernel inside the
sandbox there. Its settings come from the ``PGCOURSE_SANDBOX`` environment variable; the
kernel gets ``PGCOURSE_TRAINED_AGENT``, where a training test hands in its trained agent.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # pgcourse
TRAINING_STAND_IN = Path(__file__).resolve().with_name("training_stand_in.py")

KERNEL_NAME = "pgcourse-sandbox"
SETTINGS_VARIABLE = "PGCOURSE_SANDBOX"
AGENT_VARIABLE = "PGCOURSE_TRAINED_AGENT"
"""Set in nbgrader's kernel: where a training test hands in its agent (checks.hand_in_agent)."""
AGENT_FILE = "trained_agent.json"  # in the folder of the kernel's connection file
GIB = 1024**3
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent ends

# Folders and files of an nbgrader course a submission must neither read nor change.
PRIVATE_NAMES = (
    "solutions",
    "submitted",
    "autograded",
    "feedback",
    "downloaded",
    "gradebook.db",
    "grades.csv",
    "grades-wide.csv",
)

INSTALL_HINT = (
    "bubblewrap (bwrap) is needed to run learners' code in a sandbox: install it with "
    "`sudo apt-get install bubblewrap` (Debian/Ubuntu) or `sudo dnf install bubblewrap`, "
    "or pass --no-sandbox to grade without one, only on a machine that holds nothing else"
)


def python() -> str:
    """This Python, by a path the sandbox shows: its environment's real folder, not a link to it
    from a hidden place (a course under /tmp with a link to the environment)."""
    resolved = Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name
    return str(resolved) if resolved.exists() else sys.executable


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed process (``prlimit``), inherited by its children."""

    memory_bytes: int = 4 * GIB  # address space: a huge allocation fails with MemoryError
    cpu_seconds: int = 600  # CPU time, a backstop for loops that ignore interrupts
    file_bytes: int = GIB  # the largest file it may write


@dataclass(frozen=True)
class Sandbox:
    """How learners' code runs: inside bubblewrap (``enabled``) or not, always with limits."""

    enabled: bool = True
    hidden: tuple[str, ...] = ()  # folders to replace by an empty one, files by an empty file
    limits: Limits = field(default_factory=Limits)
    exposed: tuple[str, ...] = ()  # folders inside hidden ones that stay visible, read-only

    @classmethod
    def for_course(cls, root: Path, scratch: Path, enabled: bool, limits: Limits) -> Sandbox:
        """The sandbox for grading the course at ``root``, whose temporary files are in
        ``scratch``; also hides the private folders of the repository pgcourse comes from."""
        roots = {root.resolve(), PACKAGE.parent}
        hidden = [str(r / name) for r in sorted(roots) for name in PRIVATE_NAMES]
        hidden += [str(Path.home().resolve()), "/tmp", "/var/tmp", str(scratch.resolve())]
        # The interpreter, its packages and pgcourse itself may live in a hidden folder (pyenv
        # in the home folder, a clone of the course under /tmp): they stay visible, read-only.
        needed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix)}
        needed.add(PACKAGE)
        return cls(enabled, tuple(hidden), limits, tuple(sorted(map(str, needed))))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Sandbox:
        settings = json.loads(text)
        return cls(
            settings["enabled"],
            tuple(settings["hidden"]),
            Limits(**settings["limits"]),
            tuple(settings["exposed"]),
        )

    def command(
        self,
        argv: list[str],
        workdir: Path,
        writable: tuple[Path, ...] = (),
        environment: dict[str, str] | None = None,
    ) -> list[str]:
        """``argv`` run in ``workdir`` (its only writable folder, with ``writable``), with
        ``environment`` added to the few variables it gets; pgcourse.training is a stand-in."""
        limits = self.limits
        limited = [
            "prlimit",
            f"--as={limits.memory_bytes}",
            f"--cpu={limits.cpu_seconds}",
            f"--fsize={limits.file_bytes}",
            "--",
            *argv,
        ]
        if not self.enabled:
            return limited
        command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        # A path inside another hidden folder is hidden with it, and could not be mounted on.
        hidden = [
            Path(path)
            for path in self.hidden
            if not any(Path(path).is_relative_to(other) and path != other for other in self.hidden)
        ]
        hidden_folders = [path for path in hidden if path.is_dir()]
        for path in hidden:
            if path.is_file():
                command += ["--ro-bind", "/dev/null", str(path)]
        for path in hidden_folders:
            command += ["--tmpfs", str(path)]
        for path in self.exposed:
            command += ["--ro-bind", path, path]
        command += ["--ro-bind", str(TRAINING_STAND_IN), str(PACKAGE / "training.py")]
        for folder in (workdir, *writable):
            command += ["--bind", str(folder), str(folder)]
        # Empty and read-only: writing where a hidden folder was fails, as everywhere else.
        for path in hidden_folders:
            command += ["--remount-ro", str(path)]
        variables = {
            "PATH": f"{Path(python()).parent}:/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "MPLCONFIGDIR": str(workdir / ".matplotlib"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            **(environment or {}),
        }
        command += ["--clearenv"]
        for name, value in variables.items():
            command += ["--setenv", name, value]
        command += ["--unshare-all", "--die-with-parent", "--chdir", str(workdir)]
        return command + limited


def check_bwrap() -> None:
    """Raise RuntimeError, saying how to install it, unless bubblewrap works here."""
    if shutil.which("bwrap") is None:
        raise RuntimeError(INSTALL_HINT)
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        raise RuntimeError(
            f"bubblewrap is installed but cannot create a sandbox here ({probe.stderr.strip()}): "
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or "
            "grade as root; or pass --no-sandbox, only on a machine that holds nothing else"
        )


def write_kernel_spec(folder: Path) -> Path:
    """Write the ``pgcourse-sandbox`` kernel spec under ``folder`` (a JUPYTER_PATH entry)."""
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pgcourse.grading.sandbox", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3 (sandboxed)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return folder


def die_with_parent(parent: int) -> None:
    """Be killed when process ``parent``, which started this one, ends; exit if it has already.

    Linux only (prctl); the signal stays set through exec, so the kernel inherits it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        sys.exit(f"the process that started this kernel ({parent}) has ended")


def start_kernel(connection_file: str, kernel_args: list[str]) -> None:
    """Replace this process by ipykernel in the sandbox, in a copy of the current folder."""
    # Jupyter starts kernels in a session of their own, out of reach of the driver's kill of
    # nbgrader's group; and bubblewrap's --die-with-parent only watches once it runs. Without
    # this, grading stopped while this launcher starts would leave a kernel behind, forever.
    die_with_parent(int(os.environ.get("JPY_PARENT_PID", os.getppid())))
    sandbox = Sandbox.from_json(os.environ[SETTINGS_VARIABLE])
    runtime = Path(connection_file).resolve().parent  # the kernel's sockets live next to it
    workdir = Path(tempfile.mkdtemp(prefix="kernel-", dir=runtime.parent))
    for path in Path.cwd().iterdir():  # data files the assignment needs, not notebooks
        if path.is_file() and path.suffix != ".ipynb":
            shutil.copy(path, workdir / path.name)
    kernel = [python(), "-m", "ipykernel_launcher", "-f", connection_file, *kernel_args]
    hand_in = {AGENT_VARIABLE: str(runtime / AGENT_FILE)}
    os.environ.update(hand_in)  # the kernel inherits it when there is no sandbox
    command = sandbox.command(kernel, workdir, writable=(runtime,), environment=hand_in)
    # Jupyter interrupts a kernel by sending SIGINT to its process group: bubblewrap must
    # ignore it (and pass that on), or it would die and take the kernel with it. ipykernel
    # turns SIGINT back into KeyboardInterrupt while it runs a cell.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.execvp(command[0], command)


if __name__ == "__main__":
    start_kernel(sys.argv[1], sys.argv[2:])
