"""``gamepad`` and ``spacemouse`` teleoperators over raw HID reports.

On Linux each HID device appears as ``/dev/hidrawN`` and a read returns one input report; this module
finds the device by vendor/product id under ``/sys/class/hidraw``, parses the reports byte by byte and
jogs the gripper through :class:`~honed.hardware.teleop_keyboard.EndEffectorTeleop`. No extra library
is needed (hidapi and pygame would add a native dependency for what is a ``read``). Sessions of
reports can be recorded to and replayed from JSON-lines files (``device=replay:<file>``), which is how
the tests drive these teleops.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from honed.hardware.teleop_keyboard import EndEffectorTeleop
from honed.teleop import TELEOPS, TeleopEvents

SYS_HIDRAW = Path("/sys/class/hidraw")


class HidSource(Protocol):
    def read_reports(self) -> list[bytes]:
        """Input reports that arrived since the last call (non-blocking)."""
        ...

    def close(self) -> None: ...


class HidrawDevice:
    """A Linux hidraw node opened non-blocking."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            raise OSError(
                f"cannot open {self.path} ({e.strerror}); check permissions (udev rule or group)"
            ) from e

    def read_reports(self) -> list[bytes]:
        reports = []
        while True:
            try:
                report = os.read(self.fd, 64)
            except BlockingIOError:
                break
            if not report:
                break
            reports.append(report)
        return reports

    def close(self) -> None:
        os.close(self.fd)


class ReplayHid:
    """Reports from a JSON-lines recording (``{"report": "<hex>"}`` per line), one per read, in order."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.reports = [
            bytes.fromhex(json.loads(line)["report"])
            for line in self.path.read_text().splitlines()
            if line.strip()
        ]
        self._next = 0

    def read_reports(self) -> list[bytes]:
        if self._next >= len(self.reports):
            return []
        self._next += 1
        return [self.reports[self._next - 1]]

    def close(self) -> None:
        pass


def write_recording(path: str | Path, reports: list[bytes]) -> None:
    """Save reports in the format :class:`ReplayHid` reads."""
    Path(path).write_text("".join(json.dumps({"report": r.hex()}) + "\n" for r in reports))


def find_hidraw(ids: list[tuple[int, int]], root: Path = SYS_HIDRAW) -> Path:
    """The /dev node of the first hidraw device whose (vendor, product) id is in ``ids``."""
    for node in sorted(root.glob("hidraw*")):
        uevent = (node / "device" / "uevent").read_text() if (node / "device" / "uevent").exists() else ""
        for line in uevent.splitlines():
            if line.startswith("HID_ID="):
                _, vendor, product = line.split("=", 1)[1].split(":")
                if (int(vendor, 16), int(product, 16)) in ids:
                    return Path("/dev") / node.name
    wanted = ", ".join(f"{v:04x}:{p:04x}" for v, p in ids)
    raise FileNotFoundError(
        f"no HID device with id {wanted} under {root}; plug it in or pass device=/dev/hidrawN"
    )


def open_device(device: str, ids: list[tuple[int, int]]) -> HidSource:
    """``auto`` (find by id), ``replay:<file>`` (recorded reports) or a hidraw path."""
    if device.startswith("replay:"):
        return ReplayHid(device.removeprefix("replay:"))
    return HidrawDevice(find_hidraw(ids) if device == "auto" else device)


# ---- SpaceMouse ---------------------------------------------------------------------------------

SPACEMOUSE_IDS = [(0x046D, 0xC626), (0x046D, 0xC62B), (0x256F, 0xC635), (0x256F, 0xC652), (0x256F, 0xC631)]
SPACEMOUSE_FULL_SCALE = 350.0


@dataclass
class SpaceMouseState:
    """Latest axes (about -1..1; x right, y forward, z up) and buttons of a 3Dconnexion SpaceMouse."""

    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    buttons: int = 0


def parse_spacemouse(report: bytes, state: SpaceMouseState) -> SpaceMouseState:
    """Apply one report: id 1 = translation (or all six axes on newer models), id 2 = rotation, id 3 = buttons.

    Axes are little-endian int16; the device's y and z point backward and down, so they are negated.
    Short or unknown reports leave the state unchanged.
    """
    if len(report) >= 7 and report[0] in (1, 2):
        axes = np.array(struct.unpack_from("<3h", report, 1), dtype=np.float64) / SPACEMOUSE_FULL_SCALE
        axes = np.clip(axes * np.array([1.0, -1.0, -1.0]), -1.0, 1.0)
        if report[0] == 1:
            state.translation = axes
            if len(report) >= 13:
                rot = np.array(struct.unpack_from("<3h", report, 7), dtype=np.float64) / SPACEMOUSE_FULL_SCALE
                state.rotation = np.clip(rot * np.array([1.0, -1.0, -1.0]), -1.0, 1.0)
        else:
            state.rotation = axes
    elif len(report) >= 2 and report[0] == 3:
        state.buttons = int.from_bytes(report[1:3], "little")
    return state


@TELEOPS.register("spacemouse")
class SpaceMouseTeleop(EndEffectorTeleop):
    """6-DoF jogging with a SpaceMouse: push/twist the cap; left button closes the gripper while held,
    right button saves the episode."""

    name = "spacemouse"

    def __init__(
        self, device: str = "auto", max_speed_m: float = 0.006, max_speed_rad: float = 0.05, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.device, self.max_speed_m, self.max_speed_rad = device, max_speed_m, max_speed_rad
        self.source: HidSource | None = None
        self.state = SpaceMouseState()
        self._events = TeleopEvents()

    def connect(self) -> None:
        self.source = open_device(self.device, SPACEMOUSE_IDS)

    def disconnect(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None

    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        if self.source is None:
            self.connect()
        assert self.source is not None
        for report in self.source.read_reports():
            parse_spacemouse(report, self.state)
        if self.state.buttons & 0b10:
            self._events.end_episode = True
        twist = np.concatenate(
            [self.state.translation * self.max_speed_m, self.state.rotation * self.max_speed_rad]
        )
        closing = bool(self.state.buttons & 0b01)
        return self.jog(observation, twist, -0.1 if closing else 0.1)

    def events(self) -> TeleopEvents:
        events, self._events = self._events, TeleopEvents()
        return events


# ---- Gamepad ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GamepadLayout:
    """Where a gamepad's report keeps its sticks, triggers and buttons (byte offsets, bit masks)."""

    report_id: int
    sticks: tuple[int, int, int, int]
    """Offsets of left x, left y, right x, right y (unsigned bytes, centre 128, y down)."""
    triggers: tuple[int, int]
    """Offsets of the left and right analog triggers (0..255)."""
    buttons: dict[str, tuple[int, int]]
    """Button name -> (byte offset, bit mask)."""
    min_length: int


DUALSHOCK4 = GamepadLayout(
    report_id=0x01,
    sticks=(1, 2, 3, 4),
    triggers=(8, 9),
    buttons={"square": (5, 0x10), "cross": (5, 0x20), "circle": (5, 0x40), "triangle": (5, 0x80),
             "l1": (6, 0x01), "r1": (6, 0x02), "share": (6, 0x10), "options": (6, 0x20)},
    min_length=10,
)  # fmt: skip
GAMEPAD_LAYOUTS = {"dualshock4": DUALSHOCK4}
GAMEPAD_IDS = [(0x054C, 0x05C4), (0x054C, 0x09CC), (0x054C, 0x0BA0)]


@dataclass
class GamepadState:
    """Sticks (-1..1, y up), triggers (0..1) and pressed buttons."""

    sticks: np.ndarray = field(default_factory=lambda: np.zeros(4))
    triggers: np.ndarray = field(default_factory=lambda: np.zeros(2))
    pressed: frozenset[str] = frozenset()


def parse_gamepad(report: bytes, layout: GamepadLayout, deadzone: float = 0.08) -> GamepadState | None:
    """One input report as a GamepadState, or None for another report id or a short report."""
    if len(report) < layout.min_length or report[0] != layout.report_id:
        return None
    raw = np.array([report[i] for i in layout.sticks], dtype=np.float64)
    sticks = (raw - 128.0) / 127.0 * np.array([1.0, -1.0, 1.0, -1.0])
    sticks = np.where(np.abs(sticks) < deadzone, 0.0, np.clip(sticks, -1.0, 1.0))
    triggers = np.array([report[i] for i in layout.triggers], dtype=np.float64) / 255.0
    pressed = frozenset(name for name, (i, mask) in layout.buttons.items() if report[i] & mask)
    return GamepadState(sticks, triggers, pressed)


GAMEPAD_EVENTS = {"triangle": "end_episode", "square": "rerecord", "options": "stop"}


@TELEOPS.register("gamepad")
class GamepadTeleop(EndEffectorTeleop):
    """Left stick: x/y; right stick: z (up/down) and yaw; L1/R1: pitch; triggers: open (L2) / close (R2).

    Triangle saves the episode, square records it again, options stops.
    """

    name = "gamepad"

    def __init__(
        self, device: str = "auto", layout: str = "dualshock4", max_speed_m: float = 0.006,
        max_speed_rad: float = 0.05, **kwargs: Any,
    ):  # fmt: skip
        super().__init__(**kwargs)
        if layout not in GAMEPAD_LAYOUTS:
            raise ValueError(f"unknown gamepad layout {layout!r}; layouts: {', '.join(GAMEPAD_LAYOUTS)}")
        self.device, self.layout = device, GAMEPAD_LAYOUTS[layout]
        self.max_speed_m, self.max_speed_rad = max_speed_m, max_speed_rad
        self.source: HidSource | None = None
        self.state = GamepadState()
        self._events = TeleopEvents()

    def connect(self) -> None:
        self.source = open_device(self.device, GAMEPAD_IDS)

    def disconnect(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None

    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        if self.source is None:
            self.connect()
        assert self.source is not None
        for report in self.source.read_reports():
            parsed = parse_gamepad(report, self.layout)
            if parsed is not None:
                for button, event in GAMEPAD_EVENTS.items():
                    if button in parsed.pressed and button not in self.state.pressed:
                        setattr(self._events, event, True)
                self.state = parsed
        lx, ly, rx, ry = self.state.sticks
        pitch = ("r1" in self.state.pressed) - ("l1" in self.state.pressed)
        twist = np.array([ly * self.max_speed_m, -lx * self.max_speed_m, ry * self.max_speed_m,
                          0.0, pitch * self.max_speed_rad, -rx * self.max_speed_rad])  # fmt: skip
        grip = (self.state.triggers[0] - self.state.triggers[1]) * 0.1
        return self.jog(observation, twist, grip)

    def events(self) -> TeleopEvents:
        events, self._events = self._events, TeleopEvents()
        return events
