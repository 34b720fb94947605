"""nbgrader's Execute, made to grade what ran when a submission kills its kernel.

With nbgrader's own preprocessor a kernel that dies (``os._exit``, a segfault, memory) fails
the whole submission. Here the cell that was running when it died, and every later cell, gets
an error output, so each of those test cells scores 0 and the cells that ran keep their points.
nbgrader_config.py puts it in place of ``Execute`` in ``Autograde.autograde_preprocessors``.
"""

from __future__ import annotations

from typing import Any

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute


def error_output(ename: str, message: str) -> NotebookNode:
    """An error output, as a kernel would send it, that nbgrader scores as a failure."""
    return NotebookNode(
        output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"]
    )


class ExecuteUntilKernelDies(Execute):
    """Execute every cell; once the kernel has died, fail the cells that could not run."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> Any:
        self.death: str | None = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> Any:
        if cell.cell_type != "code":
            return cell, resources
        if self.death is not None:
            cell.outputs = [error_output("KernelDied", f"not run: {self.death}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
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
