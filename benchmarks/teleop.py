"""``honed-bench teleop``: leader -> follower mirroring rate over two emulated SO-101 buses.

Two ``honed-hw emulate`` processes (twin joints, 1 Mbaud wire timing), a waving leader and a
follower, and ``honed-teleop`` between them: once at the target rate (60 Hz, the rate it must
hold) and once asking for far more than it can do, which measures the loop's capacity.
Target: ``achieved_hz >= 0.98 x target_hz`` (the pacing's own rounding) and ``capacity_hz >= 60``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.cli import Verb, bounded


@dataclass
class TeleopBenchConfig:
    """Teleoperation rate benchmark."""

    fps: float = bounded(60.0, gt=0)
    """Target rate of the first run (Hz)."""
    capacity_fps: float = bounded(2000.0, gt=0)
    """Rate asked of the second run, beyond what the loop can do (Hz)."""
    duration_s: float = bounded(10.0, gt=0)
    """Length of each run (s)."""
    output_dir: str = "outputs/bench/teleop"
    """Where the runs' teleop.json / teleop.png go."""
    write_docs: bool = False
    """Record the result in docs/benchmarks.md."""


def run_bench(cfg: TeleopBenchConfig) -> dict[str, Any]:
    from honed.benchmarks.results import emit, record_in_docs
    from honed.hardware.emulator.process import EmulatorProcess
    from honed.hardware.teleop_cli import TeleopConfig, teleoperate

    with tempfile.TemporaryDirectory() as calibration_dir:
        common = ["robot=so101", f"calibration_dir={calibration_dir}"]
        follower = EmulatorProcess(*common, "calibrated_as=bench_f")
        leader = EmulatorProcess(*common, "role=leader", "operator=wave", "calibrated_as=bench_l")
        with follower, leader:
            follower.wait_calibration()
            leader.wait_calibration()

            def run(fps: float, name: str) -> dict[str, Any]:
                out = str(Path(cfg.output_dir) / name)
                return teleoperate(TeleopConfig(
                    robot_port=follower.path, robot_id="bench_f", teleop_port=leader.path, teleop_id="bench_l",
                    calibration_dir=calibration_dir, fps=fps, duration_s=cfg.duration_s, output_dir=out,
                ))  # fmt: skip

            paced, flat_out = run(cfg.fps, "paced"), run(cfg.capacity_fps, "capacity")
    result = {
        "bench": "teleop",
        "target_hz": cfg.fps,
        "period_ms_p99": paced["period_ms_p99"],
        "overruns": paced["overruns"],
        "follower_lag_ms": paced["follower_lag_ms"],
        "bus_failures": paced["robot_bus"]["failures"] + paced["teleop_bus"]["failures"],
        "capacity_period_ms_p50": flat_out["period_ms_p50"],
        "target_met": paced["achieved_hz"] >= 0.98 * cfg.fps and flat_out["achieved_hz"] >= 60,
        "achieved_hz": paced["achieved_hz"],
        "capacity_hz": flat_out["achieved_hz"],
    }
    if cfg.write_docs:
        record_in_docs("teleop", "honed-bench teleop write_docs=true", table(result, cfg), figures(result))
    return emit(result)


def figures(r: dict[str, Any]) -> list[Any]:
    """The current figures of the teleoperation loop, with their targets."""
    from honed.benchmarks.results import Figure, met

    return [
        Figure(f"achieved rate at {r['target_hz']:.0f} Hz (Hz)", f"{r['achieved_hz']:.1f}",
               f">= {0.98 * r['target_hz']:.1f}", met(r["achieved_hz"] >= 0.98 * r["target_hz"])),
        Figure("capacity, unpaced (Hz)", f"{r['capacity_hz']:.0f}", ">= 60", met(r["capacity_hz"] >= 60)),
        Figure("period p99 (ms) / overruns", f"{r['period_ms_p99']:.1f} / {r['overruns']}"),
        Figure("follower lag (ms)", f"{r['follower_lag_ms']:.0f}"),
    ]  # fmt: skip


def table(r: dict[str, Any], cfg: TeleopBenchConfig) -> str:
    head = (
        f"SO-101 leader (waving) and follower, each a `honed-hw emulate` process with "
        f"twin joints and 1 Mbaud wire timing; {cfg.duration_s:.0f} s per run. A tick = leader sync read + "
        "follower sync write + follower sync read (positions and velocities).\n\n"
    )
    rows = [
        ("achieved_hz at target_hz", f"{r['achieved_hz']:.1f} at {r['target_hz']:.0f}"),
        ("period_ms_p99 / overruns", f"{r['period_ms_p99']:.1f} / {r['overruns']}"),
        ("capacity_hz (unpaced)", f"{r['capacity_hz']:.0f}"),
        ("capacity_period_ms_p50", f"{r['capacity_period_ms_p50']:.2f}"),
        ("follower_lag_ms", f"{r['follower_lag_ms']:.0f}"),
        ("target (>= 0.98 x target, capacity >= 60 Hz)", "met" if r["target_met"] else "missed"),
    ]
    return head + "| figure | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)


VERB = Verb(
    TeleopBenchConfig,
    run_bench,
    "leader -> follower teleoperation rate over two emulated buses",
    presets={"debug": TeleopBenchConfig(duration_s=1.0, output_dir="outputs/debug/bench_teleop")},
)
