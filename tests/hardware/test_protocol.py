"""Byte-exact packets (checked against the vendors' SDKs) and fuzzing of the status parser."""

from __future__ import annotations

import dynamixel_sdk as dxl
import pytest
import scservo_sdk as scs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from honed.hardware.protocol import (
    BROADCAST_ID,
    DYNAMIXEL,
    FEETECH,
    PROTOCOLS,
    Expected,
    Incomplete,
    Inst,
    ProtocolError,
    Status,
    match_replies,
)


class CapturePort:
    """Stands in for the SDKs' PortHandler: records what they transmit, feeds them given bytes."""

    def __init__(self, rx: bytes = b""):
        self.sent: list[bytes] = []
        self.rx = bytearray(rx)
        self.is_using = False
        self.tx_time_per_byte = 0.01

    def clearPort(self) -> None:  # noqa: N802 - SDK protocol
        pass

    def writePort(self, packet: list[int]) -> int:  # noqa: N802
        self.sent.append(bytes(packet))
        return len(packet)

    def readPort(self, length: int) -> bytes:  # noqa: N802
        out, self.rx = bytes(self.rx[:length]), self.rx[length:]
        return out

    def setPacketTimeout(self, *_: object) -> None:  # noqa: N802
        pass

    def setPacketTimeoutMillis(self, *_: object) -> None:  # noqa: N802
        pass

    def isPacketTimeout(self) -> bool:  # noqa: N802
        return not self.rx

    def getBaudRate(self) -> int:  # noqa: N802
        return 1_000_000


def sdk_tx(protocol: str, call: str, *args: object) -> bytes:
    port = CapturePort()
    handler = scs.PacketHandler(0) if protocol == "feetech" else dxl.PacketHandler(2.0)
    getattr(handler, call)(port, *args)
    return port.sent[0]


CASES = [
    # (honed packet, SDK call producing the same instruction)
    (lambda p: p.ping(3), "ping", (3,)),
    (lambda p: p.read(2, 56, 2), "readTx", (2, 56, 2)),
    (lambda p: p.write(6, 42, bytes([0x34, 0x12])), "writeTxOnly", (6, 42, 2, [0x34, 0x12])),
    (lambda p: p.sync_read([1, 2, 3, 4, 5, 6], 56, 2), "syncReadTx", (56, 2, [1, 2, 3, 4, 5, 6], 6)),
]


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_instruction_packets_match_vendor_sdk(protocol: str, case: int) -> None:
    build, call, args = CASES[case]
    if protocol == "dynamixel" and call == "syncReadTx":
        args = (*args, False)  # Dynamixel SDK: fast_option
    assert build(PROTOCOLS[protocol]) == sdk_tx(protocol, call, *args)


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_sync_write_matches_vendor_sdk(protocol: str) -> None:
    data = {1: bytes([0xFF, 0x07]), 2: bytes([0x00, 0x08]), 6: bytes([0xFD, 0xFF])}
    params = [b for i, v in data.items() for b in (i, *v)]
    ours = PROTOCOLS[protocol].sync_write(42, 2, data)
    assert ours == sdk_tx(protocol, "syncWriteTxOnly", 42, 2, params, len(params))


def test_literal_feetech_packets() -> None:
    # From the STS manual: read 2 bytes at 0x38 of servo 1.
    assert FEETECH.read(1, 0x38, 2) == bytes.fromhex("ffff0104023802be")
    assert FEETECH.status(1, 0, bytes([0x00, 0x08])) == bytes.fromhex("ffff0104000008f2")


def test_literal_dynamixel_ping_from_emanual() -> None:
    # Protocol 2.0 e-Manual: ping ID 1, and ID 1's status (model 1060, firmware 0x26).
    assert DYNAMIXEL.ping(1) == bytes.fromhex("fffffd0001030001194e")
    assert DYNAMIXEL.status(1, 0, bytes([0x06, 0x04, 0x26])) == bytes.fromhex("fffffd000107005500060426655d")


def test_dynamixel_byte_stuffing_follows_the_emanual() -> None:
    # FF FF FD inside the body gains an FD and LEN counts it. (dynamixel_sdk's Python addStuffing
    # builds the stuffed packet in a new list and transmits the unstuffed one, so it is no reference.)
    payload = bytes([0xFF, 0xFF, 0xFD, 0x01])
    ours = DYNAMIXEL.write(1, 116, payload)
    assert ours[:-2] == bytes.fromhex("fffffd0001 0a00 03 7400 fffffdfd01".replace(" ", ""))
    assert sdk_tx("dynamixel", "writeTxOnly", 1, 116, 4, list(payload))[:7] == bytes.fromhex("fffffd00010900")
    frame, end = DYNAMIXEL.unframe(ours, 0)
    assert end == len(ours) and frame.body[3:] == payload


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_status_packets_parse_in_vendor_sdk(protocol: str) -> None:
    p = PROTOCOLS[protocol]
    status = p.status(4, 0, bytes([0x21, 0x08]))
    port = CapturePort(rx=status)
    handler = scs.PacketHandler(0) if protocol == "feetech" else dxl.PacketHandler(2.0)
    data, result, error = handler.readRx(port, 4, 2)
    assert (bytes(data), result, error) == (bytes([0x21, 0x08]), 0, 0)


@settings(max_examples=200)
@given(
    protocol=st.sampled_from(["feetech", "dynamixel"]),
    servo_id=st.integers(0, BROADCAST_ID),
    body=st.binary(min_size=1, max_size=40),
)
def test_frames_round_trip(protocol: str, servo_id: int, body: bytes) -> None:
    p = PROTOCOLS[protocol]
    packet = p.frame(servo_id, body)
    frame, end = p.unframe(packet, 0)
    assert (frame.id, frame.body, end) == (servo_id, body, len(packet))
    with pytest.raises(Incomplete):
        p.unframe(packet[:-1], 0)


def replies_for(p, ids: list[int], values: list[bytes]) -> tuple[bytes, list[Status]]:  # type: ignore[no-untyped-def]
    truth = [Status(i, 0, v) for i, v in zip(ids, values)]
    return b"".join(p.status(s.id, 0, s.params) for s in truth), truth


@st.composite
def reply_streams(draw: st.DrawFn) -> tuple:
    p = PROTOCOLS[draw(st.sampled_from(["feetech", "dynamixel"]))]
    ids = draw(st.lists(st.integers(1, 252), min_size=1, max_size=6, unique=True))
    length = draw(st.sampled_from([1, 2, 4]))
    values = [draw(st.binary(min_size=length, max_size=length)) for _ in ids]
    sent = p.sync_read(ids, 56, length)
    stream, truth = replies_for(p, ids, values)
    return p, ids, length, sent, stream, truth


def parse(p, stream: bytes, sent: bytes, ids: list[int], length: int) -> list[Status] | None:  # type: ignore[no-untyped-def]
    try:
        return match_replies(p, stream, sent, [Expected(i, length) for i in ids])
    except ProtocolError:
        return None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(case=reply_streams(), data=st.data())
def test_parser_never_yields_a_value_from_a_bad_packet(case: tuple, data: st.DataObject) -> None:
    p, ids, length, sent, stream, truth = case
    assert parse(p, stream, sent, ids, length) == truth
    assert parse(p, sent + stream, sent, ids, length) == truth  # echoed instruction is skipped
    mutation = data.draw(st.sampled_from(["bitflip", "truncate", "wrong_id", "garbage", "swap"]))
    if mutation == "bitflip":
        index = data.draw(st.integers(0, len(stream) - 1))
        bad = bytearray(stream)
        bad[index] ^= 1 << data.draw(st.integers(0, 7))
    elif mutation == "truncate":
        bad = bytearray(stream[: data.draw(st.integers(0, len(stream) - 1))])
    elif mutation == "wrong_id":
        k = data.draw(st.integers(0, len(ids) - 1))
        other = data.draw(st.integers(0, 252).filter(lambda i: i != ids[k]))
        bad = bytearray(replies_for(p, [*ids[:k], other, *ids[k + 1 :]], [t.params for t in truth])[0])
    elif mutation == "garbage":
        at = data.draw(st.integers(0, len(stream) - 1))
        bad = bytearray(stream[:at] + data.draw(st.binary(min_size=1, max_size=8)) + stream[at:])
        assume(bytes(bad[: len(stream)]) != stream)  # garbage after the last reply is harmless
    else:
        assume(len(ids) > 1)
        reordered = [ids[1], ids[0], *ids[2:]]
        bad = bytearray(
            replies_for(p, reordered, [truth[1].params, truth[0].params, *[t.params for t in truth[2:]]])[0]
        )
    assert parse(p, bytes(bad), sent, ids, length) is None


@settings(max_examples=300)
@given(protocol=st.sampled_from(["feetech", "dynamixel"]), noise=st.binary(max_size=64))
def test_parser_survives_random_bytes(protocol: str, noise: bytes) -> None:
    p = PROTOCOLS[protocol]
    sent = p.sync_read([1, 2], 56, 2)
    try:
        result = match_replies(p, noise, sent, [Expected(1, 2), Expected(2, 2)])
    except ProtocolError:
        return
    if result is not None:  # only a genuine-looking pair of frames can be accepted
        assert [r.id for r in result] == [1, 2] and all(len(r.params) == 2 for r in result)


def test_instruction_parsing() -> None:
    for p in (FEETECH, DYNAMIXEL):
        frame, _ = p.unframe(p.sync_write(42, 2, {1: b"\x01\x02"}), 0)
        inst = p.parse_instruction(frame)
        assert (inst.id, inst.inst) == (BROADCAST_ID, Inst.SYNC_WRITE)
        assert p.field(inst.params, 0) == 42 and p.field(inst.params, 1) == 2


def test_next_frame_skips_garbage_and_bad_checksums() -> None:
    good = FEETECH.ping(5)
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    frame, end = FEETECH.next_frame(b"\x00\x13" + corrupt + good)
    assert frame is not None and frame.id == 5 and end == 2 + len(corrupt) + len(good)


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_status_size(protocol: str) -> None:
    p = PROTOCOLS[protocol]
    assert all(p.status_size(n) == len(p.status(1, 0, bytes(n))) for n in (0, 1, 2, 4, 8))
