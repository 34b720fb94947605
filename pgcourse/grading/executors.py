"""Where grading runs: a local pool of ``jobs`` threads, or a Dask distributed cluster.

Both run the one grading step, :func:`pgcourse.grading.grade.grade`, and hand its results back
as they finish, in any order. A Dask scheduler gives the task of a worker that died to another
worker; the driver records each result once, when it arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

from pgcourse.grading.grade import Record, Task, grade

Result = tuple[Task, Record | BaseException]
"""A task and its record, or the exception that stopped it from being graded."""

CONNECT_SECONDS = 10


def local(tasks: Iterable[Task], jobs: int) -> Iterator[Result]:
    """Grade ``jobs`` tasks at a time on this machine (threads: the work is in subprocesses)."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade, task): task for task in tasks}
        for future in as_completed(futures):
            error = future.exception()
            yield futures[future], error if error is not None else future.result()


def connect(address: str):  # -> distributed.Client
    """A client of the Dask scheduler at ``address``, or a RuntimeError that names it."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as err:
        raise RuntimeError(
            f"cannot reach the Dask scheduler at {address} ({err}): start it with "
            f"`dask scheduler`, and workers with `dask worker {address} --nthreads 1`"
        ) from err


def cluster(tasks: Iterable[Task], address: str) -> Iterator[Result]:
    """Grade the tasks on the workers of the Dask scheduler at ``address``."""
    from distributed import as_completed as completed

    client = connect(address)
    try:
        futures = {client.submit(grade, task, pure=False, key=key(task)): task for task in tasks}
        for future in completed(futures):
            try:
                result: Record | BaseException = future.result()
            except Exception as err:  # noqa: BLE001 (a task that failed on every worker it tried)
                result = err
            yield futures[future], result
            future.release()
    finally:
        client.close()


def key(task: Task) -> str:
    """A task's name on the Dask dashboard, unique within a run."""
    return f"grade-{task.student}-{task.assignment}-{uuid.uuid4().hex[:8]}"
