"""Motor buses: lerobot's Feetech and Dynamixel buses with honed's packet layer underneath.

lerobot's ``FeetechMotorsBus`` / ``DynamixelMotorsBus`` keep doing what they do well (control
tables, sign encodings, calibration read/write, homing, ID and baud-rate setup, handshakes), so
users' calibration files and habits carry over. Their packet exchanges are replaced by
:class:`honed.hardware.transport.Transport`, which adds what the vendor SDKs lack: strict status
parsing (no value from a short, echoed or misaddressed packet), per-servo error-byte checks in
sync reads, bounded retries under a time budget with counters, no busy-waiting, and a check that
no non-finite or out-of-range value is ever encoded into a register.
"""

from __future__ import annotations

import errno
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lerobot.motors import Motor, MotorCalibration, MotorNormMode
from lerobot.motors.dynamixel import DynamixelMotorsBus
from lerobot.motors.feetech import FeetechMotorsBus

from honed.errors import FIND_PORT
from honed.hardware.motors import MotorSpec, bus_protocol
from honed.hardware.protocol import BROADCAST_ID, MAX_ID, PROTOCOLS, Expected, Protocol, Status
from honed.hardware.transport import BusConnectionError, BusStats, RetryPolicy, ServoError, Transport

COMM_SUCCESS = 0
COMM_RX_FAIL = -3


def _not_a_terminal(err: BaseException | None) -> bool:
    """Whether an error (or its causes) says the device is not a terminal (e.g. /dev/null as port)."""
    while err is not None:
        if getattr(err, "errno", None) == errno.ENOTTY or (err.args and err.args[0] == errno.ENOTTY):
            return True
        err = err.__cause__ or err.__context__
    return False


class HonedBusMixin:
    """Routes a lerobot bus's exchanges through :class:`Transport`; mixed in before the lerobot class."""

    protocol: Protocol
    port_handler: Any
    motors: dict[str, Motor]
    model_ctrl_table: dict[str, dict[str, tuple[int, int]]]
    _id_to_name: Callable[[int], str]
    _get_motor_id: Callable[[Any], int]
    _serialize_data: Callable[[int, int], list[int]]
    _decode_sign: Callable[[str, dict[int, int]], dict[int, int]]
    _read_model_number: Callable[[list[int], bool], dict[int, int]]

    def _init_transport(self, policy: RetryPolicy | None) -> None:
        self.transport = Transport(
            self.protocol, lambda: self.port_handler.ser, self.port_handler.getBaudRate, policy
        )

    @property
    def stats(self) -> BusStats:
        return self.transport.stats

    def _connect(self, handshake: bool = True) -> None:
        """Open the port (and check the servos); a port that does not open, or servos that do not
        answer, raise :class:`BusConnectionError` saying which and how to find the right port."""
        port = self.port_handler.port_name
        try:
            super()._connect(handshake)  # type: ignore[misc]
        except BusConnectionError:
            raise
        except ConnectionError as e:
            cause = e.__cause__ or e
            if isinstance(cause, BusConnectionError):  # the port opened; the servos did not answer
                raise BusConnectionError(
                    f"{cause}; check the power and cabling, or scan the bus: `honed-hw scan port={port}`"
                ) from e
            reason = " ".join(str(cause).split())
            if _not_a_terminal(cause):
                reason = f"not a serial device ({reason})"
            raise BusConnectionError(f"cannot open serial port {port}: {reason}; {FIND_PORT}") from e

    # ----- values going in -------------------------------------------------------------------
    @staticmethod
    def _check_value(data_name: str, motor: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(
                f"{data_name} for {motor}: {value!r} is not a finite number; nothing was sent to the bus"
            )

    def write(self, data_name: str, motor: str, value: Any, **kwargs: Any) -> None:
        self._check_value(data_name, motor, value)
        super().write(data_name, motor, value, **kwargs)  # type: ignore[misc]

    def sync_write(self, data_name: str, values: Any, **kwargs: Any) -> None:
        items = values.items() if isinstance(values, Mapping) else [("every motor", values)]
        for motor, value in items:
            self._check_value(data_name, motor, value)
        super().sync_write(data_name, values, **kwargs)  # type: ignore[misc]

    def _data(self, value: int, length: int) -> bytes:
        return bytes(self._serialize_data(value, length))

    # ----- exchanges -------------------------------------------------------------------------
    def _what(self, verb: str, ids: Sequence[int], addr: int) -> str:
        return f"{verb} @{addr} on ids {list(ids)} ({self.port_handler.port_name})"

    def _read(
        self,
        address: int,
        length: int,
        motor_id: int,
        *,
        num_retry: int = 0,
        raise_on_error: bool = True,
        err_msg: str = "",
    ) -> tuple[int, int, int]:
        packet = self.protocol.read(motor_id, address, length)
        try:
            (status,) = self.transport.exchange(
                packet, [Expected(motor_id, length)], self._what("read", [motor_id], address)
            )
        except (BusConnectionError, ServoError) as e:
            if raise_on_error:
                raise
            return 0, COMM_RX_FAIL, getattr(e, "errors", {}).get(motor_id, 0)
        return int.from_bytes(status.params, "little"), COMM_SUCCESS, 0

    def _write(
        self,
        addr: int,
        length: int,
        motor_id: int,
        value: int,
        *,
        num_retry: int = 0,
        raise_on_error: bool = True,
        err_msg: str = "",
    ) -> tuple[int, int]:
        packet = self.protocol.write(motor_id, addr, self._data(value, length))
        try:
            self.transport.exchange(packet, [Expected(motor_id, 0)], self._what("write", [motor_id], addr))
        except (BusConnectionError, ServoError) as e:
            if raise_on_error:
                raise
            return COMM_RX_FAIL, getattr(e, "errors", {}).get(motor_id, 0)
        return COMM_SUCCESS, 0

    def _sync_read(
        self,
        addr: int,
        length: int,
        motor_ids: list[int],
        *,
        num_retry: int = 0,
        raise_on_error: bool = True,
        err_msg: str = "",
    ) -> tuple[dict[int, int], int]:
        packet = self.protocol.sync_read(motor_ids, addr, length)
        expected = [Expected(i, length) for i in motor_ids]
        replies = self.transport.exchange(packet, expected, self._what("sync read", motor_ids, addr))
        return {r.id: int.from_bytes(r.params, "little") for r in replies}, COMM_SUCCESS

    def _sync_write(
        self,
        addr: int,
        length: int,
        ids_values: dict[int, int],
        num_retry: int = 0,
        raise_on_error: bool = True,
        err_msg: str = "",
    ) -> int:
        data = {i: self._data(v, length) for i, v in ids_values.items()}
        self.transport.send(self.protocol.sync_write(addr, length, data))
        return COMM_SUCCESS

    def sync_read_block(
        self, first: str, last: str, motors: Sequence[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Read the registers ``first`` .. ``last`` (contiguous) of several motors in one sync read.

        Returns register name -> motor name -> decoded (signed) raw value.
        """
        names = list(motors) if motors is not None else list(self.motors)
        ids = [self.motors[m].id for m in names]
        table = self.model_ctrl_table[self.motors[names[0]].model]
        regs = [(n, a, s) for n, (a, s) in table.items() if table[first][0] <= a <= table[last][0]]
        start = table[first][0]
        length = table[last][0] + table[last][1] - start
        raw, _ = self._sync_read(start, length, ids)
        out: dict[str, dict[str, int]] = {}
        for name, addr, size in regs:
            shift = 8 * (addr - start)
            values = {i: (raw[i] >> shift) & ((1 << (8 * size)) - 1) for i in ids}
            decoded = self._decode_sign(name, values)
            out[name] = {self._id_to_name(i): v for i, v in decoded.items()}
        return out

    # ----- discovery ---------------------------------------------------------------------------
    def ping(self, motor: Any, num_retry: int = 0, raise_on_error: bool = False) -> int | None:
        motor_id = self._get_motor_id(motor)
        expected = [Expected(motor_id, 0 if self.protocol.name == "feetech" else 3)]
        try:
            (status,) = self.transport.exchange(
                self.protocol.ping(motor_id), expected, self._what("ping", [motor_id], 0)
            )
            if self.protocol.name == "dynamixel":
                return int.from_bytes(status.params[:2], "little")
            addr, size = self.model_ctrl_table["sts3215"]["Model_Number"]  # the same in every STS/SMS table
            value, _, _ = self._read(addr, size, motor_id)
            return value
        except (BusConnectionError, ServoError):
            if raise_on_error:
                raise
            return None

    def broadcast_ping(self, num_retry: int = 0, raise_on_error: bool = False) -> dict[int, int] | None:
        """IDs -> model numbers of every servo answering a broadcast ping at the current baud rate."""
        found = self._ping_everyone()
        if not found:
            if raise_on_error:
                raise BusConnectionError(
                    f"no servo answered a broadcast ping on {self.port_handler.port_name}"
                )
            return None
        if self.protocol.name == "dynamixel":
            return {i: int.from_bytes(s.params[:2], "little") for i, s in sorted(found.items())}
        return self._read_model_number(sorted(found), raise_on_error)

    def _ping_everyone(self) -> dict[int, Status]:
        """Status packets of a broadcast ping, collected for as long as every ID could take to answer."""
        t = self.transport
        t.send(self.protocol.ping(BROADCAST_ID))
        params = 3 if self.protocol.name == "dynamixel" else 0  # Dynamixel: model number + firmware
        window = (
            t.byte_time() * self.protocol.status_size(params) * (MAX_ID + 1)
            + t.policy.reply_timeout_ms / 1000
        )
        buf = bytearray()
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            buf += t.receive(deadline)
        found: dict[int, Status] = {}
        frame, pos = self.protocol.next_frame(buf, 0)
        while frame is not None:
            if self.protocol.is_status(frame) and frame.id != BROADCAST_ID:
                found[frame.id] = self.protocol.parse_status(frame)
            frame, pos = self.protocol.next_frame(buf, pos)
        return found


class FeetechBus(HonedBusMixin, FeetechMotorsBus):
    """Feetech STS/SMS bus (SO-100, SO-101) on honed's packet layer."""

    def __init__(
        self,
        port: str,
        motors: dict[str, Motor],
        calibration: dict[str, MotorCalibration] | None = None,
        policy: RetryPolicy | None = None,
    ):
        super().__init__(port, motors, calibration)
        self.protocol = PROTOCOLS["feetech"]
        self._init_transport(policy)


class DynamixelBus(HonedBusMixin, DynamixelMotorsBus):
    """Dynamixel Protocol 2.0 bus (Koch) on honed's packet layer."""

    def __init__(
        self,
        port: str,
        motors: dict[str, Motor],
        calibration: dict[str, MotorCalibration] | None = None,
        policy: RetryPolicy | None = None,
    ):
        super().__init__(port, motors, calibration)
        self.protocol = PROTOCOLS["dynamixel"]
        self._init_transport(policy)


BUS_CLASSES: dict[str, type[FeetechBus] | type[DynamixelBus]] = {
    "feetech": FeetechBus,
    "dynamixel": DynamixelBus,
}


def make_bus(
    port: str, motors: tuple[MotorSpec, ...], policy: RetryPolicy | None = None
) -> FeetechBus | DynamixelBus:
    """A bus for ``motors`` on ``port``; values are read and written raw (ticks), honed converts."""
    table = {m.joint: Motor(m.id, m.model, MotorNormMode.DEGREES) for m in motors}
    return BUS_CLASSES[bus_protocol(motors)](port, table, policy=policy)
