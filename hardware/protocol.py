"""Byte-exact packet framing for Feetech SCS/STS (protocol 0) and Dynamixel Protocol 2.0.

Both the drivers (status packets in) and the emulator (instruction packets in) use these codecs,
written against the servo manuals and the vendors' SDKs:

- Feetech: ``FF FF ID LEN PAYLOAD CHK`` with ``LEN = len(PAYLOAD) + 1`` and
  ``CHK = ~(ID + LEN + sum(PAYLOAD)) & 0xFF``; an instruction's payload is ``INST PARAMS``, a
  status packet's is ``ERR PARAMS``. Multi-byte values are little-endian; addresses and lengths
  are one byte.
- Dynamixel 2.0: ``FF FF FD 00 ID LEN_L LEN_H INST PARAMS CRC_L CRC_H`` with byte stuffing
  (``FF FF FD`` inside the body gains an extra ``FD``) and a CRC-16 (polynomial 0x8005) over the
  stuffed packet; status packets use ``INST = 0x55`` followed by ``ERR``. Addresses and lengths
  are two bytes, little-endian.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

BROADCAST_ID = 0xFE
MAX_ID = 0xFC


class Inst(int, Enum):
    """Instruction codes shared by both protocols."""

    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83


DXL_STATUS = 0x55


class ProtocolError(ValueError):
    """Bytes on the bus that do not form the packet that was expected."""


@dataclass(frozen=True)
class Frame:
    """One framed packet: its ID and its body (instruction or status code, then parameters)."""

    id: int
    body: bytes


@dataclass(frozen=True)
class Status:
    """A servo's status packet: its ID, error byte and parameters."""

    id: int
    error: int
    params: bytes


@dataclass(frozen=True)
class Instruction:
    """An instruction packet: target ID (or broadcast), instruction code and parameters."""

    id: int
    inst: int
    params: bytes


class Incomplete(Exception):
    """More bytes are needed to finish the frame that starts here."""


def _crc16(data: bytes | bytearray) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _stuff(prefix: bytes, body: bytes) -> bytes:
    """Insert an ``FD`` after every ``FF FF FD`` whose last byte lies in ``body``."""
    out = bytearray(prefix)
    for byte in body:
        out.append(byte)
        if byte == 0xFD and out[-3:-1] == b"\xff\xff":
            out.append(0xFD)
    return bytes(out[len(prefix) :])


def _unstuff(prefix: bytes, stuffed: bytes) -> bytes:
    out = bytearray(prefix)
    skip = False
    for i, byte in enumerate(stuffed):
        if skip:
            skip = False
            continue
        out.append(byte)
        if byte == 0xFD and out[-3:-1] == b"\xff\xff" and i + 1 < len(stuffed) and stuffed[i + 1] == 0xFD:
            skip = True
    return bytes(out[len(prefix) :])


class Protocol:
    """A servo protocol: framing, field sizes and the instruction/status conventions."""

    name: str
    header: bytes
    field_size: int
    """Bytes in an address or length field of READ / WRITE / SYNC instructions."""
    max_packet: int

    def frame(self, servo_id: int, body: bytes) -> bytes:
        raise NotImplementedError

    def unframe(self, buf: bytes | bytearray, start: int) -> tuple[Frame, int]:
        """Decode the frame whose header starts at ``start``; returns it and the index after it.

        Raises Incomplete when the buffer ends first and ProtocolError when the bytes are not a
        valid frame (bad length, checksum or reserved byte).
        """
        raise NotImplementedError

    def status_body(self, error: int, params: bytes) -> bytes:
        raise NotImplementedError

    def parse_status(self, frame: Frame) -> Status:
        raise NotImplementedError

    def is_status(self, frame: Frame) -> bool:
        raise NotImplementedError

    def _field(self, value: int) -> bytes:
        return int(value).to_bytes(self.field_size, "little")

    def field(self, data: bytes, index: int) -> int:
        """Read the ``index``-th address/length field from the start of ``data``."""
        lo = index * self.field_size
        return int.from_bytes(data[lo : lo + self.field_size], "little")

    # ----- instruction packets -------------------------------------------------------------
    def instruction(self, servo_id: int, inst: int, params: bytes = b"") -> bytes:
        if not 0 <= servo_id <= BROADCAST_ID:
            raise ValueError(f"servo id {servo_id} is outside 0..{BROADCAST_ID}")
        return self.frame(servo_id, bytes([inst]) + bytes(params))

    def ping(self, servo_id: int) -> bytes:
        return self.instruction(servo_id, Inst.PING)

    def read(self, servo_id: int, address: int, length: int) -> bytes:
        return self.instruction(servo_id, Inst.READ, self._field(address) + self._field(length))

    def write(self, servo_id: int, address: int, data: bytes) -> bytes:
        return self.instruction(servo_id, Inst.WRITE, self._field(address) + bytes(data))

    def sync_read(self, ids: Sequence[int], address: int, length: int) -> bytes:
        params = self._field(address) + self._field(length) + bytes(ids)
        return self.instruction(BROADCAST_ID, Inst.SYNC_READ, params)

    def sync_write(self, address: int, length: int, data: dict[int, bytes]) -> bytes:
        params = bytearray(self._field(address) + self._field(length))
        for servo_id, value in data.items():
            if len(value) != length:
                raise ValueError(f"sync write to id {servo_id}: {len(value)} data bytes, expected {length}")
            params += bytes([servo_id]) + value
        return self.instruction(BROADCAST_ID, Inst.SYNC_WRITE, bytes(params))

    def status(self, servo_id: int, error: int, params: bytes = b"") -> bytes:
        return self.frame(servo_id, self.status_body(error, params))

    status_overhead: int
    """Bytes of a status packet besides its parameters (header, ID, length, error, checksum)."""

    def status_size(self, params_len: int) -> int:
        """Bytes of an (unstuffed) status packet carrying ``params_len`` parameter bytes."""
        return self.status_overhead + params_len

    def parse_instruction(self, frame: Frame) -> Instruction:
        if not frame.body:
            raise ProtocolError(f"{self.name}: empty instruction from id {frame.id}")
        return Instruction(frame.id, frame.body[0], frame.body[1:])

    # ----- stream scanning -----------------------------------------------------------------
    def find_header(self, buf: bytes | bytearray, start: int = 0) -> int:
        """Index of the next header at or after ``start``, or -1."""
        return buf.find(self.header, start)

    def next_frame(self, buf: bytes | bytearray, start: int = 0) -> tuple[Frame | None, int]:
        """The first valid frame at or after ``start`` (skipping garbage and invalid frames).

        Returns (frame, index after it), or (None, index to resume from) when more bytes are needed.
        """
        pos = start
        while True:
            hdr = self.find_header(buf, pos)
            if hdr < 0:
                keep = len(self.header) - 1
                return None, max(pos, len(buf) - keep)
            try:
                return self.unframe(buf, hdr)
            except Incomplete:
                return None, hdr
            except ProtocolError:
                pos = hdr + 1


class FeetechProtocol(Protocol):
    name = "feetech"
    header = b"\xff\xff"
    field_size = 1
    status_overhead = 6
    max_packet = 250

    def frame(self, servo_id: int, body: bytes) -> bytes:
        length = len(body) + 1
        if length + 4 > self.max_packet:
            raise ValueError(f"feetech packet of {length + 4} bytes exceeds {self.max_packet}")
        core = bytes([servo_id, length]) + body
        return self.header + core + bytes([~sum(core) & 0xFF])

    def unframe(self, buf: bytes | bytearray, start: int) -> tuple[Frame, int]:
        if len(buf) < start + 4:
            raise Incomplete
        servo_id, length = buf[start + 2], buf[start + 3]
        if servo_id > BROADCAST_ID or length < 2 or length + 4 > self.max_packet:
            raise ProtocolError(f"feetech: impossible id {servo_id} or length {length}")
        end = start + 4 + length
        if len(buf) < end:
            raise Incomplete
        core = bytes(buf[start + 2 : end - 1])
        if (~sum(core) & 0xFF) != buf[end - 1]:
            raise ProtocolError(f"feetech: checksum mismatch in packet from id {servo_id}")
        return Frame(servo_id, core[2:]), end

    def status_body(self, error: int, params: bytes) -> bytes:
        return bytes([error]) + bytes(params)

    def parse_status(self, frame: Frame) -> Status:
        return Status(frame.id, frame.body[0], frame.body[1:])

    def is_status(self, frame: Frame) -> bool:
        return frame.id != BROADCAST_ID


class DynamixelProtocol(Protocol):
    name = "dynamixel"
    header = b"\xff\xff\xfd\x00"
    field_size = 2
    status_overhead = 11
    max_packet = 1024

    def frame(self, servo_id: int, body: bytes) -> bytes:
        prefix = self.header + bytes([servo_id])
        stuffed = _stuff(prefix + b"\x00\x00", body)
        length = len(stuffed) + 2
        if length + 7 > self.max_packet:
            raise ValueError(f"dynamixel packet of {length + 7} bytes exceeds {self.max_packet}")
        packet = prefix + length.to_bytes(2, "little") + stuffed
        return packet + _crc16(packet).to_bytes(2, "little")

    def unframe(self, buf: bytes | bytearray, start: int) -> tuple[Frame, int]:
        if len(buf) < start + 7:
            raise Incomplete
        servo_id = buf[start + 4]
        length = int.from_bytes(buf[start + 5 : start + 7], "little")
        if servo_id > BROADCAST_ID or length < 3 or length + 7 > self.max_packet:
            raise ProtocolError(f"dynamixel: impossible id {servo_id} or length {length}")
        end = start + 7 + length
        if len(buf) < end:
            raise Incomplete
        packet = bytes(buf[start:end])
        if _crc16(packet[:-2]) != int.from_bytes(packet[-2:], "little"):
            raise ProtocolError(f"dynamixel: CRC mismatch in packet from id {servo_id}")
        body = _unstuff(packet[:7], packet[7:-2])
        return Frame(servo_id, body), end

    def status_body(self, error: int, params: bytes) -> bytes:
        return bytes([DXL_STATUS, error]) + bytes(params)

    def parse_status(self, frame: Frame) -> Status:
        if len(frame.body) < 2 or frame.body[0] != DXL_STATUS:
            raise ProtocolError(f"dynamixel: packet from id {frame.id} is not a status packet")
        return Status(frame.id, frame.body[1], frame.body[2:])

    def is_status(self, frame: Frame) -> bool:
        return len(frame.body) >= 2 and frame.body[0] == DXL_STATUS


FEETECH = FeetechProtocol()
DYNAMIXEL = DynamixelProtocol()
PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (FEETECH, DYNAMIXEL)}


@dataclass(frozen=True)
class Expected:
    """A status packet a driver waits for: from ``id``, carrying ``params_len`` parameter bytes."""

    id: int
    params_len: int


def match_replies(
    protocol: Protocol, buf: bytes | bytearray, sent: bytes, expected: Sequence[Expected]
) -> list[Status] | None:
    """The status packets answering ``sent``, in order, or None while more bytes are needed.

    Strict by design, so that no value is ever taken from a bad packet: an exact echo of ``sent``
    at the start is skipped (half-duplex adapters echo what they transmit); after that every
    frame must be valid and be the next expected reply (ID and parameter length). Anything else
    raises ProtocolError.
    """
    pos = 0
    if bytes(buf[: len(sent)]) == sent:
        pos = len(sent)
    elif sent.startswith(bytes(buf)):
        return None
    replies: list[Status] = []
    for want in expected:
        hdr = protocol.find_header(buf, pos)
        if hdr < 0 and protocol.header.startswith(bytes(buf[pos : pos + len(protocol.header)])):
            return None
        if hdr != pos:
            raise ProtocolError(
                f"{protocol.name}: {hdr - pos} stray bytes before the reply from id {want.id}"
            )
        try:
            frame, pos = protocol.unframe(buf, hdr)
        except Incomplete:
            return None
        if not protocol.is_status(frame):
            raise ProtocolError(f"{protocol.name}: got an instruction packet where id {want.id} should reply")
        status = protocol.parse_status(frame)
        if status.id != want.id:
            raise ProtocolError(f"{protocol.name}: reply from id {status.id}, expected id {want.id}")
        if len(status.params) != want.params_len:
            raise ProtocolError(
                f"{protocol.name}: id {want.id} sent {len(status.params)} data bytes, expected {want.params_len}"
            )
        replies.append(status)
    return replies
