"""The twin's core over N worlds in numpy: reset distribution, action checks, observation, scoring.

The single Gymnasium env and the batched torch env are thin layers over this.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from honed.arms import SO101
from honed.features import ACTION, PRIVILEGED, STATE, TASK, Feature, Features, image_key
from honed.sim import tasks as _tasks  # noqa: F401  (registers tasks)
from honed.sim.backends import BACKENDS
from honed.sim.config import SimConfig
from honed.sim.randomize import Randomizer
from honed.sim.render import BatchRenderer, camera_placement
from honed.sim.scene import load_spec, set_control_rate
from honed.sim.tasks.base import TASKS, Task

CAMERAS = ("front", "wrist")


def check_joint_targets(
    action: np.ndarray, num_envs: int, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Refuse misshapen or non-finite (num_envs, joints) targets naming the env; returns the targets
    clipped to [low, high] and the per-env count of clipped values."""
    action = np.asarray(action, dtype=np.float64)
    expected = (num_envs, len(low))
    if action.shape != expected:
        raise ValueError(f"field 'action' has shape {action.shape}, expected {expected} (num_envs, joints)")
    finite = np.isfinite(action).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"env {i}: field 'action' holds non-finite values {action[i].tolist()}")
    clipped = np.clip(action, low, high)
    return clipped, (clipped != action).sum(axis=1)


def build_world(cfg: SimConfig) -> tuple[mujoco.MjModel, Task, int]:
    """Compile arm scene + task objects; returns (model, bound task, physics substeps per control step)."""
    task = TASKS.get(cfg.task)()
    bad = [c for c in cfg.cameras if c not in CAMERAS]
    if bad:
        raise ValueError(f"cameras: unknown camera(s) {bad}; valid cameras: {', '.join(CAMERAS)}")
    spec = load_spec(cfg.mjcf_override)
    task.build(spec)
    model = spec.compile()
    substeps = set_control_rate(model, cfg.control_hz)
    task.bind(model)
    return model, task, substeps


class TwinCore:
    """N worlds of one task. Each world i draws its episodes from its own seeded generator."""

    def __init__(self, cfg: SimConfig, num_envs: int, backend: str = "mujoco", **backend_options: Any):
        backend_cls = BACKENDS.get(backend)
        self.cfg = cfg
        self.model, self.task, substeps = build_world(cfg)
        self.num_envs = num_envs
        self.backend = backend_cls(self.model, num_envs, substeps, **backend_options)
        self.randomizer = (
            Randomizer(cfg.randomization, self.task, self.backend) if cfg.randomization.enabled else None
        )
        self.renderer = (
            BatchRenderer(self.model, cfg.cameras, cfg.image_height, cfg.image_width) if cfg.cameras else None
        )
        if self.renderer is not None and self.randomizer is not None:
            self.renderer.before_world = self.randomizer.before_render
        seconds = cfg.episode_seconds or self.task.episode_seconds
        self.max_steps = max(1, round(seconds * cfg.control_hz))
        self.low, self.high = (
            self.model.actuator_ctrlrange[:, 0].copy(),
            self.model.actuator_ctrlrange[:, 1].copy(),
        )
        self.rngs = [np.random.default_rng(i) for i in range(num_envs)]
        self.instruction = np.zeros(num_envs, dtype=np.int64)
        self.features = self._features()

    def _features(self) -> Features:
        items = {STATE: SO101.state_feature()}
        for cam in self.cfg.cameras:
            size = (self.cfg.image_height, self.cfg.image_width, 3)
            items[image_key(cam)] = Feature(size, "uint8", placement=camera_placement(self.model, cam))
        items[PRIVILEGED] = Feature((self.task.privileged_size(),), "float32", unit="m, quaternion")
        items[TASK] = Feature((1,), "string")
        items[ACTION] = SO101.action_feature()
        return Features(items)

    def seed(self, seeds: list[int]) -> None:
        for i, s in enumerate(seeds):
            self.rngs[i] = np.random.default_rng(s)

    def reset_worlds(self, ids: np.ndarray) -> None:
        """Draw a fresh episode for each world in ``ids`` from its own generator."""
        states = [self.task.sample_reset(self.rngs[i]) for i in ids]
        if self.randomizer is not None:
            for i in ids:
                self.randomizer.apply(int(i), self.rngs[i])
        self.backend.set_state(
            np.asarray(ids),
            np.stack([s.qpos for s in states]),
            np.stack([s.mocap_pos for s in states]),
            np.stack([s.mocap_quat for s in states]),
        )
        self.instruction[ids] = [s.instruction for s in states]

    def check_action(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validate (N, 6) joint targets; returns (clipped targets, per-env count of clipped values)."""
        return check_joint_targets(action, self.num_envs, self.low, self.high)

    def step(self, action: np.ndarray) -> dict[str, np.ndarray]:
        """Hold the checked targets for one control step; returns per-world reward, success, clipped
        target count and ``diverged`` (the physics went non-finite and the world was restarted: its
        episode can no longer be scored)."""
        ctrl, n_clipped = self.check_action(action)
        self.backend.step(ctrl)
        view = self.backend.view(self.instruction)
        return {
            "reward": self.task.reward(view),
            "success": self.task.success(view),
            "action_clipped": n_clipped,
            "diverged": self.backend.diverged(),
        }

    def endings(self) -> list[str]:
        """The task's word on where each world's attempt stands (``Task.endings``)."""
        return self.task.endings(self.backend.view(self.instruction))

    def observe(self) -> dict[str, Any]:
        view = self.backend.view(self.instruction)
        arm = self.task.arm_qpos
        state = np.concatenate([view.qpos[:, arm], view.qvel[:, arm]], axis=1).astype(np.float32)  # (N, 12)
        obs: dict[str, Any] = {
            STATE: state,
            PRIVILEGED: self.task.privileged(view),
        }
        if self.renderer is not None:
            obs.update(self.renderer.render_all(self.backend))
        obs[TASK] = [self.task.instructions[k] for k in self.instruction]
        return obs

    def close(self) -> None:
        self.backend.close()
        if self.renderer is not None:
            self.renderer.close()
