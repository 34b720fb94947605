"""Run a learner's code where it can only compute: bubblewrap, resource limits, no network.

Every process that runs a submission's code (nbgrader's kernel and the judge's worker) starts
through :meth:`Sandbox.command`. It sees only what an allow-list names (:meth:`Sandbox.view`):
the system's read-only runtime, this Python's folders, the pgcourse package (the graded
course's own when it has one) with a stand-in for ``pgcourse.training`` (graded code must train
with the learner's own update), and its writable working folders. Nothing else of the
course (solutions, ``.git``, submissions, gradebook, book), no home folder, ``/tmp``,
``$TMPDIR``, ``/run`` or ``/var``, no other submission's files. It has no network, its own
process tree and user namespace, no capabilities, no environment but a few harmless variables,
and the :class:`Limits`.

Two bubblewraps, one inside the other. The outer one makes the view, as the grader, who can
read every folder it shows. The inner one makes the namespaces and forbids more
(``--disable-userns``: a user namespace of its own would let learners' code mount a file
system of unbounded size). When the grader is root, learners' code runs as the user
``nobody`` (:data:`SANDBOX_UID`) between the two, because Linux does not count root's processes
against a process limit; a single bubblewrap started by root can only run it as root.

``python -m pgcourse.grading.sandbox <connection file> [kernel args]`` is the kernel command of
the ``pgcourse-sandbox`` kernel spec the driver writes for nbgrader: it copies the kernel's
working folder (the assignment's data files) to a fresh folder and starts ipykernel inside the
sandbox there. Its settings come from the ``PGCOURSE_SANDBOX`` environment variable.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # pgcourse
TRAINING_STAND_IN = Path(__file__).resolve().with_name("training_stand_in.py")

KERNEL_NAME = "pgcourse-sandbox"
SETTINGS_VARIABLE = "PGCOURSE_SANDBOX"
GIB, MIB = 1024**3, 1024**2
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent ends

SANDBOX_UID = 65534
"""The user (``nobody``) learners' code runs as when the grader is root."""

# The system's read-only runtime: programs, shared libraries, fonts, locales, time zones (/usr),
# the links to it or folders beside it, and the parts of /etc that the dynamic linker, the C
# library and fontconfig (run by matplotlib) read. The rest of /etc (the machine's settings),
# /run, /var, /tmp and the homes (sockets, users' files) are not shown.
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/fonts")
CPU_TOPOLOGY = "/sys/devices/system/cpu"  # PyTorch and OpenBLAS size their thread pools by it

INSTALL_HINT = (
    "bubblewrap (bwrap) is needed to run learners' code in a sandbox: install it with "
    "`sudo apt-get install bubblewrap` (Debian/Ubuntu) or `sudo dnf install bubblewrap`, "
    "or pass --no-sandbox to grade without one, only on a machine that holds nothing else"
)

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""PyTorch's and NumPy's thread pools of one thread in learners' processes: by default their size
is the number of cores the process may use, which ``taskset``, a cgroup or a Dask worker pinned
to a core changes, and with it the order of floating-point sums, a training run's path and so
its grade."""


def python() -> str:
    """This Python, by a path the sandbox shows: its environment's real folder, not a link to it
    from a hidden place (a course under /tmp with a link to the environment)."""
    resolved = Path(sys.prefix).resolve() / "bin" / Path(sys.executable).name
    return str(resolved) if resolved.exists() else sys.executable


@functools.cache
def interpreter_folders() -> tuple[Path, ...]:
    """This Python's folders: its environment, the installation it was made from, and their
    site-packages."""
    folders = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    folders.update(site.getsitepackages())
    return outermost(Path(folder).resolve() for folder in folders if Path(folder).is_dir())


@functools.cache
def installed_packages() -> tuple[Path, ...]:
    """Every folder from which this environment imports pgcourse: where a fresh interpreter,
    started outside any course, finds it (an editable install's source, or site-packages), and
    any copy in site-packages besides."""
    find = (
        "import importlib.util as u; print(u.find_spec('pgcourse').submodule_search_locations[0])"
    )
    found = subprocess.run(
        [python(), "-I", "-c", find], cwd="/", capture_output=True, text=True, env={}
    )
    if found.returncode != 0:
        raise RuntimeError(
            f"pgcourse is not installed in the environment {sys.prefix}, so sandboxed code "
            "could not import it: run `pip install -e .` in the course's repository"
        )
    installed = Path(found.stdout.strip()).resolve()
    copies = {Path(folder, "pgcourse").resolve() for folder in site.getsitepackages()}
    return (installed, *sorted(path for path in copies - {installed} if path.is_dir()))


def outermost(paths: Iterable[Path]) -> tuple[Path, ...]:
    """``paths`` without those inside another of them."""
    unique = set(paths)
    return tuple(
        sorted(p for p in unique if not any(p != q and p.is_relative_to(q) for q in unique))
    )


@dataclass(frozen=True)
class Limits:
    """What one sandboxed process tree may use, enforced by Linux and inherited by children:

    - ``memory_bytes``: address space of each process (``RLIMIT_AS``): a huge allocation fails
      with MemoryError;
    - ``cpu_seconds``: CPU time of each process (``RLIMIT_CPU``), a backstop for loops that
      ignore interrupts;
    - ``file_bytes``: the largest file it may write (``RLIMIT_FSIZE``). Nothing else bounds
      the disk space of its working folder: it may write many such files;
    - ``processes``: processes and threads of the whole sandbox (``RLIMIT_NPROC``, counted in
      the sandbox's own user namespace, so parallel sandboxes do not share it). Set only in the
      sandbox: without one it would count every process of the grader's user. Root is exempt
      from it, so a grader running as root runs learners' code as ``nobody``;
    - ``shm_bytes``: the size of ``/dev/shm``, the only writable memory file system it has
      (every other tmpfs it sees is read-only). Files there take memory that ``memory_bytes``
      does not count. Memory in ``memfd_create`` files or System V shared memory is not
      bounded: only a cgroup memory limit would bound it.
    """

    memory_bytes: int = 4 * GIB
    cpu_seconds: int = 600
    file_bytes: int = GIB
    processes: int = 256
    shm_bytes: int = 64 * MIB

    def prlimit(self, sandboxed: bool) -> list[str]:
        """The ``prlimit`` command that sets them (the process count only in the sandbox)."""
        limits = [f"--as={self.memory_bytes}", f"--cpu={self.cpu_seconds}"]
        limits += [f"--fsize={self.file_bytes}"]
        if sandboxed:
            limits.append(f"--nproc={self.processes}")
        return ["prlimit", *limits, "--"]


@dataclass(frozen=True)
class Sandbox:
    """How learners' code runs: inside bubblewrap (``enabled``) or not, always with limits."""

    enabled: bool = True
    limits: Limits = field(default_factory=Limits)
    package: str = ""  # the pgcourse folder learners' code imports; "" for the installed one

    @classmethod
    def for_course(cls, root: Path, scratch: Path, enabled: bool, limits: Limits) -> Sandbox:
        """The sandbox for grading the course at ``root``: its code imports the course's own
        pgcourse when the course holds one, else the installed one. Nothing of ``scratch``
        (the submission's temporary files) is shown but each process's own folders."""
        package = root.resolve() / "pgcourse"
        sandbox = cls(enabled, limits, str(package) if (package / "__init__.py").is_file() else "")
        if enabled:
            sandbox.check_course(root.resolve())
        return sandbox

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Sandbox:
        settings = json.loads(text)
        return cls(settings["enabled"], Limits(**settings["limits"]), settings["package"])

    def source(self) -> Path:
        """The pgcourse folder learners' code imports."""
        return Path(self.package) if self.package else installed_packages()[0]

    def shown(self) -> tuple[Path, ...]:
        """The folders the sandbox shows read-only, each at its own path."""
        system = [Path(p) for p in (*SYSTEM_FOLDERS, *SYSTEM_FILES, CPU_TOPOLOGY)]
        return outermost([*(p for p in system if p.exists()), *interpreter_folders()])

    def check_course(self, root: Path) -> None:
        """Raise ValueError unless the sandbox hides the course at ``root`` and, when learners'
        code runs as another user, can read what it shows."""
        for folder in self.shown():
            if root.is_relative_to(folder.resolve()):
                raise ValueError(
                    f"the course {root} is inside {folder}, which learners' code can read: "
                    "move the course elsewhere to grade it in the sandbox"
                )
        if sandbox_user() is not None:
            for folder in (*interpreter_folders(), self.source()):
                if folder.stat().st_mode & 0o005 != 0o005:
                    raise ValueError(
                        f"learners' code runs as nobody when grading as root, and cannot read "
                        f"{folder}: make it readable by all users (chmod -R o+rX) or grade as "
                        "another user"
                    )

    def view(self, folders: tuple[Path, ...]) -> list[str]:
        """bubblewrap's arguments that build the allow-listed view, ``folders`` writable."""
        mounts: list[tuple[str, str, Path]] = []  # (bwrap option, source, destination)
        for path in self.shown():
            if path.is_symlink() and path.parent == Path("/"):  # /bin -> usr/bin
                mounts.append(("--symlink", os.readlink(path), path))
            else:
                mounts.append(("--ro-bind", str(path), path))
        inner = Path(bwrap())
        if not any(inner.is_relative_to(folder) for folder in self.shown()):
            mounts.append(("--ro-bind", str(inner), inner))
        for target in installed_packages():
            mounts.append(("--ro-bind", str(self.source()), target))
            mounts.append(("--ro-bind", str(TRAINING_STAND_IN), target / "training.py"))
            if (self.source() / "__pycache__").is_dir():  # holds training.py, compiled
                mounts.append(("empty", "", target / "__pycache__"))
        mounts += [("--bind", str(folder), folder) for folder in folders]
        arguments, made = [], {Path("/")}
        for option, source, destination in sorted(mounts, key=lambda mount: mount[2].parts):
            if destination.parent not in made:  # bubblewrap would make it readable by no one
                arguments += ["--perms", "0755", "--dir", str(destination.parent)]
                made.update(destination.parents)
            if option == "empty":
                arguments += ["--size", "4096", "--perms", "0555", "--tmpfs", str(destination)]
                arguments += ["--remount-ro", str(destination)]
            else:
                arguments += [option, source, str(destination)]
        return arguments

    def command(
        self,
        argv: list[str],
        workdir: Path,
        writable: tuple[Path, ...] = (),
        environment: dict[str, str] | None = None,
    ) -> list[str]:
        """``argv`` run in ``workdir`` (its only writable folder, with ``writable``), with
        ``environment`` added to the few variables it gets; pgcourse.training is a stand-in.

        When learners' code runs as another user, the writable folders become theirs."""
        limited = [*self.limits.prlimit(self.enabled), *argv]
        if not self.enabled:
            return ["env", *(f"{name}={value}" for name, value in ONE_THREAD.items()), *limited]
        folders = tuple(Path(folder).resolve() for folder in (workdir, *writable))
        for folder in folders:
            hand_over(folder)
        home = folders[0]
        variables = {
            "PATH": f"{Path(python()).parent}:/usr/bin:/bin",
            "HOME": str(home),
            "TMPDIR": str(home),
            "LANG": "C.UTF-8",
            "MPLCONFIGDIR": str(home / ".matplotlib"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            **ONE_THREAD,
            **(environment or {}),
        }
        # Started with these variables only: bubblewrap's first process, which stays in the
        # sandbox as its process 1, would show the grader's environment in /proc/1/environ.
        clean = ["env", "-i", *(f"{name}={value}" for name, value in variables.items())]
        return [*clean, *self.outer(folders), *switch_user(), *self.inner(home), *limited]

    def outer(self, folders: tuple[Path, ...]) -> list[str]:
        """The bubblewrap that makes the view, ``folders`` writable, the first one current."""
        command = [bwrap(), "--die-with-parent", *self.view(folders)]
        if sandbox_user() is None:
            command.append("--unshare-user")  # to mount without being root
        command += ["--dev", "/dev", "--remount-ro", "/dev", "--dir", "/tmp"]
        # The machine's /proc only for the inner bubblewrap: it writes there that no more user
        # namespaces may be made, then mounts the sandbox's own /proc over it.
        command += ["--bind", "/proc", "/proc", "--remount-ro", "/"]
        return [*command, "--chdir", str(folders[0]), "--"]

    def inner(self, workdir: Path) -> list[str]:
        """The bubblewrap that runs learners' code in the view: new namespaces (user, process,
        network, IPC, host name, cgroup), none of which it may make again, no capabilities,
        its own /proc and /dev, and a size-limited /dev/shm."""
        command = [bwrap(), "--unshare-all", "--unshare-user", "--disable-userns"]
        command += ["--die-with-parent", "--bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
        command += ["--size", str(self.limits.shm_bytes), "--perms", "1777", "--tmpfs", "/dev/shm"]
        command += ["--remount-ro", "/dev", "--cap-drop", "ALL"]
        return [*command, "--chdir", str(workdir), "--"]


def bwrap() -> str:
    """bubblewrap's path (the inner one runs inside the view, which shows it)."""
    return shutil.which("bwrap") or "bwrap"


def switch_user() -> list[str]:
    """The command that drops root for the sandbox's user, if there is one."""
    uid = sandbox_user()
    if uid is None:
        return []
    ids = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return ["setpriv", *ids, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


def sandbox_user() -> int | None:
    """The user learners' code runs as, if not the grader's: Linux exempts root from the
    process limit."""
    return SANDBOX_UID if os.geteuid() == 0 else None


def hand_over(folder: Path) -> None:
    """Make ``folder`` and what it holds belong to the sandbox's user, if not the grader."""
    if sandbox_user() is not None:
        for path in (folder, *folder.iterdir()):
            os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)


def check_bwrap() -> None:
    """Raise RuntimeError, saying how to install it, unless bubblewrap works here."""
    if shutil.which("bwrap") is None:
        raise RuntimeError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="pgcourse-probe-") as folder:
        probe = subprocess.run(
            Sandbox().command(["true"], Path(folder)), capture_output=True, text=True
        )
    if probe.returncode != 0:
        raise RuntimeError(
            f"bubblewrap is installed but cannot create a sandbox here ({probe.stderr.strip()}): "
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and "
            "user.max_user_namespaces > 0; on Ubuntu, kernel.apparmor_restrict_unprivileged_userns"
            "=0), which the sandbox needs even when grading as root; or pass --no-sandbox, only "
            "on a machine that holds nothing else"
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
    command = sandbox.command(kernel, workdir, writable=(runtime,))
    # Jupyter interrupts a kernel by sending SIGINT to its process group: bubblewrap must
    # ignore it (and pass that on), or it would die and take the kernel with it. ipykernel
    # turns SIGINT back into KeyboardInterrupt while it runs a cell.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.execvp(command[0], command)


if __name__ == "__main__":
    start_kernel(sys.argv[1], sys.argv[2:])
