"""``honed-bench sim``: env-steps/s of the batched twin against gymnasium's vector envs and the
physical bound of bare ``mj_step`` on all cores; MuJoCo Warp on its CPU device; render fps."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from honed.cli import Verb, bounded
from honed.sim.batched import TwinBatchedEnv
from honed.sim.config import SimConfig
from honed.sim.core import build_world
from honed.sim.env import TwinEnv
from honed.sim.tasks.base import HOME_QPOS

RAW_BOUND = "raw_mj_step_bound_env_steps_per_s"


@dataclass
class SimBenchConfig:
    """What to measure."""

    task: str = "pick_cube"
    """Task whose scene is stepped (state observations)."""
    num_envs: list[int] = bounded([1, 16, 64], ge=1)
    """Batch sizes to measure."""
    seconds: float = bounded(3.0, gt=0)
    """Wall-clock seconds per measurement."""
    rounds: int = bounded(3, ge=1)
    """Turns each contender takes per batch size; the figures are the medians (speed drifts)."""
    warp: bool = True
    """Also measure the MuJoCo Warp backend on its CPU device (compiles kernels on first use)."""
    warp_steps: int = bounded(5, ge=1)
    """Control steps timed for Warp (it is slow on CPU)."""
    render: bool = True
    """Also measure front-camera rendering at 96x96 and 224x224."""
    write_docs: bool = False
    """Write the figures into docs/benchmarks.md."""


def actions(n: int, rng: np.random.Generator) -> np.ndarray:
    """Joint targets wandering around the home pose (exercises contacts rarely, motion always)."""
    return HOME_QPOS + rng.normal(0, 0.3, size=(n, 6))


def rate(step: Callable[[], object], per_call: int, seconds: float) -> float:
    step()  # warm-up
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        calls += 1
    return per_call * calls / (time.perf_counter() - start)


@contextmanager
def batched_stepper(cfg: SimConfig, n: int) -> Iterator[Callable[[], object]]:
    env = TwinBatchedEnv(cfg, num_envs=n)
    env.reset()
    acts = actions(n, np.random.default_rng(0)).astype(np.float32)
    try:
        yield lambda: env.step(acts)
    finally:
        env.close()


@contextmanager
def vector_stepper(cfg: SimConfig, n: int, vector_cls: type) -> Iterator[Callable[[], object]]:
    venv = vector_cls(
        [lambda: TwinEnv(SimConfig(task=cfg.task)) for _ in range(n)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    venv.reset(seed=0)
    acts = actions(n, np.random.default_rng(0)).astype(np.float32)
    try:
        yield lambda: venv.step(acts)
    finally:
        venv.close()


def measure(cfg: SimConfig, n: int, seconds: float, rounds: int) -> dict[str, float]:
    """Each contender at ``n`` worlds, ``rounds`` times in turn (all built once); the median of each.
    Taking turns puts every contender under the same drift of the machine's speed."""
    with ExitStack() as stack:
        steppers = {
            "batched_env_steps_per_s": stack.enter_context(batched_stepper(cfg, n)),
            "sync_vector_env_steps_per_s": stack.enter_context(vector_stepper(cfg, n, gym.vector.SyncVectorEnv)),
            "async_vector_env_steps_per_s": stack.enter_context(vector_stepper(cfg, n, gym.vector.AsyncVectorEnv)),
        }  # fmt: skip
        samples: dict[str, list[float]] = {k: [] for k in [*steppers, RAW_BOUND]}
        for _ in range(rounds):
            for key, step in steppers.items():
                samples[key].append(rate(step, n, seconds))
            samples[RAW_BOUND].append(raw_bound(cfg, n, seconds))
    return {key: float(np.median(values)) for key, values in samples.items()}


def raw_bound(cfg: SimConfig, n: int, seconds: float) -> float:
    """Bare mj_step over the same ``n`` worlds (same resets and actions) on every core, GIL released:
    physics steps/s over substeps, in env-steps/s. No Python between a world's substeps."""
    model, task, substeps = build_world(cfg)
    cores = min(n, os.cpu_count() or 1)
    ctrl = actions(n, np.random.default_rng(0))
    datas = [mujoco.MjData(model) for _ in range(n)]
    for i, d in enumerate(datas):
        d.qpos[:] = task.sample_reset(np.random.default_rng(i)).qpos
        d.ctrl[:] = ctrl[i]
        mujoco.mj_forward(model, d)

    def spin(chunk: list[mujoco.MjData]) -> int:
        end, steps = time.perf_counter() + seconds, 0
        while time.perf_counter() < end:
            for d in chunk:
                mujoco.mj_step(model, d, substeps)
            steps += len(chunk)
        return steps

    with ThreadPoolExecutor(cores) as pool:
        total = sum(pool.map(spin, [datas[k::cores] for k in range(cores)]))
    return total / seconds


def render_fps(cfg: SimConfig, size: int, seconds: float) -> float:
    env = TwinEnv(SimConfig(task=cfg.task, cameras=("front",), image_height=size, image_width=size))
    env.reset(seed=0)
    renderer, data = env.core.renderer, env.data
    assert renderer is not None
    try:
        return rate(lambda: renderer.render(data, "front"), 1, seconds)
    finally:
        env.close()


def run_bench(c: SimBenchConfig) -> dict:
    from honed.benchmarks.results import emit, record_in_docs

    cfg = SimConfig(task=c.task)
    rows = []
    for n in c.num_envs:
        row: dict[str, Any] = {"task": c.task, "num_envs": n, **measure(cfg, n, c.seconds, c.rounds)}
        if c.warp:
            row["warp_cpu_env_steps_per_s"] = warp_rate(cfg, n, c.warp_steps)
        print({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        rows.append(row)
    top: dict[str, Any] = dict(rows[-1])
    if c.render:
        top["render_fps_96"] = render_fps(cfg, 96, c.seconds)
        top["render_fps_224"] = render_fps(cfg, 224, c.seconds)
    top["batched_vs_sync"] = top["batched_env_steps_per_s"] / top["sync_vector_env_steps_per_s"]
    top["batched_vs_async"] = top["batched_env_steps_per_s"] / top["async_vector_env_steps_per_s"]
    top["batched_vs_raw_bound"] = top["batched_env_steps_per_s"] / top[RAW_BOUND]
    top["rounds"] = c.rounds
    top["by_num_envs"] = rows
    if c.write_docs:
        command = f"honed-bench sim rounds={c.rounds} seconds={c.seconds:g} write_docs=true"
        record_in_docs("sim", command, table(rows, top), figures(top))
    return emit(top)


def warp_rate(cfg: SimConfig, n: int, steps: int) -> float:
    env = TwinBatchedEnv(cfg, num_envs=n, backend="warp", warp_device="cpu")
    env.reset()
    acts = actions(n, np.random.default_rng(0)).astype(np.float32)
    env.step(acts)  # compiles kernels on first use
    start = time.perf_counter()
    for _ in range(steps):
        env.step(acts)
    env.close()
    return n * steps / (time.perf_counter() - start)


TARGETS = {"batched_vs_async": 1.5, "batched_vs_raw_bound": 0.7, "batched_vs_sync": 3.0}
"""What the batched env must reach at the largest number of worlds: times AsyncVectorEnv's rate, share
of the raw ``mj_step`` bound, times SyncVectorEnv's rate."""


def figures(top: dict) -> list[Any]:
    """The current figures at the largest number of worlds, with their targets."""
    from honed.benchmarks.results import Figure, met

    n = top["num_envs"]
    rows = [Figure(f"batched env-steps/s, {n} envs", f"{top['batched_env_steps_per_s']:.0f}")]
    rows += [Figure(f"`{key}`, {n} envs", f"{top[key]:.2f}", f">= {goal:g}", met(top[key] >= goal))
             for key, goal in TARGETS.items()]  # fmt: skip
    rows += [
        Figure(f"`{key}`", f"{top[key]:.2f}") for key in ("render_fps_96", "render_fps_224") if key in top
    ]
    return rows


def table(rows: list[dict], top: dict) -> str:
    keys = [k for k in rows[0] if k not in ("task",)]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += [
        "| " + " | ".join(f"{r[k]:.0f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |"
        for r in rows
    ]
    extra = {k: v for k, v in top.items() if k.startswith(("render", "batched_vs"))}
    lines += ["", ", ".join(f"`{k}` = {v:.2f}" for k, v in extra.items())]
    lines += ["", f"Each figure is the median of {top['rounds']} turns taken in rotation within one run."]
    return "\n".join(lines)


VERB = Verb(
    SimBenchConfig,
    run_bench,
    "env-steps/s of the batched twin vs gymnasium vector envs and the raw mj_step bound",
    presets={"debug": SimBenchConfig(num_envs=[1, 4], seconds=0.3, rounds=1, warp=False, render=True)},
)
