"""A synthetic robot and teleoperator: camera-like frames and smooth joint motion without any hardware.

Used by the recording benchmark, by tests of the recorder, and to try ``honed-record`` on a laptop.
Frames have a gradient background, a coarse texture, moving shapes and sensor noise, so that codecs
see something like a camera image (pure noise or flat colour would mislead a codec measurement).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from honed.arms import ARMS, ArmSpec
from honed.features import ACTION, STATE, TASK, Feature, Features, image_key
from honed.robot import ROBOTS, Robot, RobotError
from honed.teleop import TELEOPS, Teleoperator


class SyntheticCamera:
    """Deterministic camera-like RGB frames of one size; ``frame(t)`` costs about a millisecond."""

    def __init__(self, height: int = 480, width: int = 640, seed: int = 0, noise_bank: int = 8):
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        base = np.stack([xx / width * 120 + 60, yy / height * 100 + 80, np.sin(xx / 40) * 20 + 120], -1)
        coarse = rng.normal(0, 25, (max(height // 16, 2), max(width // 16, 2), 3)).astype(np.float32)
        base += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        self.base = np.clip(base, 0, 255).astype(np.uint8)  # (H, W, 3)
        self.noise = [
            rng.normal(0, 2.0, (height, width, 3)).astype(np.int16) for _ in range(noise_bank)
        ]  # each (H, W, 3)
        self.height, self.width = height, width

    def frame(self, t: int) -> np.ndarray:
        h, w = self.height, self.width
        img = self.base.copy()
        cx, cy = int(w / 2 + w / 3 * np.sin(t / 10)), int(h / 2 + h / 5 * np.cos(t / 7))
        r = max(min(h, w) // 12, 1)
        cv2.rectangle(img, (cx - r, cy - r), (cx + r, cy + r), (200, 40, 40), -1)
        cv2.circle(img, (w - cx, cy), r, (30, 180, 60), -1)
        cv2.line(img, (w // 6, 5 * h // 6), (cx, cy), (20, 20, 20), max(r // 4, 1))
        noisy = img.astype(np.int16) + self.noise[t % len(self.noise)]
        return np.clip(noisy, 0, 255).astype(np.uint8)


@ROBOTS.register("synthetic")
class SyntheticRobot(Robot):
    """A follower arm that tracks its targets with a first-order lag and films synthetic scenes.

    ``camera_fails_after`` makes every camera stop delivering frames after that many reads (to
    exercise the recorder's handling of a lost camera).
    """

    name = "synthetic"

    def __init__(
        self,
        arm: str = "so101",
        cameras: tuple[str, ...] | list[str] = ("front", "wrist"),
        height: int = 480,
        width: int = 640,
        camera_fails_after: int | None = None,
        task: str = "move the arm",
        seed: int = 0,
    ):
        self.arm: ArmSpec = ARMS[arm]
        self.task = task
        self._cameras = {c: SyntheticCamera(height, width, seed + i) for i, c in enumerate(cameras)}
        self._features = Features(
            {
                STATE: self.arm.state_feature(),
                **{image_key(c): Feature((height, width, 3), "uint8") for c in cameras},
                ACTION: self.arm.action_feature(),
            }
        )
        self.camera_fails_after = camera_fails_after
        self._connected = False
        self._pos: np.ndarray = np.zeros(self.arm.num_joints)
        self._vel: np.ndarray = np.zeros(self.arm.num_joints)
        self._reads = 0

    @property
    def features(self) -> Features:
        return self._features

    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def read(self) -> dict[str, Any]:
        if not self._connected:
            raise RobotError("synthetic robot: read() before connect()")
        obs: dict[str, Any] = {
            STATE: np.concatenate([self._pos, self._vel]).astype(np.float32),
            TASK: self.task,
        }
        lost = self.camera_fails_after is not None and self._reads >= self.camera_fails_after
        if not lost:
            obs.update({image_key(c): cam.frame(self._reads) for c, cam in self._cameras.items()})
        self._reads += 1
        return obs

    def write(self, action: np.ndarray) -> np.ndarray:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.arm.num_joints,) or not np.all(np.isfinite(action)):
            raise ValueError(
                f"action must be {self.arm.num_joints} finite joint targets, got {action.tolist()}"
            )
        sent = np.clip(action, self.arm.low, self.arm.high)
        new = self._pos + 0.3 * (sent - self._pos)
        self._vel, self._pos = new - self._pos, new
        return sent.astype(np.float32)


@TELEOPS.register("synthetic")
class SyntheticTeleop(Teleoperator):
    """Sweeps every joint sinusoidally inside its range (period ``period_s``)."""

    name = "synthetic"

    def __init__(self, arm: str = "so101", fps: int = 30, period_s: float = 4.0):
        self.arm = ARMS[arm]
        self.fps, self.period_s = fps, period_s
        self._t = 0

    def reset(self, observation: dict[str, Any]) -> None:
        self._t = 0

    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        phase = 2 * np.pi * self._t / (self.fps * self.period_s)
        self._t += 1
        mid, half = (self.arm.low + self.arm.high) / 2, (self.arm.high - self.arm.low) / 2
        offsets = np.arange(self.arm.num_joints)
        return (mid + 0.5 * half * np.sin(phase + offsets)).astype(np.float32)
