"""Follower arms behind the shared Robot seam: so101_follower, so100_follower, koch_follower.

``read()`` returns joint positions and velocities (rad, rad/s) from one sync read plus the latest
camera frames; ``write()`` passes targets through :class:`honed.hardware.safety.ActionGuard` and
sends them in one sync write. When the bus fails (K consecutive failed exchanges within the time
budget, or the port vanishing) the robot is marked failed and every later call raises
:class:`RobotError` at once, until it is reconnected.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from honed.features import ACTION, STATE, TASK, Features, image_key
from honed.hardware.arm import ServoArm
from honed.hardware.calibration import CalibrationError, calibration_hash
from honed.hardware.cameras import Camera, CameraSpec, make_camera, parse_camera_spec
from honed.hardware.safety import ActionGuard, SafetyLimits
from honed.hardware.servo_setup import configure
from honed.hardware.transport import BusConnectionError, BusStats, RetryPolicy, ServoError
from honed.robot import ROBOTS, Robot, RobotError


def camera_specs(cameras: Sequence[str | CameraSpec] | None) -> list[CameraSpec]:
    """Camera specs from strings (``front:twin``) or CameraSpec objects; names must be unique."""
    specs = [c if isinstance(c, CameraSpec) else parse_camera_spec(c) for c in cameras or ()]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"camera names must be unique, got {names}")
    return specs


class ServoFollower(Robot):
    """A follower arm of serial-bus servos, with optional cameras."""

    arm_name = "so101"

    def __init__(
        self,
        port: str = "",
        id: str = "default",
        cameras: Sequence[str | CameraSpec] | None = None,
        calibration_dir: str | Path | None = None,
        range_margin_rad: float = SafetyLimits.range_margin_rad,
        max_step_rad: float = SafetyLimits.max_step_rad,
        retry_attempts: int = RetryPolicy.attempts,
        reply_timeout_ms: float = RetryPolicy.reply_timeout_ms,
        budget_ms: float = RetryPolicy.budget_ms,
        task: str = "",
    ):
        policy = RetryPolicy(retry_attempts, reply_timeout_ms, budget_ms)
        self.arm = ServoArm(self.arm_name, "follower", port, id, calibration_dir, policy)
        self.limits = SafetyLimits(range_margin_rad, max_step_rad)
        self.task = task
        self.cameras: dict[str, Camera] = {
            s.name: make_camera(s, self._pose_for_cameras) for s in camera_specs(cameras)
        }
        self.id = id
        self.guard: ActionGuard | None = None
        self.failed: str | None = None
        self._connected = False
        self._last_pos: np.ndarray | None = None

    @property
    def features(self) -> Features:
        spec = self.arm.spec
        images = {image_key(n): c.spec.feature() for n, c in self.cameras.items()}
        return Features({STATE: spec.state_feature(), **images, ACTION: spec.action_feature()})

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def calibration_hash(self) -> str | None:
        """Hash of the calibration in use, or of the saved file before connect (None if there is none)."""
        if self.arm.calibration:
            return calibration_hash(self.arm.calibration)
        try:
            return calibration_hash(self.arm.saved_calibration())
        except CalibrationError:
            return None

    @property
    def stats(self) -> BusStats:
        """Bus counters (exchanges, retries, timeouts, corrupt replies, failures)."""
        return self.arm.bus.stats

    def connect(self) -> None:
        """Open the bus, verify the calibration, configure the servos, enable torque, start cameras."""
        if self._connected and self.failed is None:
            return
        if self._connected:  # reconnecting after a failure
            self.disconnect()
        self.failed = None
        self.arm.open()
        try:
            configure(self.arm)
            self.guard = ActionGuard(self.arm.spec, self.limits, *self.arm.calibrated_range())
            self._last_pos = self.arm.read_positions()
            for camera in self.cameras.values():
                camera.connect()
        except (ConnectionError, RuntimeError) as e:
            self.arm.close(disable_torque=True)
            raise RobotError(f"{self.arm.describe()}: setup failed: {e}") from e
        self._connected = True

    def disconnect(self) -> None:
        """Stop cameras, turn torque off (unless the bus is gone) and close the port."""
        for camera in self.cameras.values():
            camera.disconnect()
        self.arm.close(disable_torque=self.failed is None)
        self._connected = False

    def _pose_for_cameras(self) -> np.ndarray | None:
        return self._last_pos

    def _check_usable(self, what: str) -> None:
        if self.failed is not None:
            raise RobotError(
                f"{self.arm.describe()} was marked failed ({self.failed}); {what} refused, reconnect"
            )
        if not self._connected:
            raise RobotError(f"{self.arm.describe()}: {what} before connect()")

    def _bus_failed(self, e: Exception) -> RobotError:
        self.failed = str(e)
        return RobotError(f"{self.arm.describe()} failed: {e}")

    def read(self) -> dict[str, Any]:
        self._check_usable("read")
        try:
            pos, vel = self.arm.read_state()
        except (BusConnectionError, ServoError) as e:
            raise self._bus_failed(e) from e
        self._last_pos = pos
        obs: dict[str, Any] = {STATE: np.concatenate([pos, vel]).astype(np.float32)}  # (2J,)
        for name, camera in self.cameras.items():
            try:
                obs[image_key(name)] = camera.read().image
            except (RuntimeError, TimeoutError) as e:
                raise RobotError(f"{self.arm.describe()}: camera {name!r} failed: {e}") from e
        if self.task:
            obs[TASK] = self.task
        return obs

    def write(self, action: np.ndarray) -> np.ndarray:
        self._check_usable("write")
        assert self.guard is not None
        present = self._last_pos if self._last_pos is not None else self.arm.read_positions()
        target = self.guard.check(action, present)
        try:
            self.arm.write_goals(target)
        except (BusConnectionError, ServoError) as e:
            raise self._bus_failed(e) from e
        return target.astype(np.float32)


@ROBOTS.register("so101_follower")
class SO101Follower(ServoFollower):
    """SO-101 follower arm (Feetech STS3215, IDs 1..6)."""

    name = "so101_follower"
    arm_name = "so101"


@ROBOTS.register("so100_follower")
class SO100Follower(ServoFollower):
    """SO-100 follower arm (Feetech STS3215, IDs 1..6)."""

    name = "so100_follower"
    arm_name = "so100"


@ROBOTS.register("koch_follower")
class KochFollower(ServoFollower):
    """Koch v1.1 follower arm (Dynamixel XL430/XL330, IDs 1..6)."""

    name = "koch_follower"
    arm_name = "koch"
