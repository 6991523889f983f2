"""Servo-bus emulator: Feetech and Dynamixel servos on a pseudo-terminal, backed by the MuJoCo twin."""

from honed.hardware.emulator.config import EmulatorConfig, FaultConfig
from honed.hardware.emulator.server import BusEmulator

__all__ = ["BusEmulator", "EmulatorConfig", "FaultConfig"]
