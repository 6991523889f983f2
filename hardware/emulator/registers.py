"""Control tables of the emulated servos: addresses, sizes, factory values, access rules.

Written from the Feetech STS/SMS memory table and the Dynamixel X-series e-Manual, independently
of lerobot's driver tables (``tests/hardware`` checks that the addresses agree), so that the
emulator catches a driver reading the wrong register instead of sharing its mistake.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Register:
    """One control-table entry."""

    addr: int
    size: int
    default: int = 0
    writable: bool = True
    signed: str = ""
    """'' unsigned, 'sm<bit>' sign-magnitude with the sign at <bit>, 'twos' two's complement."""


@dataclass(frozen=True)
class ServoTable:
    """A servo family's memory: registers, size, EEPROM boundary."""

    protocol: str
    registers: dict[str, Register]
    size: int
    eeprom_end: int
    """Addresses below this are EEPROM (Dynamixel refuses writes there while torque is on)."""

    def reg(self, name: str) -> Register:
        return self.registers[name]


def _r(addr: int, size: int, default: int = 0, writable: bool = True, signed: str = "") -> Register:
    return Register(addr, size, default, writable, signed)


STS_TABLE = ServoTable(
    protocol="feetech",
    size=128,
    eeprom_end=40,
    registers={
        "Firmware_Major_Version": _r(0, 1, 3, False),
        "Firmware_Minor_Version": _r(1, 1, 10, False),
        "Model_Number": _r(3, 2, 777, False),
        "ID": _r(5, 1, 1),
        "Baud_Rate": _r(6, 1, 0),
        "Return_Delay_Time": _r(7, 1, 250),
        "Response_Status_Level": _r(8, 1, 1),
        "Min_Position_Limit": _r(9, 2, 0),
        "Max_Position_Limit": _r(11, 2, 4095),
        "Max_Temperature_Limit": _r(13, 1, 70),
        "Max_Voltage_Limit": _r(14, 1, 140),
        "Min_Voltage_Limit": _r(15, 1, 40),
        "Max_Torque_Limit": _r(16, 2, 1000),
        "Phase": _r(18, 1, 0x0C),
        "Unloading_Condition": _r(19, 1, 44),
        "LED_Alarm_Condition": _r(20, 1, 47),
        "P_Coefficient": _r(21, 1, 32),
        "D_Coefficient": _r(22, 1, 32),
        "I_Coefficient": _r(23, 1, 0),
        "Minimum_Startup_Force": _r(24, 2, 16),
        "CW_Dead_Zone": _r(26, 1, 1),
        "CCW_Dead_Zone": _r(27, 1, 1),
        "Protection_Current": _r(28, 2, 500),
        "Angular_Resolution": _r(30, 1, 1),
        "Homing_Offset": _r(31, 2, 0, signed="sm11"),
        "Operating_Mode": _r(33, 1, 0),
        "Protective_Torque": _r(34, 1, 20),
        "Protection_Time": _r(35, 1, 200),
        "Overload_Torque": _r(36, 1, 80),
        "Torque_Enable": _r(40, 1, 0),
        "Acceleration": _r(41, 1, 0),
        "Goal_Position": _r(42, 2, 0, signed="sm15"),
        "Goal_Time": _r(44, 2, 0),
        "Goal_Velocity": _r(46, 2, 0, signed="sm15"),
        "Torque_Limit": _r(48, 2, 1000),
        "Lock": _r(55, 1, 0),
        "Present_Position": _r(56, 2, 0, False, "sm15"),
        "Present_Velocity": _r(58, 2, 0, False, "sm15"),
        "Present_Load": _r(60, 2, 0, False, "sm10"),
        "Present_Voltage": _r(62, 1, 120, False),
        "Present_Temperature": _r(63, 1, 30, False),
        "Status": _r(65, 1, 0, False),
        "Moving": _r(66, 1, 0, False),
        "Present_Current": _r(69, 2, 0, False),
        "Maximum_Acceleration": _r(85, 1, 0),
    },
)

XSERIES_TABLE = ServoTable(
    protocol="dynamixel",
    size=160,
    eeprom_end=64,
    registers={
        "Model_Number": _r(0, 2, 1060, False),
        "Model_Information": _r(2, 4, 0, False),
        "Firmware_Version": _r(6, 1, 45, False),
        "ID": _r(7, 1, 1),
        "Baud_Rate": _r(8, 1, 3),
        "Return_Delay_Time": _r(9, 1, 250),
        "Drive_Mode": _r(10, 1, 0),
        "Operating_Mode": _r(11, 1, 3),
        "Secondary_ID": _r(12, 1, 255),
        "Protocol_Type": _r(13, 1, 2),
        "Homing_Offset": _r(20, 4, 0, signed="twos"),
        "Moving_Threshold": _r(24, 4, 10),
        "Temperature_Limit": _r(31, 1, 70),
        "Max_Voltage_Limit": _r(32, 2, 140),
        "Min_Voltage_Limit": _r(34, 2, 35),
        "PWM_Limit": _r(36, 2, 885),
        "Current_Limit": _r(38, 2, 1750),
        "Acceleration_Limit": _r(40, 4, 32767),
        "Velocity_Limit": _r(44, 4, 445),
        "Max_Position_Limit": _r(48, 4, 4095),
        "Min_Position_Limit": _r(52, 4, 0),
        "Shutdown": _r(63, 1, 52),
        "Torque_Enable": _r(64, 1, 0),
        "LED": _r(65, 1, 0),
        "Status_Return_Level": _r(68, 1, 2),
        "Registered_Instruction": _r(69, 1, 0, False),
        "Hardware_Error_Status": _r(70, 1, 0, False),
        "Velocity_I_Gain": _r(76, 2, 1920),
        "Velocity_P_Gain": _r(78, 2, 100),
        "Position_D_Gain": _r(80, 2, 0),
        "Position_I_Gain": _r(82, 2, 0),
        "Position_P_Gain": _r(84, 2, 800),
        "Feedforward_2nd_Gain": _r(88, 2, 0),
        "Feedforward_1st_Gain": _r(90, 2, 0),
        "Bus_Watchdog": _r(98, 1, 0),
        "Goal_PWM": _r(100, 2, 885, signed="twos"),
        "Goal_Current": _r(102, 2, 1750, signed="twos"),
        "Goal_Velocity": _r(104, 4, 0, signed="twos"),
        "Profile_Acceleration": _r(108, 4, 0),
        "Profile_Velocity": _r(112, 4, 0),
        "Goal_Position": _r(116, 4, 0, signed="twos"),
        "Realtime_Tick": _r(120, 2, 0, False),
        "Moving": _r(122, 1, 0, False),
        "Moving_Status": _r(123, 1, 0, False),
        "Present_PWM": _r(124, 2, 0, False, "twos"),
        "Present_Current": _r(126, 2, 0, False, "twos"),
        "Present_Velocity": _r(128, 4, 0, False, "twos"),
        "Present_Position": _r(132, 4, 0, False, "twos"),
        "Velocity_Trajectory": _r(136, 4, 0, False, "twos"),
        "Position_Trajectory": _r(140, 4, 0, False, "twos"),
        "Present_Input_Voltage": _r(144, 2, 120, False),
        "Present_Temperature": _r(146, 1, 30, False),
    },
)

TABLES = {"feetech": STS_TABLE, "dynamixel": XSERIES_TABLE}

FEETECH_BAUDS = {
    0: 1_000_000,
    1: 500_000,
    2: 250_000,
    3: 128_000,
    4: 115_200,
    5: 57_600,
    6: 38_400,
    7: 19_200,
}
DXL_BAUDS = {0: 9_600, 1: 57_600, 2: 115_200, 3: 1_000_000, 4: 2_000_000, 5: 3_000_000, 6: 4_000_000}
BAUD_CODES = {"feetech": FEETECH_BAUDS, "dynamixel": DXL_BAUDS}


def encode(reg: Register, value: int) -> bytes:
    """A register value as the little-endian bytes the servo stores."""
    if reg.signed.startswith("sm"):
        bit = int(reg.signed[2:])
        magnitude = min(abs(int(value)), (1 << bit) - 1)
        raw = magnitude | ((1 << bit) if value < 0 else 0)
    elif reg.signed == "twos":
        raw = int(value) & ((1 << (8 * reg.size)) - 1)
    else:
        raw = max(0, min(int(value), (1 << (8 * reg.size)) - 1))
    return raw.to_bytes(reg.size, "little")


def decode(reg: Register, data: bytes | bytearray) -> int:
    """The value of a register from its stored bytes."""
    raw = int.from_bytes(bytes(data), "little")
    if reg.signed.startswith("sm"):
        bit = int(reg.signed[2:])
        magnitude = raw & ((1 << bit) - 1)
        return -magnitude if raw >> bit & 1 else magnitude
    if reg.signed == "twos" and raw >> (8 * reg.size - 1):
        return raw - (1 << (8 * reg.size))
    return raw
