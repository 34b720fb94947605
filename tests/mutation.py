"""Which test cell of a notebook catches each mutant of it, at little more than one run's cost.

A mutant is the source notebook with one answer cell's text replaced. Run as a program, the
notebook's cells execute once, in order, in one namespace; before the cell a mutant changes, the
process forks, and the child runs the changed cell and the cells after it until the first one
raises. A test cell that raises is what costs a learner the cell's points in nbgrader (which
scores a cell 0 when it raises), so the mutant is caught; a child that runs to the end is a mutant
that keeps full marks. Children write nothing to the terminal, and a child that runs past its
time limit is stopped and counted as caught (nbgrader stops a cell at its own time limit).

    python tests/mutation.py NOTEBOOK MUTANTS_JSON   # prints {mutant number: verdict} as JSON
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from pathlib import Path

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


def in_child(cells: list[tuple[str, str]], namespace: dict) -> str | None:
    """:func:`first_failure` in a forked child, silenced, stopped after :data:`TIMEOUT`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        verdict = first_failure(cells, namespace)
        os.write(write_end, json.dumps(verdict).encode())
        os._exit(0)
    os.close(write_end)
    ready, _, _ = select.select([read_end], [], [], TIMEOUT)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    data = os.read(read_end, 1 << 16) if ready else b""
    os.close(read_end)
    os.waitpid(pid, 0)
    if not ready:
        return f"timed out after {TIMEOUT:.0f} s"
    return json.loads(data) if data else "the mutant's process died"


def verdicts(notebook: nbformat.NotebookNode, mutants: list[dict]) -> dict[int, str | None]:
    """For each mutant ({"grade_id", "source"}) the failure that catches it, or None."""
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
                results[number] = in_child(changed, namespace)
        failure = first_failure([(source, name)], namespace)
        if failure:
            raise SystemExit(f"the unchanged notebook fails: {failure}")
    return results


def main() -> None:
    notebook_path, mutants_path = map(Path, sys.argv[1:])
    os.chdir(notebook_path.parent)  # where nbgrader runs a notebook
    notebook = nbformat.read(notebook_path, as_version=4)
    results = verdicts(notebook, json.loads(mutants_path.read_text()))
    sys.stdout.flush()
    os.write(sys.__stdout__.fileno(), ("\n" + json.dumps(results) + "\n").encode())


if __name__ == "__main__":
    main()
