"""Shared fixtures."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.distributions import Categorical

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Modules that use the built book share one build (the session fixture below).
BOOK_MODULES = {"test_book", "test_browser", "test_translation"}
# The scopes that take minutes, longest first: they start before the many short ones, so that
# no worker begins a long one when the others are nearly done.
LONGEST_FIRST = [
    "book",
    "test_grading_hostile",
    "test_exercises",
    "test_grading_scale",
    "test_grading_time_limits",
    "test_grading_faults",
    "test_grading_mutants",
    "test_grading_trained_agent",
]


def pytest_xdist_make_scheduler(config, log):
    """Each module runs whole on one xdist worker, so that its module fixtures (a graded class,
    a server, a browser) are made once; the book's modules share a worker and one build."""
    from xdist.scheduler import LoadScopeScheduling

    def rank(scope: str) -> int:
        name = Path(scope).stem
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "book" if Path(module).stem in BOOK_MODULES else module

        def _assign_work_unit(self, node) -> None:
            for scope in sorted(self.workqueue, key=rank):  # stable: the rest keep their order
                self.workqueue.move_to_end(scope)
            super()._assign_work_unit(node)

    return ByModule(config, log)


@pytest.fixture(scope="session")
def book_build():
    """Build both editions of the book once per test session, as `make book` does; the
    execution cache makes a rebuild fast."""
    result = subprocess.run(
        [str(BIN / "python"), "book/build.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return result


@pytest.fixture
def random_policy():
    """A fixed linear softmax policy over CartPole's two actions."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 2)
    return lambda obs: Categorical(logits=layer(obs))
