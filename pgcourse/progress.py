"""Training progress that is live in Jupyter and one tidy line in the built book."""

from __future__ import annotations

import time

from IPython import get_ipython
from IPython.display import display


def _plain(line: str) -> dict[str, str]:
    """Plain text to display: displaying the str itself would show its repr, quotes and all."""
    return {"text/plain": line}


class Progress:
    """Report training progress on one line that is rewritten in place.

    In Jupyter the line updates while the cell runs. A notebook executed to build the book keeps
    only a display's last update, so the book shows just the final summary, not screens of
    progress text. Outside IPython (scripts, benchmarks) only the summary is printed.

    Example::

        progress = Progress(total=200, unit="update")
        for i in range(200):
            ...
            progress.update(i + 1, mean_return=returns.mean())
        progress.close(greedy_mean=result.mean)
    """

    def __init__(self, total: int, unit: str = "update", min_interval: float = 0.25) -> None:
        if not isinstance(total, int) or total < 1:
            raise ValueError(f"total must be a positive integer, got {total!r}")
        self.total, self.unit, self.min_interval = total, unit, min_interval
        self.start = time.perf_counter()
        self._last_shown = 0.0
        self._handle = None
        if get_ipython() is not None:
            self._handle = display(_plain(self._line(0, {})), raw=True, display_id=True)

    def _line(self, done: int, metrics: dict[str, float]) -> str:
        parts = [f"{self.unit} {done}/{self.total}"]
        parts += [f"{name.replace('_', ' ')} {value:.1f}" for name, value in metrics.items()]
        parts.append(f"{time.perf_counter() - self.start:.1f} s")
        return " | ".join(parts)

    def update(self, done: int, **metrics: float) -> None:
        """Show that ``done`` of ``total`` steps are finished, with the given metrics."""
        now = time.perf_counter()
        if self._handle is not None and now - self._last_shown >= self.min_interval:
            self._handle.update(_plain(self._line(done, metrics)), raw=True)
            self._last_shown = now

    def close(self, **summary: float) -> None:
        """Replace the progress line by the final summary."""
        line = "done: " + self._line(self.total, summary)
        if self._handle is not None:
            self._handle.update(_plain(line), raw=True)
        else:
            print(line)
