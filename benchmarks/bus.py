"""``honed-bench bus``: bus cycle time against the emulator at 1 Mbaud wire timing, 6 servos.

A cycle is a sync read of the present positions plus a sync write of the goals, back to back as a
control loop runs them; its time is measured start to start, so the write's time on the wire is
included (the emulator keeps the line busy for it). ``byte_time_bound_ms`` is the physical limit:
the cycle's bytes at the baud rate. Target: ``cycle_ms_p99 <= 2 x byte_time_bound_ms``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.cli import Verb, bounded


@dataclass
class BusBenchConfig:
    """Bus cycle benchmark."""

    robot: str = "so101"
    """Arm whose bus is emulated: so101 (Feetech) or koch (Dynamixel)."""
    cycles: int = bounded(5000, ge=10)
    """Cycles measured (after the warm-up)."""
    warmup: int = bounded(200, ge=0)
    """Cycles run first and not measured."""
    baudrate: int = bounded(1_000_000, ge=1)
    """Bus baud rate."""
    joints: str = "twin"
    """What the emulated servos move: twin or kinematic."""
    output_dir: str = "outputs/bench/bus"
    """Where bus.json and bus.png go."""
    write_docs: bool = False
    """Record the result in docs/benchmarks.md."""


def byte_time_bound_ms(bus: Any, ids: list[int], baudrate: int) -> float:
    """Milliseconds the cycle's bytes need on the wire (10 bits per byte)."""
    p, size = bus.protocol, bus.model_ctrl_table[next(iter(bus.motors.values())).model]["Present_Position"][1]
    read = len(p.sync_read(ids, 0, size)) + sum(len(p.status(i, 0, bytes(size))) for i in ids)
    write = len(p.sync_write(0, size, {i: bytes(size) for i in ids}))
    return (read + write) * 10 / baudrate * 1000


def measure(bus: Any, cycles: int, warmup: int) -> np.ndarray:
    """Start-to-start cycle times (ms) of sync read + sync write."""
    starts = np.empty(cycles + 1)
    for i in tqdm(range(warmup + cycles + 1), desc="bus cycles", unit="cycle", mininterval=0.5):
        if i >= warmup:
            starts[i - warmup] = time.perf_counter()
        positions = bus.sync_read("Present_Position", normalize=False)
        bus.sync_write("Goal_Position", positions, normalize=False)
    return np.diff(starts) * 1000  # (cycles,) ms


def plot(cycle_ms: np.ndarray, bound_ms: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(cycle_ms, bins=80, color="tab:blue")
    for x, label, style in ((bound_ms, "byte-time bound", "-"), (2 * bound_ms, "target (2x bound)", "--")):
        ax.axvline(x, color="black", linestyle=style, label=label)
    ax.axvline(float(np.percentile(cycle_ms, 99)), color="tab:red", label="p99")
    ax.set_xlabel("cycle time (ms): sync read of 6 positions + sync write of 6 goals")
    ax.set_ylabel("cycles")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_bench(cfg: BusBenchConfig) -> dict[str, Any]:
    from honed.benchmarks.results import emit, record_in_docs
    from honed.hardware.bus import make_bus
    from honed.hardware.emulator.process import EmulatorProcess
    from honed.hardware.motors import arm_motors

    if cfg.cycles < 10 or cfg.warmup < 0:
        raise SystemExit("honed-bench bus: cycles must be >= 10 and warmup >= 0")
    motors = arm_motors(cfg.robot, "follower")
    args = [f"robot={cfg.robot}", f"baudrate={cfg.baudrate}", f"joints={cfg.joints}", "timing=true"]
    with EmulatorProcess(*args) as emulator:
        bus = make_bus(emulator.path, motors)
        bus.connect()
        bus.set_baudrate(cfg.baudrate)
        bus.configure_motors()  # return delay 0, as honed's robots set it
        bus.enable_torque()
        cycle_ms = measure(bus, cfg.cycles, cfg.warmup)
        stats = bus.stats
        bus.disconnect()
    bound = byte_time_bound_ms(bus, [m.id for m in motors], cfg.baudrate)
    p50, p99 = (float(np.percentile(cycle_ms, q)) for q in (50, 99))
    result = {
        "bench": "bus",
        "robot": cfg.robot,
        "baudrate": cfg.baudrate,
        "cycles": cfg.cycles,
        "failures": stats.failures,
        "retries": stats.retries,
        "cycle_ms_mean": float(cycle_ms.mean()),
        "cycle_ms_max": float(cycle_ms.max()),
        "target_met": p99 <= 2 * bound,
        "cycle_ms_p50": p50,
        "cycle_ms_p99": p99,
        "max_rate_hz": 1000.0 / float(cycle_ms.mean()),
        "byte_time_bound_ms": bound,
    }
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot(cycle_ms, bound, out / f"bus_{cfg.robot}.png")
    (out / f"bus_{cfg.robot}.json").write_text(json.dumps(result, indent=2))
    if cfg.write_docs:
        command = f"honed-bench bus robot={cfg.robot} write_docs=true"
        record_in_docs(f"bus_{cfg.robot}", command, table(result), figures(result))
    return emit(result)


def figures(r: dict[str, Any]) -> list[Any]:
    """The current figures of one arm's bus, with the target on the p99 cycle."""
    from honed.benchmarks.results import Figure, met

    name = f"{r['robot']} bus"
    return [
        Figure(f"{name}: cycle p50 (ms)", f"{r['cycle_ms_p50']:.3f}"),
        Figure(f"{name}: cycle p99 (ms)", f"{r['cycle_ms_p99']:.3f}",
               f"<= 2 x byte-time bound {r['byte_time_bound_ms']:.3f}", met(r["target_met"])),
        Figure(f"{name}: max rate (Hz)", f"{r['max_rate_hz']:.0f}"),
    ]  # fmt: skip


def table(r: dict[str, Any]) -> str:
    rows = [
        ("cycle_ms_p50", f"{r['cycle_ms_p50']:.3f}"),
        ("cycle_ms_p99", f"{r['cycle_ms_p99']:.3f}"),
        ("byte_time_bound_ms", f"{r['byte_time_bound_ms']:.3f}"),
        ("target: p99 <= 2 x bound", "met" if r["target_met"] else "missed"),
        ("max_rate_hz", f"{r['max_rate_hz']:.0f}"),
        ("cycle_ms_mean / max", f"{r['cycle_ms_mean']:.3f} / {r['cycle_ms_max']:.3f}"),
        ("retries / failures", f"{r['retries']} / {r['failures']}"),
    ]
    head = (
        f"Emulated {r['robot']} bus (6 servos, twin joints) in its own process at "
        f"{r['baudrate']} baud with wire timing; {r['cycles']} cycles of sync read + sync write.\n\n"
    )
    return head + "| figure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


VERB = Verb(
    BusBenchConfig,
    run_bench,
    "bus cycle time (sync read + sync write of 6 servos) against the emulator at 1 Mbaud",
    presets={
        "debug": BusBenchConfig(
            cycles=200, warmup=20, joints="kinematic", output_dir="outputs/debug/bench_bus"
        )
    },
)
