"""``peg_insert``: insert a square peg into a square hole with 3 mm of clearance (1.5 mm a side)."""

from __future__ import annotations

import mujoco
import numpy as np

from honed.sim.tasks.base import (
    TASKS,
    BatchView,
    ResetState,
    Task,
    add_free_box,
    quat_yaw,
    uniform_xy,
    yaw_quat,
)

PEG_HALF = (0.01, 0.01, 0.035)
CLEARANCE = 0.003
"""Hole width minus peg width (m)."""
HOLE_HALF = PEG_HALF[0] + CLEARANCE / 2
WALL_THICK, WALL_HALF_HEIGHT = 0.008, 0.015
SPAWN_XY = ((0.15, 0.21), (-0.09, 0.09))
"""x and y ranges (m) of the peg and the hole: within 23 cm of the base, where the wrist (95 degrees of
flex) still holds the peg upright over the socket with its bottom clear of the rim."""
INSERT_DEPTH = 0.02
"""Success: the peg's bottom at least this far below the hole's rim (m), centred in the hole."""


def _add_hole(spec: mujoco.MjSpec) -> None:
    """A square socket of four walls on a mocap body (static during an episode, placed at reset)."""
    body = spec.worldbody.add_body(name="hole", mocap=True, pos=[0.25, 0.0, 0.0])
    off = HOLE_HALF + WALL_THICK / 2
    long_half = HOLE_HALF + WALL_THICK
    walls = {
        "xp": ([off, 0], [WALL_THICK / 2, long_half]),
        "xn": ([-off, 0], [WALL_THICK / 2, long_half]),
        "yp": ([0, off], [HOLE_HALF, WALL_THICK / 2]),
        "yn": ([0, -off], [HOLE_HALF, WALL_THICK / 2]),
    }
    for name, (xy, half) in walls.items():
        body.add_geom(
            name=f"hole_{name}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            pos=[xy[0], xy[1], WALL_HALF_HEIGHT],
            size=[half[0], half[1], WALL_HALF_HEIGHT],
            rgba=[0.35, 0.35, 0.4, 1],
            contype=1,
            conaffinity=3,
            friction=[0.4, 0.005, 0.0001],
        )


@TASKS.register("peg_insert")
class PegInsert(Task):
    """Pick up the standing peg and insert it into the socket."""

    name = "peg_insert"
    instructions = ("insert the peg into the hole", "put the peg in the socket", "fit the peg into the hole")
    episode_seconds = 12.0

    def add_objects(self, spec: mujoco.MjSpec) -> None:
        add_free_box(spec, "peg", PEG_HALF, (0.9, 0.55, 0.1, 1.0), mass=0.02)
        _add_hole(spec)

    def bind(self, model: mujoco.MjModel) -> None:
        super().bind(model)
        self.peg = model.body("peg").id
        self.peg_adr = self.free_qposadr("peg")

    def sample_reset(self, rng: np.random.Generator) -> ResetState:
        qpos = self.home_qpos()
        while True:
            peg_xy = uniform_xy(rng, *SPAWN_XY)
            hole_xy = uniform_xy(rng, *SPAWN_XY)
            if np.linalg.norm(peg_xy - hole_xy) >= 0.08:
                break
        qpos[self.peg_adr : self.peg_adr + 3] = [peg_xy[0], peg_xy[1], PEG_HALF[2]]
        qpos[self.peg_adr + 3 : self.peg_adr + 7] = yaw_quat(rng.uniform(-np.pi / 4, np.pi / 4))
        hole_quat = yaw_quat(np.array([rng.uniform(-np.pi / 4, np.pi / 4)]))
        return ResetState(qpos, np.array([[hole_xy[0], hole_xy[1], 0.0]]), hole_quat, int(rng.integers(3)))

    def privileged(self, view: BatchView) -> np.ndarray:
        hole_yaw = quat_yaw(view.mocap_quat[:, 0])
        parts = [
            self.tcp(view),
            view.xpos[:, self.peg],
            view.xquat[:, self.peg],
            view.mocap_pos[:, 0],
            np.stack([np.cos(hole_yaw), np.sin(hole_yaw)], -1),
        ]
        return np.concatenate(parts, axis=-1).astype(np.float32)  # (N, 15)

    def depth(self, view: BatchView) -> np.ndarray:
        """How far the peg's bottom is below the rim (m); negative when above."""
        return 2 * WALL_HALF_HEIGHT - (view.xpos[:, self.peg, 2] - PEG_HALF[2])

    def offset(self, view: BatchView) -> np.ndarray:
        return np.linalg.norm(view.xpos[:, self.peg, :2] - view.mocap_pos[:, 0, :2], axis=-1)

    def success(self, view: BatchView) -> np.ndarray:
        return (self.depth(view) >= INSERT_DEPTH) & (self.offset(view) <= CLEARANCE)

    def reward(self, view: BatchView) -> np.ndarray:
        peg = view.xpos[:, self.peg]
        reach = 1.0 - np.tanh(10.0 * np.linalg.norm(self.tcp(view) - peg, axis=-1))
        above = 1.0 - np.tanh(20.0 * self.offset(view))
        inserted = np.clip(self.depth(view) / INSERT_DEPTH, 0.0, 1.0) * (self.offset(view) <= CLEARANCE)
        return np.where(self.success(view), 1.0, 0.2 * reach + 0.4 * above + 0.3 * inserted)
