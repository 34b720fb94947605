"""Checks that the exercise notebooks' tests call, so a failing test says what is wrong.

Each check raises ``AssertionError`` with a message meant for the learner: what was expected,
what came back and, when the answer matches a typical mistake, which mistake it is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def as_array(value: Any) -> np.ndarray:
    """``value`` as a float NumPy array (tensors are detached first)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


def check_shape(name: str, value: Any, expected: tuple[int, ...]) -> None:
    """Fail unless ``value`` has shape ``expected``, pointing out swapped axes."""
    shape = tuple(np.shape(value.detach() if isinstance(value, torch.Tensor) else value))
    if shape == tuple(expected):
        return
    hint = " (the axes are swapped)" if shape == tuple(reversed(expected)) else ""
    raise AssertionError(f"{name}: expected shape {tuple(expected)}, got {shape}{hint}")


def check_scalar(name: str, value: Any) -> None:
    """Fail unless ``value`` is one number (a float, a 0-d array or a 0-d tensor)."""
    is_tensor = isinstance(value, torch.Tensor)
    shape = tuple(np.shape(value.detach() if is_tensor else value))
    if shape != ():
        kind = "a tensor" if is_tensor else "an array"
        raise AssertionError(
            f"{name}: expected one number, got {kind} of shape {shape}: the formula sums or "
            "averages over its axes (.sum(), .mean())"
        )


def check_float_tensor(name: str, value: Any) -> None:
    """Fail unless ``value`` is a torch tensor of floats."""
    if not isinstance(value, torch.Tensor):
        raise AssertionError(
            f"{name}: expected a torch tensor, got {type(value).__name__}: compute it with torch "
            "operations so that it can enter the loss"
        )
    if not value.is_floating_point():
        raise AssertionError(f"{name}: expected a tensor of floats, got dtype {value.dtype}")


def check_finite(name: str, value: Any, hint: str = "") -> None:
    """Fail if ``value`` holds nan or inf."""
    if not np.all(np.isfinite(as_array(value))):
        raise AssertionError(f"{name} contains nan or inf{': ' + hint if hint else ''}")


def check_close(
    name: str,
    got: Any,
    expected: Any,
    *,
    mistakes: Mapping[str, Any] | None = None,
    atol: float = 1e-6,
    rtol: float = 1e-6,
) -> None:
    """Fail unless ``got`` is close to ``expected``.

    ``mistakes`` maps an explanation to the value a typical mistake would give; when ``got``
    matches one, the message names the mistake. A negated answer is always recognised.
    """
    got_array, expected_array = as_array(got), as_array(expected)
    check_shape(name, got_array, expected_array.shape)
    if np.allclose(got_array, expected_array, atol=atol, rtol=rtol):
        return
    known = dict(mistakes or {})
    if np.any(np.abs(expected_array) > atol):
        known.setdefault("it has the wrong sign", -expected_array)
    for explanation, wrong in known.items():
        wrong = as_array(wrong)
        if wrong.shape == got_array.shape and np.allclose(got_array, wrong, atol=atol, rtol=rtol):
            raise AssertionError(f"{name}: {explanation}")
    raise AssertionError(
        f"{name}: expected\n{np.round(expected_array, 6)}\ngot\n{np.round(got_array, 6)}"
    )


def check_unbiased(
    name: str,
    batch_estimates: Any,
    exact: Any,
    *,
    max_z: float = 5.0,
    factors: Mapping[str, float] | None = None,
) -> None:
    """Fail unless the mean of independent estimates agrees with ``exact`` within noise.

    ``batch_estimates`` has shape (k, ...): k estimates, each from its own batch of episodes.
    Their spread gives the standard error of their mean; a difference of more than ``max_z``
    standard errors in any entry is not chance. When the mean is a multiple of ``exact``, the
    message gives the factor, and names the mistake if ``factors`` (explanation -> factor) or a
    factor of -1 (the wrong sign) explains it.
    """
    estimates, exact_array = as_array(batch_estimates), as_array(exact)
    mean = estimates.mean(axis=0)
    stderr = estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates)) + 1e-12
    z = np.abs(mean - exact_array) / stderr
    if np.all(z < max_z):
        return
    scale = float((mean * exact_array).sum() / ((exact_array * exact_array).sum() + 1e-300))
    if np.all(np.abs(mean - scale * exact_array) / stderr < max_z):
        known = {"wrong sign: a minus sign is missing or extra": -1.0, **(factors or {})}
        for explanation, factor in known.items():
            if abs(scale - factor) <= 0.1 * abs(factor):
                raise AssertionError(
                    f"{name}: on average it is {scale:.3g} times the exact gradient: {explanation}"
                )
        raise AssertionError(
            f"{name}: on average it is {scale:.3g} times the exact gradient: the direction is "
            "right, but a constant factor is wrong (compare your sums and means with the formula)"
        )
    raise AssertionError(
        f"{name}: averaged over {len(estimates)} batches it is\n{np.round(mean, 4)}\n"
        f"but the exact gradient is\n{np.round(exact_array, 4)}\n"
        f"({z.max():.1f} standard errors apart: more than chance)"
    )


def check_has_gradient(name: str, loss: torch.Tensor, parameter: torch.Tensor) -> torch.Tensor:
    """Fail unless ``loss`` is a tensor that depends on ``parameter``; return d loss / d param."""
    check_float_tensor(name, loss)
    check_scalar(name, loss)
    if loss.grad_fn is None:
        raise AssertionError(
            f"{name}: the gradient does not flow back to the parameters: was something "
            "detached, converted to NumPy, or taken from values recorded without gradient?"
        )
    (grad,) = torch.autograd.grad(loss, parameter, allow_unused=True)
    if grad is None:
        raise AssertionError(f"{name}: the loss does not depend on the parameters")
    return grad


# The pgcourse modules a learner's training loop may call: plumbing, not the update itself.
ALLOWED_PGCOURSE_MODULES = frozenset(
    {
        "pgcourse",
        "pgcourse.envs",
        "pgcourse.evaluation",
        "pgcourse.policies",
        "pgcourse.progress",
        "pgcourse.rollouts",
        "pgcourse.seeding",
        "pgcourse.plotting",
    }
)
# ... and those a learner's own sampler and episode may call: no sampling or evaluation.
ALLOWED_WITHOUT_SAMPLING = ALLOWED_PGCOURSE_MODULES - {"pgcourse.rollouts", "pgcourse.evaluation"}


@contextmanager
def only_own_update(allowed: frozenset[str] = ALLOWED_PGCOURSE_MODULES) -> Iterator[set[str]]:
    """Record the pgcourse modules outside ``allowed`` that run inside the block.

    Yields a set that holds, after the block, the names of such modules whose functions were
    called (``pgcourse.training``, say): a learner who calls the library's training code
    instead of writing the update shows up there, however the function was imported.
    """
    called: set[str] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            if module.startswith("pgcourse") and module not in allowed:
                if not module.startswith("pgcourse.grading"):
                    called.add(module)

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield called
    finally:
        sys.setprofile(previous)


def count_calls(namespace: dict[str, Any], name: str) -> Callable[[], int]:
    """Wrap ``namespace[name]`` so its calls are counted; return a function giving the count.

    Restore the original with ``namespace[name] = namespace[name].original``.
    """
    original = namespace[name]
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    counted.original = original  # type: ignore[attr-defined]
    namespace[name] = counted
    return lambda: calls[0]
