"""``honed-bench sim``: env-steps/s of the batched twin against gymnasium's vector envs and the
physical bound of bare ``mj_step`` on all cores; MuJoCo Warp on its CPU device; render fps."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from honed.cli import Verb
from honed.sim.batched import BatchedEnv
from honed.sim.config import SimConfig
from honed.sim.core import build_world
from honed.sim.env import TwinEnv
from honed.sim.tasks.base import HOME_QPOS


@dataclass
class SimBenchConfig:
    """What to measure."""

    task: str = "pick_cube"
    """Task whose scene is stepped (state observations)."""
    num_envs: list[int] = field(default_factory=lambda: [1, 16, 64])
    """Batch sizes to measure."""
    seconds: float = 3.0
    """Wall-clock seconds per measurement."""
    warp: bool = True
    """Also measure the MuJoCo Warp backend on its CPU device (compiles kernels on first use)."""
    warp_steps: int = 5
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


def batched_rate(cfg: SimConfig, n: int, seconds: float) -> float:
    env = BatchedEnv(cfg, num_envs=n)
    env.reset()
    acts = actions(n, np.random.default_rng(0)).astype(np.float32)
    try:
        return rate(lambda: env.step(acts), n, seconds)
    finally:
        env.close()


def vector_rate(cfg: SimConfig, n: int, seconds: float, vector_cls: type) -> float:
    venv = vector_cls(
        [lambda: TwinEnv(SimConfig(task=cfg.task)) for _ in range(n)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    venv.reset(seed=0)
    acts = actions(n, np.random.default_rng(0)).astype(np.float32)
    try:
        return rate(lambda: venv.step(acts), n, seconds)
    finally:
        venv.close()


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
    from honed.bench import emit, record_in_docs

    cfg = SimConfig(task=c.task)
    rows = []
    for n in c.num_envs:
        row: dict[str, Any] = {
            "task": c.task,
            "num_envs": n,
            "batched_env_steps_per_s": batched_rate(cfg, n, c.seconds),
            "sync_vector_env_steps_per_s": vector_rate(cfg, n, c.seconds, gym.vector.SyncVectorEnv),
            "async_vector_env_steps_per_s": vector_rate(cfg, n, c.seconds, gym.vector.AsyncVectorEnv),
            "raw_mj_step_bound_env_steps_per_s": raw_bound(cfg, n, c.seconds),
        }
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
    top["batched_vs_raw_bound"] = top["batched_env_steps_per_s"] / top["raw_mj_step_bound_env_steps_per_s"]
    top["by_num_envs"] = rows
    if c.write_docs:
        record_in_docs("sim", "honed-bench sim write_docs=true", table(rows, top))
    return emit(top)


def warp_rate(cfg: SimConfig, n: int, steps: int) -> float:
    env = BatchedEnv(cfg, num_envs=n, backend="warp", device="cpu")
    env.reset()
    acts = actions(n, np.random.default_rng(0)).astype(np.float32)
    env.step(acts)  # compiles kernels on first use
    start = time.perf_counter()
    for _ in range(steps):
        env.step(acts)
    env.close()
    return n * steps / (time.perf_counter() - start)


def table(rows: list[dict], top: dict) -> str:
    keys = [k for k in rows[0] if k not in ("task",)]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += [
        "| " + " | ".join(f"{r[k]:.0f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |"
        for r in rows
    ]
    extra = {k: v for k, v in top.items() if k.startswith(("render", "batched_vs"))}
    lines += ["", ", ".join(f"`{k}` = {v:.2f}" for k, v in extra.items())]
    return "\n".join(lines)


VERB = Verb(
    SimBenchConfig,
    run_bench,
    "env-steps/s of the batched twin vs gymnasium vector envs and the raw mj_step bound",
    presets={"debug": SimBenchConfig(num_envs=[1, 4], seconds=0.3, warp=False, render=True)},
)
