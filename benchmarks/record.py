"""``honed-bench record``: the real recording loop at 30 Hz with two 480x640 cameras from a synthetic source.

Reports dropped frames, the store's write rate and bytes per frame, the bytes per frame of the same
episode exported to LeRobot v3, and the p99 encode time of a frame's two camera images.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from honed.cli import Verb, bounded


@dataclass
class RecordBenchConfig:
    seconds: float = bounded(60.0, gt=0)
    """Length of the recorded episode."""
    fps: int = bounded(30, ge=1)
    """Loop rate."""
    height: int = bounded(480, ge=1)
    """Camera image height."""
    width: int = bounded(640, ge=1)
    """Camera image width."""
    lerobot: bool = True
    """Also export the episode to LeRobot v3 and measure its size."""
    workdir: str = ""
    """Where to write (default: a temporary directory, removed afterwards)."""
    write_docs: bool = False
    """Write the figures into docs/benchmarks.md."""


MACHINE_NOTE = "Measured while the machine was shared with other work."


def docs_table(figures: dict[str, Any]) -> str:
    """A two-column markdown table of a benchmark's figures, under the machine note."""
    rows = [
        f"| `{k}` | {v:.2f} |" if isinstance(v, float) else f"| `{k}` | {v} |" for k, v in figures.items()
    ]
    return "\n".join([MACHINE_NOTE, "", "| figure | value |", "|---|---|", *rows])


RECORD_FIGURES = ("write_mb_per_s", "bytes_per_frame", "encode_ms_p99", "lerobot_vs_honed_size")
"""Figures of the record benchmark shown in docs/benchmarks.md beside the dropped frames."""


def plain_figures(figures: dict[str, Any], keys: tuple[str, ...]) -> list[Any]:
    """Rows without a target for docs/benchmarks.md: the named figures that were measured."""
    from honed.benchmarks.results import Figure

    return [Figure(f"`{k}`", f"{figures[k]:.2f}") for k in keys if k in figures]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_bench(c: RecordBenchConfig) -> dict[str, Any]:
    from honed.benchmarks.results import Figure, emit, met, record_in_docs
    from honed.data.record import Recorder, open_store_for
    from honed.data.synthetic import SyntheticRobot, SyntheticTeleop

    work = Path(c.workdir) if c.workdir else Path(tempfile.mkdtemp(prefix="honed-bench-record-"))
    robot = SyntheticRobot(height=c.height, width=c.width)
    store = open_store_for(robot, str(work / "store"), c.fps, "synthetic")
    recorder = Recorder(robot, SyntheticTeleop(fps=c.fps), store, "bench", episode_s=c.seconds, reset_s=0.0)
    with robot:
        start = time.perf_counter()
        result = recorder.run(episodes=1)[0]
        elapsed = time.perf_counter() - start
    store.reload()
    stored = dir_bytes(store.episode_path(store.index.episodes[0]))
    out: dict[str, Any] = {
        "seconds": c.seconds,
        "cameras": f"2 x {c.height}x{c.width} RGB",
        "frames": result.frames,
        "frames_dropped": result.dropped,
        "write_mb_per_s": stored / 1e6 / elapsed,
        "bytes_per_frame": stored / result.frames,
        "encode_ms_p50": float(np.percentile(recorder.encode_ms, 50)),
        "encode_ms_p99": float(np.percentile(recorder.encode_ms, 99)),
        "raw_bytes_per_frame": 2 * c.height * c.width * 3,
    }
    if c.lerobot:
        from honed.data.lerobot_export import export_lerobot

        export_lerobot(store, work / "lerobot", progress=False)
        out["lerobot_bytes_per_frame"] = dir_bytes(work / "lerobot") / result.frames
        out["lerobot_vs_honed_size"] = out["lerobot_bytes_per_frame"] / out["bytes_per_frame"]
    if not c.workdir:
        shutil.rmtree(work, ignore_errors=True)
    if c.write_docs:
        rows = "\n".join(
            f"| `{k}` | {v:.2f} |" if isinstance(v, float) else f"| `{k}` | {v} |" for k, v in out.items()
        )
        dropped = Figure("`frames_dropped`", str(out["frames_dropped"]), "0", met(out["frames_dropped"] == 0))
        record_in_docs("record", "honed-bench record write_docs=true", "| figure | value |\n|---|---|\n" + rows,
                       [dropped, *plain_figures(out, RECORD_FIGURES)])  # fmt: skip
    return emit(out)


VERB = Verb(
    RecordBenchConfig,
    run_bench,
    "record 2 cameras + state at 30 Hz for 60 s: dropped frames, write rate, bytes/frame vs LeRobot",
    presets={"debug": RecordBenchConfig(seconds=2.0, height=96, width=128)},
)
