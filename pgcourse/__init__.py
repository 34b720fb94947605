"""Helpers for the policy-gradient course.

The chapters teach policies, objectives and gradient estimators in their own cells; this
package holds the plumbing they share: seeded environments, batched rollouts, evaluation,
plots and CartPole pictures.
"""

from pgcourse.envs import make_env, make_vec_env
from pgcourse.evaluate import SOLVED_RETURN, EvalResult, evaluate
from pgcourse.policies import LinearSoftmaxPolicy, MLPPolicy
from pgcourse.progress import Progress
from pgcourse.rollout import Batch, rollout
from pgcourse.seeding import seed_everything
from pgcourse.training import CHAPTER5_CONFIG, ReinforceConfig, ReinforceRun, run_reinforce

__all__ = [
    "Batch",
    "EvalResult",
    "LinearSoftmaxPolicy",
    "MLPPolicy",
    "Progress",
    "ReinforceConfig",
    "ReinforceRun",
    "SOLVED_RETURN",
    "CHAPTER5_CONFIG",
    "evaluate",
    "make_env",
    "make_vec_env",
    "rollout",
    "run_reinforce",
    "seed_everything",
]
