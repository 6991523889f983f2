"""End-effector jogging, terminal keys, and the ``keyboard`` teleoperator.

:class:`EndEffectorTeleop` turns a Cartesian twist (tool translation and rotation per tick) into joint
targets through damped-least-squares IK on the arm's kinematic model; the keyboard, gamepad and
SpaceMouse teleops all produce their actions through it, and each keeps its latest tick in a
:class:`~honed.hardware.teleop_view.JogView`, the live panel the recording and teleoperation commands
show (legend, joint and gripper targets, tool pose). The keyboard reads a plain terminal in cbreak
mode (no display, no X server, works over SSH); where a display exists it can also open a camera
window (``camera_window=true``).
"""

from __future__ import annotations

import os
import select
import sys
import termios
import tty
from collections.abc import Iterable
from typing import Any

import numpy as np

from honed.arms import SO101, ArmSpec
from honed.features import STATE
from honed.hardware.teleop_view import CameraWindow, JogView, display_available, notice
from honed.teleop import TELEOPS, Teleoperator, TeleopEvents

ESCAPES = {b"\x1b[A": "up", b"\x1b[B": "down", b"\x1b[C": "right", b"\x1b[D": "left"}
SINGLE = {b"\r": "enter", b"\n": "enter", b"\x7f": "backspace", b"\x08": "backspace", b"\x03": "ctrl-c"}


def parse_keys(data: bytes) -> list[str]:
    """Key names in a chunk of terminal input: letters as themselves, arrows, enter, backspace, esc.

    Unknown escape sequences and control bytes are skipped; never raises.
    """
    keys, i = [], 0
    while i < len(data):
        if data[i : i + 1] == b"\x1b":
            seq = data[i : i + 3]
            if seq in ESCAPES:
                keys.append(ESCAPES[seq])
                i += 3
                continue
            if data[i + 1 : i + 2] == b"[":  # other CSI sequence: skip to its final byte
                j = i + 2
                while j < len(data) and not 0x40 <= data[j] <= 0x7E:
                    j += 1
                i = j + 1
                continue
            keys.append("esc")
            i += 1
            continue
        byte = data[i : i + 1]
        if byte in SINGLE:
            keys.append(SINGLE[byte])
        elif 0x20 < data[i] < 0x7F:
            keys.append(byte.decode().lower())
        i += 1
    return keys


class TerminalKeys:
    """Non-blocking key presses from a terminal file descriptor (stdin by default) in cbreak mode."""

    def __init__(self, fd: int | None = None):
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._saved: list[Any] | None = None

    def open(self) -> None:
        if os.isatty(self.fd) and self._saved is None:
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)

    def read(self) -> list[str]:
        """Keys pressed since the last call (empty when none)."""
        data = b""
        while select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 1024)
            if not chunk:
                break
            data += chunk
        return parse_keys(data)

    def close(self) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None


EVENT_KEYS = {"right": "end_episode", "enter": "end_episode", "left": "rerecord", "backspace": "rerecord"}
STOP_KEYS = ("esc", "ctrl-c")


def events_from_keys(keys: list[str]) -> TeleopEvents:
    """→/Enter: save the episode; ←/Backspace: record it again; Esc/Ctrl-C: save and stop."""
    events = TeleopEvents()
    for key in keys:
        if key in STOP_KEYS:
            events.stop = True
        elif key in EVENT_KEYS:
            setattr(events, EVENT_KEYS[key], True)
    return events


def rotation_about(axis_angle: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (Rodrigues)."""
    angle = float(np.linalg.norm(axis_angle))
    if angle < 1e-12:
        return np.eye(3)
    k = axis_angle / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


class EndEffectorTeleop(Teleoperator):
    """Base of the jogging teleops: holds a tool pose target, moves it by twists, solves IK each tick.

    A target the arm cannot reach is pulled back to the reached pose, so the target never runs away.
    ``view`` holds the latest tick for the live panel.
    """

    legend: tuple[tuple[str, str], ...] = ()
    """Controls and what they do, as the live panel lists them."""

    def __init__(self, arm: ArmSpec = SO101, model: Any = None, reach_tolerance_m: float = 0.01):
        from honed.sim.ik import JacobianIK
        from honed.sim.scene import load_arm_model

        self.arm = arm
        self.ik = JacobianIK(model if model is not None else load_arm_model())
        self.reach_tolerance_m = reach_tolerance_m
        self.target_pos: np.ndarray | None = None
        self.target_rot = np.eye(3)
        self.gripper = 0.0
        self.view = JogView(self.name, self.legend, arm, lambda: JacobianIK(self.ik.model).forward)

    def reset(self, observation: dict[str, Any]) -> None:
        q = self.joints(observation)
        self.target_pos, self.target_rot = self.ik.forward(q[:5])
        self.gripper = float(q[5])
        self.view.reset()

    def joints(self, observation: dict[str, Any]) -> np.ndarray:
        state = np.asarray(observation[STATE], dtype=np.float64)
        if state.shape[0] < self.arm.num_joints or not np.all(np.isfinite(state)):
            raise ValueError(f"{self.name}: observation.state {state.tolist()} lacks finite joint positions")
        return state[: self.arm.num_joints]

    def jog(self, observation: dict[str, Any], twist: np.ndarray, gripper_delta: float) -> np.ndarray:
        """Move the target by ``twist`` = (dx, dy, dz, rx, ry, rz) (m, rad; world frame) and solve IK."""
        q = self.joints(observation)
        if self.target_pos is None:
            self.reset(observation)
        assert self.target_pos is not None
        self.target_pos = self.target_pos + twist[:3]
        self.target_rot = rotation_about(np.asarray(twist[3:6])) @ self.target_rot
        arm_q, error = self.ik.solve(self.target_pos, self.target_rot, q_init=q[:5], iterations=30)
        if error > self.reach_tolerance_m:
            self.target_pos, self.target_rot = self.ik.forward(arm_q)
        lo, hi = self.arm.low[5], self.arm.high[5]
        self.gripper = float(np.clip(self.gripper + gripper_delta, lo, hi))
        action = np.clip(np.append(arm_q, self.gripper), self.arm.low, self.arm.high)
        self.view.update(q, action, self.target_pos, self.target_rot)
        return action.astype(np.float32)


JOG_KEYS = {
    "w": (0, +1), "s": (0, -1), "a": (1, +1), "d": (1, -1), "r": (2, +1), "f": (2, -1),
    "q": (5, +1), "e": (5, -1), "t": (4, +1), "g": (4, -1),
}  # fmt: skip
GRIPPER_KEYS = {"o": +1.0, "c": -1.0}
AXIS_NAMES = ("tool x", "tool y", "tool z", "roll", "pitch", "yaw")
KEY_NAMES = {
    "right": "→",
    "left": "←",
    "enter": "Enter",
    "backspace": "Backspace",
    "esc": "Esc",
    "ctrl-c": "Ctrl-C",
}
EVENT_MEANINGS = {"end_episode": "end the episode", "rerecord": "record it again"}


def _names(keys: Iterable[str]) -> str:
    return " ".join(KEY_NAMES.get(k, k) for k in keys)


def key_legend() -> tuple[tuple[str, str], ...]:
    """The keyboard's controls as (keys, what they do) rows, read from the key tables above."""
    rows = []
    for axis, name in enumerate(AXIS_NAMES):
        up = _names(k for k, move in JOG_KEYS.items() if move == (axis, +1))
        down = _names(k for k, move in JOG_KEYS.items() if move == (axis, -1))
        if up or down:
            rows.append((f"{up} / {down}", f"{name} + / −"))
    opens = _names(k for k, sign in GRIPPER_KEYS.items() if sign > 0)
    closes = _names(k for k, sign in GRIPPER_KEYS.items() if sign < 0)
    rows.append((f"{opens} / {closes}", "gripper open / close"))
    for event, meaning in EVENT_MEANINGS.items():
        rows.append((_names(k for k, e in EVENT_KEYS.items() if e == event), meaning))
    rows.append((_names(STOP_KEYS), "stop"))
    return tuple(rows)


@TELEOPS.register("keyboard")
class KeyboardTeleop(EndEffectorTeleop):
    """Jog the gripper from a terminal: w/s x, a/d y, r/f z, q/e yaw, t/g pitch, o/c open/close gripper.

    →/Enter saves the episode, ←/Backspace records it again, Esc stops. Holding a key repeats it.
    With ``camera_window=True`` the robot's cameras show in a window where a display exists (one
    notice line where none does).
    """

    name = "keyboard"
    reads_terminal = True
    legend = key_legend()

    def __init__(
        self,
        step_m: float = 0.005,
        step_rad: float = 0.05,
        gripper_step: float = 0.1,
        fd: int | None = None,
        arm: ArmSpec = SO101,
        model: Any = None,
        camera_window: bool = False,
    ):
        if not isinstance(camera_window, bool):
            raise ValueError(f"camera_window={camera_window!r} must be true or false")
        super().__init__(arm, model)
        self.step_m, self.step_rad, self.gripper_step = step_m, step_rad, gripper_step
        self.keys = TerminalKeys(fd)
        self._events = TeleopEvents()
        self.camera_window = camera_window
        self.window: CameraWindow | None = None

    def connect(self) -> None:
        self.keys.open()
        if self.camera_window and display_available():
            self.window = CameraWindow(f"{self.name} teleop cameras")
        elif self.camera_window:
            notice(f"{self.name}: camera_window=true but no display here (DISPLAY and WAYLAND_DISPLAY are unset); "
                   "no camera window opens")  # fmt: skip

    def disconnect(self) -> None:
        self.keys.close()
        if self.window is not None:
            self.window.close()
            self.window = None

    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        keys = self.keys.read()
        new = events_from_keys(keys)
        for name in ("end_episode", "rerecord", "stop"):
            setattr(self._events, name, getattr(self._events, name) or getattr(new, name))
        twist = np.zeros(6)
        for key in keys:
            if key in JOG_KEYS:
                axis, sign = JOG_KEYS[key]
                twist[axis] += sign * (self.step_m if axis < 3 else self.step_rad)
        grip = sum(GRIPPER_KEYS.get(k, 0.0) for k in keys) * self.gripper_step
        if self.window is not None:
            self.window.offer(observation)
        return self.jog(observation, twist, grip)

    def events(self) -> TeleopEvents:
        events, self._events = self._events, TeleopEvents()
        return events
