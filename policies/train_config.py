"""Typed configuration of ``honed-train`` and its ``debug`` preset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from honed.cli import bounded
from honed.policies.config import ChosenPolicyConfig, store_policy_configs
from honed.policies.diffusion.config import DiffusionConfig

store_policy_configs()  # policy=<name> picks among every family's config


@dataclass
class TrainConfig:
    """One imitation-learning run: data, policy, optimisation, checkpoints, evaluation in the twin."""

    defaults: list[Any] = field(default_factory=lambda: [{"policy": "diffusion"}, "_self_"])
    """Hydra's defaults list: policy=<name> picks the policy family."""
    policy: ChosenPolicyConfig = MISSING
    """Policy family and its settings: policy=diffusion, then policy.<field>=value."""
    dataset: str = ""
    """Episode store directory to train on (honed-record writes one)."""
    episodes: str = "success"
    """Episodes to train on: all, success (those whose meta marks success, or all if none do), or first:N."""
    task: str = ""
    """Twin task for evaluation during training and the contract check (empty: no evaluation)."""
    output: str = "outputs/train/run"
    """Run directory: checkpoints/, tensorboard/, summary.json, loss.png (a fresh run needs it empty or new)."""
    steps: int = bounded(20000, ge=1)
    """Optimisation steps."""
    batch_size: int = bounded(64, ge=1)
    """Samples per step."""
    lr: float = bounded(1e-4, gt=0)
    """Peak learning rate of AdamW."""
    weight_decay: float = bounded(1e-6, ge=0)
    """AdamW weight decay."""
    warmup_steps: int = bounded(500, ge=0)
    """Linear warm-up steps before the cosine decay."""
    grad_clip: float = bounded(10.0, gt=0)
    """Gradient-norm clip."""
    ema: bool = True
    """Keep an exponential moving average of the weights and deploy it."""
    ema_power: float = bounded(0.75, gt=0)
    """EMA warm-up power (decay = 1 - (1 + step) ** -power, capped at 0.9999)."""
    save_every: int = bounded(2000, ge=1)
    """Checkpoint period in steps (the last step is always saved)."""
    eval_every: int = bounded(0, ge=0)
    """Evaluation period in steps (0: only after the last step, when task is set)."""
    eval_episodes: int = bounded(20, ge=1)
    """Episodes per evaluation during training."""
    eval_envs: int = bounded(10, ge=1)
    """Parallel twin worlds during evaluation."""
    eval_n_action_steps: int = bounded(0, ge=0)
    """Actions executed per chunk in evaluations during training (0: policy.n_action_steps; 1..horizon)."""
    log_every: int = bounded(50, ge=1)
    """TensorBoard logging period in steps."""
    num_workers: int = bounded(2, ge=0)
    """Data-loading worker processes (0: load in the training process)."""
    frame_cache_mb: float = bounded(2048, ge=0)
    """Encoded camera frames each loading process keeps in memory, in MB (0: read every batch from the store)."""
    threads: int = bounded(0, ge=0)
    """torch CPU threads (0: torch's default)."""
    device: str = "cpu"
    """Torch device (cpu, cuda, cuda:1, ...)."""
    precision: str = "fp32"
    """Forward-pass arithmetic: fp32, or bf16 (autocast; weights, optimizer and EMA stay fp32), for
    GPUs and CPUs with AMX."""
    seed: int = bounded(0, ge=0)
    """Seed of weights, data order and augmentation."""
    stop_after: int = bounded(0, ge=0)
    """End this invocation after this step with a checkpoint (0: run to steps); resume=true continues."""
    init_from: str = ""
    """Checkpoint whose weights and normalisation statistics start the run (fine-tuning or continuing:
    fresh optimizer, warm-up and schedule; its policy config must equal this run's). Empty: from scratch."""
    resume: bool = False
    """Continue the run in output from its last checkpoint (exactly: same batches, RNG, optimizer)."""
    overwrite: bool = False
    """Start afresh in an output holding an earlier run, first removing that run's files (checkpoints/,
    tensorboard/, summary.json, history.jsonl, evaluations.jsonl, loss.png; nothing else). Without it, a
    fresh run into a non-empty output is refused."""
    progress: bool = True
    """Show the progress bar."""


DEBUG = TrainConfig(
    policy=DiffusionConfig(
        unet_widths=[32, 64],
        horizon=8,
        n_action_steps=4,
        time_dim=32,
        image_dim=32,
        image_width=16,
        state_dim=32,
        keypoints=8,
        transformer_width=64,
        transformer_depth=2,
    ),  # fmt: skip
    output="outputs/debug/train",
    steps=20,
    batch_size=8,
    warmup_steps=2,
    save_every=10,
    eval_episodes=2,
    eval_envs=2,
    log_every=5,
    num_workers=0,
)
