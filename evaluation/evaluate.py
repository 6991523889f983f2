"""``honed-eval``: a checkpoint's success in the batched twin, with statistics a user can trust.

    honed-eval checkpoint=outputs/train/run/checkpoints/last task=pick_cube episodes=200
    honed-eval compare a=outputs/eval/a b=outputs/eval/b

Episode k starts from the reset seed ``seed + k`` (from ``HELD_OUT_SEED`` by default, scenes no
recording or in-training evaluation draws), so evaluations with the same seed meet the same initial
states and can be compared pairwise. The policy's sampling noise is drawn per episode from its seed
as well (common random numbers). Every world runs episodes one after another, the policy driven by
one ``ChunkExecutor``: when a world's episode ends, its slot alone resets and the next seed starts
there, whichever world it is. The checkpoint's contract is checked against the task's features
before any episode runs, and a task it was not trained on is refused unless ``allow_other_task``.
Seeds whose scenes the checkpoint's training dataset recorded are reported as a warning. Writes
``results.json`` (summary + per-episode results), ``eval.png``,
``videos/{success,failure}_seed<S>.mp4`` and ``index.html``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from honed.cli import Verb, bounded
from honed.evaluation.report import (
    EpisodeRecorder,
    checkpoint_labels,
    plot_comparison,
    plot_evaluation,
    write_index,
)
from honed.evaluation.stats import paired_comparison, summarize
from honed.features import IMAGE_PREFIX, Features
from honed.policies.base import SamplesNoise
from honed.policies.executor import ChunkExecutor, execution_settings
from honed.sim.seeds import HELD_OUT_SEED

TWIN_BACKENDS = ("mujoco", "warp")
"""Backends whose worlds ``EpisodeRecorder`` can re-render into videos."""


@dataclass
class EvalConfig:
    """Which checkpoint, which task, how many episodes, and what to write."""

    checkpoint: str = ""
    """Policy checkpoint directory (model.safetensors + config.json + contract.json), or hf://namespace/name."""
    task: str = "pick_cube"
    """Twin task to evaluate on."""
    episodes: int = bounded(200, ge=1)
    """Number of episodes."""
    num_envs: int = bounded(25, ge=1)
    """Twin worlds stepped together."""
    seed: int = bounded(HELD_OUT_SEED, ge=0)
    """Reset seed of the first episode; episode k uses seed + k (default: scenes no recording draws)."""
    backend: str = "mujoco"
    """Batched env backend (mujoco, warp; maniskill on a Vulkan GPU, with videos=0)."""
    n_action_steps: int = bounded(0, ge=0)
    """Actions of each chunk executed before the next is planned (0: the checkpoint's own; 1..horizon)."""
    sampler: str = ""
    """Sampler of the chunks (empty: the checkpoint's own; ddim or ddpm after DDPM training, euler or heun after flow)."""
    num_inference_steps: int = bounded(0, ge=0)
    """Sampler steps per chunk (0: the checkpoint's own)."""
    noise_scale: float = bounded(1.0, ge=0)
    """Factor on the sampler's initial noise: 1 samples the trained distribution; below 1 draws chunks
    nearer the one the policy maps zero noise to (a lower temperature; 0: one chunk per observation)."""
    episode_seconds: float = bounded(0.0, ge=0)
    """Episode time limit in seconds (0: the task's own)."""
    allow_other_task: bool = False
    """Evaluate on a task the checkpoint's contract does not name as trained on (refused otherwise)."""
    videos: int = bounded(2, ge=0)
    """Success videos and failure videos to write (each)."""
    output: str = ""
    """Output directory (default: <checkpoint>/eval_<task>)."""
    device: str = "cpu"
    """Torch device of the policy."""
    threads: int = bounded(0, ge=0)
    """torch CPU threads (0: torch's default)."""
    compile: bool = False
    """torch.compile the policy's sampling network first (pays off for long evaluations on CPU)."""
    progress: bool = True
    """Show the progress bar."""


@dataclass
class CompareConfig:
    """Two evaluations (their output directories or results.json files) to compare pairwise."""

    a: str = ""
    """First evaluation (baseline)."""
    b: str = ""
    """Second evaluation (candidate)."""
    output: str = ""
    """Where to write compare.json and compare.png (default: b's directory)."""


def env_options(contract: Any) -> dict[str, Any]:
    """Twin settings a contract asks for: its cameras at its image size and its control rate."""
    from honed.sim.core import CAMERAS

    cameras = [k[len(IMAGE_PREFIX) :] for k in contract.observation_keys if k.startswith(IMAGE_PREFIX)]
    options: dict[str, Any] = {
        "cameras": tuple(c for c in cameras if c in CAMERAS),
        "control_hz": contract.control_hz,
    }
    if cameras:
        height, width = contract.features[IMAGE_PREFIX + cameras[0]].shape[:2]
        options.update(image_height=height, image_width=width)
    return options


def twin_features(task: str, contract: Any) -> tuple[Features, float]:
    """The features and control rate of ``task`` set up for ``contract`` (one world, then closed)."""
    from honed.sim import make_batched_env

    env = make_batched_env(task, 1, **env_options(contract))
    try:
        return env.features, float(env.cfg.control_hz)
    finally:
        env.close()


def check_instructions(contract: Any, policy: Any, instructions: Sequence[str], task: str) -> None:
    """A learned task embedding knows only its training instructions: refuse others before running."""
    if unknown := type(policy).unseen_instructions(policy.config, contract, instructions):
        from honed.policies.contract import ContractError

        raise ContractError(
            f"task {task!r} gives instructions {unknown} the policy's task embedding never saw "
            f"(it knows {list(contract.tasks)})"
        )


def task_scope(contract: Any, task: str, allow_other_task: bool) -> tuple[bool | None, list[str]]:
    """Whether ``task`` is outside the tasks the checkpoint was trained on (None: its contract does not
    say) and the warnings that go with it. Another task is refused (ContractError) unless allowed."""
    trained = list(contract.trained_tasks)
    if not trained:
        return None, [
            f"the checkpoint's contract does not name the tasks it was trained on (it predates them), "
            f"so nothing checks that it was trained on {task}"
        ]
    if task in trained:
        return False, []
    named = f"task={task} is not a task the checkpoint was trained on ({', '.join(trained)})"
    if not allow_other_task:
        from honed.policies.contract import ContractError

        raise ContractError(
            f"{named}: evaluate on {trained[0]}, or pass allow_other_task=true to measure it there"
        )
    return True, [f"{named}; evaluated there because allow_other_task=true"]


def recorded_seeds(store: Path, task: str) -> set[int]:
    """Reset seeds of the store's episodes recorded in ``task``'s twin scenes (episodes that do not say
    where they were recorded count too); empty when the store cannot be read."""
    from honed.data.layout import Index

    try:
        episodes = Index.load(store).episodes
    except (OSError, ValueError):
        return set()
    return {
        e.meta["seed"]
        for e in episodes
        if isinstance(e.meta.get("seed"), int) and e.meta.get("twin_task", task) == task
    }


def seed_warnings(checkpoint: str, task: str, seeds: range) -> list[str]:
    """A warning when ``seeds`` include scenes the checkpoint's training dataset recorded (none when
    the checkpoint does not name its dataset or the store is gone)."""
    from honed.training.state import training_dataset

    store = training_dataset(checkpoint)
    recorded = recorded_seeds(store, task) if store is not None else set()
    shared = sorted(recorded.intersection(seeds))
    if not shared:
        return []
    contiguous = shared[-1] - shared[0] + 1 == len(shared)
    span = f"{shared[0]}..{shared[-1]}" if contiguous else ", ".join(map(str, shared[:3])) + ", ..."
    past = max(HELD_OUT_SEED, max(recorded) + 1)
    return [
        f"{len(shared)} of the {len(seeds)} episodes (seeds {span}) start from scenes recorded in the "
        f"training dataset {store}, so they score the policy on scenes it was trained on: pass seed={past} "
        "for held-out scenes"
    ]


def episode_noise(policy: SamplesNoise, generators: Sequence[torch.Generator], scale: float) -> torch.Tensor:
    """One initial noise per world (N, ...), each from its episode's generator, times ``scale``."""
    return scale * torch.cat([policy.sample_noise(1, g) for g in generators])  # (N, H, A)


def episode_result(info: dict[str, Any], world: int, seed: int, success: bool) -> dict[str, Any]:
    """What an evaluation keeps of the episode world ``world`` ended on this step."""
    episode: dict[str, Any] = {
        "seed": seed,
        "success": success,
        "return": float(info["episode_return"][world]),
        "length": int(info["episode_length"][world]),
        "diverged": bool(info["diverged"][world]),
    }
    ending = info["endings"][world] if "endings" in info else ""  # where the task names how an attempt stood
    if ending and not success:
        episode["ending"] = ending
    return episode


def run_episodes(
    executor: ChunkExecutor,
    env: Any,
    seeds: Sequence[int],
    recorder: EpisodeRecorder | None = None,
    noise_scale: float = 1.0,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """One episode per reset seed in ``seeds`` (at least ``env.num_envs``); results in seed order.

    Every world runs episodes one after another: world i starts with ``seeds[i]``, and when its
    episode ends its executor slot resets alone and the next seed not yet started begins on it
    (``env.reset(seed=..., mask=...)``), while the other worlds go on. The episode of seed s meets the
    scene of seed s and, for a policy that samples, draws its initial noise from a generator seeded s
    every step, whichever world runs it. ``on_episode`` hears of each result as it ends.
    """
    n = env.num_envs
    running: list[int | None] = list(seeds[:n])  # each world's episode seed (None: no episode left)
    pending = iter(seeds[n:])
    policy = executor.policy
    sampler = policy if isinstance(policy, SamplesNoise) else None
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds[:n]]
    ever_success = np.zeros(n, dtype=bool)
    results: dict[int, dict[str, Any]] = {}
    obs = env.reset(seed=list(seeds[:n]))
    executor.reset()
    if recorder is not None:
        recorder.begin(env)
    while any(s is not None for s in running):
        noise = None if sampler is None else episode_noise(sampler, generators, noise_scale)
        action = executor.act(obs, noise)  # (N, A)
        obs, _, terminated, _, info = env.step(action.cpu())
        ever_success |= info["success"].numpy() | terminated.cpu().numpy()
        done = info["done"].numpy()
        starts: dict[int, int] = {}
        for i in np.flatnonzero(done):
            seed = running[i]
            if seed is None:
                continue
            results[seed] = episode_result(info, i, seed, bool(ever_success[i]))
            if recorder is not None:
                recorder.finish(env, int(i), results[seed])
            if on_episode is not None:
                on_episode(results[seed])
            running[i] = next(pending, None)
            if running[i] is not None:
                starts[int(i)] = running[i]
                generators[i] = torch.Generator().manual_seed(running[i])
                ever_success[i] = False
        if starts:
            obs = env.reset(seed=list(starts.values()), mask=np.isin(np.arange(n), list(starts)))
        executor.reset(done)
        if recorder is not None:
            recorder.capture(env)
    return [results[s] for s in seeds]


def evaluate_policy(
    policy: Any, cfg: EvalConfig, out: Path | None = None, warnings: Sequence[str] = ()
) -> dict[str, Any]:
    """Run ``cfg.episodes`` episodes; returns the summary with ``per_episode`` (and writes files to ``out``).

    The summary names the checkpoint's ``trained_tasks``, whether ``other_task`` was evaluated (see
    :func:`task_scope`) and its ``warnings`` (``warnings`` given here, then the task's; each also
    printed, one line each, before any episode runs)."""
    from honed.sim import make_batched_env

    contract = policy.contract
    other_task, task_warnings = task_scope(contract, cfg.task, cfg.allow_other_task)
    warnings = [*warnings, *task_warnings]
    for line in warnings:
        print(f"honed-eval: warning: {line}", file=sys.stderr)
    executor = drive(policy, cfg)
    if out and cfg.videos and cfg.backend not in TWIN_BACKENDS:
        raise SystemExit(
            f"honed-eval: videos are rendered from the twin; backend={cfg.backend} needs videos=0"
        )
    options = env_options(contract) | (
        {"episode_seconds": cfg.episode_seconds} if cfg.episode_seconds > 0 else {}
    )
    env = make_batched_env(cfg.task, executor.num_envs, backend=cfg.backend, **options)
    try:
        contract.check(env.features, float(env.cfg.control_hz), where=f"{cfg.backend} task {cfg.task!r}")
        check_instructions(contract, policy, env.instructions, cfg.task)
        recorder = (
            EpisodeRecorder(out / "videos", cfg.videos, contract.control_hz) if out and cfg.videos else None
        )
        bar = tqdm(total=cfg.episodes, desc=f"eval {cfg.task}", disable=not cfg.progress)
        wins: list[bool] = []

        def tick(episode: dict[str, Any]) -> None:
            wins.append(episode["success"])
            bar.update(1)
            bar.set_postfix(success=f"{np.mean(wins):.2f}")

        policy.eval()
        seeds = range(cfg.seed, cfg.seed + cfg.episodes)
        episodes = run_episodes(executor, env, seeds, recorder, cfg.noise_scale, tick)
        bar.close()
    finally:
        env.close()
    result = {
        "task": cfg.task,
        **summarize(episodes),
        **execution_settings(executor),
        "noise_scale": cfg.noise_scale,
        "contract_digest": contract.digest,
        "trained_tasks": list(contract.trained_tasks),
        "other_task": other_task,
        "warnings": warnings,
        "per_episode": episodes,
    }
    if out is not None:
        write_outputs(result, cfg, out, recorder.written if recorder else {})
    return result


def drive(policy: Any, cfg: EvalConfig) -> ChunkExecutor:
    """The executor running ``policy`` in ``cfg``'s worlds with its executed steps, the policy set to
    ``cfg``'s sampler (the checkpoint's own for empty / 0); SystemExit naming the field otherwise."""
    try:
        executor = ChunkExecutor(policy, min(cfg.num_envs, cfg.episodes), cfg.n_action_steps)
    except ValueError as err:
        raise SystemExit(f"honed-eval: {err}; pass n_action_steps=0 for the checkpoint's own") from err
    if not 0 <= cfg.noise_scale < float("inf"):
        raise SystemExit(
            f"honed-eval: noise_scale ({cfg.noise_scale}) must be a finite factor >= 0: pass 1 for the trained distribution"
        )
    if not isinstance(policy, SamplesNoise):
        if cfg.sampler or cfg.num_inference_steps or cfg.noise_scale != 1:
            raise SystemExit(
                f"honed-eval: a {policy.name} policy samples no noise: leave sampler, num_inference_steps "
                "and noise_scale unset"
            )
        return executor
    try:  # empty / 0 restore the checkpoint's own, also on a policy an earlier evaluation overrode
        policy.sample_with(cfg.sampler, cfg.num_inference_steps)
    except ValueError as err:
        raise SystemExit(
            f"honed-eval: {err}; pass sampler= and num_inference_steps=0 for the checkpoint's own"
        ) from err
    return executor


def write_outputs(result: dict[str, Any], cfg: EvalConfig, out: Path, videos: dict[str, list[str]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    result["config"] = asdict(cfg)
    result["videos"] = videos
    (out / "results.json").write_text(json.dumps(result, indent=2))
    plot_evaluation(result, out / "eval.png")
    write_index(result, videos, out / "index.html")


def evaluate(cfg: EvalConfig) -> dict[str, Any]:
    """``honed-eval``: load, check the contract, run, write results; prints the summary as JSON."""
    from honed.policies import load_policy
    from honed.policies.hub import output_home

    if not cfg.checkpoint:
        raise SystemExit("honed-eval: checkpoint is not set: pass checkpoint=<checkpoint directory>")
    if cfg.episodes < 1 or cfg.num_envs < 1:
        raise SystemExit("honed-eval: episodes and num_envs must be at least 1")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    policy = load_policy(cfg.checkpoint, cfg.device)
    compile_for_inference = getattr(policy, "compile_for_inference", None)
    if cfg.compile and callable(compile_for_inference):
        compile_for_inference()
    out = Path(cfg.output or output_home(cfg.checkpoint) / f"eval_{cfg.task}")
    warnings = seed_warnings(cfg.checkpoint, cfg.task, range(cfg.seed, cfg.seed + cfg.episodes))
    result = evaluate_policy(policy, cfg, out, warnings)
    summary = {k: v for k, v in result.items() if k not in ("per_episode", "config")}
    print(json.dumps({**summary, "output": str(out)}))
    return result


def _results(path: str) -> dict[str, Any]:
    p = Path(path)
    p = p / "results.json" if p.is_dir() else p
    if not p.is_file():
        raise SystemExit(f"honed-eval compare: {path} holds no results.json; run honed-eval first")
    return json.loads(p.read_text())


def compare(cfg: CompareConfig) -> dict[str, Any]:
    """Paired comparison of two evaluations on their shared seeds; prints it as JSON."""
    a, b = _results(cfg.a), _results(cfg.b)
    labels = checkpoint_labels(
        a.get("config", {}).get("checkpoint") or cfg.a, b.get("config", {}).get("checkpoint") or cfg.b
    )
    comparison = {"a": cfg.a, "b": cfg.b, "labels": list(labels),
                  **paired_comparison(a["per_episode"], b["per_episode"])}  # fmt: skip
    out = Path(cfg.output or (Path(cfg.b) if Path(cfg.b).is_dir() else Path(cfg.b).parent))
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(comparison, indent=2))
    plot_comparison(comparison, labels, out / "compare.png")
    print(json.dumps(comparison))
    return comparison


VERBS = {
    "run": Verb(
        EvalConfig,
        evaluate,
        "evaluate a checkpoint in the batched twin",
        {"debug": EvalConfig(episodes=4, num_envs=2, videos=1)},
    ),  # fmt: skip
    "compare": Verb(CompareConfig, compare, "paired comparison of two evaluations (same seeds)"),
}


def main(argv: Sequence[str] | None = None) -> None:
    from honed.policies.cli import run_with_default_verb

    run_with_default_verb("eval", VERBS, "run", sys.argv[1:] if argv is None else argv)
