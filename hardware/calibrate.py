"""Calibrating an arm: homing at mid-range, then recording each joint's range of motion.

The steps are lerobot's (half-turn homing, range recording; wrist roll and Koch's shoulder pan keep
the full turn), run on honed's bus, and the result is written both into the servos and as the
robot id's calibration file in lerobot's format. ``restore`` writes an existing file back into
the servos instead (after a servo swap or a factory reset).
"""

from __future__ import annotations

import select
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lerobot.motors import MotorCalibration
from rich.console import Console
from rich.live import Live
from rich.table import Table

from honed.hardware.arm import ServoArm
from honed.hardware.calibration import (
    CalibrationError,
    MotorCal,
    calibration_path,
    find_calibration,
    load_calibration,
    save_calibration,
)
from honed.hardware.motors import FULL_TURN_JOINTS, RESOLUTION
from honed.hardware.servo_setup import prepare_for_calibration

SAMPLE_S = 0.02


def enter_pressed() -> bool:
    """True if a line is waiting on stdin (the operator pressed Enter)."""
    if not sys.stdin or not sys.stdin.isatty():
        return False
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    if ready:
        sys.stdin.readline()
        return True
    return False


def restore(arm: ServoArm) -> Path:
    """Write the robot id's calibration file into the servos."""
    path = find_calibration(arm.spec.name, arm.role, arm.robot_id, arm.calibration_dir)
    if path is None:
        want = calibration_path(arm.spec.name, arm.role, arm.robot_id, arm.calibration_dir)
        raise CalibrationError(
            f"restore=true but there is no calibration file at {want}; calibrate without restore"
        )
    calibration = load_calibration(path, arm.motors)
    arm.bus.disable_torque()
    arm.bus.write_calibration({j: MotorCalibration(**vars(c)) for j, c in calibration.items()})
    return path


def record_ranges(
    arm: ServoArm, joints: list[str], stop: Callable[[float], bool], console: Console
) -> tuple[dict[str, int], dict[str, int]]:
    """Track each joint's min and max position (ticks) until ``stop(elapsed_s)`` says so."""
    bus = arm.bus
    start = time.monotonic()
    pos = bus.sync_read("Present_Position", joints, normalize=False)
    lo, hi = dict(pos), dict(pos)
    with Live(console=console, auto_refresh=False) as live:
        while not stop(time.monotonic() - start):
            pos = bus.sync_read("Present_Position", joints, normalize=False)
            for j in joints:
                lo[j], hi[j] = min(lo[j], pos[j]), max(hi[j], pos[j])
            live.update(_range_table(joints, lo, pos, hi), refresh=True)
            time.sleep(SAMPLE_S)
    still = [j for j in joints if hi[j] - lo[j] < 20]
    if still:
        raise CalibrationError(
            f"joints {still} barely moved while ranges were recorded; move each through its whole range"
        )
    return {j: int(v) for j, v in lo.items()}, {j: int(v) for j, v in hi.items()}


def _range_table(joints: list[str], lo: dict, pos: dict, hi: dict) -> Table:
    table = Table("joint", "min", "now", "max", title="range of motion (ticks)")
    for j in joints:
        table.add_row(j, str(lo[j]), str(pos[j]), str(hi[j]))
    return table


def run_calibration(
    arm: ServoArm,
    wait: Callable[[str], None],
    stop: Callable[[float], bool],
    console: Console | None = None,
) -> Path:
    """Home, record ranges, program the servos and save the file; returns its path.

    ``wait(message)`` returns when the operator has done what the message asks; ``stop(elapsed)``
    ends the range recording.
    """
    console = console or Console()
    bus = arm.bus
    prepare_for_calibration(arm)
    wait(f"Move the {arm.describe()} to the middle of its range of motion, then press Enter.")
    homing = bus.set_half_turn_homings()
    full_turn = FULL_TURN_JOINTS[arm.spec.name]
    swept = [m.joint for m in arm.motors if m.joint not in full_turn]
    console.print(
        f"Move every joint except {', '.join(full_turn)} through its whole range; press Enter when done."
    )
    lo, hi = record_ranges(arm, swept, stop, console)
    calibration = {}
    for m in arm.motors:
        low, high = (0, RESOLUTION - 1) if m.joint in full_turn else (lo[m.joint], hi[m.joint])
        calibration[m.joint] = MotorCal(m.id, 0, int(homing[m.joint]), low, high)
    bus.write_calibration({j: MotorCalibration(**vars(c)) for j, c in calibration.items()})
    path = calibration_path(arm.spec.name, arm.role, arm.robot_id, arm.calibration_dir)
    return save_calibration(path, calibration)
