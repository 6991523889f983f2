"""Leader arms as teleoperators: so101_leader, so100_leader, koch_leader.

A person moves the (limp) leader; ``get_action`` reads its joint angles in radians, which are the
follower's absolute joint targets because both arms are calibrated to the same joint frame. They
plug into ``honed-record`` and ``honed-teleop`` through the Teleoperator seam unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from honed.hardware.arm import ServoArm
from honed.hardware.servo_setup import configure
from honed.hardware.transport import BusConnectionError, RetryPolicy, ServoError
from honed.robot import RobotError
from honed.teleop import TELEOPS, Teleoperator


class LeaderArm(Teleoperator):
    """A leader arm of serial-bus servos read as absolute joint targets (rad)."""

    arm_name = "so101"

    def __init__(
        self,
        port: str = "",
        id: str = "default",
        calibration_dir: str | Path | None = None,
        retry_attempts: int = RetryPolicy.attempts,
        reply_timeout_ms: float = RetryPolicy.reply_timeout_ms,
        budget_ms: float = RetryPolicy.budget_ms,
    ):
        policy = RetryPolicy(retry_attempts, reply_timeout_ms, budget_ms)
        self.arm = ServoArm(self.arm_name, "leader", port, id, calibration_dir, policy)
        self._connected = False

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        if self._connected:
            return
        self.arm.open()
        try:
            configure(self.arm)
        except (ConnectionError, RuntimeError) as e:
            self.arm.close(disable_torque=True)
            raise RobotError(f"{self.arm.describe()}: setup failed: {e}") from e
        self._connected = True

    def disconnect(self) -> None:
        self.arm.close(disable_torque=True)
        self._connected = False

    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        if not self._connected:
            raise RobotError(f"{self.arm.describe()}: get_action before connect()")
        try:
            return self.arm.read_positions().astype(np.float32)
        except (BusConnectionError, ServoError) as e:
            raise RobotError(f"{self.arm.describe()} failed: {e}") from e


@TELEOPS.register("so101_leader")
class SO101Leader(LeaderArm):
    """SO-101 leader arm (Feetech STS3215)."""

    name = "so101_leader"
    arm_name = "so101"


@TELEOPS.register("so100_leader")
class SO100Leader(LeaderArm):
    """SO-100 leader arm (Feetech STS3215)."""

    name = "so100_leader"
    arm_name = "so100"


@TELEOPS.register("koch_leader")
class KochLeader(LeaderArm):
    """Koch v1.1 leader arm (Dynamixel XL330-M077)."""

    name = "koch_leader"
    arm_name = "koch"
