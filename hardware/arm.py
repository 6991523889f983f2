"""A servo arm on one bus: connection, calibration check, radians in and out.

Shared by the follower robots and the leader-arm teleoperators. ``open`` refuses to go further
(and so never enables torque) when the arm's calibration file is missing or disagrees with what
the servos hold.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from lerobot.motors import MotorCalibration

from honed.arms import ARMS
from honed.hardware.bus import make_bus
from honed.hardware.calibration import (
    CalibrationError,
    JointConverter,
    MotorCal,
    calibration_path,
    find_calibration,
    load_calibration,
)
from honed.hardware.motors import RESOLUTION, arm_motors
from honed.hardware.transport import RetryPolicy
from honed.robot import RobotError

log = logging.getLogger(__name__)
VELOCITY_UNIT = {"feetech": 2 * math.pi / RESOLUTION, "dynamixel": 0.229 * 2 * math.pi / 60}
"""rad/s per unit of Present_Velocity."""


class ServoArm:
    """One arm (follower or leader) behind a lerobot bus running on honed's packet layer."""

    def __init__(
        self,
        arm: str,
        role: str,
        port: str,
        robot_id: str,
        calibration_dir: str | Path | None = None,
        policy: RetryPolicy | None = None,
    ):
        if not port:
            raise ValueError(
                f"{arm} {role}: no port given; find it with `honed-hw ports` (e.g. port=/dev/ttyACM0)"
            )
        self.spec = ARMS[arm]
        self.role = role
        self.robot_id = robot_id
        self.calibration_dir = calibration_dir or None
        self.motors = arm_motors(arm, role)
        self.bus = make_bus(port, self.motors, policy)
        self.converter: JointConverter | None = None
        self.calibration: dict[str, MotorCal] = {}

    @property
    def family(self) -> str:
        return self.bus.protocol.name

    def describe(self) -> str:
        return f"{self.spec.name} {self.role} {self.robot_id!r} on {self.bus.port}"

    def open(self) -> None:
        """Open the port, check the servos, load and verify the calibration."""
        try:
            self.bus.connect()
        except (ConnectionError, RuntimeError) as e:
            raise RobotError(f"{self.describe()}: {e}") from e
        try:
            self._load_calibration()
        except BaseException:
            self.bus.port_handler.closePort()
            raise

    def saved_calibration(self) -> dict[str, MotorCal]:
        """The robot id's calibration file, validated; CalibrationError names what is wrong and the fix."""
        arm, role = self.spec.name, self.role
        path = find_calibration(arm, role, self.robot_id, self.calibration_dir)
        if path is None:
            expected = calibration_path(arm, role, self.robot_id, self.calibration_dir)
            raise CalibrationError(
                f"no calibration file at {expected}; torque stays off. Calibrate first: "
                f"honed-hw calibrate robot={arm} role={role} id={self.robot_id} port={self.bus.port}"
            )
        return load_calibration(path, self.motors)

    def _load_calibration(self) -> None:
        arm, role = self.spec.name, self.role
        try:
            calibration = self.saved_calibration()
        except CalibrationError as e:
            raise RobotError(f"{self.describe()}: {e}") from e
        path = find_calibration(arm, role, self.robot_id, self.calibration_dir)
        mismatch = self._mismatches(calibration)
        if mismatch:
            raise RobotError(
                f"{self.describe()}: calibration {path} does not match the servos ({'; '.join(mismatch)}); "
                f"torque stays off. Write the file to the servos with `honed-hw calibrate robot={arm} role={role} "
                f"id={self.robot_id} port={self.bus.port} restore=true`, or calibrate again without restore."
            )
        self.calibration = calibration
        self.bus.calibration = {j: MotorCalibration(**vars(c)) for j, c in calibration.items()}
        self.converter = JointConverter(self.spec, self.motors, calibration)

    def _mismatches(self, calibration: dict[str, MotorCal]) -> list[str]:
        on_servos = self.bus.read_calibration()
        fields = ["homing_offset", "range_min", "range_max"]
        out = []
        for joint, cal in calibration.items():
            for name in fields:
                want, have = getattr(cal, name), getattr(on_servos[joint], name)
                if want != have:
                    out.append(f"{joint}.{name}: file {want}, servo {have}")
        return out

    def close(self, disable_torque: bool) -> None:
        """Turn torque off (best effort, servo by servo) and close the port."""
        if not self.bus.is_connected:
            return
        if disable_torque:
            for joint in self.bus.motors:
                try:
                    self.bus.disable_torque(joint)
                except (ConnectionError, RuntimeError) as e:
                    log.warning("%s: could not turn torque off on %s: %s", self.describe(), joint, e)
                    break
        try:
            self.bus.port_handler.closePort()
        except OSError as e:
            log.warning("%s: closing the port failed: %s", self.describe(), e)

    # ----- joint values -------------------------------------------------------------------
    def _converter(self) -> JointConverter:
        if self.converter is None:
            raise RobotError(f"{self.describe()}: not connected")
        return self.converter

    def read_positions(self) -> np.ndarray:
        """Joint positions (rad) in arm order."""
        ticks = self.bus.sync_read("Present_Position", normalize=False)
        return self._converter().to_rad(np.array([ticks[m.joint] for m in self.motors]))  # (J,)

    def read_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions (rad) and velocities (rad/s), in one sync read."""
        table = self.bus.model_ctrl_table[self.motors[0].model]
        first, last = sorted(("Present_Position", "Present_Velocity"), key=lambda n: table[n][0])
        block = self.bus.sync_read_block(first, last)
        joints = [m.joint for m in self.motors]
        conv = self._converter()
        pos = conv.to_rad(np.array([block["Present_Position"][j] for j in joints]))  # (J,) rad
        raw_vel = np.array([block["Present_Velocity"][j] for j in joints])  # (J,) servo units
        return pos, conv.velocity_to_rad(raw_vel, VELOCITY_UNIT[self.family])  # (J,) rad/s

    def write_goals(self, rad: np.ndarray) -> None:
        """Send goal positions (rad, already checked) with one sync write."""
        ticks = self._converter().to_ticks(rad)
        self.bus.sync_write(
            "Goal_Position", {m.joint: int(t) for m, t in zip(self.motors, ticks)}, normalize=False
        )

    def calibrated_range(self) -> tuple[np.ndarray, np.ndarray]:
        """The joint range (rad) the calibration recorded."""
        conv = self._converter()
        a, b = conv.to_rad(conv.lo), conv.to_rad(conv.hi)
        return np.minimum(a, b), np.maximum(a, b)
