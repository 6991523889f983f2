"""What a person jogging the arm sees: a live panel in the terminal and, where a display exists, a
camera window.

The panel (rich) shows the key legend, the joint and gripper targets beside the measured joints, and
the tool pose (position in mm, roll/pitch/yaw in degrees) by forward kinematics on the twin's arm
model, from measured joint angles, so it reads the same for a real arm. The control loop only leaves
its latest state behind (:meth:`JogView.update`: a few small array copies per tick); rich's refresh
thread draws the panel from it at :data:`REFRESH_HZ` with kinematics data of its own, and the camera
window runs in a process of its own, fed at most :data:`WINDOW_HZ` frames a second, so neither sits in
the loop's timing path.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from honed.arms import ArmSpec
from honed.features import IMAGE_PREFIX

REFRESH_HZ = 4.0
"""Redraws of the live panel per second."""
WINDOW_HZ = 10.0
"""Camera frames sent to the window per second, at most."""


@dataclass(frozen=True)
class JogState:
    """One control tick of a jogging teleop, as the panel shows it."""

    joints: np.ndarray
    """Measured joint positions (rad), gripper last."""
    target: np.ndarray
    """Joint and gripper targets sent this tick (rad), gripper last."""
    target_pos: np.ndarray
    """Tool position target (m, world frame)."""
    target_rot: np.ndarray
    """Tool orientation target (3x3 rotation, world frame)."""
    ticks: int
    """Ticks since the episode started (the teleop's last reset)."""
    elapsed_s: float
    """Seconds since then."""


def rpy_deg(rotation: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (degrees) of a rotation matrix R = Rz(yaw) Ry(pitch) Rx(roll)."""
    pitch = np.arcsin(-np.clip(rotation[2, 0], -1.0, 1.0))
    roll = np.arctan2(rotation[2, 1], rotation[2, 2])
    yaw = np.arctan2(rotation[1, 0], rotation[0, 0])
    return np.degrees([roll, pitch, yaw])


def _legend(legend: Sequence[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 1))
    half = (len(legend) + 1) // 2
    for _ in range(2):
        table.add_column(style="bold cyan", justify="right")
        table.add_column(min_width=22)
    for i in range(half):
        right = legend[i + half] if i + half < len(legend) else ("", "")
        table.add_row(*legend[i], *right)
    return table


def _joints(arm: ArmSpec, state: JogState) -> Table:
    table = Table("joint", "target °", "measured °", box=None, padding=(0, 1))
    for i, name in enumerate(arm.joints):
        target, measured = np.degrees(state.target[i]), np.degrees(state.joints[i])
        table.add_row(name, f"{target:8.1f}", f"{measured:8.1f}")
    grip, lo, hi = state.target[-1], arm.lower[-1], arm.upper[-1]
    table.caption = f"gripper target {100 * (grip - lo) / (hi - lo):.0f}% open"
    return table


def _pose(tool: tuple[np.ndarray, np.ndarray] | None, state: JogState) -> Table:
    table = Table("tool", "x mm", "y mm", "z mm", "roll °", "pitch °", "yaw °", box=None, padding=(0, 1))
    rows = [("measured", tool), ("target", (state.target_pos, state.target_rot))]
    for label, pose in rows:
        if pose is not None:
            position, rotation = pose
            table.add_row(label, *(f"{v:7.1f}" for v in (*np.asarray(position) * 1000, *rpy_deg(rotation))))
    return table


def render_panel(
    title: str,
    legend: Sequence[tuple[str, str]],
    arm: ArmSpec,
    state: JogState | None,
    tool: tuple[np.ndarray, np.ndarray] | None,
) -> Panel:
    """The panel for one state: legend, joint and gripper targets, tool pose (``tool``: measured
    position in m and rotation), and the episode's time and tick rate."""
    parts: list[RenderableType] = [_legend(legend)] if legend else []
    if state is None:
        parts.append(Text("waiting for the first observation", style="dim"))
    else:
        rate = state.ticks / state.elapsed_s if state.elapsed_s > 0 else 0.0
        parts += [
            Text(""),
            _joints(arm, state),
            Text(""),
            _pose(tool, state),
            Text(f"episode {state.elapsed_s:.1f} s · tick {state.ticks} · {rate:.1f} Hz", style="dim"),
        ]
    return Panel(Group(*parts), title=title, title_align="left", expand=False)


class JogView:
    """The latest tick of a jogging teleop and the panel drawn from it (a rich renderable).

    :meth:`update` runs in the control loop; ``__rich__`` runs in rich's refresh thread and computes
    the tool pose with kinematics data of its own (``fk`` makes it on first use).
    """

    def __init__(
        self,
        title: str,
        legend: Sequence[tuple[str, str]],
        arm: ArmSpec,
        fk: Callable[[], Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.title, self.legend, self.arm, self.clock = title, tuple(legend), arm, clock
        self._make_fk = fk
        self._fk: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
        self.latest: JogState | None = None
        self._started, self._ticks = clock(), 0

    def reset(self) -> None:
        """An episode starts: count its time and ticks from now."""
        self._started, self._ticks = self.clock(), 0

    def update(
        self, joints: np.ndarray, target: np.ndarray, target_pos: np.ndarray, target_rot: np.ndarray
    ) -> None:
        self._ticks += 1
        self.latest = JogState(
            np.array(joints, dtype=np.float64),
            np.array(target, dtype=np.float64),
            np.array(target_pos, dtype=np.float64),
            np.array(target_rot, dtype=np.float64),
            self._ticks,
            self.clock() - self._started,
        )

    def tool_pose(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool position (m) and rotation of measured joint angles."""
        if self._fk is None:
            self._fk = self._make_fk()
        return self._fk(joints)

    def __rich__(self) -> Panel:
        state = self.latest
        tool = self.tool_pose(state.joints) if state is not None else None
        return render_panel(self.title, self.legend, self.arm, state, tool)


def live_view(teleop: Any, *below: RenderableType) -> Live | None:
    """A rich Live display of ``teleop``'s panel above ``below`` (a progress bar, say), redrawn at
    :data:`REFRESH_HZ`; None when the teleop shows no panel or stdout is not a terminal."""
    import rich

    view = getattr(teleop, "view", None)
    console = rich.get_console()
    if not isinstance(view, JogView) or not console.is_terminal:
        return None
    return Live(Group(view, *below), console=console, refresh_per_second=REFRESH_HZ)


def display_available() -> bool:
    """Whether a window can open: an X11 or Wayland display is named in the environment."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def notice(message: str) -> None:
    """One line on the terminal (stderr), above any live panel."""
    print(message, file=sys.stderr, flush=True)


class CameraWindow:
    """The robot's camera images (side by side) in a matplotlib window run by a process of its own.

    :meth:`offer` is called every control tick and costs a clock read unless a frame is due
    (:data:`WINDOW_HZ`); a frame the window has not taken yet is dropped, never waited for. The
    process starts with the first frame; closing the window stops the feed.
    """

    def __init__(self, title: str, rate_hz: float = WINDOW_HZ, clock: Callable[[], float] = time.monotonic):
        self.title, self.period, self.clock = title, 1.0 / rate_hz, clock
        self._next = 0.0
        self._process: Any = None
        self._frames: Any = None
        self.closed = False

    def offer(self, observation: dict[str, Any]) -> None:
        now = self.clock()
        if self.closed or now < self._next:
            return
        self._next = now + self.period
        cameras = sorted(k for k in observation if k.startswith(IMAGE_PREFIX))
        if not cameras:
            notice(f"{self.title}: the robot has no camera feature; no camera window opens")
            self.closed = True
            return
        if self._process is None:
            self._start()
        elif not self._process.is_alive():  # the person closed the window
            self.close()
            return
        frame = np.concatenate([np.asarray(observation[k]) for k in cameras], axis=1)  # (H, W·n, 3)
        with contextlib.suppress(queue.Full):
            self._frames.put_nowait(frame)

    def _start(self) -> None:
        context = mp.get_context("spawn")  # no forked copy of the control loop's threads or GL context
        self._frames = context.Queue(maxsize=2)
        self._process = context.Process(target=show_frames, args=(self._frames, self.title), daemon=True)
        self._process.start()

    def close(self) -> None:
        self.closed = True
        if self._process is None:
            return
        with contextlib.suppress(queue.Full):
            self._frames.put_nowait(None)
        self._process.join(timeout=2.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=2.0)
        self._frames.cancel_join_thread()
        self._frames.close()
        self._process = None


def show_frames(frames: Any, title: str) -> None:
    """The window process: draw each frame from ``frames`` until None arrives or the window closes."""
    import matplotlib

    if matplotlib.get_backend().lower() == "agg":
        notice(f"{title}: no GUI backend for matplotlib here (tkinter or Qt); no camera window opens")
        return
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(num=title)
    ax.set_axis_off()
    image = None
    plt.show(block=False)
    while plt.fignum_exists(fig.number):
        try:
            frame = frames.get(timeout=0.02)
        except queue.Empty:
            plt.pause(0.03)  # let the window handle its events
            continue
        if frame is None:
            break
        if image is None:
            image = ax.imshow(frame)
            fig.tight_layout()
        else:
            image.set_data(frame)
        plt.pause(0.001)
    plt.close(fig)
