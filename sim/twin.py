"""The twin as a Robot: the same interface as a real follower arm, backed by the single twin env.

Each ``write`` holds the targets for one control period of simulated time, so a recording or
control loop paced at the control rate sees the twin move as the real arm would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from honed.features import ACTION, Features
from honed.robot import ROBOTS, Robot, RobotError
from honed.sim.config import SimConfig
from honed.sim.env import TwinEnv


@ROBOTS.register("so101_twin")
class TwinRobot(Robot):
    """SO-101 twin follower. ``read()`` also carries ``observation.privileged`` and ``task``."""

    name = "so101_twin"

    def __init__(
        self,
        task: str = "pick_cube",
        seed: int = 0,
        control_hz: float = 30.0,
        cameras: tuple[str, ...] | list[str] = ("front", "wrist"),
        image_height: int = 96,
        image_width: int = 96,
        mjcf_override: str | None = None,
    ):
        self.cfg = SimConfig(
            task=task,
            control_hz=control_hz,
            cameras=tuple(cameras),
            image_height=image_height,
            image_width=image_width,
            terminate_on_success=False,
            mjcf_override=mjcf_override,
        )
        self.seed = seed
        self.env: TwinEnv | None = None
        self._obs: dict[str, Any] | None = None
        self.success = False
        """Whether the current episode has met the task's success predicate."""
        self._features: Features | None = None

    @property
    def features(self) -> Features:
        if self._features is None:
            if self.env is not None:
                self._features = self.env.features
            else:
                probe = TwinEnv(self.cfg)
                self._features = probe.features
                probe.close()
        return self._features

    @property
    def is_connected(self) -> bool:
        return self.env is not None

    def _env(self) -> TwinEnv:
        if self.env is None:
            raise RobotError(f"{self.name} is not connected; call connect() or use it as a context manager")
        return self.env

    def connect(self) -> None:
        if self.env is None:
            self.env = TwinEnv(self.cfg)
            self.reset_scene(self.seed)

    def disconnect(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def reset_scene(self, seed: int | None = None) -> dict[str, Any]:
        """Draw a new episode from the task's reset distribution (the twin's reset period)."""
        self._obs, _ = self._env().reset(seed=seed)
        self.success = False
        return self._obs

    def read(self) -> dict[str, Any]:
        env = self._env()
        if self._obs is None:
            self._obs = env._obs()
        return dict(self._obs)

    def write(self, action: np.ndarray) -> np.ndarray:
        env = self._env()
        action = np.asarray(action, dtype=np.float64)
        expected = env.features[ACTION].shape
        if action.shape != expected:
            raise ValueError(f"field 'action' has shape {action.shape}, expected {expected}")
        if not np.isfinite(action).all():
            raise ValueError(f"field 'action' holds non-finite values {action.tolist()}; nothing was sent")
        sent = np.clip(action, env.core.low, env.core.high)
        self._obs, _, _, _, info = env.step(sent)
        if info["diverged"]:  # a real arm's fault: the episode in progress no longer describes the scene
            raise RobotError(
                f"{self.name}: the simulated physics diverged (non-finite state) and MuJoCo restarted the "
                "scene from its default pose; call reset_scene() before the next episode"
            )
        self.success = self.success or bool(info["success"])
        return sent.astype(np.float32)
