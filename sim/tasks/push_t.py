"""``push_t``: push a T-shaped block onto a fixed target pose; success at >= 90% area overlap."""

from __future__ import annotations

import mujoco
import numpy as np

from honed.sim.tasks.base import (
    TASKS,
    BatchView,
    ResetState,
    Task,
    add_marker,
    quat_yaw,
    uniform_xy,
    yaw_quat,
)

# The T in its own frame: a bar on top of a stem (x right, y up), heights in z.
BAR_CENTER, BAR_HALF = (0.0, 0.0375), (0.05, 0.0125)
STEM_CENTER, STEM_HALF = (0.0, -0.0125), (0.0125, 0.0375)
T_HALF_HEIGHT = 0.0125
GOAL_POSE = (0.23, 0.0, 0.0)
"""Target (x, y, yaw) of the T on the table."""
SUCCESS_OVERLAP = 0.9
_GRID = 0.002


def t_points() -> np.ndarray:
    """Sample points covering the T's area uniformly (2 mm grid), shape (P, 2) in the T frame."""
    pts = []
    for (cx, cy), (hx, hy) in ((BAR_CENTER, BAR_HALF), (STEM_CENTER, STEM_HALF)):
        xs = np.arange(cx - hx + _GRID / 2, cx + hx, _GRID)
        ys = np.arange(cy - hy + _GRID / 2, cy + hy, _GRID)
        pts.append(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2))
    return np.concatenate(pts)


def inside_t(local: np.ndarray) -> np.ndarray:
    """(..., 2) points in the T frame -> (...) bool, inside the T's outline."""
    inside = np.zeros(local.shape[:-1], dtype=bool)
    for (cx, cy), (hx, hy) in ((BAR_CENTER, BAR_HALF), (STEM_CENTER, STEM_HALF)):
        inside |= (np.abs(local[..., 0] - cx) <= hx) & (np.abs(local[..., 1] - cy) <= hy)
    return inside


def rotation(yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (..., 2, 2)


_POINTS = t_points()


def overlap(pose: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Fraction of the T at ``pose`` (N, 3: x, y, yaw) lying inside the T at ``goal`` (N, 3)."""
    world = np.einsum("nij,pj->npi", rotation(pose[:, 2]), _POINTS) + pose[:, None, :2]  # (N, P, 2)
    local = np.einsum("nji,npj->npi", rotation(goal[:, 2]), world - goal[:, None, :2])  # (N, P, 2)
    return inside_t(local).mean(axis=-1)


def add_t_geoms(body: mujoco.MjsBody, name: str, rgba: tuple[float, ...], height: float, solid: bool) -> None:
    for part, (cx, cy), (hx, hy) in (("bar", BAR_CENTER, BAR_HALF), ("stem", STEM_CENTER, STEM_HALF)):
        geom = body.add_geom(
            name=f"{name}_{part}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[hx, hy, height],
            pos=[cx, cy, 0],
            rgba=list(rgba),
        )
        if solid:
            geom.contype, geom.conaffinity, geom.condim = 1, 3, 3
            geom.friction = [0.5, 0.005, 0.0001]
            geom.mass = 0.06
            # Outrank the fingers' contact parameters (priority 1) so a push meets the T's own plastic
            # friction, not the jaws' 5 cm torsional grip that stops the T turning about the pusher.
            geom.priority = 2
        else:
            geom.contype = geom.conaffinity = 0
            geom.group = 1


@TASKS.register("push_t")
class PushT(Task):
    """Push the T block with the closed gripper until it covers the target outline."""

    name = "push_t"
    instructions = (
        "push the T onto the target",
        "align the T block with its outline",
        "slide the T into place",
    )
    episode_seconds = 20.0

    def add_objects(self, spec: mujoco.MjSpec) -> None:
        block = spec.worldbody.add_body(name="tblock", pos=[0.2, 0, T_HALF_HEIGHT])
        block.add_freejoint(name="tblock_joint")
        add_t_geoms(block, "tblock", (0.45, 0.55, 0.75, 1.0), T_HALF_HEIGHT, solid=True)
        goal = add_marker(spec, "tgoal", mujoco.mjtGeom.mjGEOM_BOX, [0.001, 0.001, 0.0005], (0, 0, 0, 0))
        add_t_geoms(goal, "tgoal", (0.2, 0.8, 0.3, 0.35), 0.0005, solid=False)

    def bind(self, model: mujoco.MjModel) -> None:
        super().bind(model)
        self.block = model.body("tblock").id
        self.block_adr = self.free_qposadr("tblock")

    def sample_reset(self, rng: np.random.Generator) -> ResetState:
        qpos = self.home_qpos()
        goal = np.array([GOAL_POSE])
        while True:
            pose = np.array([[*uniform_xy(rng, (0.17, 0.29), (-0.09, 0.09)), rng.uniform(-np.pi, np.pi)]])
            if overlap(pose, goal)[0] < 0.5:
                break
        qpos[self.block_adr : self.block_adr + 3] = [pose[0, 0], pose[0, 1], T_HALF_HEIGHT]
        qpos[self.block_adr + 3 : self.block_adr + 7] = yaw_quat(pose[0, 2])
        mocap = np.array([[GOAL_POSE[0], GOAL_POSE[1], 0.0005]])
        return ResetState(
            qpos, mocap, yaw_quat(np.array([GOAL_POSE[2]])), int(rng.integers(len(self.instructions)))
        )

    def block_pose(self, view: BatchView) -> np.ndarray:
        xy = view.xpos[:, self.block, :2]
        return np.concatenate([xy, quat_yaw(view.xquat[:, self.block])[:, None]], axis=-1)  # (N, 3)

    def goal_pose(self, view: BatchView) -> np.ndarray:
        return np.concatenate([view.mocap_pos[:, 0, :2], quat_yaw(view.mocap_quat[:, 0])[:, None]], axis=-1)

    def coverage(self, view: BatchView) -> np.ndarray:
        return overlap(self.block_pose(view), self.goal_pose(view))

    def privileged(self, view: BatchView) -> np.ndarray:
        block, goal = self.block_pose(view), self.goal_pose(view)
        trig = lambda p: np.stack([np.cos(p[:, 2]), np.sin(p[:, 2])], -1)  # noqa: E731
        parts = [self.tcp(view), block[:, :2], trig(block), goal[:, :2], trig(goal)]
        return np.concatenate(parts, axis=-1).astype(np.float32)  # (N, 11)

    def success(self, view: BatchView) -> np.ndarray:
        return self.coverage(view) >= SUCCESS_OVERLAP

    def reward(self, view: BatchView) -> np.ndarray:
        cov = self.coverage(view)
        reach = 1.0 - np.tanh(
            10.0 * np.linalg.norm(self.tcp(view)[:, :2] - view.xpos[:, self.block, :2], axis=-1)
        )
        return np.where(cov >= SUCCESS_OVERLAP, 1.0, 0.1 * reach + 0.8 * cov)
