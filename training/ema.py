"""An exponential moving average of a model's trainable weights, and a context that swaps it in.

Deployed checkpoints hold the averaged weights (Diffusion Policy's recipe); the optimizer keeps
stepping the raw ones. A loop builds ``EMA(trainable_params, power)`` once, calls ``ema.step()`` after
every optimizer step, and wraps saving and evaluating in ``with ema_weights(ema):``. The average
covers exactly the parameters it was built on, so frozen parameters (a pretrained text encoder) are
neither averaged nor overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from diffusers.training_utils import EMAModel


class EMA:
    """diffusers' ``EMAModel`` over a fixed list of parameters, with Diffusion Policy's warm-up
    (decay = 1 - (1 + step) ** -power, capped at ``decay``) and its multi-tensor update."""

    def __init__(self, params: Iterable[torch.nn.Parameter], power: float, decay: float = 0.9999):
        """``params``: the parameters to average (the trainable ones); ``power``: the warm-up power."""
        self.params = list(params)
        self.average = EMAModel(self.params, decay=decay, use_ema_warmup=True, power=power, foreach=True)

    def step(self) -> None:
        """Fold the parameters' current values into the average (after each optimizer step)."""
        self.average.step(self.params)

    @property
    def shadow_params(self) -> list[torch.Tensor]:
        """The averaged tensors, one per parameter, in the order of ``params``."""
        return list(self.average.shadow_params)

    def state_dict(self) -> dict[str, Any]:
        """The average's state (decay settings, step count and ``shadow_params``) for resuming."""
        return dict(self.average.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.average.load_state_dict(state)


@contextmanager
def ema_weights(ema: EMA | None) -> Iterator[None]:
    """Put the averaged weights into the parameters for the block (saving, evaluating), then restore
    the raw ones, also when the block raises; a no-op when ``ema`` is None (a run without EMA)."""
    if ema is None:
        yield
        return
    ema.average.store(ema.params)
    ema.average.copy_to(ema.params)
    try:
        yield
    finally:
        ema.average.restore(ema.params)
