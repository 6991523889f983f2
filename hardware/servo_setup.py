"""Servo settings written at connect time, per servo family and role (the values lerobot uses).

Followers hold position with moderate gains and a torque-limited gripper; leaders are left limp
so a person can move them (the Koch leader's gripper is a sprung trigger, as in lerobot).
"""

from __future__ import annotations

from collections.abc import Callable

from lerobot.motors.dynamixel import OperatingMode as DxlMode
from lerobot.motors.feetech import OperatingMode as StsMode

from honed.hardware.arm import ServoArm


def _feetech_follower(arm: ServoArm) -> None:
    bus = arm.bus
    with bus.torque_disabled():
        bus.configure_motors()
        for motor in bus.motors:
            bus.write("Operating_Mode", motor, StsMode.POSITION.value)
            bus.write("P_Coefficient", motor, 16)
            bus.write("I_Coefficient", motor, 0)
            bus.write("D_Coefficient", motor, 32)
        bus.write("Max_Torque_Limit", "gripper", 500)
        bus.write("Protection_Current", "gripper", 250)
        bus.write("Overload_Torque", "gripper", 25)


def _feetech_leader(arm: ServoArm) -> None:
    bus = arm.bus
    bus.disable_torque()
    bus.configure_motors()
    for motor in bus.motors:
        bus.write("Operating_Mode", motor, StsMode.POSITION.value)


def _dynamixel_modes(arm: ServoArm) -> None:
    bus = arm.bus
    bus.configure_motors()
    for motor in bus.motors:
        if motor != "gripper":
            bus.write("Operating_Mode", motor, DxlMode.EXTENDED_POSITION.value)
    bus.write("Operating_Mode", "gripper", DxlMode.CURRENT_POSITION.value)


def _dynamixel_follower(arm: ServoArm) -> None:
    bus = arm.bus
    with bus.torque_disabled():
        _dynamixel_modes(arm)
        bus.write("Position_P_Gain", "elbow_flex", 1500)
        bus.write("Position_I_Gain", "elbow_flex", 0)
        bus.write("Position_D_Gain", "elbow_flex", 600)


def _dynamixel_leader(arm: ServoArm) -> None:
    bus = arm.bus
    bus.disable_torque()
    _dynamixel_modes(arm)
    bus.enable_torque("gripper")
    cal = arm.calibration["gripper"]
    bus.write("Goal_Position", "gripper", (cal.range_min + cal.range_max) // 2, normalize=False)


CONFIGURE: dict[tuple[str, str], Callable[[ServoArm], None]] = {
    ("feetech", "follower"): _feetech_follower,
    ("feetech", "leader"): _feetech_leader,
    ("dynamixel", "follower"): _dynamixel_follower,
    ("dynamixel", "leader"): _dynamixel_leader,
}


def configure(arm: ServoArm) -> None:
    """Write the role's servo settings; a follower ends with torque on, a leader (mostly) off."""
    CONFIGURE[(arm.family, arm.role)](arm)


CALIBRATION_MODES = {"feetech": StsMode.POSITION.value, "dynamixel": DxlMode.EXTENDED_POSITION.value}


def prepare_for_calibration(arm: ServoArm) -> None:
    """Torque off and the operating mode calibration expects (lerobot's choice per family)."""
    arm.bus.disable_torque()
    for motor in arm.bus.motors:
        arm.bus.write("Operating_Mode", motor, CALIBRATION_MODES[arm.family])
