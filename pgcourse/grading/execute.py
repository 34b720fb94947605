"""nbgrader's Execute, made to grade what ran when a submission kills or holds its kernel.

With nbgrader's own preprocessor a kernel that dies (``os._exit``, a segfault, memory) fails
the whole submission, and so does a cell that goes on after the interrupt at its timeout (it
ignores SIGINT). Here a dead kernel fails the cell it was running and every later cell, so each
of those test cells scores 0 and the cells that ran keep their points; a kernel held past a
cell's timeout is restarted, runs again the cells before that one but the tests, and the later
cells run. nbgrader_config.py puts it in place of ``Execute`` in
``Autograde.autograde_preprocessors``.
"""

from __future__ import annotations

from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from pgcourse.grading.submission import is_test


def error_output(ename: str, message: str) -> NotebookNode:
    """An error output, as a kernel would send it, that nbgrader scores as a failure."""
    return NotebookNode(
        output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"]
    )


def timed_out(cell: NotebookNode) -> bool:
    """Whether the cell was interrupted at its timeout (nbgrader's ``error_on_timeout``)."""
    return any(output.get("ename") == "CellTimeoutError" for output in cell.outputs)


class ExecuteUntilKernelDies(Execute):
    """Execute every cell; restart a kernel held past a cell's timeout; once the kernel has
    died, fail the cells that could not run."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        self.death: str | None = None
        self.ran: list[str] = []  # the cells a restarted kernel runs again: not tests, not hung
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        if cell.cell_type != "code":
            return cell, resources
        if self.death is not None:
            cell.outputs = [error_output("KernelDied", f"not run: {self.death}")]
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError as err:
            self.death = f"the kernel died in cell {index} ({err})"
            self.log.warning("%s; the later cells are scored 0", self.death)
            cell.outputs.append(
                error_output(
                    "KernelDied",
                    "the kernel died while running this cell (os._exit, sys.exit in a "
                    "thread, a crash or too much memory)",
                )
            )
            return cell, resources
        except CellTimeoutError:  # interrupted at its timeout, the cell did not stop
            cell.outputs.append(
                error_output(
                    "CellTimeoutError",
                    "this cell did not end at its timeout nor at the interrupt after it (it "
                    "ignores SIGINT): the kernel was restarted and ran the cells before it again",
                )
            )
            self.restart(index)
            return cell, resources
        if not is_test(cell) and not timed_out(cell):
            self.ran.append(cell.source)
        return cell, resources

    def restart(self, index: int) -> None:
        """Restart the kernel and run again the cells that ran before cell ``index``; if that
        fails, the later cells are failed as after a dead kernel."""
        self.log.warning("cell %d ignored the interrupt: restarting the kernel", index)
        try:
            run_sync(self.rerun)()
        except Exception as err:  # any failure leaves a kernel that cannot grade the rest
            self.death = f"the kernel died in its restart after cell {index} ({err!r})"
            self.log.warning("%s; the later cells are scored 0", self.death)

    async def rerun(self) -> None:
        assert self.km is not None and self.kc is not None
        await ensure_async(self.km.restart_kernel(now=True))
        await ensure_async(self.kc.wait_for_ready(timeout=self.startup_timeout))
        for code in self.ran:
            await ensure_async(
                self.kc.execute_interactive(
                    code,
                    store_history=False,
                    stop_on_error=False,
                    timeout=self.timeout,
                    output_hook=lambda message: None,  # the outputs of the first run stay
                )
            )
