"""Shown in place of pgcourse/training.py to every sandboxed grading process.

A graded training loop must use the learner's own update: the library's training code is out
of reach, and calling it fails with a clear error.
"""

CHAPTER5_CONFIG = ReinforceConfig = ReinforceRun = None


def run_reinforce(*args, **kwargs):
    raise RuntimeError("the library's training code is not available to graded exercises")
