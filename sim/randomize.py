"""Domain randomisation hooks: friction, object masses, object colours, lighting, camera pose."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import mujoco
import numpy as np

from honed.sim.config import RandomizationConfig
from honed.sim.tasks.base import Task

if TYPE_CHECKING:
    from honed.sim.backends.base import PhysicsBackend


class Randomizer:
    """Draws per-world physical and visual parameters at reset.

    Physical changes need a model per world, which the ``mujoco`` backend offers (``models``); other
    backends accept only visual randomisation and say so.
    """

    def __init__(self, cfg: RandomizationConfig, task: Task, backend: PhysicsBackend):
        self.cfg = cfg
        model = backend.model
        self.base = model
        physical = cfg.friction != (1.0, 1.0) or cfg.mass != (1.0, 1.0)
        if physical:
            if not hasattr(backend, "models"):
                raise ValueError(
                    f"randomization.friction/mass need per-world models, which backend "
                    f"{type(backend).__name__} lacks; use backend=mujoco or randomise visuals only"
                )
            backend.models = [copy.deepcopy(model) for _ in range(backend.num_envs)]
        self.models = getattr(backend, "models", None)
        free = model.jnt_type == mujoco.mjtJoint.mjJNT_FREE
        self.objects = np.unique(model.jnt_bodyid[free])
        self.object_geoms = np.flatnonzero(np.isin(model.geom_bodyid, self.objects))
        self.front = model.camera("front").id
        self.base_rgba = model.geom_rgba.copy()
        self.base_light = model.light_diffuse.copy()
        self.base_head = (model.vis.headlight.ambient.copy(), model.vis.headlight.diffuse.copy())
        self.base_cam = model.cam_pos.copy()
        self.visual: dict[int, tuple[np.ndarray, float, np.ndarray]] = {}

    def apply(self, i: int, rng: np.random.Generator) -> None:
        cfg = self.cfg
        if self.models is not None and (cfg.friction != (1.0, 1.0) or cfg.mass != (1.0, 1.0)):
            m = self.models[i]
            m.geom_friction[:, 0] = self.base.geom_friction[:, 0] * rng.uniform(*cfg.friction)
            scale = rng.uniform(*cfg.mass, size=len(self.objects))
            m.body_mass[self.objects] = self.base.body_mass[self.objects] * scale
            m.body_inertia[self.objects] = self.base.body_inertia[self.objects] * scale[:, None]
            mujoco.mj_setConst(m, mujoco.MjData(m))  # derived constants (subtree masses, dof_M0) follow
        jitter = rng.uniform(-cfg.object_color, cfg.object_color, size=(len(self.object_geoms), 3))
        light = 1.0 + rng.uniform(-cfg.light, cfg.light)
        cam = rng.uniform(-cfg.camera_pos, cfg.camera_pos, size=3)
        self.visual[i] = (jitter, light, cam)

    def before_render(self, model: mujoco.MjModel, i: int) -> None:
        """Set world i's colours, light and front camera on the renderer's model."""
        jitter, light, cam = self.visual.get(i, (np.zeros((len(self.object_geoms), 3)), 1.0, np.zeros(3)))
        model.geom_rgba[self.object_geoms, :3] = np.clip(self.base_rgba[self.object_geoms, :3] + jitter, 0, 1)
        model.light_diffuse[:] = np.clip(self.base_light * light, 0, 1)
        model.vis.headlight.ambient[:] = np.clip(self.base_head[0] * light, 0, 1)
        model.vis.headlight.diffuse[:] = np.clip(self.base_head[1] * light, 0, 1)
        model.cam_pos[self.front] = self.base_cam[self.front] + cam
