"""``honed-bench learning``: from expert demos in the twin to a policy's success rate, end to end.

    honed-bench learning task=pick_cube demos=100 obs=state steps=6000 episodes=200

Records ``demos`` scripted-expert episodes with honed-record's loop (reset seeds 0..demos-1; a store
holding fewer is topped up on the seeds after its last; ``obs=state`` records without rendering the
cameras, which leaves the states and actions bit for bit the same), trains a
diffusion policy with honed-train, and evaluates it with honed-eval on reset seeds from
``eval_seed`` (never the demos' initial states). With ``eval_every`` the run also evaluates during
training on seeds from 10,000 (apart from both), and ``select=best`` benchmarks the checkpoint that
scored highest there instead of the last one. The last line is the JSON summary: success rate
with its Wilson interval, data size, steps and the wall-clock of each stage.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.cli import Verb, bounded
from honed.sim.seeds import HELD_OUT_SEED


@dataclass
class LearningBenchConfig:
    """Task, data, training budget and evaluation of one learning run."""

    task: str = "pick_cube"
    """Twin task (its scripted expert records the demos)."""
    demos: int = bounded(100, ge=1)
    """Expert demonstrations to record (reused if the store already holds them, topped up if it holds fewer)."""
    recoveries: float = bounded(0.0, ge=0, le=1)
    """Fraction of demos whose first attempt the expert fails on purpose and recovers from (0..1)."""
    recovery_kinds: list[str] = field(default_factory=list)
    """Mistakes the recovery demos draw from at even odds (empty: the expert's default, retry and correct)."""
    snap_gripper: bool = False
    """Demos whose expert commands each gripper target at once instead of ramping to it (docs/sim.md)."""
    obs: str = "state"
    """Observations: state (joints + object poses), or images (front + wrist cameras at 96x96, plus joints)."""
    steps: int = bounded(6000, ge=1)
    """Training steps."""
    batch_size: int = bounded(64, ge=1)
    """Training batch size."""
    lr: float = bounded(1e-4, gt=0)
    """Peak learning rate."""
    n_obs_steps: int = bounded(2, ge=1)
    """Observation frames the policy reads."""
    horizon: int = bounded(16, ge=1)
    """Actions the policy predicts per chunk (a multiple of 4)."""
    n_action_steps: int = bounded(8, ge=1)
    """Actions of each chunk executed before the next is sampled (1..horizon)."""
    image_width: int = bounded(64, ge=16)
    """First-stage channels of each camera's ResNet-18 for obs=images (64: torchvision's; 16 or 32: about 1/16 or 1/4 of its arithmetic)."""
    image_stages: int = bounded(4, ge=1, le=4)
    """ResNet-18 stages each camera's trunk keeps for obs=images (4: all; 3: a feature map twice as fine)."""
    privileged_aux: float = bounded(0.0, ge=0)
    """For obs=images: weight of the training-only loss regressing the object poses from the image features (0: off)."""
    eval_n_action_steps: int = bounded(0, ge=0)
    """Actions of each chunk executed in every evaluation, in training and after (0: n_action_steps)."""
    objective: str = "ddpm"
    """Generative objective: ddpm (sampled with DDIM) or flow (flow matching, sampled with Euler steps)."""
    denoiser: str = "unet"
    """Denoiser network: unet (1D temporal U-Net with FiLM) or transformer."""
    precision: str = "fp32"
    """Training arithmetic: fp32 or bf16 (autocast)."""
    init_from: str = ""
    """Checkpoint to continue from with a fresh schedule of ``steps`` (same policy settings; empty: from scratch)."""
    episodes: int = bounded(200, ge=1)
    """Evaluation episodes."""
    eval_every: int = bounded(0, ge=0)
    """Also evaluate during training every this many steps, on seeds apart from the benchmark's (0: never)."""
    eval_episodes: int = bounded(50, ge=1)
    """Episodes per evaluation during training."""
    select: str = "last"
    """Checkpoint to benchmark: last, or best (highest success during training; needs eval_every)."""
    num_envs: int = bounded(25, ge=1)
    """Twin worlds during evaluation."""
    eval_seed: int = bounded(HELD_OUT_SEED, ge=0)
    """Reset seed of the first evaluation episode (demos use seeds 0..demos-1)."""
    output: str = "outputs/bench/learning"
    """Root folder: <task>/store_<obs> (+ _recoveries<r>, _snap for those demos), <task>_<obs>/run, <task>_<obs>/eval."""
    threads: int = bounded(2, ge=0)
    """torch CPU threads."""
    num_workers: int = bounded(1, ge=0)
    """Data-loading workers."""
    seed: int = bounded(0, ge=0)
    """Training seed (initial weights, batch order, augmentation); another seed measures the recipe's spread."""
    label: str = ""
    """Names this run's docs section beside another run of the same settings key (e.g. ``16000`` for a longer run)."""
    write_docs: bool = False
    """Record the result: its row in docs/benchmarks.md, its whole record in docs/experiments.md (refused
    before any work if it would replace a row recorded with other settings)."""


def record_demos(c: LearningBenchConfig, store: Path) -> float:
    """Record the expert demos ``store`` lacks; returns seconds spent. honed-record numbers episodes on
    from those a store holds, so a top-up takes the reset seeds after theirs."""
    from honed.data.record_cli import RecordConfig, record
    from honed.data.store import EpisodeStore

    have = EpisodeStore.open(store).num_episodes if store.exists() else 0
    if have >= c.demos:
        return 0.0
    tic = time.perf_counter()
    # state runs need no rendered frames
    cameras: dict[str, Any] = {} if c.obs == "images" else {"cameras": []}
    cfg = RecordConfig(store=str(store), robot="so101_twin", robot_options=cameras, teleop="expert",
                       task=c.task, episodes=c.demos - have, realtime=False, reset_s=0.0, seed=0, progress=True,
                       teleop_options=expert_options(c))  # fmt: skip
    if record(cfg) != 0:
        raise SystemExit("honed-bench learning: recording the expert demos failed")
    return time.perf_counter() - tic


def expert_options(c: LearningBenchConfig) -> dict[str, Any]:
    """The expert teleop's options for this run's kind of demos (none for plain demos)."""
    options: dict[str, Any] = {"recoveries": c.recoveries} if c.recoveries else {}
    options |= {"recovery_kinds": list(c.recovery_kinds)} if c.recovery_kinds else {}
    return options | ({"snap_gripper": True} if c.snap_gripper else {})


def demo_suffix(c: LearningBenchConfig) -> str:
    """``_recoveries<r>`` (``_<kind>-<kind>`` when the kinds are named) and ``_snap`` for runs on those
    kinds of demos: their store and docs section live apart from the plain ones, so neither is reused or
    overwritten for the other."""
    kinds = "_" + "-".join(c.recovery_kinds) if c.recovery_kinds else ""
    return (f"_recoveries{c.recoveries:g}{kinds}" if c.recoveries else "") + (
        "_snap" if c.snap_gripper else ""
    )


def demo_store(c: LearningBenchConfig) -> Path:
    """Where the run's demos are recorded: one store per task, observations and demo kind (a state
    store holds no camera frames, so an image run cannot reuse it)."""
    return Path(c.output) / c.task / f"store_{c.obs}{demo_suffix(c)}"


def docs_key(c: LearningBenchConfig) -> str:
    """Key of the run's row in docs/benchmarks.md: one per task, observations, demo kind and count (when not 100),
    chunk shape, training seed and label, observation history when not the usual one for the observations (1 frame of images, 2 of
    state) and, for a continued run, the starting checkpoint's step."""
    demos = f"_demos{c.demos}" if c.demos != 100 else ""
    history = "" if c.n_obs_steps == (1 if c.obs == "images" else 2) else f"_obs{c.n_obs_steps}"
    chunk = "" if (c.horizon, c.n_action_steps) == (16, 8) else f"_h{c.horizon}a{c.n_action_steps}"
    width = f"_w{c.image_width}" if c.obs == "images" and c.image_width != 64 else ""
    width += f"_stages{c.image_stages}" if c.obs == "images" and c.image_stages != 4 else ""
    aux = f"_poseaux{c.privileged_aux:g}" if c.privileged_aux else ""
    executing = f"_executing{c.eval_n_action_steps}" if c.eval_n_action_steps else ""
    executing += (f"_seed{c.seed}" if c.seed else "") + (f"_{c.label}" if c.label else "")
    continued = ""
    if c.init_from:  # one section per starting point: a second continuation does not overwrite the first
        from honed.training.state import trained_steps

        start = trained_steps(Path(c.init_from))
        continued = "_continued" + (f"_from{start}" if start is not None else "")
    return f"learning_{c.task}_{c.obs}{demo_suffix(c)}{demos}{chunk}{history}{width}{aux}{generator_suffix(c)}{executing}{continued}"


def generator_suffix(c: LearningBenchConfig) -> str:
    """``_<objective>`` and ``_<denoiser>`` for runs off the default DDPM U-Net (empty for it)."""
    return (f"_{c.objective}" if c.objective != "ddpm" else "") + (
        f"_{c.denoiser}" if c.denoiser != "unet" else ""
    )


POLICY_FIELDS = {"image_width": "image_width", "image_stages": "image_stages", "horizon": "horizon",
                 "n_action_steps": "n_action_steps", "n_obs_steps": "n_obs_steps",
                 "privileged_aux_weight": "privileged_aux", "objective": "objective",
                 "denoiser": "denoiser"}  # fmt: skip
"""Policy fields this command sets, by its own names for them."""


def refusal(err: Exception) -> SystemExit:
    """A policy or training refusal in this command's words: its name for each policy field it sets."""
    text = str(err)
    for name, own in POLICY_FIELDS.items():
        text = text.replace(f"policy.{name}", own)
    return SystemExit(f"honed-bench learning: {text}")


def check(c: LearningBenchConfig) -> None:
    """Refuse settings the run could not honour, before any demo is recorded."""
    if c.obs not in ("state", "images"):
        raise SystemExit(f"honed-bench learning: obs must be state or images, got {c.obs!r}")
    if c.privileged_aux and c.obs != "images":
        raise SystemExit(
            "honed-bench learning: privileged_aux regresses the object poses from camera features; use it with "
            "obs=images (state runs read the poses directly)"
        )
    if not 0.0 <= c.recoveries <= 1.0:
        raise SystemExit(
            f"honed-bench learning: recoveries is a fraction of the demos; use 0..1, got {c.recoveries}"
        )
    if c.recovery_kinds:
        check_recovery_kinds(c)
    from honed.policies.base import policy_class_for
    from honed.policies.train import check_config, check_evaluation

    try:  # a chunk shape, execution count or start checkpoint the run cannot take is refused here
        cfg = train_config(c, demo_store(c), Path(c.output))
        check_evaluation(cfg)
        if c.init_from:
            check_config(
                policy_class_for(cfg.policy), cfg.policy, Path(c.init_from), f"init_from={c.init_from}"
            )
    except ValueError as err:
        raise refusal(err) from err
    if c.select not in ("last", "best") or (c.select == "best" and c.eval_every <= 0):
        raise SystemExit(f"honed-bench learning: select={c.select!r}: use last, or best with eval_every > 0")
    if c.label and not re.fullmatch(r"[A-Za-z0-9_.]+", c.label):
        raise SystemExit(
            f"honed-bench learning: label={c.label!r} names a docs section; use letters, digits, _ and ."
        )
    if c.write_docs:
        check_docs_section(c)


def check_recovery_kinds(c: LearningBenchConfig) -> None:
    """Named recovery kinds need recovery demos and must be mistakes the task's expert can stage."""
    if not c.recoveries:
        raise SystemExit(
            "honed-bench learning: recovery_kinds picks the mistakes of recovery demos; set recoveries > 0 "
            "or leave recovery_kinds empty"
        )
    from honed.sim.experts import make_expert

    try:
        make_expert(c.task, recoveries=c.recoveries, recovery_kinds=c.recovery_kinds)
    except ValueError as err:
        raise SystemExit(f"honed-bench learning: {err}") from err


def policy_config(c: LearningBenchConfig) -> Any:
    from honed.policies.diffusion.config import DiffusionConfig
    from honed.policies.diffusion.objectives import OBJECTIVES

    images = c.obs == "images"
    try:  # each objective is benchmarked with its first sampler: DDIM after DDPM, Euler after flow
        sampler = OBJECTIVES.get(c.objective).samplers[0]
    except ValueError as err:
        raise refusal(err) from err
    policy = DiffusionConfig(objective=c.objective, sampler=sampler, denoiser=c.denoiser,
                             cameras=["front", "wrist"] if images else [], use_privileged=not images,
                             n_obs_steps=c.n_obs_steps, horizon=c.horizon, n_action_steps=c.n_action_steps,
                             image_width=c.image_width, image_stages=c.image_stages,
                             privileged_aux_weight=c.privileged_aux)  # fmt: skip
    try:
        policy.validate()
    except ValueError as err:
        raise refusal(err) from err
    return policy


def train_config(c: LearningBenchConfig, store: Path, run: Path) -> Any:
    from honed.policies.train_config import TrainConfig

    return TrainConfig(policy=policy_config(c), dataset=str(store), episodes=f"first:{c.demos}", output=str(run),
                       steps=c.steps, batch_size=c.batch_size, lr=c.lr, save_every=max(c.steps // 4, 1),
                       num_workers=c.num_workers, threads=c.threads, precision=c.precision, resume=True,
                       task=c.task if c.eval_every > 0 else "", eval_every=c.eval_every,
                       eval_episodes=c.eval_episodes, eval_envs=c.num_envs,
                       eval_n_action_steps=c.eval_n_action_steps, init_from=c.init_from, seed=c.seed)  # fmt: skip


def run_bench(c: LearningBenchConfig) -> dict[str, Any]:
    from honed.benchmarks.results import emit, record_in_docs
    from honed.evaluation.evaluate import EvalConfig, evaluate
    from honed.policies.train import train

    check(c)
    root = Path(c.output)
    store, run = demo_store(c), root / f"{c.task}_{c.obs}" / "run"
    record_s = record_demos(c, store)
    summary = train(train_config(c, store, run))
    tic = time.perf_counter()
    checkpoint = run / "checkpoints" / c.select
    result = evaluate(EvalConfig(checkpoint=str(checkpoint), task=c.task, episodes=c.episodes,
                                 num_envs=c.num_envs, seed=c.eval_seed, threads=c.threads,
                                 n_action_steps=c.eval_n_action_steps,
                                 output=str(root / f"{c.task}_{c.obs}" / "eval")))  # fmt: skip
    out = {
        "task": c.task, "obs": c.obs, "demos": c.demos, "recoveries": c.recoveries,
        "recovery_kinds": list(c.recovery_kinds), "snap_gripper": c.snap_gripper, "samples": summary["dataset"]["samples"],
        "steps": c.steps, "batch_size": c.batch_size, "horizon": c.horizon, "n_action_steps": c.n_action_steps,
        "eval_n_action_steps": result["n_action_steps"], "train_wall_s": round(summary["total_wall_s"], 1),
        "train_samples_per_s": summary["samples_per_s"], "record_wall_s": round(record_s, 1),
        "eval_episodes": result["episodes"], "success_rate": result["success_rate"],
        "success_ci95": [round(x, 4) for x in result["success_ci95"]], "mean_return": round(result["mean_return"], 2),
        "mean_length": round(result["mean_length"], 1), "eval_wall_s": round(time.perf_counter() - tic, 1),
        "checkpoint": c.select, "checkpoint_step": int(checkpoint.resolve().name.removeprefix("step_")),
        "in_training_evaluations": summary["evaluations"], "init_from": c.init_from,
    }  # fmt: skip
    if c.write_docs:
        record_in_docs(docs_key(c), command_line(c), table(out), [figure(out)])
    return emit(out)


def command_line(c: LearningBenchConfig) -> str:
    """The command that reproduces this run, as recorded in its docs section."""
    recoveries = f"recoveries={c.recoveries:g} " if c.recoveries else ""
    recoveries += f"recovery_kinds=[{','.join(c.recovery_kinds)}] " if c.recovery_kinds else ""
    recoveries += "snap_gripper=true " if c.snap_gripper else ""
    return (f"honed-bench learning task={c.task} obs={c.obs} demos={c.demos} {recoveries}steps={c.steps} "
            f"batch_size={c.batch_size} lr={c.lr:g} n_obs_steps={c.n_obs_steps} horizon={c.horizon} "
            f"n_action_steps={c.n_action_steps} precision={c.precision} "
            f"{f'objective={c.objective} ' if c.objective != 'ddpm' else ''}"
            f"{f'denoiser={c.denoiser} ' if c.denoiser != 'unet' else ''}"
            f"{f'image_width={c.image_width} ' if c.obs == 'images' else ''}"
            f"{f'image_stages={c.image_stages} ' if c.obs == 'images' and c.image_stages != 4 else ''}"
            f"{f'privileged_aux={c.privileged_aux:g} ' if c.privileged_aux else ''}"
            f"{f'eval_n_action_steps={c.eval_n_action_steps} ' if c.eval_n_action_steps else ''}"
            f"{f'init_from={c.init_from} ' if c.init_from else ''}"
            f"episodes={c.episodes} eval_every={c.eval_every} eval_episodes={c.eval_episodes} "
            f"select={c.select} {f'seed={c.seed} ' if c.seed else ''}{f'label={c.label} ' if c.label else ''}"
            f"threads={c.threads} output={c.output} write_docs=true")  # fmt: skip


WHERE_AND_HOW = ("threads", "output", "write_docs", "num_workers")
"""Settings that change where or how fast a run goes, not what it measures: a rerun may differ in them."""


def settings(command: str) -> dict[str, str]:
    """``key=value`` settings of a recorded command, less those in WHERE_AND_HOW."""
    pairs = (word.split("=", 1) for word in command.split() if "=" in word)
    return {key: value for key, value in pairs if key not in WHERE_AND_HOW}


def check_docs_section(c: LearningBenchConfig) -> None:
    """Refuse, before any work, a run whose docs section holds a run of other settings (it would be replaced)."""
    from honed.benchmarks.results import recorded_command

    recorded = recorded_command(docs_key(c))
    if recorded is None:
        return
    old, new = settings(recorded), settings(command_line(c))
    changed = sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))
    if changed:
        differences = ", ".join(
            f"{key} {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}" for key in changed
        )
        raise SystemExit(
            f"honed-bench learning: write_docs would replace the {docs_key(c)} figures of docs/benchmarks.md, "
            f"recorded with other settings ({differences}); set label=<name> to record this run beside it"
        )


TARGETS = {("pick_cube", "state"): 0.95, ("place_cube", "state"): 0.90, ("push_t", "state"): 0.80,
           ("pick_cube", "images"): 0.90}  # fmt: skip
"""Success each task must reach from 100 expert demos, per observations (others have none)."""


def figure(out: dict[str, Any]) -> Any:
    """The run's row in docs/benchmarks.md: its success with the Wilson interval, and the target."""
    from honed.benchmarks.results import Figure, met

    low, high = out["success_ci95"]
    goal = TARGETS.get((out["task"], out["obs"]))
    return Figure(
        f"{out['task']} from {out['obs']}, {out['demos']} demos: success over {out['eval_episodes']} episodes",
        f"{out['success_rate']:.1%} ({low:.1%}-{high:.1%})",
        f">= {goal:.0%}" if goal else "-",
        met(out["success_rate"] >= goal) if goal else "-",
    )


def table(out: dict[str, Any]) -> str:
    low, high = out["success_ci95"]
    return (
        "| task | obs | demos (samples) | steps x batch | checkpoint | train wall-clock | success (95% CI) "
        "| mean length |\n|---|---|---|---|---|---|---|---|\n"
        f"| {out['task']} | {out['obs']} | {out['demos']} ({out['samples']}) | {out['steps']} x {out['batch_size']} "
        f"| {out['checkpoint']} (step {out['checkpoint_step']}) "
        f"| {out['train_wall_s'] / 60:.1f} min | {out['success_rate']:.1%} ({low:.1%}-{high:.1%}) over "
        f"{out['eval_episodes']} episodes | {out['mean_length']} |\n\n"
        + (
            f"Training continued from `{out['init_from']}` with a fresh warm-up and schedule; steps and "
            "wall-clock count this run only.\n\n"
            if out["init_from"]
            else ""
        )
        + f"Training ran at {out['train_samples_per_s']} samples/s; wall-clock varies with the machine's load."
    )


VERB = Verb(LearningBenchConfig, run_bench, "expert demos -> diffusion policy -> success rate in the twin",
            {"debug": LearningBenchConfig(demos=2, steps=4, batch_size=8, episodes=2, num_envs=2,
                                          output="outputs/debug/learning")})  # fmt: skip
