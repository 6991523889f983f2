"""Calibration files in lerobot's format, and the servo-tick <-> radian conversion they define.

A file is ``<root>/<robots|teleoperators>/<lerobot name>/<id>.json`` mapping each joint to
``{id, drive_mode, homing_offset, range_min, range_max}``, exactly what ``lerobot-calibrate``
writes, so existing calibrations keep working (older ``so101_follower``-style folders are read
too). Angles follow lerobot's degree convention, in radians: a body joint reads zero at the
middle of its recorded range; the gripper maps its range linearly onto the arm's gripper limits.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from honed.arms import ArmSpec
from honed.errors import UserError
from honed.hardware.motors import LEROBOT_NAMES, RESOLUTION, MotorSpec

FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")


class CalibrationError(UserError, ValueError):
    """A calibration file is missing, malformed or does not match the arm."""


@dataclass(frozen=True)
class MotorCal:
    """One joint's calibration (the fields of lerobot's MotorCalibration)."""

    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int


def default_root() -> Path:
    """lerobot's calibration root: $HF_LEROBOT_CALIBRATION, else $HF_LEROBOT_HOME/calibration."""
    if "HF_LEROBOT_CALIBRATION" in os.environ:
        return Path(os.environ["HF_LEROBOT_CALIBRATION"]).expanduser()
    hf_home = Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser()
    return Path(os.environ.get("HF_LEROBOT_HOME", hf_home / "lerobot")).expanduser() / "calibration"


def calibration_path(arm: str, role: str, robot_id: str, root: str | Path | None = None) -> Path:
    """Where the calibration of ``robot_id`` is written (lerobot 0.6 layout)."""
    check_robot_id(robot_id)
    kind, name, _ = LEROBOT_NAMES[(arm, role)]
    return (Path(root) if root else default_root()) / kind / name / f"{robot_id}.json"


def find_calibration(arm: str, role: str, robot_id: str, root: str | Path | None = None) -> Path | None:
    """The existing calibration file of ``robot_id``, also looking in older lerobot folder names."""
    path = calibration_path(arm, role, robot_id, root)
    kind, _, legacy = LEROBOT_NAMES[(arm, role)]
    for candidate in (path, *(path.parent.parent / old / path.name for old in legacy)):
        if candidate.is_file():
            return candidate
    return None


def check_robot_id(robot_id: str) -> None:
    if not robot_id or any(c in robot_id for c in "/\\") or robot_id.startswith("."):
        raise CalibrationError(f"robot id {robot_id!r} must be a plain name like 'my_so101' (no slashes)")


def load_calibration(path: Path, motors: tuple[MotorSpec, ...]) -> dict[str, MotorCal]:
    """Read and validate a calibration file against the arm's motors."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CalibrationError(
            f"calibration {path} is unreadable ({e}); recalibrate with `honed-hw calibrate`"
        ) from e
    if not isinstance(data, dict):
        raise CalibrationError(f"calibration {path} must be a JSON object of joint -> fields")
    missing = [m.joint for m in motors if m.joint not in data]
    if missing:
        raise CalibrationError(
            f"calibration {path} lacks joints {missing}; recalibrate with `honed-hw calibrate`"
        )
    return {m.joint: _motor_cal(path, m, data[m.joint]) for m in motors}


def _motor_cal(path: Path, motor: MotorSpec, entry: object) -> MotorCal:
    where = f"calibration {path}, joint {motor.joint!r}"
    if not isinstance(entry, dict) or set(FIELDS) - set(entry):
        raise CalibrationError(f"{where}: needs the fields {', '.join(FIELDS)}")
    values = {k: entry[k] for k in FIELDS}
    bad = [k for k, v in values.items() if not isinstance(v, int) or isinstance(v, bool)]
    if bad:
        raise CalibrationError(f"{where}: fields {bad} must be integers")
    cal = MotorCal(**values)
    if cal.id != motor.id:
        raise CalibrationError(f"{where}: id {cal.id} but this arm drives it with servo id {motor.id}")
    if cal.drive_mode not in (0, 1):
        raise CalibrationError(f"{where}: drive_mode must be 0 or 1, got {cal.drive_mode}")
    if not cal.range_min < cal.range_max:
        raise CalibrationError(f"{where}: range_min {cal.range_min} must be below range_max {cal.range_max}")
    return cal


def calibration_hash(calibration: dict[str, MotorCal]) -> str:
    """A short content hash of a calibration (stored with recorded episodes)."""
    canonical = json.dumps({j: asdict(c) for j, c in sorted(calibration.items())}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def save_calibration(path: Path, calibration: dict[str, MotorCal]) -> Path:
    """Write a calibration file (atomically) in lerobot's format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({joint: asdict(cal) for joint, cal in calibration.items()}, indent=4))
    tmp.replace(path)
    return path


class JointConverter:
    """Servo ticks <-> joint radians for one arm under one calibration."""

    def __init__(self, arm: ArmSpec, motors: tuple[MotorSpec, ...], calibration: dict[str, MotorCal]):
        cals = [calibration[m.joint] for m in motors]
        self.lo = np.array([c.range_min for c in cals], dtype=np.float64)
        self.hi = np.array([c.range_max for c in cals], dtype=np.float64)
        self.sign = np.array([-1.0 if c.drive_mode else 1.0 for c in cals])
        self.mid = (self.lo + self.hi) / 2
        self.is_gripper = np.array([m.joint == "gripper" for m in motors])
        self.g_lo = arm.low[self.is_gripper.argmax()] if self.is_gripper.any() else 0.0
        self.g_hi = arm.high[self.is_gripper.argmax()] if self.is_gripper.any() else 1.0
        self.rad_per_tick = 2 * math.pi / (RESOLUTION - 1)

    def to_rad(self, ticks: np.ndarray) -> np.ndarray:
        t = np.asarray(ticks, dtype=np.float64)
        body = self.sign * (t - self.mid) * self.rad_per_tick
        frac = (np.clip(t, self.lo, self.hi) - self.lo) / (self.hi - self.lo)
        frac = np.where(self.sign < 0, 1 - frac, frac)
        return np.where(self.is_gripper, self.g_lo + frac * (self.g_hi - self.g_lo), body)

    def to_ticks(self, rad: np.ndarray) -> np.ndarray:
        q = np.asarray(rad, dtype=np.float64)
        body = self.mid + self.sign * q / self.rad_per_tick
        frac = np.clip((q - self.g_lo) / (self.g_hi - self.g_lo), 0.0, 1.0)
        frac = np.where(self.sign < 0, 1 - frac, frac)
        ticks = np.where(self.is_gripper, self.lo + frac * (self.hi - self.lo), body)
        return np.rint(ticks).astype(np.int64)

    def velocity_to_rad(self, ticks_per_s: np.ndarray, rad_per_unit: float) -> np.ndarray:
        """Present velocity registers to rad/s (the unit depends on the servo family)."""
        return self.sign * np.asarray(ticks_per_s, dtype=np.float64) * rad_per_unit
