"""Cameras behind one interface: OpenCV capture and the twin's rendered view, each in its own thread.

Every camera keeps capturing in a background thread and ``read()`` returns the latest frame with
the time it was captured (``time.perf_counter`` seconds), never blocking the control loop longer
than the first frame's arrival. The OpenCV camera is lerobot's (its capture thread), played back
at its frame rate when the source is a video file; the twin camera renders the MuJoCo scene from
the arm pose its robot last read, so the same view exists for a real arm, the emulator and the twin.
"""

from __future__ import annotations

import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from honed.features import Feature
from honed.registry import Registry

CAMERAS: Registry[Any] = Registry("camera")
FIRST_FRAME_TIMEOUT_S = 5.0
_SPEC = re.compile(
    r"^(?P<name>[A-Za-z_]\w*):(?P<kind>[a-z]+)(?::(?P<source>[^@]+))?(?:@(?P<w>\d+)x(?P<h>\d+))?$"
)


@dataclass(frozen=True)
class CameraSpec:
    """One camera of a robot."""

    name: str
    """Feature name: images appear as observation.images.<name>."""
    kind: str
    """opencv or twin."""
    source: str = ""
    """opencv: device index, /dev/video path or video file; twin: MJCF camera name (default: name)."""
    width: int = 320
    """Image width in pixels."""
    height: int = 240
    """Image height in pixels."""
    fps: int = 30
    """Capture rate."""

    def feature(self) -> Feature:
        return Feature((self.height, self.width, 3), "uint8")


def parse_camera_spec(text: str) -> CameraSpec:
    """``<name>:<kind>[:<source>][@<width>x<height>]``, e.g. ``front:twin`` or ``wrist:opencv:/dev/video2@640x480``."""
    m = _SPEC.match(text.strip())
    if m is None:
        raise ValueError(
            f"camera spec {text!r} is malformed; write <name>:<kind>[:<source>][@<width>x<height>], "
            "e.g. front:twin or wrist:opencv:/dev/video0@640x480"
        )
    if m["kind"] not in CAMERAS:
        raise ValueError(
            f"camera spec {text!r}: unknown kind {m['kind']!r}; kinds: {', '.join(CAMERAS.names())}"
        )
    size = {"width": int(m["w"]), "height": int(m["h"])} if m["w"] else {}
    if size and not (8 <= size["width"] <= 4096 and 8 <= size["height"] <= 4096):
        raise ValueError(f"camera spec {text!r}: size must be between 8 and 4096 pixels a side")
    return CameraSpec(name=m["name"], kind=m["kind"], source=m["source"] or "", **size)


@dataclass(frozen=True)
class Frame:
    """An image (H, W, 3) uint8 RGB and when it was captured (time.perf_counter seconds)."""

    image: np.ndarray
    timestamp: float


class Camera(ABC):
    """A camera capturing in its own thread; ``pose()`` gives the arm's joint angles (twin cameras use it)."""

    def __init__(self, spec: CameraSpec, pose: Callable[[], np.ndarray | None] | None = None):
        self.spec = spec
        self.pose = pose or (lambda: None)

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def disconnect(self) -> None: ...

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def read(self) -> Frame:
        """The latest frame (waits for the first one, up to FIRST_FRAME_TIMEOUT_S)."""


class ThreadedCamera(Camera):
    """A capture loop in a background thread keeping the latest frame."""

    def __init__(self, spec: CameraSpec, pose: Callable[[], np.ndarray | None] | None = None):
        super().__init__(spec, pose)
        self._latest: Frame | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._new = threading.Condition()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _open(self) -> None:
        """Runs in the capture thread before the first frame."""

    @abstractmethod
    def _capture(self) -> np.ndarray:
        """Runs in the capture thread: the next frame, paced at the camera's rate."""

    def _close(self) -> None:  # noqa: B027 - optional hook
        """Runs in the capture thread after the last frame."""

    def connect(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"camera {self.spec.name}", daemon=True)
        self._thread.start()
        self.read()

    def _loop(self) -> None:
        try:
            self._open()
            while not self._stop.is_set():
                image = self._capture()
                with self._new:
                    self._latest = Frame(image, time.perf_counter())
                    self._new.notify_all()
        except Exception as e:  # surfaced to the reader, never lost in the thread
            with self._new:
                self._error = e
                self._new.notify_all()
        finally:
            self._close()

    @property
    def is_connected(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def read(self) -> Frame:
        deadline = time.monotonic() + FIRST_FRAME_TIMEOUT_S
        with self._new:
            while self._latest is None and self._error is None:
                if not self._new.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"camera {self.spec.name}: no frame within {FIRST_FRAME_TIMEOUT_S} s")
            if self._error is not None:
                raise RuntimeError(f"camera {self.spec.name} failed: {self._error}") from self._error
            assert self._latest is not None
            return self._latest

    def disconnect(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._thread = None
        self._latest = None


@CAMERAS.register("opencv")
class OpenCVCamera(ThreadedCamera):
    """A USB/V4L2 camera (index or /dev/video path) or a video file, through OpenCV."""

    def _open(self) -> None:
        import cv2

        source: int | str = int(self.spec.source) if self.spec.source.isdigit() else self.spec.source
        self._file = isinstance(source, str) and Path(source).is_file()
        self._cap = cv2.VideoCapture(source)
        if not self._cap.isOpened():
            raise ConnectionError(f"OpenCV cannot open {source!r}; list cameras with `ls /dev/video*`")
        if not self._file:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.spec.width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.spec.height)
            self._cap.set(cv2.CAP_PROP_FPS, self.spec.fps)
        self._next = time.perf_counter()

    def _capture(self) -> np.ndarray:
        import cv2

        if self._file:  # a file plays back at the camera's rate, looping
            self._next += 1.0 / self.spec.fps
            time.sleep(max(0.0, self._next - time.perf_counter()))
        ok, bgr = self._cap.read()
        if not ok and self._file:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok:
            raise ConnectionError(f"camera {self.spec.name} ({self.spec.source}) stopped delivering frames")
        if bgr.shape[:2] != (self.spec.height, self.spec.width):
            bgr = cv2.resize(bgr, (self.spec.width, self.spec.height), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _close(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()


@CAMERAS.register("twin")
class TwinCamera(ThreadedCamera):
    """The MuJoCo twin's view from an MJCF camera, with the arm posed as its robot last read it."""

    def _open(self) -> None:
        import mujoco

        from honed.arms import SO101
        from honed.sim.scene import load_arm_model

        self._model = load_arm_model()
        self._model.vis.global_.offwidth = max(self._model.vis.global_.offwidth, self.spec.width)
        self._model.vis.global_.offheight = max(self._model.vis.global_.offheight, self.spec.height)
        self._data = mujoco.MjData(self._model)
        self._qadr = [self._model.joint(j).qposadr[0] for j in SO101.joints]
        self._renderer = mujoco.Renderer(self._model, self.spec.height, self.spec.width)
        self._camera = self.spec.source or self.spec.name
        if mujoco.mj_name2id(self._model, mujoco.mjtObj.mjOBJ_CAMERA, self._camera) < 0:
            raise ValueError(f"twin camera {self._camera!r} is not in the scene; use front or wrist")
        self._next = time.perf_counter()

    def _capture(self) -> np.ndarray:
        import mujoco

        self._next += 1.0 / self.spec.fps
        time.sleep(max(0.0, self._next - time.perf_counter()))
        pose = self.pose()
        if pose is not None:
            self._data.qpos[self._qadr] = pose[: len(self._qadr)]
        mujoco.mj_forward(self._model, self._data)
        self._renderer.update_scene(self._data, camera=self._camera)
        return self._renderer.render().copy()

    def _close(self) -> None:
        renderer = getattr(self, "_renderer", None)
        if renderer is not None:
            renderer.close()


def make_camera(spec: CameraSpec, pose: Callable[[], np.ndarray | None]) -> Camera:
    """Build a camera; twin cameras pose the arm with ``pose()``."""
    return CAMERAS.get(spec.kind)(spec, pose)
