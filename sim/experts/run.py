"""Run a scripted expert in the single env over seeded resets and report its success.

``run_expert`` is what the demo and video commands call; ``honed-expert run task=... episodes=...``
prints one line per episode, writes ``summary.json`` and ``success.png`` and ends with the summary
as one JSON line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.cli import Verb, bounded, run
from honed.sim import make_env
from honed.sim.experts.base import EXPERTS, make_expert

DEFAULT_NOISE = 0.01
"""Noise (rad, std of each joint target) the demo commands use."""

StepHook = Callable[[int, dict[str, Any], np.ndarray, dict[str, Any]], None]
"""Called as hook(episode_index, observation, action, info) after every env step."""


@dataclass
class EpisodeResult:
    """One seeded reset."""

    seed: int
    """Reset seed of the episode."""
    strategy: str
    """Strategy the expert used."""
    success: bool
    """Whether the task's success predicate held at the episode's end."""
    steps: int
    """Control steps run."""
    success_step: int | None
    """First step (1-based) at which the task succeeded, or None."""


@dataclass
class ExpertReport:
    """Per-seed outcomes of an expert and its success rate."""

    task: str
    """Task the expert ran in."""
    noise: float
    """Std (rad) of the action noise."""
    strategy: str | None
    """Fixed strategy, or None when drawn per episode."""
    episodes: list[EpisodeResult] = field(default_factory=list)
    """One entry per seeded reset, in seed order."""

    @property
    def success_rate(self) -> float:
        return sum(e.success for e in self.episodes) / max(len(self.episodes), 1)

    @property
    def successes(self) -> dict[int, bool]:
        """Seed -> success."""
        return {e.seed: e.success for e in self.episodes}

    def summary(self) -> dict[str, Any]:
        steps = [e.success_step for e in self.episodes if e.success_step is not None]
        return {
            "task": self.task,
            "episodes": len(self.episodes),
            "success_rate": self.success_rate,
            "failed_seeds": [e.seed for e in self.episodes if not e.success],
            "noise": self.noise,
            "strategy": self.strategy,
            "strategies_used": sorted({e.strategy for e in self.episodes}),
            "mean_steps_to_success": float(np.mean(steps)) if steps else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "per_episode": [asdict(e) for e in self.episodes]}


def run_expert(
    task: str,
    episodes: int,
    seed: int = 0,
    noise: float = 0.0,
    strategy: str | None = None,
    recoveries: float = 0.0,
    *,
    on_step: StepHook | None = None,
    progress: bool = True,
    **sim: Any,
) -> ExpertReport:
    """Run ``task``'s expert on resets seeded ``seed .. seed + episodes - 1``.

    ``sim`` takes SimConfig fields for the env and the expert alike (``cameras=("front",)`` to get
    images in the observations ``on_step`` sees). The expert's own generator is seeded with ``seed``.
    """
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite standard deviation >= 0 (rad), got {noise}")
    expert = make_expert(task, seed=seed, noise=noise, strategy=strategy, recoveries=recoveries, **sim)
    env = make_env(task, **sim)
    report = ExpertReport(task, noise, strategy)
    bar = tqdm(range(episodes), desc=f"expert {task}", unit="ep", disable=not progress)
    try:
        for i in bar:
            report.episodes.append(_episode(env, expert, seed + i, i, on_step))
            bar.set_postfix(success=f"{report.success_rate:.0%}")
    finally:
        env.close()
    return report


def _episode(env: Any, expert: Any, seed: int, index: int, on_step: StepHook | None) -> EpisodeResult:
    obs, _ = env.reset(seed=seed)
    expert.reset(obs)
    steps, first, done, info = 0, None, False, {"success": False}
    while not done:
        action = expert.act(obs)
        next_obs, _, terminated, truncated, info = env.step(action)
        if on_step is not None:
            on_step(index, obs, action, info)
        obs, done, steps = next_obs, terminated or truncated, steps + 1
        if info["success"] and first is None:
            first = steps
    return EpisodeResult(seed, expert.strategy, bool(info["success"]), steps, first)


def write_report(report: ExpertReport, out_dir: str | Path) -> Path:
    """Write ``summary.json`` and ``success.png`` (steps to success per seed) into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(report.to_dict(), indent=2))
    seeds = [e.seed for e in report.episodes]
    heights = [e.success_step or e.steps for e in report.episodes]
    colors = ["tab:green" if e.success else "tab:red" for e in report.episodes]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * len(seeds)), 3))
    ax.bar(seeds, heights, color=colors)
    ax.set(xlabel="reset seed", ylabel="steps (to success)")
    ax.set_title(f"{report.task}: {report.success_rate:.0%} success (green), noise {report.noise} rad")
    fig.tight_layout()
    fig.savefig(out / "success.png", dpi=100)
    plt.close(fig)
    return out


@dataclass
class ExpertRunConfig:
    """Run one task's scripted expert over seeded resets."""

    task: str = "pick_cube"
    """Task whose expert runs (pick_cube, pick_color, place_cube, push_t, peg_insert), or 'all'."""
    episodes: int = bounded(20, ge=1)
    """Number of seeded resets (seeds seed .. seed + episodes - 1)."""
    seed: int = bounded(0, ge=0)
    """First reset seed; also seeds the expert's strategy choice and noise."""
    noise: float = bounded(DEFAULT_NOISE, ge=0)
    """Std (rad) of Gaussian noise on every joint target."""
    strategy: str | None = None
    """Use only this strategy (None: drawn at random per episode)."""
    out: str = "outputs/experts"
    """Folder for summary.json and success.png, in a subfolder per task ('' writes nothing)."""
    progress: bool = True
    """Show a progress bar."""


def run_command(cfg: ExpertRunConfig) -> dict[str, Any]:
    """Run the expert of ``cfg.task`` (or of every task for 'all'); returns task -> summary."""
    tasks = EXPERTS.names() if cfg.task == "all" else [cfg.task]
    summaries = {}
    for task in tasks:
        report = run_expert(task, cfg.episodes, cfg.seed, cfg.noise, cfg.strategy, progress=cfg.progress)
        for e in report.episodes:
            print(
                f"{task:<12} seed {e.seed:4d}  {e.strategy:<10} {'ok  ' if e.success else 'FAIL'}  steps {e.steps}"
            )
        if cfg.out:
            print(f"wrote {write_report(report, Path(cfg.out) / task)}")
        summaries[task] = report.summary()
    print(json.dumps(summaries))
    return summaries


VERBS = {
    "run": Verb(
        ExpertRunConfig,
        run_command,
        "run a task's scripted expert over seeded resets and report its success rate",
        presets={"debug": ExpertRunConfig(episodes=2, progress=False)},
    )
}


def main(argv: Sequence[str] | None = None) -> None:
    run("expert", VERBS, argv)
