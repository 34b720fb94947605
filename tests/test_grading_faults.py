"""The faults a long grading run meets: a killed worker or driver must lose nothing and record
nothing twice, two drivers must not grade one course at once, and an odd machine (a long
temporary folder, an unreachable scheduler) must still grade or say why not.

Real servers, as in test_grading_scale.py, whose small classes these tests grade.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from servers import dask_cluster, free_port
from test_grading_driver import within
from test_grading_scale import (
    expected_totals,
    grading,
    leftover_folders,
    leftover_processes,
    run,
    small_class,
    totals,
)

from pgcourse.grading import driver


def recorded_rows(course: driver.Course) -> int:
    from pgcourse.grading import gradebook

    return len(gradebook.recorded(course))


def test_a_killed_worker_loses_nothing(tmp_path):
    size = 4
    course = small_class(tmp_path / "course", size)
    with dask_cluster(workers=2) as servers:
        driver_process = grading(course, "autograde", "--scheduler", servers.address)
        victim = servers.workers[0]
        assert within(300, lambda: busy(victim.pid)), "the worker never started grading"
        os.kill(victim.pid, signal.SIGKILL)
        output, _ = driver_process.communicate(timeout=900)
    assert driver_process.returncode == 0, output
    assert totals(course) == expected_totals(size)
    assert recorded_rows(course) == size  # each submission recorded once
    assert output.count(" learner") == size, output


def test_a_killed_driver_resumes_and_a_second_driver_is_refused(tmp_path, short_tmp):
    size = 6
    course = small_class(tmp_path / "course", size)
    tmp = short_tmp
    env = {"TMPDIR": str(tmp)}
    first = grading(course, "autograde", "--jobs", "2", env=env)
    assert within(300, lambda: (course.root / driver.LOCK_FILE).exists() and any(
        tmp.glob("pgcourse-grading-*")))  # fmt: skip
    code, output = run(course, "autograde", env=env)
    assert code == 2 and "another driver is grading" in output, output
    assert first.stdout is not None
    assert first.stdout.readline().startswith("the judge's inputs come from seed")
    lines = [first.stdout.readline() for _ in range(2)]  # two submissions recorded
    assert all(line.startswith("ok") for line in lines), lines
    first.kill()
    first.wait()
    assert within(30, lambda: not leftover_processes(tmp)), leftover_processes(tmp)
    code, output = run(course, "autograde", "--jobs", "2", env=env)
    assert code == 0, output
    skipped = re.search(r"(\d+) of 6 submissions already graded", output)
    assert skipped and int(skipped[1]) >= 2, output  # what was recorded is not graded again
    assert output.count(" learner") == size - int(skipped[1]), output
    assert totals(course) == expected_totals(size)
    assert recorded_rows(course) == size
    assert leftover_folders(tmp) == [] and leftover_processes(tmp) == []


@pytest.fixture
def short_tmp():
    """A ``$TMPDIR`` of its own, short enough to hold the kernel's sockets."""
    tmp = Path(tempfile.mkdtemp(prefix="pgtmp-", dir="/tmp"))
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def test_a_long_temporary_folder_still_grades(tmp_path):
    course = small_class(tmp_path / "course", 1)
    tmp = tmp_path / ("a-cluster-node-scratch-folder-" * 3)
    tmp.mkdir()
    code, output = run(course, "autograde", env={"TMPDIR": str(tmp)})
    assert code == 0 and "18 / 20 points" in output, output


def test_an_unreachable_scheduler_is_named_and_nothing_written(tmp_path):
    course = small_class(tmp_path / "course", 1)
    address = f"tcp://127.0.0.1:{free_port()}"
    code, output = run(course, "autograde", "--scheduler", address)
    assert code == 2 and f"cannot reach the Dask scheduler at {address}" in output, output
    assert not (course.root / "gradebook.db").exists() and not course.autograded.exists()


def busy(pid: int) -> bool:
    """Whether process ``pid`` has started grading: nbgrader runs as a child of one of its
    threads."""
    try:
        return any(p.read_text().split() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    except OSError:
        return False
