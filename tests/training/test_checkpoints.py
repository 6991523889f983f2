"""A run's checkpoints through the shared training parts: exact resume, pruning, ``last`` and ``best``.

The loop below is the smallest loop built from them the way ``honed-train`` and a fine-tuning loop are:
a plain module, AdamW, warm-up + cosine schedule, EMA, a seeded batch order, random noise from the
global RNG (as augmentation and sampling draw), the finite guard, the log and the checkpoint manager.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers.optimization import get_cosine_schedule_with_warmup
from safetensors.torch import load_file, save_model

from honed.training.checkpoints import CheckpointManager, point, record_best
from honed.training.ema import EMA
from honed.training.guard import FiniteGuard
from honed.training.report import TrainLog
from honed.training.state import BatchOrder, restore_training_state

INPUTS = torch.linspace(-1, 1, 96).reshape(32, 3)
TARGETS = INPUTS.sum(1, keepdim=True).sin()


def write_module(model: torch.nn.Module, folder: Path, extra: Callable[[Path], None]) -> Path:
    """A checkpoint writer for a plain module: its weights, then the training state, renamed into place."""
    staging = folder.with_name(folder.name + ".partial")
    staging.mkdir(parents=True)
    save_model(model, str(staging / "model.safetensors"))
    extra(staging)
    os.replace(staging, folder)
    return folder


def run(out: Path, steps: int, stop_after: int = 0, resume: bool = False) -> None:
    """Train a small regression for ``steps`` steps, ending this invocation after ``stop_after``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    scheduler = get_cosine_schedule_with_warmup(optimizer, 1, steps)
    ema = EMA(params, power=0.75)
    root = out / "checkpoints"
    start = restore_training_state(root / "last", model, optimizer, scheduler, ema) if resume else 0
    checkpoints = CheckpointManager(root, resumed_from=start if resume else None, write=write_module)
    order = BatchOrder(len(INPUTS), 8, seed=3, start_step=start)
    guard = FiniteGuard(root, describe=lambda step: f"samples {order.batch(step)}")
    log = TrainLog(out, start)
    end = stop_after or steps
    for step in range(start, end):
        batch = order.batch(step)
        noisy = INPUTS[batch] + 0.1 * torch.randn(len(batch), 3)  # (B, 3): draws from the global RNG
        loss = torch.nn.functional.mse_loss(model(noisy), TARGETS[batch])
        guard(loss.detach(), "loss", step)
        optimizer.zero_grad()
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
        guard(grad_norm, "gradient norm", step)
        optimizer.step()
        scheduler.step()
        ema.step()
        done = step + 1
        log.step(
            done, {"loss": loss.item()}, grad_norm, float(scheduler.get_last_lr()[0]), len(batch), 0.0, 1
        )
        if done % 2 == 0 or done == end:
            checkpoints.save_with_state(done, model, optimizer, scheduler, ema, {"steps": steps})
    log.finish(steps, {"steps": steps})


def saved(folder: Path) -> dict[str, torch.Tensor]:
    return {**load_file(str(folder / "model.safetensors")),
            **load_file(str(folder / "training" / "state.safetensors"))}  # fmt: skip


def test_two_steps_then_resume_equals_an_uninterrupted_run(tmp_path):
    run(tmp_path / "straight", steps=4)
    run(tmp_path / "resumed", steps=4, stop_after=2)
    assert (tmp_path / "resumed/checkpoints/last").resolve().name == "step_0000002"
    run(tmp_path / "resumed", steps=4, resume=True)
    a, b = saved(tmp_path / "straight/checkpoints/last"), saved(tmp_path / "resumed/checkpoints/last")
    assert a.keys() == b.keys() and {"0.weight", "model.0.weight", "ema.0", "rng.torch"} <= a.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]  # weights, EMA, optimizer and RNG alike
    assert not different, different
    assert not torch.equal(a["0.weight"], a["model.0.weight"])  # deployed: the average, not the raw weights
    rows = [json.loads(line) for line in (tmp_path / "resumed/history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [r["loss"] for r in rows] == [
        json.loads(line)["loss"] for line in (tmp_path / "straight/history.jsonl").read_text().splitlines()
    ]
    summary = json.loads((tmp_path / "resumed/summary.json").read_text())
    assert summary["resumed_from"] == 2 and summary["config"] == {"steps": 4}


def test_a_run_prunes_only_its_own_checkpoints_and_never_best(tmp_path):
    root = tmp_path / "checkpoints"
    foreign = root / "step_0000040"
    foreign.mkdir(parents=True)
    point(root, "best", foreign)

    def write(folder: Path) -> Path:
        folder.mkdir()
        return folder

    fresh = CheckpointManager(root, resumed_from=None)
    for step in (10, 20, 30):
        fresh.save(step, write)
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000020", "step_0000030", "step_0000040"]
    assert (root / "last").resolve().name == "step_0000030" and (root / "best").resolve() == foreign
    resumed = CheckpointManager(root, resumed_from=30)  # its own are those up to the step it resumes from
    resumed.save(50, write)
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000030", "step_0000040", "step_0000050"]


def test_best_follows_the_best_evaluation_and_is_never_pruned(tmp_path):
    root = tmp_path / "checkpoints"
    root.mkdir()
    checkpoints = CheckpointManager(root, keep=1)
    scores = {2: 0.5, 4: 0.75, 6: 0.25, 8: 0.5}
    for step, success in scores.items():
        folder = checkpoints.save(step, lambda f: (f.mkdir(), f)[1])
        checkpoints.record_best(folder, step, {"success_rate": success, "mean_return": 1.0})
    assert (root / "best").resolve().name == "step_0000004" and (
        root / "last"
    ).resolve().name == "step_0000008"
    assert json.loads((root / "best.json").read_text()) == {
        "step": 4,
        "success_rate": 0.75,
        "mean_return": 1.0,
    }
    assert sorted(p.name for p in root.glob("step_*")) == ["step_0000004", "step_0000008"]


def test_an_equal_score_keeps_the_earlier_best(tmp_path):
    first, second = tmp_path / "step_0000002", tmp_path / "step_0000004"
    first.mkdir(), second.mkdir()
    record_best(tmp_path, first, 2, {"success_rate": 0.5, "mean_return": 3.0})
    assert record_best(tmp_path, second, 4, {"success_rate": 0.5, "mean_return": 3.0})["step"] == 2
    assert record_best(tmp_path, second, 4, {"success_rate": 0.5, "mean_return": 3.5})["step"] == 4
    assert (tmp_path / "best").resolve() == second
