"""Learning curves over seeds, and pictures of CartPole drawn from its state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pgcourse.evaluation import SOLVED_RETURN


def plot_learning_curves(
    curves: Mapping[str, np.ndarray | Sequence[Sequence[float]]],
    x: np.ndarray | Sequence[float] | None = None,
    *,
    title: str,
    xlabel: str,
    ylabel: str = "return",
    solved_line: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """Plot the median over seeds of each curve, with a band from the 25th to the 75th percentile.

    ``curves`` maps a label to an array of shape (num_seeds, num_points); ``x`` gives the
    shared x values (default 0, 1, ...). The band shows how much seeds disagree, which one
    lucky run would hide.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        if values.ndim != 2:
            raise ValueError(
                f"curve {label!r} must have shape (num_seeds, num_points), got {values.shape}"
            )
        xs = np.arange(values.shape[1]) if x is None else np.asarray(x)
        if xs.shape != (values.shape[1],):
            raise ValueError(f"x has shape {xs.shape}, expected ({values.shape[1]},) for {label!r}")
        low, median, high = np.percentile(values, [25, 50, 75], axis=0)
        (line,) = ax.plot(xs, median, label=f"{label} (median of {values.shape[0]} seeds)")
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.25, linewidth=0)
    if solved_line:
        ax.axhline(SOLVED_RETURN, color="grey", linestyle="--", linewidth=1, label="solved (475)")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax


# CartPole-v1's geometry: the track spans x in [-2.4, 2.4]; the pole is 1.0 long.
_TRACK_HALF_WIDTH = 2.4
_POLE_LENGTH = 1.0
_CART_WIDTH, _CART_HEIGHT = 0.5, 0.3


def draw_cartpole(ax: Axes, state: Sequence[float], title: str | None = None) -> None:
    """Draw CartPole in ``state`` = (x, x_dot, theta, theta_dot) on ``ax``, without pygame."""
    if len(state) != 4:
        raise ValueError(
            f"a CartPole state has 4 numbers (x, x_dot, theta, theta_dot), got {len(state)}"
        )
    x, _, theta, _ = (float(v) for v in state)
    ax.clear()
    ax.plot([-_TRACK_HALF_WIDTH, _TRACK_HALF_WIDTH], [0, 0], color="black", linewidth=1)
    ax.add_patch(
        plt.Rectangle((x - _CART_WIDTH / 2, 0), _CART_WIDTH, _CART_HEIGHT, color="tab:blue")
    )
    pivot = np.array([x, _CART_HEIGHT])
    tip = pivot + _POLE_LENGTH * np.array([np.sin(theta), np.cos(theta)])
    ax.plot(*zip(pivot, tip, strict=True), color="tab:orange", linewidth=5, solid_capstyle="round")
    ax.set(
        xlim=(-_TRACK_HALF_WIDTH - 0.3, _TRACK_HALF_WIDTH + 0.3), ylim=(-0.2, 1.5), aspect="equal"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")


def cartpole_filmstrip(states: np.ndarray, num_frames: int = 6, *, title: str) -> Figure:
    """A row of ``num_frames`` evenly spaced snapshots from an episode's states, shape (T, 4)."""
    states = np.asarray(states)
    if states.ndim != 2 or states.shape[1] != 4 or len(states) == 0:
        raise ValueError(f"states must have shape (T, 4) with T >= 1, got {states.shape}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    steps = np.linspace(0, len(states) - 1, num_frames).round().astype(int)
    fig, axes = plt.subplots(1, num_frames, figsize=(2.2 * num_frames, 1.8), squeeze=False)
    for ax, t in zip(axes[0], steps, strict=True):
        draw_cartpole(ax, states[t], title=f"step {t}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def cartpole_animation(states: np.ndarray, *, every: int = 5, fps: int = 10) -> FuncAnimation:
    """Animate an episode's states, shape (T, 4), keeping one frame in ``every``.

    Show it with ``IPython.display.HTML(with_alt_text(anim.to_jshtml(), alt))``: the frames
    are embedded as images in the page, so the built book plays it without ffmpeg or a video file.
    """
    states = np.asarray(states)
    if states.ndim != 2 or states.shape[1] != 4 or len(states) == 0:
        raise ValueError(f"states must have shape (T, 4) with T >= 1, got {states.shape}")
    if every < 1:
        raise ValueError(f"every must be a positive integer, got {every}")
    frames = range(0, len(states), every)
    fig, ax = plt.subplots(figsize=(4, 1.8), dpi=60)

    def update(t: int) -> None:
        draw_cartpole(ax, states[t], title=f"step {t} of {len(states)}")

    anim = FuncAnimation(fig, update, frames=frames, interval=1000 / fps)
    plt.close(fig)
    return anim


def with_alt_text(jshtml: str, alt: str) -> str:
    """``FuncAnimation.to_jshtml()`` output with ``alt`` on the image that shows its frames.

    matplotlib's player draws every frame into one ``<img>`` that has no alt text, so a screen
    reader would announce the animation as an unnamed image.
    """
    frame_image = '<img id="_anim_img'
    if jshtml.count(frame_image) != 1:
        raise ValueError("expected the output of to_jshtml(), with one frame image")
    return jshtml.replace(frame_image, f'<img alt="{escape(alt)}" id="_anim_img')
