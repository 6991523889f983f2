"""A run's ``checkpoints/`` folder: ``step_NNNNNNN`` saves, the ``last`` and ``best`` links, pruning.

Each checkpoint is a deployable policy directory (the EMA weights) whose ``training/`` folder holds
the exact-resume state (:mod:`honed.training.state`). ``last`` points at the newest; ``best`` at the
checkpoint with the best evaluation so far (success rate, then mean return; ``best.json`` holds its
scores). A run prunes only the checkpoints it wrote itself (with a resumed run's own earlier ones),
never another run's and never the one ``best`` points at. Links are relative and replaced atomically.

A loop builds ``CheckpointManager(root, resumed_from)`` after restoring (or not), calls
``save_with_state`` when a save is due and ``record_best`` after each evaluation of a saved step.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from honed.policies.checkpoint import save_policy, write_json
from honed.training.ema import EMA, ema_weights
from honed.training.state import STATE_DIR, save_training_state

BEST = "best.json"
"""Scores of the checkpoint ``best`` points at, beside the links."""

WriteWeights = Callable[[Any, Path, Callable[[Path], None]], Path]
"""``write(model, folder, extra)``: save the model's deployable files into ``folder`` (``extra(staging)``
adds the training state before the folder is in place); ``save_policy`` is the default."""


def point(root: Path, name: str, folder: Path) -> None:
    """Atomically make ``root/name`` a relative link to ``folder``."""
    link = root / f"{name}.tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(folder.name)
    os.replace(link, root / name)


def step_of(folder: Path) -> int:
    """The step a ``step_NNNNNNN`` folder holds."""
    return int(folder.name.removeprefix("step_"))


class CheckpointManager:
    """The ``checkpoints/`` folder of one run: saves ``step_NNNNNNN``, points ``last`` at it, prunes
    all but the newest ``keep`` of the run's own steps (``best``'s is never pruned) and tracks ``best``."""

    def __init__(self, root: Path, resumed_from: int | None = None, keep: int = 2,
                 write: WriteWeights = save_policy):  # fmt: skip
        """``resumed_from``: the step a resumed run continues from (its checkpoints up to there are its
        own); None for a fresh run, which owns none of what the folder may hold. ``write``: how the
        model's deployable files are saved."""
        self.root, self.keep, self.write = root, keep, write
        earlier = [] if resumed_from is None else sorted(root.glob("step_[0-9]*"), key=step_of)
        self.own: list[Path] = [p for p in earlier if p.is_dir() and step_of(p) <= (resumed_from or 0)]

    def save(self, step: int, write: Callable[[Path], Path]) -> Path:
        """``write(folder)`` saves step ``step`` into ``folder``; then ``last`` points at it and the
        run's older checkpoints are pruned."""
        folder = write(self.root / f"step_{step:07d}")
        point(self.root, "last", folder)
        if folder not in self.own:
            self.own.append(folder)
        best = (self.root / "best").resolve() if (self.root / "best").exists() else None
        for old in self.own[: -self.keep]:
            if old.resolve() != best:
                shutil.rmtree(old, ignore_errors=True)
                self.own.remove(old)
        return folder

    def save_with_state(self, step: int, model: torch.nn.Module, optimizer: Optimizer, scheduler: LRScheduler,
                        ema: EMA | None, run: dict[str, Any] | None = None) -> Path:  # fmt: skip
        """Save step ``step``: the EMA weights as the deployable model, and beside them the raw weights,
        optimizer, schedule, EMA, RNG and ``run`` (the run's config) for an exact resume."""
        raw = {k: v.clone() for k, v in model.state_dict().items()}

        def training_state(staging: Path) -> None:
            save_training_state(staging / STATE_DIR, step, optimizer, scheduler, ema, raw, run)

        def write(folder: Path) -> Path:
            with ema_weights(ema):
                return self.write(model, folder, training_state)

        return self.save(step, write)

    def record_best(self, folder: Path, step: int, result: dict[str, Any]) -> dict[str, Any]:
        """:func:`record_best` in this run's folder."""
        return record_best(self.root, folder, step, result)


def record_best(root: Path, folder: Path, step: int, result: dict[str, Any]) -> dict[str, Any]:
    """Point ``best`` at ``folder`` if its evaluation beats the best so far (success rate, then mean
    return; a tie keeps the earlier step). Returns the best scores, also kept in ``best.json``."""
    score = {"step": step, "success_rate": result["success_rate"], "mean_return": result["mean_return"]}
    path = root / BEST
    held = json.loads(path.read_text()) if path.exists() and (root / "best").exists() else None
    rank = lambda r: (r["success_rate"], r["mean_return"])  # noqa: E731
    if held is not None and rank(held) >= rank(score):
        return held
    write_json(path, score)
    point(root, "best", folder)
    return score
