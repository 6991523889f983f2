"""What exact resume needs besides the weights: optimizer, LR schedule, EMA, RNG and the data order.

Everything is written as safetensors (tensors) + JSON (scalars): no pickle. The order of training
samples is a pure function of (seed, step), so a resumed run draws the same batches it would have.
Beside them, ``run.json`` holds the run's training config, so a checkpoint names the episode store
it was trained on (:func:`training_dataset`). A loop that resumes calls :func:`restore_training_state`
on the checkpoint before its first step; :class:`~honed.training.checkpoints.CheckpointManager`
writes the state with each checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from honed.policies.checkpoint import CheckpointError, write_json
from honed.training.ema import EMA

STATE_DIR = "training"
"""Folder of a checkpoint holding what resuming needs beyond the deployable weights."""
TENSORS, SCALARS = "state.safetensors", "state.json"
RUN = "run.json"
"""The training config of the run that wrote the checkpoint, its dataset as an absolute path."""


class BatchOrder:
    """Shuffled batches of sample indices, epoch after epoch, each epoch's order seeded by (seed, epoch)."""

    def __init__(self, num_samples: int, batch_size: int, seed: int, start_step: int = 0):
        if num_samples < 1 or batch_size < 1:
            raise ValueError(f"need samples ({num_samples}) and a batch size ({batch_size}) of at least 1")
        self.num_samples, self.seed, self.start_step = num_samples, seed, start_step
        self.batch_size = min(batch_size, num_samples)
        self.per_epoch = num_samples // self.batch_size

    def batch(self, step: int) -> list[int]:
        """Sample indices of the batch used at ``step`` (0-based)."""
        epoch, k = divmod(step, self.per_epoch)
        order = torch.randperm(
            self.num_samples, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch)
        )
        return order[k * self.batch_size : (k + 1) * self.batch_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1

    def __len__(self) -> int:
        return 2**62  # endless; the training loop decides when to stop


def save_training_state(
    folder: Path,
    step: int,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    ema: EMA | None,
    raw: dict[str, Any],
    run: dict[str, Any] | None = None,
) -> None:
    """Write everything but the deployable weights (``raw`` are the non-EMA weights; ``run``: the
    training config, written to ``run.json``)."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.detach().contiguous() for k, v in raw.items()}
    opt = optimizer.state_dict()
    for idx, state in opt["state"].items():
        for name, value in state.items():
            tensors[f"optim.{idx}.{name}"] = value.detach().contiguous()
    scalars: dict[str, Any] = {
        "step": step,
        "param_groups": opt["param_groups"],
        "scheduler": scheduler.state_dict(),
    }
    if ema is not None:
        ema_state = ema.state_dict()
        for i, shadow in enumerate(ema_state.pop("shadow_params")):
            tensors[f"ema.{i}"] = shadow.detach().contiguous()
        scalars["ema"] = ema_state
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(folder / TENSORS))
    write_json(folder / SCALARS, scalars)
    if run is not None:
        write_json(folder / RUN, run)


def trained_steps(folder: Path) -> int | None:
    """The optimisation steps behind a checkpoint, from its training state (None when it has none)."""
    try:
        return int(json.loads((folder / STATE_DIR / SCALARS).read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def training_dataset(checkpoint: str | Path) -> Path | None:
    """The episode store a checkpoint was trained on: from its ``training/run.json``, else from the
    ``summary.json`` of the run folder it sits in (``<run>/checkpoints/<name>``); None when unknown."""
    folder = Path(checkpoint)
    run = _json_or_none(folder / STATE_DIR / RUN)
    if run is None and folder.resolve().parent.name == "checkpoints":
        summary = _json_or_none(folder.resolve().parent.parent / "summary.json")
        run = summary.get("config") if isinstance(summary, dict) else None
    dataset = run.get("dataset") if isinstance(run, dict) else None
    return Path(dataset) if isinstance(dataset, str) and dataset else None


def load_training_state(
    folder: Path, optimizer: Optimizer, scheduler: LRScheduler, ema: EMA | None
) -> tuple[int, dict[str, torch.Tensor]]:
    """Restore optimizer, schedule, EMA and RNG; returns (step, raw model weights)."""
    if not (folder / TENSORS).is_file() or not (folder / SCALARS).is_file():
        raise CheckpointError(f"{folder} holds no training state; it cannot be resumed")
    tensors = load_file(str(folder / TENSORS))
    scalars = json.loads((folder / SCALARS).read_text())
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": scalars["param_groups"]})
    scheduler.load_state_dict(scalars["scheduler"])
    if ema is not None:
        shadows = [tensors[f"ema.{i}"] for i in range(len(ema.shadow_params))]
        ema.load_state_dict({**scalars["ema"], "shadow_params": shadows})
    torch.set_rng_state(tensors["rng.torch"])
    raw = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    return int(scalars["step"]), raw


def restore_training_state(
    checkpoint: Path, model: torch.nn.Module, optimizer: Optimizer, scheduler: LRScheduler, ema: EMA | None
) -> int:
    """Continue from ``checkpoint`` exactly: its raw weights into ``model``, and its optimizer, schedule,
    EMA and RNG state; returns the step it was saved at."""
    step, raw = load_training_state(checkpoint / STATE_DIR, optimizer, scheduler, ema)
    model.load_state_dict(raw)
    return step
