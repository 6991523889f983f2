"""``honed-bench load``: training samples/s of honed's EpisodeDataset against lerobot's LeRobotDataset.

``samples_per_s_uncached`` reads every batch's frames from the store (``cache_mb=0``) instead of
keeping each episode's encoded frames in memory after the first read.

Both read the same episodes (honed's store, and its LeRobot v3 export made by lerobot's writer) with
the same observation history, action chunk, batch size, shuffling and worker count; images come out
as uint8 on both sides (``return_uint8=True`` for lerobot).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from honed.cli import Verb, bounded
from honed.data.store import EpisodeStore


@dataclass
class LoadBenchConfig:
    episodes: int = bounded(4, ge=1)
    """Synthetic episodes to load from."""
    frames: int = bounded(300, ge=1)
    """Frames per episode."""
    height: int = bounded(240, ge=1)
    """Camera image height (two cameras)."""
    width: int = bounded(320, ge=1)
    """Camera image width."""
    n_obs_steps: int = bounded(2, ge=1)
    """Observation history per sample."""
    horizon: int = bounded(16, ge=1)
    """Action chunk per sample."""
    batch_size: int = bounded(32, ge=1)
    """Samples per batch."""
    num_workers: int = bounded(2, ge=0)
    """DataLoader workers (both datasets)."""
    batches: int = bounded(30, ge=1)
    """Batches timed after the first (which includes worker start-up)."""
    workdir: str = ""
    """Where to write the data (default: a temporary directory, removed afterwards)."""
    write_docs: bool = False
    """Write the figures into docs/benchmarks.md."""


def make_data(c: LoadBenchConfig, work: Path) -> EpisodeStore:
    from honed.data.layout import StoreInfo
    from honed.data.lerobot_export import export_lerobot
    from honed.data.synthetic import SyntheticRobot, SyntheticTeleop
    from honed.features import ACTION

    robot, teleop = SyntheticRobot(height=c.height, width=c.width), SyntheticTeleop()
    store = EpisodeStore.create(work / "store", StoreInfo(robot.features, 30, "synthetic"))
    with robot, store.writer() as writer:
        for e in range(c.episodes):
            writer.start_episode(f"task {e % 2}")
            for t in range(c.frames):
                obs = robot.read()
                frame = {k: obs[k] for k in robot.features if k in obs}
                writer.add_frame({**frame, ACTION: robot.write(teleop.get_action(obs))}, t / 30)
            writer.save_episode()
    store.reload()
    export_lerobot(store, work / "lerobot", progress=False)
    return store


def samples_per_s(batches: Iterable[dict[str, Any]], count: int) -> float:
    iterator = iter(batches)
    next(iterator)  # worker start-up and first batch
    samples, start = 0, time.perf_counter()
    for _ in range(count):
        samples += len(next(iterator)["task"])
    return samples / (time.perf_counter() - start)


def loader(dataset: Any, c: LoadBenchConfig) -> DataLoader[Any]:
    return DataLoader(dataset, batch_size=c.batch_size, shuffle=True, num_workers=c.num_workers,
                      generator=torch.Generator().manual_seed(0))  # fmt: skip


def run_bench(c: LoadBenchConfig) -> dict[str, Any]:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from honed.benchmarks.results import emit, record_in_docs
    from honed.data.dataset import EpisodeDataset

    work = Path(c.workdir) if c.workdir else Path(tempfile.mkdtemp(prefix="honed-bench-load-"))
    store = make_data(c, work)
    honed = EpisodeDataset(store, n_obs_steps=c.n_obs_steps, horizon=c.horizon)
    dt = 1 / store.fps
    history = [-(c.n_obs_steps - 1 - i) * dt for i in range(c.n_obs_steps)]
    deltas = {k: history for k in store.features if k.startswith("observation.")}
    deltas["action"] = [i * dt for i in range(c.horizon)]
    lerobot = LeRobotDataset(f"local/{store.root.name}", root=work / "lerobot", delta_timestamps=deltas,
                             video_backend="pyav", return_uint8=True)  # fmt: skip
    out: dict[str, Any] = {
        "samples": len(honed),
        "cameras": f"2 x {c.height}x{c.width}",
        "n_obs_steps": c.n_obs_steps,
        "horizon": c.horizon,
        "batch_size": c.batch_size,
        "num_workers": c.num_workers,
        "samples_per_s": samples_per_s(loader(honed, c), c.batches),
        "lerobot_samples_per_s": samples_per_s(loader(lerobot, c), c.batches),
    }
    out["speedup_vs_lerobot"] = out["samples_per_s"] / out["lerobot_samples_per_s"]
    uncached = EpisodeDataset(store, n_obs_steps=c.n_obs_steps, horizon=c.horizon, cache_mb=0)
    out["samples_per_s_uncached"] = samples_per_s(loader(uncached, c), c.batches)
    single = LoadBenchConfig(**{**vars(c), "num_workers": 0, "batches": max(2, c.batches // 3)})
    out["samples_per_s_no_workers"] = samples_per_s(loader(honed, single), single.batches)
    out["lerobot_samples_per_s_no_workers"] = samples_per_s(loader(lerobot, single), single.batches)
    if not c.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if c.write_docs:
        from honed.benchmarks.record import docs_table, plain_figures
        from honed.benchmarks.results import Figure, met

        speedup = out["speedup_vs_lerobot"]
        figures = [Figure("`speedup_vs_lerobot`", f"{speedup:.2f}", ">= 2", met(speedup >= 2)),
                   *plain_figures(out, ("samples_per_s", "lerobot_samples_per_s", "samples_per_s_uncached"))]  # fmt: skip
        record_in_docs("load", "honed-bench load write_docs=true", docs_table(out), figures)
    return emit(out)


VERB = Verb(
    LoadBenchConfig,
    run_bench,
    "training samples/s: honed EpisodeDataset vs lerobot LeRobotDataset on the same episodes",
    presets={"debug": LoadBenchConfig(episodes=2, frames=40, height=48, width=64, batch_size=8, batches=3)},
)
