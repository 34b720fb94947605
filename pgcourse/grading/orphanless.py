"""``python -m pgcourse.grading.orphanless PARENT COMMAND...``: run COMMAND, killed with PARENT.

The driver starts nbgrader this way. nbgrader runs in a process group of its own (so that a
timeout kills it whole), which also puts it out of reach of a signal sent to the driver's group:
without this, nbgrader would go on grading, and writing, after the driver was killed.
"""

from __future__ import annotations

import os
import sys

from pgcourse.grading.sandbox import die_with_parent

if __name__ == "__main__":
    die_with_parent(int(sys.argv[1]))
    os.execv(sys.argv[2], sys.argv[2:])
