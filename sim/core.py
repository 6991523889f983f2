"""The twin's core over N worlds: reset distribution, action checks, observation, scoring.

The single Gymnasium env and the batched torch env are thin layers over this. Actions and
``observation.state`` are torch tensors on the backend's device; the task scores worlds and builds
``observation.privileged`` over numpy views (``Task``), and images come from MuJoCo's renderer.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch

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
    action: torch.Tensor | np.ndarray,
    num_envs: int,
    low: torch.Tensor | np.ndarray,
    high: torch.Tensor | np.ndarray,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Refuse misshapen or non-finite (num_envs, joints) targets naming the env; returns the targets
    as float64 clipped to [low, high] and the per-env count of clipped values, as torch tensors on
    the device the targets came on (host data is checked in numpy, a device's tensors in torch)."""
    targets: Any
    xp: Any  # numpy or torch: the calls below are the same in both
    if isinstance(action, torch.Tensor) and action.device.type != "cpu":
        targets, xp, device = action.detach().to(torch.float64), torch, action.device
    else:
        host = action.detach() if isinstance(action, torch.Tensor) else action
        targets, xp, device = np.asarray(host, dtype=np.float64), np, None
    expected = (num_envs, len(low))
    if tuple(targets.shape) != expected:
        raise ValueError(
            f"field 'action' has shape {tuple(targets.shape)}, expected {expected} (num_envs, joints)"
        )
    finite = xp.isfinite(targets).all(axis=1)
    if not finite.all():
        i = int((~finite).nonzero()[0][0])
        raise ValueError(f"env {i}: field 'action' holds non-finite values {targets[i].tolist()}")
    lo, hi = (xp.asarray(b, dtype=xp.float64, device=device) for b in (low, high))
    clipped = xp.clip(targets, lo, hi)
    return torch.as_tensor(clipped), torch.as_tensor((clipped != targets).sum(axis=1))


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
        self.arm = torch.as_tensor(self.task.arm_qpos, device=self.backend.device)
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

    def seed(self, seeds: list[int], ids: np.ndarray | None = None) -> None:
        """Restart the generators of worlds ``ids`` (default: 0, 1, ...) from ``seeds``, one each."""
        for i, s in zip(range(len(seeds)) if ids is None else ids, seeds, strict=True):
            self.rngs[int(i)] = np.random.default_rng(s)

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

    def step(self, action: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """Check (N, 6) joint targets and hold them for one control step (:meth:`advance`); adds
        ``action_clipped``, the per-env count of clipped values."""
        ctrl, n_clipped = check_joint_targets(action, self.num_envs, self.low, self.high)
        return {**self.advance(ctrl), "action_clipped": n_clipped.cpu().numpy()}

    def advance(self, ctrl: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """Hold checked targets (N, 6) for one control step; returns per-world reward, success and
        ``diverged`` (the physics went non-finite and the world was restarted: its episode can no
        longer be scored)."""
        self.backend.step(ctrl)
        view = self.backend.view(self.instruction)
        return {
            "reward": self.task.reward(view),
            "success": self.task.success(view),
            "diverged": self.backend.diverged(),
        }

    def endings(self) -> list[str]:
        """The task's word on where each world's attempt stands (``Task.endings``)."""
        return self.task.endings(self.backend.view(self.instruction))

    def observe_tensors(self, ids: np.ndarray | None = None) -> dict[str, Any]:
        """Observation of every world (or of worlds ``ids``) as torch tensors: ``observation.state``
        (N, 12) float32 made on the backend's device from its own state, ``observation.privileged``
        and images on the CPU (from numpy), ``task`` a list of strings."""
        rows = slice(None) if ids is None else np.asarray(ids)
        t = self.backend.tensors()
        qpos, qvel = t["qpos"].index_select(1, self.arm), t["qvel"].index_select(1, self.arm)
        if ids is not None:
            index = torch.as_tensor(rows, device=qpos.device)
            qpos, qvel = qpos.index_select(0, index), qvel.index_select(0, index)
        obs: dict[str, Any] = {
            STATE: torch.cat([qpos, qvel], dim=1).float(),  # (N, 12)
            PRIVILEGED: torch.from_numpy(self.task.privileged(self.backend.view(self.instruction))[rows]),
        }
        if self.renderer is not None:
            images = self.renderer.render_all(self.backend, ids)
            obs.update({key: torch.from_numpy(frames) for key, frames in images.items()})
        obs[TASK] = [self.task.instructions[k] for k in self.instruction[rows]]
        return obs

    def observe(self, ids: np.ndarray | None = None) -> dict[str, Any]:
        """:meth:`observe_tensors` as numpy arrays."""
        return {k: v if k == TASK else v.cpu().numpy() for k, v in self.observe_tensors(ids).items()}

    def close(self) -> None:
        self.backend.close()
        if self.renderer is not None:
            self.renderer.close()
