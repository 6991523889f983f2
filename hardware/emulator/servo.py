"""One emulated servo: its control-table memory, access rules and the tick <-> joint-angle mapping.

Feetech STS: ``Present_Position = (actual - Homing_Offset) mod 4096``; goals are clamped to the
position limits. Dynamixel X: ``Present_Position = actual + Homing_Offset`` (multi-turn, no wrap);
EEPROM (addresses below 64) and read-only registers refuse writes with an access error.
``actual`` is the raw encoder count of the joint angle plus a per-servo assembly offset.
"""

from __future__ import annotations

import math

from honed.hardware.emulator.registers import BAUD_CODES, Register, ServoTable, decode, encode
from honed.hardware.motors import RESOLUTION

TICKS_PER_RAD = RESOLUTION / (2 * math.pi)
DXL_ACCESS_ERROR = 7
DXL_LENGTH_ERROR = 5
DXL_VELOCITY_UNIT = 0.229 * 2 * math.pi / 60
"""rad/s per Dynamixel velocity unit (0.229 rpm)."""


class EmulatedServo:
    """Memory and mapping of one servo driving one joint."""

    def __init__(self, table: ServoTable, servo_id: int, model_number: int, zero_tick: int, baud: int):
        self.table = table
        self.memory = bytearray(table.size)
        for _name, reg in table.registers.items():
            self._store(reg, reg.default)
        self.set("ID", servo_id)
        self.set("Model_Number", model_number)
        codes = {rate: code for code, rate in BAUD_CODES[table.protocol].items()}
        if baud not in codes:
            raise ValueError(f"baudrate {baud} is not one a {table.protocol} servo supports: {sorted(codes)}")
        self.set("Baud_Rate", codes[baud])
        self.zero_tick = zero_tick
        self.error_byte = 0
        """Error flags reported in every status packet (fault injection)."""
        self.homing_writes = 0

    @property
    def feetech(self) -> bool:
        return self.table.protocol == "feetech"

    # ----- raw register access -----------------------------------------------------------
    def _store(self, reg: Register, value: int) -> None:
        self.memory[reg.addr : reg.addr + reg.size] = encode(reg, value)

    def get(self, name: str) -> int:
        reg = self.table.reg(name)
        return decode(reg, self.memory[reg.addr : reg.addr + reg.size])

    def set(self, name: str, value: int) -> None:
        self._store(self.table.reg(name), value)

    @property
    def id(self) -> int:
        return self.get("ID")

    @property
    def baudrate(self) -> int:
        return BAUD_CODES[self.table.protocol].get(self.get("Baud_Rate"), -1)

    @property
    def return_delay_s(self) -> float:
        return self.get("Return_Delay_Time") * 2e-6

    @property
    def torque_on(self) -> bool:
        return self.get("Torque_Enable") != 0

    def answers(self, inst_is_read_or_ping: bool) -> bool:
        """Whether the status return level asks for a reply to this kind of instruction."""
        if self.feetech:
            return inst_is_read_or_ping or self.get("Response_Status_Level") != 0
        return inst_is_read_or_ping or self.get("Status_Return_Level") >= 2

    def read(self, addr: int, length: int) -> tuple[int, bytes]:
        """(error, data) for a READ of ``length`` bytes at ``addr``."""
        if length <= 0 or addr + length > self.table.size:
            return (0, bytes(length)) if self.feetech else (DXL_ACCESS_ERROR, b"")
        return 0, bytes(self.memory[addr : addr + length])

    def write(self, addr: int, data: bytes) -> int:
        """Apply a WRITE; returns the status error code (0 = accepted)."""
        if not data:
            return 0 if self.feetech else DXL_LENGTH_ERROR
        touched = [
            r for r in self.table.registers.values() if r.addr < addr + len(data) and addr < r.addr + r.size
        ]
        blocked = any(not r.writable for r in touched) or addr + len(data) > self.table.size
        if not self.feetech and (blocked or (addr < self.table.eeprom_end and self.torque_on)):
            return DXL_ACCESS_ERROR
        was_on = self.torque_on
        for i, byte in enumerate(data):
            reg = next((r for r in touched if r.addr <= addr + i < r.addr + r.size), None)
            if reg is not None and reg.writable:
                self.memory[addr + i] = byte
        if any(r is self.table.reg("Homing_Offset") for r in touched):
            self.homing_writes += 1
        if self.torque_on and not was_on:
            self.set("Goal_Position", self.get("Present_Position"))
        return 0

    # ----- joint mapping -------------------------------------------------------------------
    def _actual(self, q: float) -> int:
        return self.zero_tick + round(q * TICKS_PER_RAD)

    def present_ticks(self, q: float) -> int:
        homing = self.get("Homing_Offset")
        if self.feetech:
            return (self._actual(q) - homing) % RESOLUTION
        return self._actual(q) + homing

    def goal_ticks(self) -> int:
        goal = self.get("Goal_Position")
        lo, hi = self.get("Min_Position_Limit"), self.get("Max_Position_Limit")
        position_mode = self.feetech or self.get("Operating_Mode") == 3
        if position_mode and lo < hi:
            goal = min(max(goal, lo), hi)
        return goal

    def goal_angle(self) -> float:
        """The joint angle (rad) the goal register asks for."""
        goal = self.goal_ticks()
        if self.feetech:
            delta = (goal + self.get("Homing_Offset") - self.zero_tick + RESOLUTION // 2) % RESOLUTION
            return (delta - RESOLUTION // 2) / TICKS_PER_RAD
        return (goal - self.get("Homing_Offset") - self.zero_tick) / TICKS_PER_RAD

    def torque_fraction(self) -> float:
        """Torque limit as a fraction of the servo's maximum."""
        if self.feetech:
            return min(self.get("Torque_Limit"), self.get("Max_Torque_Limit")) / 1000.0
        return 1.0

    def refresh(self, q: float, qd: float, effort: float) -> None:
        """Update the present-value registers from the joint's angle, velocity and effort (-1..1)."""
        self.set("Present_Position", self.present_ticks(q))
        moving = int(abs(qd) > 0.05)
        temperature = 30 + round(15 * min(1.0, abs(effort)))
        if self.feetech:
            self.set("Present_Velocity", round(qd * TICKS_PER_RAD))
            self.set("Present_Load", round(1000 * max(-1.0, min(1.0, effort))))
            self.set("Present_Current", round(abs(effort) * 500))
        else:
            self.set("Present_Velocity", round(qd / DXL_VELOCITY_UNIT))
            self.set("Present_Current", round(effort * self.get("Current_Limit")))
        self.set("Moving", moving)
        self._store(self.table.reg("Present_Temperature"), temperature)
