"""The servo-bus emulator answers raw packets byte-exactly, paces them like the wire, injects faults."""

from __future__ import annotations

import time

import numpy as np
import pytest

from honed.hardware.emulator.registers import TABLES
from honed.hardware.protocol import BROADCAST_ID, PROTOCOLS
from honed.hardware.transport import PORT_ERRORS

ROBOT_OF = {"feetech": "so101", "dynamixel": "koch"}
ADDR = {"feetech": {"model": 3, "goal": 42, "present": 56, "torque": 40, "id": 5, "delay": 7},
        "dynamixel": {"model": 0, "goal": 116, "present": 132, "torque": 64, "id": 7, "delay": 9}}  # fmt: skip


def le(value: int, size: int) -> bytes:
    return (value % (1 << (8 * size))).to_bytes(size, "little")


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_register_tables_agree_with_lerobot(protocol: str) -> None:
    from lerobot.motors.dynamixel.tables import X_SERIES_CONTROL_TABLE
    from lerobot.motors.feetech.tables import STS_SMS_SERIES_CONTROL_TABLE

    theirs = STS_SMS_SERIES_CONTROL_TABLE if protocol == "feetech" else X_SERIES_CONTROL_TABLE
    ours = TABLES[protocol].registers
    used = ["Model_Number", "ID", "Baud_Rate", "Return_Delay_Time", "Min_Position_Limit", "Max_Position_Limit",
            "Homing_Offset", "Operating_Mode", "Torque_Enable", "Goal_Position", "Present_Position",
            "Present_Velocity", "Present_Temperature", "Moving", "Present_Current"]  # fmt: skip
    assert set(used) <= set(ours)
    for name, reg in ours.items():
        assert (reg.addr, reg.size) == tuple(theirs[name]), name


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_every_instruction_is_answered_byte_exactly(protocol: str, emulators, hw) -> None:
    p, a = PROTOCOLS[protocol], ADDR[protocol]
    emu = emulators(robot=ROBOT_OF[protocol])
    size = 2 if protocol == "feetech" else 4
    model = emu.servos[2].get("Model_Number")
    port = hw.open_port(emu.path)
    ping_params = b"" if protocol == "feetech" else le(model, 2) + bytes([45])
    want = p.status(3, 0, ping_params)
    assert hw.transact(port, p.ping(3), len(want)) == want
    want = p.status(3, 0, le(model, 2))
    assert hw.transact(port, p.read(3, a["model"], 2), len(want)) == want
    want = p.status(3, 0)
    assert hw.transact(port, p.write(3, a["goal"], le(2100, size)), len(want)) == want
    assert emu.servos[2].get("Goal_Position") == 2100
    ids = [1, 2, 3, 4, 5, 6]
    expected = b"".join(p.status(i, 0, le(emu.servos[i - 1].get("Present_Position"), size)) for i in ids)
    assert hw.transact(port, p.sync_read(ids, a["present"], size), len(expected)) == expected
    sync_write = p.sync_write(a["goal"], size, {i: le(2000 + i, size) for i in ids})
    assert hw.unanswered(port, sync_write, p.ping(3), p.status(3, 0, ping_params))
    assert [s.get("Goal_Position") for s in emu.servos] == [2000 + i for i in ids]
    port.close()


@pytest.mark.parametrize("protocol", ["feetech", "dynamixel"])
def test_broadcast_ping_and_id_change(protocol: str, emulators, hw) -> None:
    p, a = PROTOCOLS[protocol], ADDR[protocol]
    emu = emulators(robot=ROBOT_OF[protocol], ids=[1, 4])
    port = hw.open_port(emu.path)

    def ping_reply(servo_id: int) -> bytes:
        servo = next(s for s in emu.servos if s.id == servo_id)
        model = b"" if protocol == "feetech" else le(servo.get("Model_Number"), 2)
        return p.status(servo_id, 0, model + (bytes([servo.get("Firmware_Version")]) if model else b""))

    replies = hw.transact(port, p.ping(BROADCAST_ID), len(ping_reply(1) + ping_reply(4)))
    found, pos = [], 0
    while (frame := p.next_frame(replies, pos))[0] is not None:
        found.append(frame[0].id)
        pos = frame[1]
    assert found == [1, 4]
    if protocol == "dynamixel":  # IDs live in EEPROM: torque must be off (it is)
        pass
    want = p.status(4, 0)  # the reply comes from the old ID
    assert hw.transact(port, p.write(4, a["id"], bytes([9])), len(want)) == want
    assert hw.unanswered(port, p.ping(4), p.ping(9), ping_reply(9))  # only the new ID answers
    port.close()


def test_dynamixel_refuses_eeprom_writes_under_torque(emulators, hw) -> None:
    p = PROTOCOLS["dynamixel"]
    emu = emulators(robot="koch")
    port = hw.open_port(emu.path)
    assert hw.transact(port, p.write(2, 64, b"\x01"), 11) == p.status(2, 0)
    assert hw.transact(port, p.write(2, 20, le(100, 4)), 11) == p.status(2, 7)  # homing offset: access error
    assert hw.transact(port, p.write(2, 132, le(5, 4)), 11) == p.status(2, 7)  # present position is read-only
    assert emu.servos[1].get("Homing_Offset") == 0
    port.close()


def test_replies_are_paced_like_the_wire(emulators, hw) -> None:
    p = PROTOCOLS["feetech"]
    emu = emulators(robot="so101", timing=True)
    port = hw.open_port(emu.path)
    ids = [1, 2, 3, 4, 5, 6]
    for delay_units, floor_s in ((0, (14 + 6 * 8) * 10e-6), (250, (14 + 6 * 8) * 10e-6 + 6 * 500e-6)):
        for i in ids:
            hw.transact(port, p.write(i, 7, bytes([delay_units])), 6)
        start = time.perf_counter()
        out = hw.transact(port, p.sync_read(ids, 56, 2), 48)
        elapsed = time.perf_counter() - start
        assert len(out) == 48
        assert elapsed >= floor_s * 0.95, (delay_units, elapsed)
    port.close()


def test_packets_at_the_wrong_baud_rate_go_unanswered(emulators, hw) -> None:
    p = PROTOCOLS["feetech"]
    emu = emulators(robot="so101")
    port = hw.open_port(emu.path, baudrate=57_600)
    port.write(p.ping(1))
    hw.wait_for(lambda: emu.stats.handled == 1, "the emulator to handle the ping sent at 57600 baud")
    assert (emu.stats.wrong_baud, emu.stats.instructions) == (1, 0)
    port.baudrate = 1_000_000
    port.write(p.ping(1))
    assert hw.collect(port, 6) == p.status(1, 0)  # the first ping's answer would have come before it
    port.close()


def test_injected_faults(emulators, hw) -> None:
    p = PROTOCOLS["feetech"]
    faults = {"drop_every": 3, "corrupt_every": 5, "dead_ids": [3], "error_ids": [2], "error_byte": 0x20}
    emu = emulators(robot="so101", faults=faults)
    port = hw.open_port(emu.path)
    ok = p.status(1, 0)
    corrupt = ok[:-1] + bytes([ok[-1] ^ 0x5A])
    # status packets 1..6 answer six pings of servo 1 (the 3rd and 6th dropped, the 5th corrupted);
    # the 7th answers servo 2 with its error flags, and nothing else comes before it
    answers = hw.transact(port, p.ping(1) * 6 + p.ping(2), 5 * len(ok))
    assert answers == ok + ok + ok + corrupt + p.status(2, 0x20)
    assert (emu.stats.dropped, emu.stats.corrupted) == (2, 1)
    assert hw.unanswered(port, p.ping(3), p.ping(1), ok)  # a dead servo stays silent (8th: sent)
    port.close()


def test_port_vanishes(emulators, hw) -> None:
    emu = emulators(robot="so101", faults={"vanish_after_s": 0.2})
    port = hw.open_port(emu.path)
    assert hw.transact(port, PROTOCOLS["feetech"].ping(1), 6)  # the clock starts at the first packet
    hw.wait_for(lambda: emu.vanished, "the port to vanish")
    # a vanished pty fails at flush, write or the FIONREAD ioctl, depending on timing: exactly the
    # errors the transport treats as a lost port
    with pytest.raises(PORT_ERRORS):
        hw.transact(port, PROTOCOLS["feetech"].ping(1), 6)
    hw.wait_for(lambda: not hw.path_exists(emu.path), "the device node to go away")


def test_twin_backed_servos_move_the_twin(emulators, hw) -> None:
    p = PROTOCOLS["feetech"]
    emu = emulators(robot="so101", joints="twin", preset=True)
    port = hw.open_port(emu.path)
    servo = emu.servos[0]  # shoulder_pan: no gravity load about its vertical axis
    hw.transact(port, p.write(1, 40, b"\x01"), 6)
    goal = servo.get("Present_Position") + 300
    hw.transact(port, p.write(1, 42, le(goal, 2)), 6)
    emu.wait_until(lambda: abs(servo.get("Present_Position") - goal) < 15, 5.0, "the twin to reach the goal")
    q, _, _ = emu.joints.state()
    assert q[0] == pytest.approx(300 * 2 * np.pi / 4096, abs=0.03)
    port.close()


def test_wave_operator_moves_a_limp_leader(emulators, hw) -> None:
    emu = emulators(robot="so101", role="leader", joints="twin", operator="wave")
    first = emu.joints.state()[0].copy()
    emu.wait_until(
        lambda: np.abs(emu.joints.state()[0] - first).max() > 0.2, 5.0, "the hand to move the leader"
    )


@pytest.mark.parametrize("gap_s", [0.01, 0.2, 0.4])
def test_a_held_twin_arm_follows_the_sweep_when_calls_come_late(gap_s: float) -> None:
    """A busy host advances the twin rarely; the hand's motion since the last call is spread over the
    physics steps it took, so the joints end where the hand is and the simulation stays finite."""
    import mujoco

    from honed.arms import SO101
    from honed.hardware.emulator.joints import TwinJoints
    from honed.hardware.emulator.operator import Operator

    joints, hand = TwinJoints(SO101, start=0.0), Operator(SO101, "calibrate", sweep_s=1.5)
    hand.homing_written(0.0)
    for now in np.arange(gap_s, 2.5, gap_s):  # the sweep ends at 1.8 s, later when a stop waits for a reading
        pose = hand.pose(float(now))
        assert pose is not None  # the calibrating operator always holds the arm
        joints.advance(float(now), pose)
        hand.positions_read(float(now))  # a driver reads the positions after each late call
        q, qd, _ = joints.state()
        assert joints.data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0, f"diverged at t={now:.2f}"
        assert np.allclose(q, pose) and np.isfinite(qd).all()
    assert hand.swept


def test_the_calibrating_hand_holds_each_stop_until_a_reading_sees_it() -> None:
    """A person watching the range table: a driver kept waiting by a busy machine still sees both stops."""
    from honed.arms import SO101
    from honed.hardware.emulator.operator import SETTLE_S, Operator

    hand = Operator(SO101, "calibrate", sweep_s=1.0)

    def held(now: float) -> np.ndarray:
        pose = hand.pose(now)
        assert pose is not None  # the calibrating operator always holds the arm
        return pose

    hand.homing_written(0.0)
    late = SETTLE_S + 5.0  # long past the sweep's end, no reading yet
    assert np.allclose(held(late), SO101.high) and not hand.swept
    hand.positions_read(late)
    assert np.allclose(held(late + 0.3), SO101.low)  # on to the lower stop, held there in turn
    assert np.allclose(held(late + 10.0), SO101.low) and not hand.swept
    hand.positions_read(late + 10.0)
    held(late + 10.5)
    assert hand.swept


def test_a_starved_twin_keeps_its_own_clock() -> None:
    """A call that comes late (a busy host) simulates at most MAX_CATCH_UP_S: the twin's clock falls behind."""
    from honed.arms import SO101
    from honed.hardware.emulator.joints import TwinJoints

    joints = TwinJoints(SO101, start=0.0)
    step = joints.model.opt.timestep  # whole physics steps: each call may leave up to one step for the next
    joints.advance(10.0, None)
    assert TwinJoints.MAX_CATCH_UP_S - step <= joints.sim_time <= TwinJoints.MAX_CATCH_UP_S + 1e-9
    joints.advance(10.2, None)
    assert (
        TwinJoints.MAX_CATCH_UP_S + 0.2 - 2 * step
        <= joints.sim_time
        <= TwinJoints.MAX_CATCH_UP_S + 0.2 + 1e-9
    )


def test_waits_are_counted_in_simulated_time(emulators) -> None:
    emu = emulators(robot="so101")
    start = emu.sim_time
    emu.wait_until(lambda: emu.sim_time > start, 1.0, "the clock to move")
    with pytest.raises(TimeoutError, match=r"^nothing: not reached within 0.2 s of simulated motion$"):
        emu.wait_until(lambda: False, 0.2, "nothing")
    assert emu.sim_time - start >= 0.2
    emu.stop()
    with pytest.raises(TimeoutError, match=r"^nothing: the emulator stopped after"):
        emu.wait_until(lambda: False, 60.0, "nothing")


def test_a_wait_on_a_hung_emulator_says_so() -> None:
    from honed.arms import SO101
    from honed.hardware.emulator import BusEmulator, EmulatorConfig
    from honed.hardware.emulator.joints import KinematicJoints

    class Frozen(KinematicJoints):
        def advance(self, now: float, hand: np.ndarray | None) -> None:
            """Time never moves."""

    stood_still = r"clock stood still for 0.1 s \(hung after 0.00 s"
    with (
        BusEmulator(EmulatorConfig(joints="kinematic"), joints=Frozen(SO101)) as emu,
        pytest.raises(TimeoutError, match=stood_still),
    ):
        emu.wait_until(lambda: False, 60.0, "nothing", stall_s=0.1)
