"""lerobot's buses on honed's transport, against the emulator: discovery, retries, failures, bad values."""

from __future__ import annotations

import math

import pytest

from honed.hardware.bus import make_bus
from honed.hardware.motors import arm_motors
from honed.hardware.transport import BusConnectionError, PortGoneError, RetryPolicy, ServoError

ROBOT_OF = {"feetech": "so101", "dynamixel": "koch"}


def connected_bus(emulator, policy: RetryPolicy, handshake: bool = True):  # type: ignore[no-untyped-def]
    bus = make_bus(emulator.path, arm_motors(emulator.config.robot, emulator.config.role), policy)
    bus.connect(handshake=handshake)
    return bus


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_handshake_scan_and_raw_reads(protocol: str, emulators, hw) -> None:
    emu = emulators(robot=ROBOT_OF[protocol])
    bus = connected_bus(emu, hw.patient)  # pings every servo and checks models (and Feetech firmware)
    models = {m.id: m.model for m in arm_motors(ROBOT_OF[protocol], "follower")}
    assert bus.broadcast_ping() == {i: bus.model_number_table[models[i]] for i in models}
    positions = bus.sync_read("Present_Position", normalize=False)
    assert positions == {joint: s.get("Present_Position") for joint, s in zip(bus.motors, emu.servos)}
    bus.write("Goal_Position", "elbow_flex", 1234, normalize=False)
    assert emu.servos[2].get("Goal_Position") == 1234
    bus.sync_write("Goal_Position", {"wrist_flex": 2222, "gripper": 2500}, normalize=False)
    goals = lambda: (emu.servos[3].get("Goal_Position"), emu.servos[5].get("Goal_Position"))  # noqa: E731
    hw.wait_for(lambda: goals() == (2222, 2500), "the sync write to land")
    assert bus.stats.failures == 0
    bus.port_handler.closePort()


def test_signed_block_reads(emulators, hw) -> None:
    emu = emulators(robot="so101")
    bus = connected_bus(emu, hw.patient)
    bus.write("Torque_Enable", "shoulder_lift", 1)
    start = bus.read("Present_Position", "shoulder_lift", normalize=False)
    bus.write("Goal_Position", "shoulder_lift", start - 1500, normalize=False)
    emu.wait_until(lambda: emu.servos[1].get("Present_Velocity") < 0, 2.0, "the joint to move down")
    block = bus.sync_read_block("Present_Position", "Present_Velocity")
    assert block["Present_Velocity"]["shoulder_lift"] < -100  # sign-magnitude decoded
    assert block["Present_Velocity"]["shoulder_pan"] == 0
    assert block["Present_Position"]["shoulder_lift"] < start
    bus.write("Torque_Enable", "shoulder_lift", 0)
    bus.write("Homing_Offset", "shoulder_lift", -300, normalize=False)
    assert bus.sync_read("Homing_Offset", normalize=False)["shoulder_lift"] == -300
    bus.port_handler.closePort()


def test_dropped_replies_are_retried_and_counted(emulators, hw) -> None:
    emu = emulators(robot="so101")
    bus = connected_bus(emu, hw.patient)
    emu.config.faults.drop_every = 13  # each drop costs a whole reply timeout: a few are enough
    for _ in range(6):
        assert len(bus.sync_read("Present_Position", normalize=False)) == 6
    assert emu.stats.dropped > 0
    assert bus.stats.retries >= emu.stats.dropped // 2 > 0
    assert bus.stats.timeouts + bus.stats.corrupt == bus.stats.retries and bus.stats.failures == 0
    bus.port_handler.closePort()


def test_corrupted_replies_are_rejected_and_retried(emulators, hw) -> None:
    emu = emulators(robot="koch", faults={"corrupt_every": 13})
    bus = connected_bus(emu, hw.patient)
    truth = [s.get("Present_Position") for s in emu.servos]
    for _ in range(10):
        assert list(bus.sync_read("Present_Position", normalize=False).values()) == truth
    assert emu.stats.corrupted > 0 and bus.stats.corrupt > 0
    bus.port_handler.closePort()


def failed_attempts(bus) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(timed-out or corrupt attempts, retries, failed exchanges) of a bus so far."""
    return bus.stats.timeouts + bus.stats.corrupt, bus.stats.retries, bus.stats.failures


def test_consecutive_failures_raise_after_the_attempts(emulators, hw) -> None:
    emu = emulators(robot="so101")
    bus = connected_bus(emu, hw.patient)
    bus.transport.policy = RetryPolicy(attempts=4, reply_timeout_ms=100, budget_ms=60_000)
    before = failed_attempts(bus)  # a reply slowed by a busy machine may have been retried while connecting
    emu.config.faults.dead_ids = [3]
    with pytest.raises(BusConnectionError, match="after 4 attempts"):
        bus.sync_read("Present_Position", normalize=False)
    after = failed_attempts(bus)
    assert tuple(a - b for a, b in zip(after, before)) == (4, 3, 1)
    bus.port_handler.closePort()


def test_budget_caps_the_attempts(emulators) -> None:
    emu = emulators(robot="so101", faults={"dead_ids": [1]})
    bus = connected_bus(emu, RetryPolicy(attempts=50, reply_timeout_ms=20, budget_ms=60), handshake=False)
    with pytest.raises(BusConnectionError):
        bus.sync_read("Present_Position", normalize=False)
    # every attempt but the last waits out its whole reply timeout, so the budget fits at most three;
    # a busy machine only makes the attempts slower, hence fewer
    assert 1 <= bus.stats.timeouts <= 3
    bus.port_handler.closePort()


def nothing_was_written(bus, emu, writes_before: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether the emulator received no write since ``writes_before``: a read exchange goes first, and
    the emulator handles packets in order, so any stray write would have been counted before it."""
    bus.read("Present_Position", "gripper", normalize=False)
    return emu.stats.writes == writes_before


def test_servo_error_byte_is_reported_per_servo(emulators, hw) -> None:
    emu = emulators(robot="so101", faults={"error_ids": [5], "error_byte": 0x24})
    bus = connected_bus(emu, hw.patient, handshake=False)
    with pytest.raises(ServoError, match=r"id 5: overheat, overload") as info:
        bus.sync_read("Present_Position", normalize=False)
    assert info.value.errors == {5: 0x24}
    bus.port_handler.closePort()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "12", None])
def test_non_finite_values_never_reach_a_register(bad: object, emulators, hw) -> None:
    emu = emulators(robot="so101")
    bus = connected_bus(emu, hw.patient)
    before = emu.stats.writes
    with pytest.raises(ValueError, match="nothing was sent"):
        bus.sync_write("Goal_Position", {"gripper": 2000, "elbow_flex": bad}, normalize=False)
    with pytest.raises(ValueError, match="nothing was sent"):
        bus.write("Goal_Position", "gripper", bad, normalize=False)
    assert nothing_was_written(bus, emu, before)
    bus.port_handler.closePort()


def test_out_of_range_register_values_are_refused(emulators, hw) -> None:
    emu = emulators(robot="so101")
    bus = connected_bus(emu, hw.patient)
    before = emu.stats.writes
    with pytest.raises(ValueError):
        bus.sync_write("Goal_Position", {"gripper": 70_000}, normalize=False)
    assert nothing_was_written(bus, emu, before)
    bus.port_handler.closePort()


def test_vanished_port_fails_fast(emulators, hw) -> None:
    emu = emulators(robot="so101")
    bus = connected_bus(emu, hw.patient)
    emu.vanish()
    emu._thread.join()
    timeouts = bus.stats.timeouts
    with pytest.raises(PortGoneError):
        bus.sync_read("Present_Position", normalize=False)
    assert bus.stats.timeouts == timeouts  # no attempt waited out its reply timeout: the port itself is gone
    bus.port_handler.closePort()
