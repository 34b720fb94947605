"""Real servers for the tests: a PostgreSQL cluster and a Dask scheduler with its workers.

Each is started from its own command-line tools on 127.0.0.1, on a free port, in a temporary
folder, and stopped (with everything in it) when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path:
    """Debian's PostgreSQL server programs (package postgresql)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql`")
    return found[-1].parent


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def query(self, sql: str, database: str = "postgres") -> list[tuple]:
        """Rows of ``sql`` (run outside a transaction, as CREATE DATABASE must be)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def new_database(self, name: str) -> str:
        self.query(f"CREATE DATABASE {name}")
        return self.url(name)


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of its own, password-protected over TCP. As root, it runs as the
    ``postgres`` user (initdb refuses root)."""
    folder = Path(tempfile.mkdtemp(prefix="pgcourse-postgres-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    password = "pgcourse-db-secret-" + os.urandom(4).hex()
    (folder / "password").write_text(password)
    if as_user:
        shutil.chown(folder / "password", "postgres")
    data, port, tools = folder / "data", free_port(), postgres_bin()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True)

    run(str(tools / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
        "--auth-host=scram-sha-256", f"--pwfile={folder / 'password'}")  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(tools / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w",
        "start")  # fmt: skip
    try:
        yield Postgres(port, password)
    finally:
        run(str(tools / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class DaskCluster:
    """A scheduler and its workers, each a process of its own."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)


def clean_environment() -> dict[str, str]:
    """What a worker machine's shell would have: no variable of the driver's."""
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8"}  # fmt: skip


def killed_with_this_process(command: list[str]) -> list[str]:
    """``command`` run through pgcourse's orphanless launcher: a test run that is killed takes
    its servers with it instead of leaving them running (the ``finally`` below never runs)."""
    program = shutil.which(command[0]) or command[0]
    launcher = [sys.executable, "-m", "pgcourse.grading.orphanless", str(os.getpid())]
    return [*launcher, program, *command[1:]]


@contextlib.contextmanager
def dask_cluster(workers: int = 2, cores: Sequence[int] | None = None) -> Iterator[DaskCluster]:
    """``dask scheduler`` and ``workers`` times ``dask worker --nthreads 1 --no-nanny``, each
    pinned to ``cores[i]`` with taskset when given; all stopped afterwards."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = clean_environment()
    log = tempfile.TemporaryFile()
    scheduler = subprocess.Popen(
        killed_with_this_process([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"]),
        env=env, stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    cluster = DaskCluster(address, scheduler)
    try:
        wait_for_port(port, scheduler)
        for number in range(workers):
            pin = ["taskset", "-c", str(cores[number])] if cores else []
            cluster.workers.append(
                subprocess.Popen(
                    killed_with_this_process(
                        [
                            *pin,
                            str(BIN / "dask"),
                            "worker",
                            address,
                            "--nthreads",
                            "1",
                            "--no-nanny",
                            "--no-dashboard",
                            "--name",
                            f"worker-{number}",
                        ]
                    ),
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )  # fmt: skip
            )
        wait_for_workers(address, workers)
        yield cluster
    finally:
        for process in [*cluster.workers, scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*cluster.workers, scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {seconds} s")


def wait_for_workers(address: str, count: int, seconds: float = 120) -> None:
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=seconds)
