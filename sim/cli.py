"""``honed-sim``: videos and success tables of agents in the twin, the interactive viewer, the demo."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from honed.cli import Verb, bounded, run
from honed.media import write_mp4
from honed.sim.config import SimConfig
from honed.sim.tasks import TASKS


@dataclass
class VideoConfig:
    """Run an agent for some episodes per task; write MP4s and a success table."""

    task: str = "pick_cube"
    """Task name, or 'all' for every registered task."""
    policy: str = "expert"
    """'expert' (the task's scripted expert)."""
    episodes: int = bounded(4, ge=1)
    """Episodes per task (seeds seed .. seed+episodes-1)."""
    seed: int = bounded(0, ge=0)
    """First reset seed."""
    noise: float = bounded(0.0, ge=0)
    """Expert action noise (rad, Gaussian std)."""
    videos: int = bounded(2, ge=0)
    """How many episodes per task to film."""
    out_dir: str = "outputs/sim"
    """Where MP4s, success.json and success.md go."""


def _agent(policy: str, task: str, seed: int, noise: float):  # type: ignore[no-untyped-def]
    if policy != "expert":
        raise SystemExit(f"policy={policy!r}: honed-sim video runs policy=expert")
    from honed.sim.experts import make_expert

    return make_expert(task, seed=seed, noise=noise)


def video(cfg: VideoConfig) -> dict:
    from honed.sim.env import TwinEnv
    from honed.sim.rollout import run_episodes

    tasks = TASKS.names() if cfg.task == "all" else [TASKS.get(cfg.task).name]
    out = Path(cfg.out_dir)
    table = {}
    for task in tasks:
        env = TwinEnv(SimConfig(task=task))
        agent = _agent(cfg.policy, task, cfg.seed, cfg.noise)
        seeds = list(range(cfg.seed, cfg.seed + cfg.episodes))
        results = run_episodes(env, agent, seeds, record=cfg.videos, desc=task)
        for r in results[: cfg.videos]:
            write_mp4(
                r.frames,
                out / f"{task}_seed{r.seed}_{'success' if r.success else 'failure'}.mp4",
                env.core.cfg.control_hz,
            )
        table[task] = {
            "episodes": len(results),
            "success_rate": float(np.mean([r.success for r in results])),
            "mean_length": float(np.mean([r.length for r in results])),
            "per_seed": {r.seed: r.success for r in results},
        }
        env.close()
        print(
            f"{task:<12} success {table[task]['success_rate']:.2f} over {len(results)} episodes", flush=True
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "success.json").write_text(json.dumps(table, indent=2))
    rows = [
        f"| {t} | {v['episodes']} | {v['success_rate']:.2f} | {v['mean_length']:.0f} |"
        for t, v in table.items()
    ]
    md = (
        "| task | episodes | success rate | mean length (steps) |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    (out / "success.md").write_text(md)
    print(md)
    return table


@dataclass
class ViewConfig:
    """Open MuJoCo's interactive viewer on a task's scene."""

    task: str = "pick_cube"
    """Task name."""
    seed: int = bounded(0, ge=0)
    """Reset seed."""


def view(cfg: ViewConfig) -> None:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise SystemExit(
            "honed-sim view needs a display (DISPLAY is unset); on a headless machine use "
            "`honed-sim video task=... policy=expert` to get MP4s instead."
        )
    import mujoco.viewer

    from honed.sim.env import TwinEnv

    env = TwinEnv(SimConfig(task=cfg.task))
    env.reset(seed=cfg.seed)
    mujoco.viewer.launch(env.model, env.data)


@dataclass
class TasksConfig:
    """List registered tasks with their instructions."""

    verbose: bool = True
    """Also print each task's instructions."""


def list_tasks(cfg: TasksConfig) -> list[str]:
    for name in TASKS.names():
        task = TASKS.get(name)
        print(f"{name:<12} {task.__doc__.strip() if task.__doc__ else ''}")
        if cfg.verbose:
            print("             instructions: " + "; ".join(task.instructions))
    return TASKS.names()


@dataclass
class DemoConfig:
    """The twin stage of `make demo`: every expert in every task, with videos and a success table."""

    episodes: int = bounded(4, ge=1)
    """Episodes per task."""
    out_dir: str = "outputs/demo/sim"
    """Output folder."""


def demo(cfg: DemoConfig) -> dict:
    return video(VideoConfig(task="all", episodes=cfg.episodes, videos=1, out_dir=cfg.out_dir, noise=0.01))


VERBS = {
    "video": Verb(
        VideoConfig,
        video,
        "MP4s and a success table of an agent in the twin",
        {"debug": VideoConfig(episodes=1, videos=1, out_dir="outputs/sim_debug")},
    ),
    "view": Verb(ViewConfig, view, "MuJoCo's interactive viewer (needs a display)"),
    "tasks": Verb(TasksConfig, list_tasks, "registered tasks and their instructions"),
    "demo": Verb(
        DemoConfig,
        demo,
        "every expert in every task (the first stage of make demo)",
        {"debug": DemoConfig(episodes=1, out_dir="outputs/sim_debug")},
    ),
}


def main(argv: Sequence[str] | None = None) -> None:
    run("sim", VERBS, argv)
