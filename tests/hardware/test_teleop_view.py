"""The jogging teleops' live panel (legend, targets, tool pose), its place beside the control loop, and
the camera window's refusals; the keyboard driving honed-record and honed-teleop with the panel live."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import rich
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from honed.arms import SO101
from honed.features import IMAGE_PREFIX, STATE
from honed.hardware.teleop_keyboard import KeyboardTeleop
from honed.hardware.teleop_view import JogState, JogView, render_panel, rpy_deg
from honed.sim.ik import JacobianIK
from honed.sim.scene import load_arm_model

HOME = np.array([0.0, -0.6, 0.8, 0.6, 0.0, 0.3])


def text_of(renderable, width: int = 110) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def rotation(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = (
        np.cos(roll),
        np.sin(roll),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
    )
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return rz @ ry @ rx


@given(
    st.floats(-3.1, 3.1),
    st.floats(-1.5, 1.5),
    st.floats(-3.1, 3.1),
)
def test_roll_pitch_yaw_are_read_back_from_their_rotation(roll, pitch, yaw):
    np.testing.assert_allclose(rpy_deg(rotation(roll, pitch, yaw)), np.degrees([roll, pitch, yaw]), atol=1e-6)


def test_panel_shows_the_legend_the_targets_and_the_tool_pose():
    target = HOME + np.array([0.1, -0.2, 0.05, 0.0, 0.3, 0.7])
    fk = JacobianIK(load_arm_model())
    tool = fk.forward(HOME[:5])
    target_pos, target_rot = np.array([0.2125, -0.0333, 0.1417]), rotation(0.0, np.pi / 4, 0.3)
    state = JogState(HOME, target, target_pos, target_rot, ticks=90, elapsed_s=3.0)
    text = text_of(render_panel("keyboard", KeyboardTeleop.legend, SO101, state, tool))
    for keys, meaning in KeyboardTeleop.legend:
        assert keys in text and meaning in text
    assert "w / s" in text and "gripper open / close" in text and "Esc" in text
    for name, aim, now in zip(SO101.joints, target, HOME, strict=True):
        row = next(line for line in text.splitlines() if line.strip("│ ").split(" ")[0] == name)
        assert f"{np.degrees(aim):.1f}" in row and f"{np.degrees(now):.1f}" in row
    opened = 100 * (target[5] - SO101.lower[5]) / (SO101.upper[5] - SO101.lower[5])
    assert f"gripper target {opened:.0f}% open" in text
    measured = next(line for line in text.splitlines() if line.strip("│ ").startswith("measured "))
    for value in (*tool[0] * 1000, *rpy_deg(tool[1])):
        assert f"{value:.1f}" in measured
    aimed = next(line for line in text.splitlines() if line.strip("│ ").startswith("target "))
    for value in (212.5, -33.3, 141.7, 0.0, 45.0, np.degrees(0.3)):
        assert f"{value:.1f}" in aimed
    assert "episode 3.0 s · tick 90 · 30.0 Hz" in text


def test_panel_before_the_first_tick_says_it_waits():
    text = text_of(render_panel("keyboard", KeyboardTeleop.legend, SO101, None, None))
    assert "waiting for the first observation" in text and "w / s" in text


def test_the_loop_only_leaves_its_state_and_the_panel_computes_the_pose():
    made = []

    def make_fk():
        made.append(JacobianIK(load_arm_model()))
        return made[-1].forward

    view = JogView("keyboard", (), SO101, make_fk)
    for _ in range(50):
        view.update(HOME, HOME, np.zeros(3), np.eye(3))
    assert not made and view.latest is not None and view.latest.ticks == 50
    assert "measured" in text_of(view) and len(made) == 1  # kinematics data of the panel's own


@contextmanager
def typed(keys: bytes = b"") -> Iterator[int]:
    """A scripted key source holding ``keys`` (a pipe: the bytes are there before the first tick)."""
    read, write = os.pipe()
    os.write(write, keys)
    try:
        yield read
    finally:
        os.close(read)
        os.close(write)


def observation(images: bool) -> dict:
    obs = {STATE: np.concatenate([HOME, np.zeros(6)]).astype(np.float32)}
    if images:
        obs[f"{IMAGE_PREFIX}front"] = np.zeros((24, 32, 3), np.uint8)
    return obs


def test_camera_window_without_a_display_says_so_once_and_opens_nothing(monkeypatch, capfd):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with typed() as keys, KeyboardTeleop(fd=keys, camera_window=True) as teleop:
        teleop.reset(observation(True))
        for _ in range(3):
            teleop.get_action(observation(True))
        assert teleop.window is None
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and "no display" in err and "camera_window" in err


def test_camera_window_on_a_robot_without_cameras_says_so_once(monkeypatch, capfd):
    monkeypatch.setenv("DISPLAY", ":0")
    with typed() as keys, KeyboardTeleop(fd=keys, camera_window=True) as teleop:
        teleop.reset(observation(False))
        window = teleop.window
        assert window is not None
        for _ in range(3):
            teleop.get_action(observation(False))
        assert window.closed and window._process is None
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and "no camera feature" in err


def test_no_camera_window_unless_asked(monkeypatch, capfd):
    monkeypatch.setenv("DISPLAY", ":0")
    with typed() as keys, KeyboardTeleop(fd=keys) as teleop:
        teleop.reset(observation(True))
        teleop.get_action(observation(True))
        assert teleop.window is None
    assert capfd.readouterr().err == ""


@pytest.fixture
def live_terminal(monkeypatch):
    """rich's console as a terminal (the panel shows only on one), writing to a buffer."""
    screen = io.StringIO()
    monkeypatch.setattr(rich, "_console", Console(file=screen, force_terminal=True, width=110))
    return screen


def test_keyboard_records_under_honed_record_with_the_panel_live(tmp_path, live_terminal):
    from honed.data.record_cli import main as record_main
    from honed.data.store import EpisodeStore

    with typed(b"r" * 5 + b"\x1b[C") as keys, pytest.raises(SystemExit) as exit_info:  # 5 x up, then ->
        record_main(["teleop=keyboard", f"teleop_options.fd={keys}", "episodes=1", "episode_s=5",
                     "realtime=false", f"store={tmp_path / 'kb'}", "robot_options.image_height=32",
                     "robot_options.image_width=32"])  # fmt: skip
    assert exit_info.value.code == 0
    episode = EpisodeStore.open(tmp_path / "kb").episode(0)
    assert episode.meta["ended_by"] == "teleop" and len(episode) < 150
    screen = live_terminal.getvalue()
    assert "w / s" in screen and "tool z + / −" in screen and "measured" in screen and "x mm" in screen
    assert "episode 0:" not in screen  # the panel replaces the progress bar


def test_keyboard_under_honed_teleop_shows_the_panel_and_esc_stops(live_terminal):
    from honed.hardware.teleop_cli import Mirror
    from honed.sim.twin import TwinRobot

    robot = TwinRobot(image_height=32, image_width=32)
    with typed(b"\x1b") as keys, robot, KeyboardTeleop(fd=keys) as teleop:  # Esc
        log = Mirror(robot, teleop, fps=30).run(duration_s=600)
    assert len(log.t) == 1  # Esc, read on the first tick, ended the loop
    screen = live_terminal.getvalue()
    assert "shoulder_lift" in screen and "Hz" in screen and "teleop" in screen


def test_camera_window_process_without_a_gui_backend_says_so_and_closes(monkeypatch, capfd):
    from honed.hardware.teleop_view import CameraWindow

    monkeypatch.setenv("MPLBACKEND", "agg")  # a display is named, but matplotlib can draw no window
    seconds = iter(range(1000))  # a clock a second further on at each read: every offer is due
    window = CameraWindow("keyboard teleop cameras", clock=lambda: float(next(seconds)))
    window.offer(observation(True))
    process = window._process
    assert process is not None
    process.join(timeout=120)  # the window process ends on its own once it finds no GUI backend
    window.offer(observation(True))  # not taken any more: the feed stops
    assert window.closed and window._process is None and process.exitcode == 0
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and "no GUI backend" in err


def test_a_camera_window_option_that_is_not_a_yes_or_no_is_refused_in_one_line(tmp_path, capsys):
    from honed.data.record_cli import main as record_main

    with pytest.raises(SystemExit) as exit_info:
        record_main(["teleop=keyboard", "teleop_options.camera_window=sometimes", f"store={tmp_path / 's'}"])
    assert "camera_window='sometimes' must be true or false" in str(exit_info.value.code)
    assert not (tmp_path / "s").exists()
