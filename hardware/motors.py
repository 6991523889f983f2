"""Which servo drives which joint on each supported arm (bus order = ``honed.arms`` joint order).

Kept free of lerobot imports so the emulator starts fast; the drivers turn these rows into
lerobot ``Motor`` entries. IDs and models match lerobot's SO-100/SO-101 and Koch v1.1 builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from honed.arms import ARMS, ArmSpec
from honed.registry import UnknownNameError

ROLES = ("follower", "leader")
MODEL_PROTOCOL = {
    "sts3215": "feetech",
    "xl430-w250": "dynamixel",
    "xl330-m288": "dynamixel",
    "xl330-m077": "dynamixel",
}
MODEL_NUMBER = {"sts3215": 777, "xl430-w250": 1060, "xl330-m288": 1200, "xl330-m077": 1190}
"""Model numbers each servo reports (address 3 on Feetech, 0 on Dynamixel)."""
RESOLUTION = 4096
"""Encoder ticks per turn of every supported servo."""


@dataclass(frozen=True)
class MotorSpec:
    """One servo on an arm's bus."""

    joint: str
    """Joint it drives (a name from honed.arms)."""
    id: int
    """Bus ID (1-based, in joint order)."""
    model: str
    """Servo model as lerobot names it (sts3215, xl430-w250, ...)."""


def _motors(arm: ArmSpec, models: tuple[str, ...]) -> tuple[MotorSpec, ...]:
    return tuple(MotorSpec(joint, i + 1, model) for i, (joint, model) in enumerate(zip(arm.joints, models)))


_STS = ("sts3215",) * 6
_KOCH_FOLLOWER = ("xl430-w250", "xl430-w250", "xl330-m288", "xl330-m288", "xl330-m288", "xl330-m288")
_KOCH_LEADER = ("xl330-m077",) * 6

ARM_MOTORS: dict[tuple[str, str], tuple[MotorSpec, ...]] = {
    ("so101", "follower"): _motors(ARMS["so101"], _STS),
    ("so101", "leader"): _motors(ARMS["so101"], _STS),
    ("so100", "follower"): _motors(ARMS["so100"], _STS),
    ("so100", "leader"): _motors(ARMS["so100"], _STS),
    ("koch", "follower"): _motors(ARMS["koch"], _KOCH_FOLLOWER),
    ("koch", "leader"): _motors(ARMS["koch"], _KOCH_LEADER),
}

FULL_TURN_JOINTS = {
    "so101": ("wrist_roll",),
    "so100": ("wrist_roll",),
    "koch": ("shoulder_pan", "wrist_roll"),
}
"""Joints whose calibration range is the whole turn (0..4095), as lerobot records them."""

LEROBOT_NAMES = {
    ("so101", "follower"): ("robots", "so_follower", ("so101_follower",)),
    ("so100", "follower"): ("robots", "so_follower", ("so100_follower",)),
    ("koch", "follower"): ("robots", "koch_follower", ()),
    ("so101", "leader"): ("teleoperators", "so_leader", ("so101_leader",)),
    ("so100", "leader"): ("teleoperators", "so_leader", ("so100_leader",)),
    ("koch", "leader"): ("teleoperators", "koch_leader", ()),
}
"""(kind, lerobot device name, older names) locating calibration files the way lerobot 0.6 does."""


def arm_motors(arm: str, role: str) -> tuple[MotorSpec, ...]:
    """The servos of ``arm`` in ``role``; a clear error lists the valid choices."""
    key = (arm, role)
    if key not in ARM_MOTORS:
        arms = sorted({a for a, _ in ARM_MOTORS})
        raise UnknownNameError(
            f"unknown arm {arm!r} / role {role!r}; arms: {', '.join(arms)}; roles: {', '.join(ROLES)}"
        )
    return ARM_MOTORS[key]


def bus_protocol(motors: tuple[MotorSpec, ...]) -> str:
    """The protocol every servo of a bus speaks (mixed buses are rejected)."""
    protocols = {MODEL_PROTOCOL[m.model] for m in motors}
    if len(protocols) != 1:
        raise ValueError(f"servos on one bus must share a protocol, got {sorted(protocols)}")
    return protocols.pop()
