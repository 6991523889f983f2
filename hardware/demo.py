"""``honed-hw demo``: the whole hardware path on two emulated SO-101 arms, unattended, in under a minute.

Starts a follower and a leader emulator (each its own process, backed by the MuJoCo twin), calibrates
both with the real procedure (the emulated person homes and sweeps them), mirrors the leader onto the
follower with ``honed-teleop``, records a few episodes with ``honed-record``, and writes what happened
to ``demo.json`` beside the teleop plot and the episode store.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.cli import bounded
from honed.hardware.emulator.process import EmulatorProcess

SWEEP_S = 2.5


@dataclass
class DemoConfig:
    """Run the hardware path end to end on emulated arms."""

    output_dir: str = "outputs/demo/hardware"
    """Where calibration files, teleop plot and summary, and the episode store go (replaced)."""
    teleop_s: float = bounded(4.0, gt=0)
    """Seconds of leader -> follower teleoperation."""
    episodes: int = bounded(2, ge=1)
    """Episodes to record."""
    episode_s: float = bounded(2.0, gt=0)
    """Length of each episode (s)."""
    fps: float = bounded(60.0, gt=0)
    """Teleoperation rate (Hz); recording runs at 30 fps."""


def _calibrate(port: str, role: str, robot_id: str, calibration_dir: Path) -> str:
    from honed.hardware.cli import CalibrateConfig, calibrate

    cfg = CalibrateConfig(robot="so101", role=role, id=robot_id, port=port, calibration_dir=str(calibration_dir),
                          yes=True, duration_s=SWEEP_S + 0.8)  # fmt: skip
    return calibrate(cfg)


def _record(out: Path, follower: str, leader: str, calibration_dir: Path, cfg: DemoConfig) -> int:
    from honed.data.record_cli import RecordConfig, record

    options = {
        "id": "demo_follower",
        "calibration_dir": str(calibration_dir),
        "cameras": ["front:twin@128x96"],
    }
    return record(RecordConfig(
        store=str(out / "store"), robot="so101_follower", robot_options={"port": follower, **options},
        teleop="so101_leader", teleop_options={"port": leader, "id": "demo_leader", "calibration_dir": str(calibration_dir)},
        instruction="wave the arm", episodes=cfg.episodes, episode_s=cfg.episode_s, reset_s=0.5, fps=30,
    ))  # fmt: skip


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    from honed.hardware.teleop_cli import TeleopConfig, teleoperate

    out = Path(cfg.output_dir)
    shutil.rmtree(out, ignore_errors=True)
    calibration_dir = out / "calibration"
    common = ["robot=so101", "operator=calibrate", f"sweep_s={SWEEP_S}"]
    with EmulatorProcess(*common) as follower, EmulatorProcess(*common, "role=leader") as leader:
        print(f"[demo] follower emulator on {follower.path}, leader emulator on {leader.path}", flush=True)
        files = [
            _calibrate(follower.path, "follower", "demo_follower", calibration_dir),
            _calibrate(leader.path, "leader", "demo_leader", calibration_dir),
        ]
        teleop = teleoperate(TeleopConfig(
            robot_port=follower.path, robot_id="demo_follower", teleop_port=leader.path, teleop_id="demo_leader",
            calibration_dir=str(calibration_dir), fps=cfg.fps, duration_s=cfg.teleop_s, output_dir=str(out / "teleop"),
        ))  # fmt: skip
        recorded = _record(out, follower.path, leader.path, calibration_dir, cfg)
    summary = {
        "calibrations": files,
        "teleop": teleop,
        "record_exit_code": recorded,
        "store": str(out / "store"),
    }
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    print(f"[demo] wrote {out / 'demo.json'}, {out / 'teleop' / 'teleop.png'} and the store {out / 'store'}")
    if recorded != 0:
        raise SystemExit(f"honed-hw demo: recording failed (exit code {recorded})")
    return summary
