"""Instruction/status exchanges over a real pyserial port: deadlines, bounded retries, counters.

Every exchange writes one instruction packet and waits (in ``select``, not a busy loop) for the
status packets it must produce, parsing them strictly with :func:`honed.hardware.protocol.match_replies`.
A failed attempt (timeout or bad bytes) is counted and retried while attempts and the time budget
last; the last failure raises :class:`BusConnectionError`. A port that disappears raises
:class:`PortGoneError` at once. A servo that answers with its error byte set raises
:class:`ServoError`, naming the servo and the fault.
"""

from __future__ import annotations

import select
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import serial

from honed.errors import UserError
from honed.hardware.protocol import Expected, Protocol, ProtocolError, Status, match_replies

FEETECH_ERRORS = {
    0x01: "input voltage",
    0x02: "angle sensor",
    0x04: "overheat",
    0x08: "overcurrent",
    0x20: "overload",
}
DXL_ERRORS = {
    1: "result fail",
    2: "instruction error",
    3: "CRC error",
    4: "data range error",
    5: "data length error",
    6: "data limit error",
    7: "access error",
}


def describe_error(protocol: str, error: int) -> str:
    """Human-readable meaning of a status packet's error byte."""
    if protocol == "dynamixel":
        parts = [DXL_ERRORS.get(error & 0x7F, f"error {error & 0x7F}")] if error & 0x7F else []
        if error & 0x80:
            parts.append("hardware alert (see Hardware_Error_Status)")
        return ", ".join(parts)
    return ", ".join(name for bit, name in FEETECH_ERRORS.items() if error & bit) or f"error 0x{error:02x}"


PORT_ERRORS = (serial.SerialException, OSError, termios.error)
"""What pyserial raises when the device behind an open port is gone."""


class BusConnectionError(UserError, ConnectionError):
    """The bus stopped answering: consecutive failed exchanges used up the attempts or the time budget."""


class PortGoneError(BusConnectionError):
    """The serial port itself failed (unplugged adapter, vanished device)."""


class ServoError(UserError, RuntimeError):
    """One or more servos answered with their error byte set."""

    def __init__(self, protocol: str, errors: dict[int, int], what: str):
        self.errors = errors
        details = "; ".join(f"id {i}: {describe_error(protocol, e)}" for i, e in errors.items())
        super().__init__(f"{what}: servo reported {details}")


class ExchangeTimeout(TimeoutError):
    """No complete answer before the attempt's deadline."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one exchange tries before the bus is declared failed."""

    attempts: int = 3
    """Consecutive failed attempts that make an exchange fail (K)."""
    reply_timeout_ms: float = 50.0
    """Wait for replies beyond their time on the wire (USB adapters add latency)."""
    budget_ms: float = 250.0
    """Upper bound on the time one exchange may take, retries included."""

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts must be >= 1, got {self.attempts}")
        if not self.reply_timeout_ms > 0 or not self.budget_ms > 0:
            raise ValueError("retry reply_timeout_ms and budget_ms must be positive")


@dataclass
class BusStats:
    """Counters of one bus, for logs and tests."""

    exchanges: int = 0
    """Exchanges that succeeded."""
    retries: int = 0
    """Failed attempts that were tried again."""
    timeouts: int = 0
    """Attempts that ended without a complete answer."""
    corrupt: int = 0
    """Attempts whose answer was malformed (checksum, ID, length, stray bytes)."""
    failures: int = 0
    """Exchanges that failed after all attempts."""
    servo_errors: int = 0
    """Status packets with the error byte set."""
    failed_attempts: list[str] = field(default_factory=list)
    """The last few failure messages."""

    def note(self, message: str) -> None:
        self.failed_attempts = [*self.failed_attempts[-9:], message]


class Transport:
    """Exchanges packets on an open pyserial port."""

    QUIET_S = 0.005
    """Silence that marks the end of a failed attempt's stray replies."""

    def __init__(
        self,
        protocol: Protocol,
        port: Callable[[], serial.Serial],
        baudrate: Callable[[], int],
        policy: RetryPolicy | None = None,
    ):
        self.protocol = protocol
        self._port = port
        self._baudrate = baudrate
        self.policy = policy or RetryPolicy()
        self.stats = BusStats()

    def byte_time(self) -> float:
        """Seconds one byte takes on the wire (8N1: 10 bits)."""
        return 10.0 / self._baudrate()

    def send(self, packet: bytes) -> None:
        """Write a packet that gets no answer (broadcast SYNC_WRITE)."""
        self._write(packet)
        self.stats.exchanges += 1

    def _write(self, packet: bytes) -> None:
        ser = self._port()
        try:
            ser.reset_input_buffer()
            written = ser.write(packet)
        except PORT_ERRORS as e:
            raise PortGoneError(f"serial port {ser.port} failed while writing: {e}") from e
        if written != len(packet):
            raise PortGoneError(f"serial port {ser.port} wrote {written} of {len(packet)} bytes")

    def exchange(self, packet: bytes, expected: Sequence[Expected], what: str) -> list[Status]:
        """Send ``packet`` and return the expected status packets, retrying within the policy."""
        start = time.monotonic()
        budget_end = start + self.policy.budget_ms / 1000.0
        last = ""
        for attempt in range(self.policy.attempts):
            if attempt and time.monotonic() >= budget_end:
                break
            try:
                replies = self._attempt(packet, expected, budget_end)
            except ExchangeTimeout as e:
                self.stats.timeouts += 1
                last = str(e)
            except ProtocolError as e:
                self.stats.corrupt += 1
                last = str(e)
            else:
                self.stats.exchanges += 1
                return self._check_errors(replies, what)
            self.stats.note(f"{what}: {last}")
            if attempt + 1 < self.policy.attempts:
                self.stats.retries += 1
                self._drain(budget_end)
        self.stats.failures += 1
        elapsed = (time.monotonic() - start) * 1000
        raise BusConnectionError(
            f"{what}: no valid answer after {attempt + 1} attempts in {elapsed:.0f} ms ({last}); "
            "check power, cabling, IDs and baud rate (`honed-hw scan`)"
        )

    def _check_errors(self, replies: list[Status], what: str) -> list[Status]:
        errors = {r.id: r.error for r in replies if r.error}
        if errors:
            self.stats.servo_errors += len(errors)
            raise ServoError(self.protocol.name, errors, what)
        return replies

    def _attempt(self, packet: bytes, expected: Sequence[Expected], budget_end: float) -> list[Status]:
        self._write(packet)
        needed = sum(self.protocol.status_size(e.params_len) for e in expected)
        wire = self.byte_time() * (len(packet) + needed)
        deadline = min(time.monotonic() + wire + self.policy.reply_timeout_ms / 1000.0, budget_end)
        buf = bytearray()
        while True:
            if len(buf) >= needed:  # parse once the replies can be complete
                replies = match_replies(self.protocol, buf, packet, expected)
                if replies is not None:
                    return replies
            chunk = self.receive(deadline)
            if not chunk:
                raise ExchangeTimeout(f"timed out with {len(buf)} of {needed} expected bytes")
            buf += chunk

    def _drain(self, deadline: float) -> None:
        """Discard bytes until the line is quiet (late replies of a failed attempt) or the deadline."""
        quiet = max(self.QUIET_S, 30 * self.byte_time())
        while time.monotonic() < deadline:
            if not self.receive(min(deadline, time.monotonic() + quiet)):
                return

    def receive(self, deadline: float) -> bytes:
        """Whatever bytes arrive before ``deadline`` (empty when none)."""
        ser = self._port()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        try:
            ready, _, _ = select.select([ser.fileno()], [], [], remaining)
            if not ready:
                return b""
            return bytes(ser.read(max(1, ser.in_waiting)))
        except (*PORT_ERRORS, ValueError) as e:
            raise PortGoneError(f"serial port {ser.port} failed while reading: {e}") from e
