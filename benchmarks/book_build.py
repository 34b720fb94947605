"""Book build time: a full `make book` (both editions) from an empty cache, then a rebuild with a
warm cache; and, for comparison, the English edition alone from an empty cache (the
`jupyter-book build` the book had before its Chinese edition), in a second copy.

Run by hand: `.venv/bin/python benchmarks/book_build.py`. Works on a copy of the course in a
temporary folder (sharing this checkout's .venv), so the repository's own _build is untouched.
Targets: under 600 s cold and under 60 s warm on a 2-core machine; both editions cold at most
1.3 times the English edition alone (they share one execution cache).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLD_TARGET, WARM_TARGET, BOTH_EDITIONS_RATIO = 600.0, 60.0, 1.3
# `-o` keeps make from reinstalling into the shared .venv: `pip install -e .` run in the copy
# would point this checkout's editable pgcourse at a folder that is deleted afterwards.
MAKE_BOOK = ["make", "-o", ".venv/.installed", "book"]
ENGLISH_ONLY = [str(ROOT / ".venv/bin/jupyter-book"), "build", ".", "-W", "-n", "--keep-going"]


def timed(command: list[str], course: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=course, check=True, capture_output=True)
    return time.perf_counter() - start


def copy_of_the_course(tmp: str, name: str) -> Path:
    course = Path(tmp) / name
    shutil.copytree(ROOT, course, ignore=shutil.ignore_patterns(".venv", "_build", ".git"))
    (course / ".venv").symlink_to(ROOT / ".venv")
    return course


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        course = copy_of_the_course(tmp, "course")
        cold = timed(MAKE_BOOK, course)
        warm = timed(MAKE_BOOK, course)
        english = timed(ENGLISH_ONLY, copy_of_the_course(tmp, "english"))
    print(f"{'build':<34}{'seconds':>10}{'target':>10}{'met':>6}")
    for name, seconds, target in (
        ("both editions, cold cache", cold, COLD_TARGET),
        ("both editions, warm cache", warm, WARM_TARGET),
    ):
        print(f"{name:<34}{seconds:>10.1f}{target:>10.0f}{'yes' if seconds < target else 'NO':>6}")
    print(f"{'English alone, cold cache':<34}{english:>10.1f}")
    ratio = cold / english
    met = "yes" if ratio <= BOTH_EDITIONS_RATIO else "NO"
    print(f"both editions / English alone, cold: {ratio:.2f} (target {BOTH_EDITIONS_RATIO}): {met}")


if __name__ == "__main__":
    main()
