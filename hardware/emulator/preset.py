"""A calibration programmed straight into emulated servos: an arm that was calibrated before.

It matches what ``honed-hw calibrate`` records when the arm is homed at the twin's zero pose and
swept through its joint limits, so a driver reads the twin's joint angles in radians.
"""

from __future__ import annotations

import math
from pathlib import Path

from honed.hardware.calibration import MotorCal, calibration_path, save_calibration
from honed.hardware.emulator.server import BusEmulator
from honed.hardware.emulator.servo import TICKS_PER_RAD
from honed.hardware.motors import FULL_TURN_JOINTS, RESOLUTION, arm_motors

HALF_TURN = (RESOLUTION - 1) // 2


def preset_calibration(emulator: BusEmulator) -> dict[str, MotorCal]:
    """Program homing offsets and position limits into the servos; returns the matching calibration."""
    cfg = emulator.config
    full_turn = FULL_TURN_JOINTS[cfg.robot]
    motors = arm_motors(cfg.robot, cfg.role)
    calibration = {}
    for servo, j in zip(emulator.servos, emulator.joint_of):
        joint = motors[j].joint
        homing = servo.zero_tick - HALF_TURN if servo.feetech else HALF_TURN - servo.zero_tick
        if joint in full_turn:
            lo, hi = 0, RESOLUTION - 1
        else:
            lo = HALF_TURN + math.floor(emulator.arm.low[j] * TICKS_PER_RAD)
            hi = HALF_TURN + math.ceil(emulator.arm.high[j] * TICKS_PER_RAD)
        servo.set("Homing_Offset", homing)
        servo.set("Min_Position_Limit", lo)
        servo.set("Max_Position_Limit", hi)
        calibration[joint] = MotorCal(
            id=servo.id, drive_mode=0, homing_offset=homing, range_min=lo, range_max=hi
        )
    return calibration


def program_and_save(emulator: BusEmulator, robot_id: str, root: str | Path | None = None) -> Path:
    """Program the preset calibration and write it as ``robot_id``'s calibration file."""
    cfg = emulator.config
    calibration = preset_calibration(emulator)
    return save_calibration(calibration_path(cfg.robot, cfg.role, robot_id, root), calibration)
