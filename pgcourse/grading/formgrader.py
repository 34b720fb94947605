"""nbgrader's formgrader on the course, for the answers that need an instructor.

nbgrader ships the formgrader as a Jupyter server extension; :func:`serve` starts a Jupyter
server on the course root, on loopback only, with a token of its own, on the gradebook given,
and prints the formgrader's address. The course has no exchange folder (learners get
``exercises/`` from git and hand in through the learning platform, ``make collect``), so
nbgrader_config.py gives the formgrader :class:`NoExchange` to list, instead of a folder that
does not exist.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nbgrader.exchange.abc import ExchangeList

if TYPE_CHECKING:  # nbgrader imports this module for NoExchange: keep it light
    from pgcourse.grading.driver import Course

HOST = "127.0.0.1"


class NoExchange(ExchangeList):
    """The course's exchange: there is none, so nothing has been released or submitted there."""

    def start(self) -> list:
        return []


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def server_command(
    course: Course, port: int, token: str, db_url: str, options: Sequence[str] = ()
) -> list[str]:
    """The Jupyter server that serves the formgrader of ``course`` on ``HOST:port``."""
    return [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--ServerApp.root_dir={course.root}",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # another port would not be the one printed
        "--ServerApp.open_browser=False",
        "--ServerApp.default_url=/formgrader",
        f"--IdentityProvider.token={token}",
        f"--CourseDirectory.db_url={db_url}",
        *options,
    ]


def serve(course: Course, port: int = 0, options: Sequence[str] = ()) -> None:
    """Print the formgrader's address, then become its server (Ctrl-C stops it).

    ``port`` 0 picks a free one; ``options`` go to ``jupyter server`` (``--allow-root``...).
    """
    if not (course.root / "nbgrader_config.py").is_file():
        raise ValueError(f"no nbgrader_config.py in {course.root}: expected an nbgrader course")
    port = port or free_port()
    token = secrets.token_urlsafe(24)
    print(f"The formgrader is at http://{HOST}:{port}/formgrader?token={token}", flush=True)
    command = server_command(course, port, token, course.db_url, options)
    os.chdir(course.root)  # nbgrader reads nbgrader_config.py from the working folder
    # nbgrader runs `alembic` to create a gradebook: it must find the one next to this Python.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.execv(command[0], command)
