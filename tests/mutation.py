"""Which test cell of a notebook catches each mutant of it, at little more than one run's cost.

A mutant is the source notebook with one answer cell's text replaced. Run as a program, the
notebook's cells execute once, in order, in one namespace; before the cell a mutant changes, the
process forks, and the child runs the changed cell and the cells after it until the first one
raises. A test cell that raises is what costs a learner the cell's points in nbgrader (which
scores a cell 0 when it raises), so the mutant is caught; a child that runs to the end is a mutant
that keeps full marks. Children write nothing to the terminal, and a child that runs past its
time limit is stopped and counted as caught (nbgrader stops a cell at its own time limit).

    python tests/mutation.py NOTEBOOK MUTANTS_JSON   # prints {mutant number: verdict} as JSON

With ``--judge ASSIGNMENT SEED``, the notebook's tests are not run: a mutant is caught when one
of the judge's checks of the assignment (:data:`pgcourse.grading.judge.CHECKS`, on the inputs
drawn from SEED) fails, the checks run in their order in this process on the code the judge's
worker runs (every code cell but the tests, a cell that raises skipped), each compared with the
unchanged notebook's answers. Only the process boundary differs from grading: a fork stands in
for the sandboxed worker, so this measures what the specification catches, not the sandbox.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

TIMEOUT = 300.0
"""Seconds a mutant may run (the slowest test cell trains an agent)."""


def code_cells(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """Each code cell's text and its name (its grade_id, or its position)."""
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    return [
        (c.source, c.metadata.get("nbgrader", {}).get("grade_id") or f"cell {i}")
        for i, c in enumerate(cells)
    ]


def first_failure(cells: list[tuple[str, str]], namespace: dict) -> str | None:
    """The first cell that raises, with its error, or None when every cell runs."""
    for source, name in cells:
        try:
            exec(compile(source, f"<{name}>", "exec"), namespace)
        except BaseException as err:  # SystemExit and KeyboardInterrupt fail a cell too
            return f"{name}: {type(err).__name__}: {str(err)[:300]}"
    return None


Run = Callable[[list[tuple[str, str]], dict], "str | None"]


def in_child(cells: list[tuple[str, str]], namespace: dict, run: Run = first_failure) -> Any:
    """``run`` (:func:`first_failure` by default) in a forked child, silenced, stopped after
    :data:`TIMEOUT`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        verdict = run(cells, namespace)
        os.write(write_end, json.dumps(verdict).encode())
        os._exit(0)
    os.close(write_end)
    ready, _, _ = select.select([read_end], [], [], TIMEOUT)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    data = b""
    while ready and (chunk := os.read(read_end, 1 << 16)):
        data += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    if not ready:
        return f"timed out after {TIMEOUT:.0f} s"
    return json.loads(data) if data else "the mutant's process died"


def verdicts(
    notebook: nbformat.NotebookNode, mutants: list[dict], run: Run = first_failure
) -> dict[int, str | None]:
    """For each mutant ({"grade_id", "source"}) the failure that catches it, or None; ``run``
    runs the mutant's cell and those after it, and says what failed."""
    cells = code_cells(notebook)
    names = [name for _, name in cells]
    missing = {m["grade_id"] for m in mutants} - set(names)
    if missing:
        raise SystemExit(f"no cell named {sorted(missing)} in the notebook")
    results: dict[int, str | None] = {}
    namespace = {"__name__": "__main__"}
    for index, (source, name) in enumerate(cells):
        for number, mutant in enumerate(mutants):
            if mutant["grade_id"] == name:
                changed = [(mutant["source"], name), *cells[index + 1 :]]
                results[number] = in_child(changed, namespace, run)
        failure = first_failure([(source, name)], namespace)
        if failure:
            raise SystemExit(f"the unchanged notebook fails: {failure}")
    return results


# --- judged by the specification ------------------------------------------------------------------


class InProcess:
    """What the judge's checks ask of a worker, answered in this process by the worker's own
    adapters, each answer sent through JSON as over the worker's pipe."""

    timeout = TIMEOUT

    def __init__(self, namespace: dict) -> None:
        self.namespace, self.calls = namespace, []
        self.cells_cpu = self.cpu_used = 0.0

    def stop(self) -> None:
        pass

    def ready(self) -> None:
        pass

    def call(self, adapter: str, args: dict, timeout: float, cpu_seconds: float | None = None):
        from pgcourse.grading.worker import ADAPTERS

        start = time.process_time()
        try:
            answer = {"value": json.loads(json.dumps(ADAPTERS[adapter](self.namespace, **args)))}
        except BaseException as err:  # the learner's code may raise anything
            answer = {"error": f"{type(err).__name__}: {err}"[:300]}
        self.cpu_used = time.process_time() - start
        if cpu_seconds is not None and self.cpu_used > cpu_seconds:
            answer = {"error": f"it used more than {cpu_seconds:.0f} CPU seconds"}
        self.calls.append((adapter, self.cpu_used, 0.0))
        return answer


def run_quietly(cells: list[tuple[str, str]], namespace: dict) -> None:
    """Run each cell; one that raises is skipped, as the judge's worker skips it."""
    for source, name in cells:
        try:
            exec(compile(source, f"<{name}>", "exec"), namespace)
        except BaseException:
            pass


def judged_by(assignment: str, seed: int) -> tuple[Run, Callable[[dict], Any]]:
    """The ``run`` of :func:`verdicts` that judges a mutant by the judge's checks, and what
    computes the reference answers from the unchanged notebook's namespace."""
    from pgcourse.grading import judge

    checks = judge.CHECKS[assignment]
    inputs = judge.draw_inputs(assignment, seed)

    def answers(namespace: dict) -> dict[str, list]:
        worker = InProcess(namespace)
        found = {}
        for grade_id, check in checks.items():
            if check.compared:
                found[grade_id] = [worker.call(check.adapter, a, TIMEOUT) for a in inputs[grade_id]]
                assert all("value" in a for a in found[grade_id]), (grade_id, found[grade_id])
                found[grade_id] = [a["value"] for a in found[grade_id]]
        return found

    reference: dict[str, Any] = {}

    def run(cells: list[tuple[str, str]], namespace: dict) -> str | None:
        run_quietly(cells, namespace)
        ref = judge.Reference(inputs, reference["answers"])
        worker = InProcess(namespace)
        for grade_id, check in checks.items():
            problem = judge.first_problem(worker, check, ref, grade_id)
            if problem:
                return f"{grade_id}: {problem}"
        return None

    return run, lambda namespace: reference.setdefault("answers", answers(namespace))


def judged_verdicts(
    notebook: nbformat.NotebookNode, mutants: list[dict], assignment: str, seed: int
) -> dict[int, str | None]:
    """:func:`verdicts` by the judge's checks, on the judge's code (no test cells)."""
    from pgcourse.grading import submission

    run, answer = judged_by(assignment, seed)
    program = nbformat.from_dict(notebook)
    program.cells = [c for c in program.cells if not submission.is_test(c)]
    namespace = {"__name__": "__main__"}
    run_quietly(code_cells(program), namespace)
    answer(namespace)
    return verdicts(program, mutants, run)


def main() -> None:
    notebook_path, mutants_path = map(Path, sys.argv[1:3])
    os.chdir(notebook_path.parent)  # where nbgrader runs a notebook
    notebook = nbformat.read(notebook_path, as_version=4)
    mutants = json.loads(mutants_path.read_text())
    if sys.argv[3:4] == ["--judge"]:
        results = judged_verdicts(notebook, mutants, sys.argv[4], int(sys.argv[5]))
    else:
        results = verdicts(notebook, mutants)
    sys.stdout.flush()
    os.write(sys.__stdout__.fileno(), ("\n" + json.dumps(results) + "\n").encode())


if __name__ == "__main__":
    main()
