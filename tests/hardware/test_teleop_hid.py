"""Gamepad and SpaceMouse teleops: report parsers (property-based) and recorded report sessions."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from honed.features import STATE
from honed.hardware.teleop_hid import (
    DUALSHOCK4,
    GamepadTeleop,
    SpaceMouseState,
    SpaceMouseTeleop,
    find_hidraw,
    parse_gamepad,
    parse_spacemouse,
    write_recording,
)

AXIS = st.integers(-350, 350)


def spacemouse_report(report_id: int, x: int, y: int, z: int) -> bytes:
    return struct.pack("<B3h", report_id, x, y, z)


def ds4_report(lx=128, ly=128, rx=128, ry=128, b5=0x08, b6=0, l2=0, r2=0) -> bytes:
    report = bytearray(64)
    report[:10] = bytes([0x01, lx, ly, rx, ry, b5, b6, 0, l2, r2])
    return bytes(report)


@given(st.binary(max_size=64))
def test_spacemouse_parser_never_raises(report):
    state = parse_spacemouse(report, SpaceMouseState())
    assert np.all(np.abs(state.translation) <= 1) and np.all(np.abs(state.rotation) <= 1)


@given(AXIS, AXIS, AXIS, AXIS, AXIS, AXIS)
def test_spacemouse_axes_decode_from_either_report_layout(x, y, z, rx, ry, rz):
    split = parse_spacemouse(
        spacemouse_report(2, rx, ry, rz), parse_spacemouse(spacemouse_report(1, x, y, z), SpaceMouseState())
    )
    combined = parse_spacemouse(struct.pack("<B6h", 1, x, y, z, rx, ry, rz), SpaceMouseState())
    expected_t = np.array([x, -y, -z]) / 350.0
    np.testing.assert_allclose(split.translation, expected_t)
    np.testing.assert_allclose(combined.translation, expected_t)
    np.testing.assert_allclose(combined.rotation, split.rotation)


@given(st.binary(max_size=64))
def test_gamepad_parser_never_raises(report):
    state = parse_gamepad(report, DUALSHOCK4)
    assert state is None or (
        np.all(np.abs(state.sticks) <= 1) and np.all((state.triggers >= 0) & (state.triggers <= 1))
    )


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_gamepad_sticks_triggers_and_buttons(lx, ly, r2):
    state = parse_gamepad(ds4_report(lx=lx, ly=ly, b5=0x08 | 0x80, b6=0x02, r2=r2), DUALSHOCK4)
    assert state is not None
    expected_x = (lx - 128) / 127
    assert state.sticks[0] == pytest.approx(0.0 if abs(expected_x) < 0.08 else min(max(expected_x, -1), 1))
    assert np.sign(state.sticks[1]) == -np.sign(ly - 128) or state.sticks[1] == 0
    assert state.triggers[1] == pytest.approx(r2 / 255)
    assert state.pressed == {"triangle", "r1"}
    assert parse_gamepad(b"\x02" + bytes(63), DUALSHOCK4) is None


def observation() -> dict:
    q = np.array([0.0, -0.6, 0.8, 0.6, 0.0, 0.3])
    return {STATE: np.concatenate([q, np.zeros(6)]).astype(np.float32)}


def run_session(teleop, ticks: int) -> tuple[np.ndarray, np.ndarray, list]:
    obs = observation()
    teleop.reset(obs)
    start, _ = teleop.ik.forward(obs[STATE][:5].astype(np.float64))
    events = []
    for _ in range(ticks):
        action = teleop.get_action(obs)
        obs = {STATE: np.concatenate([action, np.zeros(6)]).astype(np.float32)}  # a perfect follower
        events.append(teleop.events())
    end, _ = teleop.ik.forward(action[:5].astype(np.float64))
    return end - start, action, events


def test_spacemouse_session_moves_up_and_saves_on_right_button(tmp_path):
    push_up = spacemouse_report(1, 0, 0, -350)  # the cap pulled up (device z points down)
    reports = [push_up] * 5 + [
        spacemouse_report(1, 0, 0, 0),
        struct.pack("<BH", 3, 0b10),
        struct.pack("<BH", 3, 0),
    ]
    write_recording(tmp_path / "session.jsonl", reports)
    teleop = SpaceMouseTeleop(device=f"replay:{tmp_path / 'session.jsonl'}", max_speed_m=0.004)
    with teleop:
        delta, _, events = run_session(teleop, len(reports))
    assert delta[2] == pytest.approx(0.02, abs=0.004) and abs(delta[0]) < 0.004
    assert [e.end_episode for e in events].index(True) == 6


def test_gamepad_session_jogs_forward_closes_gripper_and_raises_events(tmp_path):
    reports = (
        [ds4_report(ly=0)] * 6 + [ds4_report(r2=255)] * 10 + [ds4_report(b5=0x08 | 0x10), ds4_report(b6=0x20)]
    )
    write_recording(tmp_path / "pad.jsonl", reports)
    teleop = GamepadTeleop(device=f"replay:{tmp_path / 'pad.jsonl'}", max_speed_m=0.005)
    with teleop:
        delta, action, events = run_session(teleop, len(reports))
    assert delta[0] == pytest.approx(0.03, abs=0.006)  # stick forward for 6 ticks at 5 mm
    assert action[5] == pytest.approx(teleop.arm.lower[5])  # right trigger held: gripper closed
    assert [i for i, e in enumerate(events) if e.rerecord] == [16]
    assert [i for i, e in enumerate(events) if e.stop] == [17]


def test_devices_are_found_by_id_in_sysfs(tmp_path):
    for name, hid_id in (("hidraw0", "0003:0000046D:0000C52B"), ("hidraw3", "0003:0000256F:0000C635")):
        (tmp_path / name / "device").mkdir(parents=True)
        (tmp_path / name / "device" / "uevent").write_text(
            f"DRIVER=hid-generic\nHID_ID={hid_id}\nHID_NAME=x\n"
        )
    assert str(find_hidraw([(0x256F, 0xC635)], root=tmp_path)) == "/dev/hidraw3"
    with pytest.raises(FileNotFoundError, match="054c:05c4"):
        find_hidraw([(0x054C, 0x05C4)], root=tmp_path)
    with pytest.raises(ValueError, match="unknown gamepad layout 'n64'"):
        GamepadTeleop(layout="n64")
