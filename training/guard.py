"""The finite-loss guard: a run stops at the first non-finite loss or gradient, before it is applied.

A NaN that reaches the optimizer spoils every weight and every later checkpoint. A loop checks the
loss after the forward pass and the gradient norm after clipping; the first non-finite one raises
:class:`TrainingDiverged` naming the step, what the step trained on (the loop says how, e.g. the
batch's samples or the rollouts' worlds) and the last good checkpoint, which is left as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch


class TrainingDiverged(RuntimeError):
    """The loss or gradient became non-finite; the message names the step and what it trained on."""


class FiniteGuard:
    """Raises :class:`TrainingDiverged` on a non-finite value; ``guard(loss, "loss", step)``."""

    def __init__(self, checkpoints: Path, describe: Callable[[int], str]):
        """``checkpoints``: the run's checkpoint folder (its ``last`` is named as the good one);
        ``describe(step)``: what step ``step`` trained on, e.g. ``samples [3, 9] (episode 0 frame 3, ...)``."""
        self.checkpoints, self.describe = checkpoints, describe

    def __call__(self, value: torch.Tensor | float, what: str, step: int) -> None:
        """Return if ``value`` (``what``, e.g. ``loss`` or ``gradient norm``) is finite, else raise."""
        number = float(value)
        if math.isfinite(number):
            return
        last = self.checkpoints / "last"
        kept = (
            f"the last good checkpoint is {last.resolve()}"
            if last.exists()
            else "no checkpoint was written yet"
        )
        raise TrainingDiverged(f"{what} is {number} at step {step} on {self.describe(step)}; stopped, {kept}")
