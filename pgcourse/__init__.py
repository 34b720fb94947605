"""Helpers for the policy-gradient course.

The chapters teach policies, objectives and gradient estimators in their own cells; this
package holds the plumbing they share: seeded environments, batched rollouts, evaluation,
plots and CartPole pictures.

``from pgcourse import rollout`` works as usual, but each name below is imported on first use:
grading a submission starts several processes that import :mod:`pgcourse.grading` and need none
of them, and loading PyTorch would cost each of them a second or more.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name, and the module that defines it. No module is named like a public name, so
# importing a module never hides a function of the same name.
_EXPORTS = {
    "fit_values": "pgcourse.actor_critic",
    "rewards_to_go": "pgcourse.actor_critic",
    "td_targets": "pgcourse.actor_critic",
    "make_env": "pgcourse.envs",
    "make_vec_env": "pgcourse.envs",
    "SOLVED_RETURN": "pgcourse.evaluation",
    "EvalResult": "pgcourse.evaluation",
    "evaluate": "pgcourse.evaluation",
    "LinearSoftmaxPolicy": "pgcourse.policies",
    "MLPPolicy": "pgcourse.policies",
    "ValueNet": "pgcourse.policies",
    "Progress": "pgcourse.progress",
    "Batch": "pgcourse.rollouts",
    "rollout": "pgcourse.rollouts",
    "seed_everything": "pgcourse.seeding",
    "CHAPTER5_CONFIG": "pgcourse.training",
    "ReinforceConfig": "pgcourse.training",
    "ReinforceRun": "pgcourse.training",
    "run_reinforce": "pgcourse.training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pgcourse' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later look-ups find it directly
    return value


def __dir__() -> list[str]:  # for tab completion in Jupyter
    return sorted([*globals(), *_EXPORTS])
