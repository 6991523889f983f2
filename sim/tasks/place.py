"""``place_cube``: put a cube on a target pad, its centre within 1.5 cm of the pad's."""

from __future__ import annotations

import mujoco
import numpy as np

from honed.sim.tasks.base import TASKS, BatchView, ResetState, Task, add_free_box, add_marker
from honed.sim.tasks.pick import (
    COLORS,
    CUBE_HALF,
    lift_fraction,
    place_cube,
    reach_reward,
    spaced_points,
)

PAD_RADIUS = 0.025
PLACE_TOLERANCE = 0.015
"""Success: cube centre within this horizontal distance of the pad centre (m), resting on the table."""


@TASKS.register("place_cube")
class PlaceCube(Task):
    """Pick the cube up and set it down on the green pad."""

    name = "place_cube"
    instructions = (
        "put the cube on the green pad",
        "place the cube on the target",
        "move the cube onto the pad",
    )
    episode_seconds = 10.0

    def add_objects(self, spec: mujoco.MjSpec) -> None:
        add_free_box(spec, "cube", (CUBE_HALF,) * 3, COLORS["red"])
        add_marker(spec, "pad", mujoco.mjtGeom.mjGEOM_CYLINDER, [PAD_RADIUS, 0.0005, 0], (0.2, 0.8, 0.3, 0.6))

    def bind(self, model: mujoco.MjModel) -> None:
        super().bind(model)
        self.cube = model.body("cube").id
        self.cube_adr = self.free_qposadr("cube")

    def sample_reset(self, rng: np.random.Generator) -> ResetState:
        qpos = self.home_qpos()
        cube_xy, pad_xy = spaced_points(rng, 2, 0.08)
        place_cube(qpos, self.cube_adr, cube_xy, rng.uniform(-np.pi, np.pi))
        pad = np.array([[pad_xy[0], pad_xy[1], 0.0005]])
        return ResetState(qpos, pad, np.array([[1.0, 0, 0, 0]]), int(rng.integers(len(self.instructions))))

    def privileged(self, view: BatchView) -> np.ndarray:
        parts = [self.tcp(view), view.xpos[:, self.cube], view.xquat[:, self.cube], view.mocap_pos[:, 0]]
        return np.concatenate(parts, axis=-1).astype(np.float32)  # (N, 13)

    def _pad_distance(self, view: BatchView) -> np.ndarray:
        return np.linalg.norm(view.xpos[:, self.cube, :2] - view.mocap_pos[:, 0, :2], axis=-1)

    def success(self, view: BatchView) -> np.ndarray:
        resting = view.xpos[:, self.cube, 2] < CUBE_HALF + 0.004
        return (self._pad_distance(view) <= PLACE_TOLERANCE) & resting

    def reward(self, view: BatchView) -> np.ndarray:
        cube = view.xpos[:, self.cube]
        near_pad = 1.0 - np.tanh(10.0 * self._pad_distance(view))
        carried = np.minimum(lift_fraction(cube[:, 2]) * 4, 1.0)
        shaped = 0.2 * reach_reward(self.tcp(view), cube) + 0.2 * carried + 0.5 * near_pad
        return np.where(self.success(view), 1.0, shaped)
