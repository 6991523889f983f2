"""The single twin env on the Gymnasium API (``honed.sim.make_env``)."""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
import numpy as np

from honed.features import TASK, Features
from honed.sim.config import SimConfig
from honed.sim.core import TwinCore
from honed.sim.render import BatchRenderer


def observation_space(features: Features, skip: tuple[str, ...] = ("action",)) -> gym.spaces.Dict:
    spaces: dict[str, gym.Space] = {}
    for key, feat in features.items():
        if key in skip:
            continue
        if feat.dtype == "string":
            spaces[key] = gym.spaces.Text(max_length=256, charset=string.printable)
        elif feat.is_image:
            spaces[key] = gym.spaces.Box(0, 255, feat.shape, np.uint8)
        else:
            spaces[key] = gym.spaces.Box(-np.inf, np.inf, feat.shape, np.float32)
    return gym.spaces.Dict(spaces)


class TwinEnv(gym.Env):
    """One SO-101 twin world. Actions: absolute joint targets (rad), clipped to joint ranges."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, cfg: SimConfig | None = None, render_mode: str | None = None, **overrides: Any):
        cfg = cfg or SimConfig()
        for key, value in overrides.items():
            if not hasattr(cfg, key):
                raise ValueError(f"unknown env option {key!r}; options: {', '.join(vars(cfg))}")
            setattr(cfg, key, value)
        self.core = TwinCore(cfg, num_envs=1, backend="mujoco", threads=1)
        self.features = self.core.features
        self.render_mode = render_mode
        self.observation_space = observation_space(self.features)
        self.action_space = gym.spaces.Box(
            self.core.low.astype(np.float32), self.core.high.astype(np.float32)
        )
        self.metadata = {**self.metadata, "render_fps": cfg.control_hz}
        self._steps = 0
        self._video: BatchRenderer | None = None

    @property
    def model(self) -> Any:
        return self.core.model

    @property
    def data(self) -> Any:
        return self.core.backend.world(0)

    @property
    def task(self) -> Any:
        return self.core.task

    def _obs(self) -> dict[str, Any]:
        batch = self.core.observe()
        return {k: (v[0] if k != TASK else v[0]) for k, v in batch.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, Any], dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.core.seed([seed])
        self.core.reset_worlds(np.array([0]))
        self._steps = 0
        return self._obs(), {"success": False}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        out = self.core.step(np.asarray(action)[None])
        self._steps += 1
        reward, success = float(out["reward"][0]), bool(out["success"][0])
        terminated = success and self.core.cfg.terminate_on_success
        diverged = bool(out["diverged"][0])
        truncated = (self._steps >= self.core.max_steps or diverged) and not terminated
        info = {"success": success, "action_clipped": int(out["action_clipped"][0]), "steps": self._steps,
                "diverged": diverged}  # fmt: skip
        return self._obs(), reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        if self._video is None:
            self._video = BatchRenderer(self.core.model, ("front",), 240, 320)
        return self._video.render(self.data, "front")

    def close(self) -> None:
        self.core.close()
        if self._video is not None:
            self._video.close()
