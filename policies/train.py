"""Imitation training over an episode store (``honed-train``), top to bottom.

    dataset + policy config ─► contract (features, stats, chunking) ─► policy
    loop: batch ─► loss ─► finite? ─► AdamW step ─► cosine LR ─► EMA ─► log / checkpoint / evaluate

Checkpoints are ``checkpoints/step_NNNNNNN`` (deployable EMA weights + ``training/`` state for exact
resume and the run's config) with ``checkpoints/last`` pointing at the newest. When the run evaluates
in the twin, every evaluated step is saved and ``checkpoints/best`` points at the one with the highest
success rate (then mean return; ``best.json`` holds its scores; pruning never removes it). A fresh run
starts only in an empty output directory. A non-finite loss or gradient stops the run naming the step
and the batch's samples; the last good checkpoint is left as it was. These parts (run folder,
checkpoints, exact-resume state, EMA, finite guard, log, periodic evaluation) live in
:mod:`honed.training`, which fine-tuning shares; evaluation in the twin is imported only when it runs.
``init_from`` starts a new run from another checkpoint's policy (weights and normalisation) with a
fresh optimizer and schedule: fine-tuning on other data, or training on after a schedule has ended.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from diffusers.optimization import get_cosine_schedule_with_warmup
from torch.utils.data import DataLoader
from tqdm import tqdm

from honed.features import ACTION, TASK, Feature, Features
from honed.policies.base import Policy, learns_from_not_imitated, policy_class_for
from honed.policies.checkpoint import CheckpointError, load_policy, read_config, read_contract
from honed.policies.contract import Contract, ContractError, check_execution_steps
from honed.policies.train_config import TrainConfig
from honed.sim.seeds import TRAINING_EVAL_SEED
from honed.training.checkpoints import CheckpointManager
from honed.training.ema import EMA
from honed.training.evaluator import PeriodicEvaluator
from honed.training.guard import FiniteGuard
from honed.training.report import TrainLog
from honed.training.run_folder import check_output, clear_output
from honed.training.state import BatchOrder, restore_training_state

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def open_dataset(cfg: TrainConfig, n_obs_steps: int, horizon: int, cameras: list[str] | None,
                 not_imitated_samples: bool = False) -> Any:  # fmt: skip
    """The episode store as a training dataset (chunk windows), checking it before any work."""
    from honed.data.dataset import EpisodeDataset
    from honed.data.store import EpisodeStore

    if not cfg.dataset:
        raise ValueError("dataset is not set: pass dataset=<episode store directory>")
    if not Path(cfg.dataset).is_dir():
        raise ValueError(f"dataset={cfg.dataset}: no such episode store directory")
    store = EpisodeStore.open(cfg.dataset)
    episodes = select_episodes([e.meta for e in store.index.episodes], cfg.episodes)
    return EpisodeDataset(
        store, n_obs_steps, horizon, episodes=episodes, cameras=cameras, cache_mb=cfg.frame_cache_mb,
        not_imitated_samples=not_imitated_samples,
    )  # fmt: skip


def select_episodes(metas: list[dict[str, Any]], rule: str) -> list[int]:
    """Episode ids by rule: all, success (meta success true; all if no episode records it), first:N."""
    ids = list(range(len(metas)))
    if rule == "all":
        return ids
    if rule == "success":
        if not any("success" in m for m in metas):
            return ids
        return [i for i in ids if metas[i].get("success")]
    if rule.startswith("first:") and rule[6:].isdigit():
        return ids[: int(rule[6:])]
    raise ValueError(f"episodes={rule!r}: use all, success or first:N")


def dataset_contract(policy_cls: type[Policy], pcfg: Any, dataset: Any, task: str = "") -> Contract:
    """The contract a policy trained on ``dataset`` makes; ValueError naming keys the data lacks.

    Its ``trained_tasks`` are the twin tasks the dataset's episodes name (``twin_task`` in their
    metadata) plus ``task``, the twin task the run evaluates on.
    """
    keys = policy_cls.input_keys(pcfg, dataset.features)
    targets = policy_cls.training_targets(pcfg, dataset.features)
    feats = {k: dataset.features[k] if k != TASK else Feature((1,), "string") for k in [*keys, ACTION]}
    return Contract(
        features=Features(feats),
        stats={k: dataset.stats[k] for k in [*feats, *targets] if k != TASK},
        control_hz=float(dataset.store.fps),
        n_obs_steps=pcfg.n_obs_steps,
        horizon=pcfg.horizon,
        n_action_steps=pcfg.n_action_steps,
        tasks=tuple(sorted(set(dataset.tasks))),
        trained_tasks=tuple(sorted(recorded_twin_tasks(dataset) | ({task} if task else set()))),
    )


def recorded_twin_tasks(dataset: Any) -> set[str]:
    """Twin task names the training episodes were recorded in (``twin_task`` of their metadata)."""
    entries = dataset.store.index.episodes
    return {
        str(entries[i].meta["twin_task"]) for i in dataset.episode_ids if entries[i].meta.get("twin_task")
    }


def check_task(contract: Contract, task: str) -> None:
    """Refuse to train a policy the twin task could not run (features or control rate differ)."""
    if not task:
        return
    from honed.evaluation.evaluate import twin_features

    features, hz = twin_features(task, contract)
    contract.check(features, hz, where=f"twin task {task!r}")


def run_record(cfg: TrainConfig) -> dict[str, Any]:
    """The run's config as each checkpoint keeps it (``training/run.json``), its dataset made absolute."""
    return {**dataclasses.asdict(cfg), "dataset": str(Path(cfg.dataset).resolve())}


def describe_batch(dataset: Any, indices: list[int]) -> str:
    """``samples [i, ...] (episode E frame T, ...)``: where a batch's samples come from (the first 8)."""
    where = [dataset.locate(i) for i in indices[:8]]
    parts = [f"episode {dataset.episode_ids[pos]} frame {t}" for pos, t in where]
    more = f" and {len(indices) - 8} more" if len(indices) > 8 else ""
    return f"samples {indices} ({', '.join(parts)}{more})"


def config_differences(saved: Any, wanted: Any) -> list[str]:
    """``policy.<field>=<wanted> (checkpoint: <saved>)`` for every field the two policy configs differ in."""
    a, b = dataclasses.asdict(saved), dataclasses.asdict(wanted)
    return [
        f"policy.{k}={b.get(k)!r} (checkpoint: {a.get(k)!r})"
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k)
    ]


def check_config(cls: type[Policy], pcfg: Any, folder: Path, what: str) -> None:
    """Refuse a checkpoint whose policy family or config differs from this run's, naming the fields."""
    try:
        saved_cls, saved_cfg = read_config(folder)
    except CheckpointError as err:
        raise CheckpointError(f"{what}: {err}") from None
    if saved_cls is not cls:
        raise ValueError(f"{what}: {folder} holds a {saved_cls.name} policy, this run trains {cls.name}")
    if saved_cfg != pcfg:
        raise ValueError(
            f"{what}: the policy config differs from the checkpoint {folder.resolve()}: "
            f"{', '.join(config_differences(saved_cfg, pcfg))}; set those fields to the checkpoint's"
        )


def build(cfg: TrainConfig, dataset: Any, root: Path) -> tuple[Policy, Path | None]:
    """The policy: fresh from the config, from ``init_from``'s weights, or the run's last checkpoint
    when resuming (each checked against the config and the dataset)."""
    cls = policy_class_for(cfg.policy)
    contract = dataset_contract(cls, cfg.policy, dataset, cfg.task)
    if cfg.init_from:  # its normalisation statistics carry over with its weights
        check_config(cls, cfg.policy, Path(cfg.init_from), f"init_from={cfg.init_from}")
        start = read_contract(cfg.init_from)
        if problems := start.mismatches(contract.features):
            raise ContractError(
                f"init_from={cfg.init_from}: the dataset does not match the checkpoint: {problems}"
            )
        if unseen := cls.unseen_instructions(cfg.policy, start, contract.tasks):
            raise ContractError(
                f"init_from={cfg.init_from}: the dataset's instructions {unseen} are not among the "
                f"{list(start.tasks)} the checkpoint's learned task embedding knows; train with only "
                "those, or from scratch (a language=text policy takes new instructions)"
            )
        contract = also_trained_on(start, contract.trained_tasks)
    last = root / "last"
    if not cfg.resume or not last.exists():
        torch.manual_seed(cfg.seed)
        if not cfg.init_from:
            return cls(cfg.policy, contract), None
        policy = load_policy(cfg.init_from)
        policy.contract = contract
        return policy, None
    check_config(cls, cfg.policy, last, "resume")
    saved = also_trained_on(read_contract(last), contract.trained_tasks)
    problems = saved.mismatches(contract.features) + (
        ["statistics differ"] if saved.digest != also_trained_on(contract, saved.trained_tasks).digest else []
    )
    if problems:
        raise ContractError(f"resume: the dataset no longer matches the run's checkpoint: {problems}")
    return cls(cfg.policy, saved, last.resolve()), last.resolve()


def also_trained_on(contract: Contract, tasks: tuple[str, ...]) -> Contract:
    """``contract`` whose ``trained_tasks`` also name ``tasks`` (a run trains on from a checkpoint)."""
    return dataclasses.replace(contract, trained_tasks=tuple(sorted({*contract.trained_tasks, *tasks})))


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def optimisation(policy: Policy, cfg: TrainConfig) -> tuple[list[torch.nn.Parameter], Any, Any, EMA | None]:
    """Trainable parameters, AdamW, warm-up + cosine LR schedule and the EMA of the weights.

    AdamW runs torch's fused kernel and the EMA its multi-tensor update: on one CPU core they take
    about a fifth and a third of the per-parameter loops' time, which was a sixth of a state-policy step.
    """
    params = [p for p in policy.parameters() if p.requires_grad]
    fused = params[0].device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(
        params, lr=cfg.lr, betas=(0.95, 0.999), weight_decay=cfg.weight_decay, fused=fused or None
    )
    scheduler = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    ema = EMA(params, power=cfg.ema_power) if cfg.ema else None
    return params, optimizer, scheduler, ema


def batches(dataset: Any, cfg: TrainConfig, start: int) -> tuple[BatchOrder, Iterator[dict[str, Any]]]:
    """The batch order from ``start`` and an endless iterator over its collated batches."""
    order = BatchOrder(len(dataset), cfg.batch_size, cfg.seed, start)
    loader = DataLoader(
        dataset,
        batch_sampler=order,
        num_workers=cfg.num_workers,
        persistent_workers=cfg.num_workers > 0,
        generator=torch.Generator().manual_seed(cfg.seed),  # its own: the global RNG is part of resumed state
    )
    return order, iter(loader)


def check_evaluation(cfg: TrainConfig) -> None:
    """Refuse an evaluation execution count the policy cannot take, naming the field and the range."""
    check_execution_steps(cfg.eval_n_action_steps, cfg.policy.horizon, "eval_n_action_steps", "policy.horizon",
                          zero_means="policy.n_action_steps")  # fmt: skip


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) a training run; returns the summary also written to ``summary.json``."""
    if cfg.precision not in PRECISIONS:
        raise ValueError(
            f"precision={cfg.precision!r} is not supported: set precision to one of {list(PRECISIONS)}"
        )
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    out = Path(cfg.output)
    root = out / "checkpoints"
    cfg.policy.validate()
    check_evaluation(cfg)
    check_output(out, cfg.resume, cfg.overwrite, cfg.init_from)
    dataset = open_dataset(cfg, cfg.policy.n_obs_steps, cfg.policy.horizon, cfg.policy.cameras,
                           learns_from_not_imitated(policy_class_for(cfg.policy), cfg.policy))  # fmt: skip
    policy, resume_from = build(cfg, dataset, root)
    check_task(policy.contract, cfg.task)
    policy.to(device).train()
    params, optimizer, scheduler, ema = optimisation(policy, cfg)
    start = 0
    if resume_from is not None:
        start = restore_training_state(resume_from, policy, optimizer, scheduler, ema)
    if cfg.overwrite:  # every check has passed: only now is the earlier run removed
        clear_output(out)
    checkpoints = CheckpointManager(root, resumed_from=start if resume_from is not None else None)
    order, data = batches(dataset, cfg, start)
    guard = FiniteGuard(root, describe=lambda step: describe_batch(dataset, order.batch(step)))
    evaluator = PeriodicEvaluator(evaluator_for(cfg), every=cfg.eval_every, final_step=cfg.steps)
    log, run = TrainLog(out, start), run_record(cfg)
    end = min(cfg.steps, cfg.stop_after) if cfg.stop_after > 0 else cfg.steps
    bar = tqdm(range(start, end), initial=start, total=cfg.steps, desc="train", disable=not cfg.progress)
    for step in bar:
        tic = time.perf_counter()
        with torch.autocast(device.type, PRECISIONS[cfg.precision], enabled=cfg.precision != "fp32"):
            loss, metrics = policy.compute_loss(to_device(next(data), device))
        guard(loss.detach(), "loss", step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        guard(grad_norm, "gradient norm", step)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.step()
        done = step + 1
        lr = float(scheduler.get_last_lr()[0])
        rate = log.step(done, metrics, grad_norm, lr, order.batch_size, tic, cfg.log_every)
        bar.set_postfix(loss=f"{metrics['loss']:.4f}", samples_s=f"{rate:.0f}")
        evaluating = evaluator.due(done)
        if done % cfg.save_every == 0 or done == end or evaluating:
            folder = checkpoints.save_with_state(done, policy, optimizer, scheduler, ema, run)
        if evaluating:
            result = evaluator(policy, ema)  # EMA weights, eval mode; back to training afterwards
            log.evaluation(done, result)
            checkpoints.record_best(folder, done, result)
    return log.finish(cfg.steps, dataclasses.asdict(cfg), dataset=dataset_summary(cfg, dataset))


def dataset_summary(cfg: TrainConfig, dataset: Any) -> dict[str, Any]:
    """What the summary says of the training data: its path, episodes and samples."""
    return {"path": cfg.dataset, "episodes": len(dataset.episode_ids), "samples": len(dataset)}


def evaluator_for(cfg: TrainConfig) -> Callable[[Policy], dict[str, Any]] | None:
    """The in-training evaluation of a run with a twin ``task`` (None without one)."""
    if not cfg.task:
        return None
    return lambda policy: evaluate_during_training(policy, cfg)


def evaluate_during_training(policy: Policy, cfg: TrainConfig) -> dict[str, Any]:
    """``cfg.eval_episodes`` episodes of the twin task from reset seeds at ``TRAINING_EVAL_SEED``
    (evaluation in the twin is imported here, when a run evaluates, not with this module)."""
    from honed.evaluation.evaluate import EvalConfig, evaluate_policy

    ecfg = EvalConfig(task=cfg.task, episodes=cfg.eval_episodes, num_envs=cfg.eval_envs, seed=TRAINING_EVAL_SEED,
                      n_action_steps=cfg.eval_n_action_steps, videos=0, progress=False)  # fmt: skip
    return evaluate_policy(policy, ecfg)
