"""Periodic evaluation during training, through an evaluation callable the loop passes in.

The callable is the loop's own (``honed-train`` evaluates in the twin, a fine-tuning loop may do the
same or read its rollouts), so this module never imports evaluation code and evaluation never imports
a training loop. It runs on the EMA weights in eval mode, and the model is back in train mode with its
raw weights afterwards, also when the evaluation raises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from honed.training.ema import EMA, ema_weights


class PeriodicEvaluator[Model: torch.nn.Module]:
    """Decides when a run evaluates (every ``every`` steps and after ``final_step``) and runs it.

    In a loop: ``if evaluator.due(done): result = evaluator(model, ema)``, after saving step ``done``
    (so ``record_best`` can point at it)."""

    def __init__(self, evaluate: Callable[[Model], dict[str, Any]] | None, every: int, final_step: int):
        """``evaluate(model)``: the evaluation of the model in eval mode, returning at least
        ``success_rate``, ``mean_return`` and ``mean_length`` (what ``TrainLog.evaluation`` logs and
        ``record_best`` ranks), or None for a run that never evaluates; ``every``: the period
        in steps (0: only after ``final_step``); ``final_step``: the run's last step."""
        self.evaluate, self.every, self.final_step = evaluate, every, final_step

    def due(self, step: int) -> bool:
        """Whether the run evaluates after step ``step`` (counted from 1)."""
        if self.evaluate is None:
            return False
        return step == self.final_step or (self.every > 0 and step % self.every == 0)

    def __call__(self, model: Model, ema: EMA | None) -> dict[str, Any]:
        """Evaluate ``model`` on ``ema``'s weights in eval mode; returns the evaluation's result."""
        if self.evaluate is None:
            raise ValueError("this run has no evaluation: pass an evaluate callable to PeriodicEvaluator")
        with ema_weights(ema):
            model.eval()
            try:
                return self.evaluate(model)
            finally:
                model.train()
