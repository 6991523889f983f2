"""Terminal key parsing (property-based) and the keyboard teleop over a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from honed.arms import SO101
from honed.features import STATE
from honed.hardware.teleop_keyboard import KeyboardTeleop, TerminalKeys, events_from_keys, parse_keys
from honed.teleop import TeleopEvents

KEY_BYTES = {"up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D", "enter": b"\r",
             "backspace": b"\x7f", "esc": b"\x1b"}  # fmt: skip
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
HUNG_S = 120.0
"""Cap of each wait for typed keys to take effect: reached only if reading the terminal hung."""


@given(st.binary(max_size=200))
def test_parse_keys_never_raises_and_names_only_known_keys(data):
    for key in parse_keys(data):
        assert key in KEY_BYTES or key == "ctrl-c" or (len(key) == 1 and key.isprintable())


@given(st.lists(st.sampled_from([*KEY_BYTES, *LETTERS]), max_size=30))
def test_parse_keys_recovers_a_typed_sequence(keys):
    typed = [
        k
        for i, k in enumerate(keys)
        if not (k == "esc" and i + 1 < len(keys) and keys[i + 1] in LETTERS + "[")
    ]
    data = b"".join(KEY_BYTES.get(k, k.encode()) for k in typed)
    assert parse_keys(data) == typed


def test_event_keys():
    assert events_from_keys(["right"]).end_episode and events_from_keys(["enter"]).end_episode
    assert events_from_keys(["left"]).rerecord and events_from_keys(["esc"]).stop
    assert events_from_keys(["w", "a"]) == TeleopEvents()  # movement keys request nothing


@pytest.fixture
def terminal():
    master, slave = pty.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def read_keys_until(keys: TerminalKeys, count: int, timeout: float = HUNG_S) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += keys.read()
    return got


def test_terminal_keys_read_a_real_pty_in_cbreak_mode(terminal):
    master, slave = terminal
    keys = TerminalKeys(slave)
    keys.open()
    try:
        os.write(master, b"w\x1b[Cq")
        assert read_keys_until(keys, 3) == ["w", "right", "q"]
        assert keys.read() == []
    finally:
        keys.close()


def home_observation() -> dict:
    q = np.array([0.0, -0.6, 0.8, 0.6, 0.0, 0.3])
    return {STATE: np.concatenate([q, np.zeros(6)]).astype(np.float32)}


def test_keyboard_jogs_the_gripper_in_cartesian_space(terminal):
    master, slave = terminal
    teleop = KeyboardTeleop(fd=slave, step_m=0.01)
    obs = home_observation()
    with teleop:
        teleop.reset(obs)
        start, _ = teleop.ik.forward(obs[STATE][:5].astype(np.float64))
        os.write(master, b"wwww")
        deadline = time.monotonic() + HUNG_S
        action = teleop.get_action(obs)
        while np.allclose(action[:5], obs[STATE][:5], atol=1e-4) and time.monotonic() < deadline:
            action = teleop.get_action(obs)
        moved, _ = teleop.ik.forward(action[:5].astype(np.float64))
        assert moved[0] - start[0] == pytest.approx(0.04, abs=0.01)  # 4 presses x 1 cm forward
        assert abs(moved[1] - start[1]) < 0.005 and abs(moved[2] - start[2]) < 0.005
        assert np.all(action >= SO101.low - 1e-6) and np.all(action <= SO101.high + 1e-6)
        os.write(master, b"\x1b[D")
        teleop_events = teleop.events()
        deadline = time.monotonic() + HUNG_S
        while not teleop_events.rerecord and time.monotonic() < deadline:
            teleop.get_action(obs)
            teleop_events = teleop.events()
        assert teleop_events.rerecord and not teleop_events.stop


def test_keyboard_gripper_keys_open_and_close_within_range(terminal):
    master, slave = terminal
    teleop = KeyboardTeleop(fd=slave, gripper_step=0.5)
    obs = home_observation()
    with teleop:
        teleop.reset(obs)
        os.write(master, b"cccccccc")  # far more closing than the range allows
        deadline = time.monotonic() + HUNG_S
        action = teleop.get_action(obs)
        while action[5] > SO101.lower[5] + 1e-6 and time.monotonic() < deadline:
            action = teleop.get_action(obs)
        assert action[5] == pytest.approx(SO101.lower[5])
        os.write(master, b"o")
        while action[5] < SO101.lower[5] + 0.4 and time.monotonic() < deadline:
            action = teleop.get_action(obs)
        assert action[5] == pytest.approx(SO101.lower[5] + 0.5)
