"""Arm descriptions shared by the twin, the drivers and the data: joint names, ranges and units.

Joint positions are radians everywhere inside honed (the gripper too: the moving jaw's angle);
drivers convert to and from servo ticks with the robot's calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from honed.features import ACTION, STATE, Feature, Features


@dataclass(frozen=True)
class ArmSpec:
    """Joint layout of one arm model."""

    name: str
    """Arm model name (so101, so100, koch)."""
    joints: tuple[str, ...]
    """Joint names in bus order, gripper last."""
    lower: tuple[float, ...]
    """Lower joint limits in rad."""
    upper: tuple[float, ...]
    """Upper joint limits in rad."""

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def low(self) -> np.ndarray:
        return np.asarray(self.lower, dtype=np.float64)

    @property
    def high(self) -> np.ndarray:
        return np.asarray(self.upper, dtype=np.float64)

    def state_feature(self) -> Feature:
        """Joint positions (rad) then joint velocities (rad/s)."""
        names = tuple(f"{j}.pos" for j in self.joints) + tuple(f"{j}.vel" for j in self.joints)
        return Feature(shape=(2 * self.num_joints,), dtype="float32", names=names, unit="rad, rad/s")

    def action_feature(self) -> Feature:
        """Absolute joint position targets (rad), gripper last."""
        return Feature(
            shape=(self.num_joints,),
            dtype="float32",
            names=tuple(f"{j}.pos" for j in self.joints),
            unit="rad",
            representation="absolute_joint",
        )

    def features(self) -> Features:
        return Features({STATE: self.state_feature(), ACTION: self.action_feature()})


_SO_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
_deg = math.radians

SO101 = ArmSpec(
    name="so101",
    joints=_SO_JOINTS,
    lower=(-1.91986, -1.74533, -1.69, -1.65806, -2.79253, -0.174533),
    upper=(1.91986, 1.74533, 1.69, 1.65806, 2.79253, 1.74533),
)
SO100 = ArmSpec(
    name="so100",
    joints=_SO_JOINTS,
    lower=(_deg(-110), _deg(-100), _deg(-97), _deg(-95), _deg(-157), _deg(-10)),
    upper=(_deg(110), _deg(100), _deg(97), _deg(95), _deg(163), _deg(100)),
)
KOCH = ArmSpec(
    name="koch",
    joints=_SO_JOINTS,
    lower=(_deg(-150), _deg(-100), _deg(-100), _deg(-100), _deg(-150), _deg(-10)),
    upper=(_deg(150), _deg(100), _deg(100), _deg(100), _deg(150), _deg(100)),
)
ARMS = {arm.name: arm for arm in (SO101, SO100, KOCH)}
