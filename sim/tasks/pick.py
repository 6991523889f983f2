"""Lifting tasks: ``pick_cube`` (one cube) and ``pick_color`` (the named one of three cubes)."""

from __future__ import annotations

import mujoco
import numpy as np

from honed.sim.tasks.base import TASKS, BatchView, ResetState, Task, add_free_box, uniform_xy, yaw_quat

CUBE_HALF = 0.015
LIFT_HEIGHT = 0.05
"""Success: the cube's bottom at least this far above the table (m)."""
SPAWN_X = (0.17, 0.26)
SPAWN_Y = (-0.10, 0.10)
COLORS = {"red": (0.85, 0.15, 0.12, 1.0), "green": (0.15, 0.7, 0.2, 1.0), "blue": (0.15, 0.3, 0.85, 1.0)}


def reach_reward(tcp: np.ndarray, target: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(10.0 * np.linalg.norm(tcp - target, axis=-1))


def lift_fraction(z: np.ndarray) -> np.ndarray:
    return np.clip((z - CUBE_HALF) / LIFT_HEIGHT, 0.0, 1.0)


JAWS_OPEN = 0.8
"""Gripper angle (rad) above which the jaws count as open (they stop near 0.6 on a 3 cm cube)."""
LIFTED_JAWS = 0.065
"""How far (m) above the cube's centre the tcp must be for jaws to count as lifted (the home pose holds
it 4.8 cm above a cube on the table; the expert lifts it to 12 cm)."""
AT_CUBE = 0.03
"""Horizontal distance (m) from the tcp within which the jaws count as at the cube."""

GRASP_ENDINGS = (
    "cube lifted short of the goal",
    "closed jaws lifted without the cube",
    "open jaws above the cube",
    "open jaws at the cube",
    "closed jaws at the cube",
    "jaws away from the cube",
)
"""What ``grasp_endings`` tells apart, in the order it checks them."""


def grasp_endings(tcp: np.ndarray, cube: np.ndarray, gripper: np.ndarray) -> list[str]:
    """How a lift attempt stands, per world, from the tcp (N, 3), the cube's centre (N, 3) and the
    gripper angle (N,): the cube lifted short of success, closed jaws lifted without it, open jaws
    above it, open or closed jaws down at it, or the jaws away from it."""
    lifted_cube = cube[:, 2] - CUBE_HALF > 0.01
    lifted_jaws = tcp[:, 2] - cube[:, 2] > LIFTED_JAWS
    closed = gripper < JAWS_OPEN
    near = np.linalg.norm(tcp[:, :2] - cube[:, :2], axis=-1) < AT_CUBE
    conditions = [lifted_cube, lifted_jaws & closed, near & lifted_jaws, near & ~closed, near]
    labels = np.select(conditions, GRASP_ENDINGS[:-1], GRASP_ENDINGS[-1])
    return [str(label) for label in labels]


def place_cube(qpos: np.ndarray, adr: int, xy: np.ndarray, yaw: float) -> None:
    qpos[adr : adr + 3] = [xy[0], xy[1], CUBE_HALF]
    qpos[adr + 3 : adr + 7] = yaw_quat(yaw)


def spaced_points(rng: np.random.Generator, n: int, min_dist: float) -> list[np.ndarray]:
    """n points in the spawn region, pairwise at least ``min_dist`` apart (rejection sampling)."""
    points: list[np.ndarray] = []
    while len(points) < n:
        p = uniform_xy(rng, SPAWN_X, SPAWN_Y)
        if all(np.linalg.norm(p - q) >= min_dist for q in points):
            points.append(p)
    return points


@TASKS.register("pick_cube")
class PickCube(Task):
    """Lift a 3 cm cube 5 cm above the table."""

    name = "pick_cube"
    instructions = ("pick up the cube", "lift the cube off the table", "grab the red cube and lift it")
    episode_seconds = 8.0

    def add_objects(self, spec: mujoco.MjSpec) -> None:
        add_free_box(spec, "cube", (CUBE_HALF,) * 3, COLORS["red"])

    def bind(self, model: mujoco.MjModel) -> None:
        super().bind(model)
        self.cube = model.body("cube").id
        self.cube_adr = self.free_qposadr("cube")

    def sample_reset(self, rng: np.random.Generator) -> ResetState:
        qpos = self.home_qpos()
        place_cube(qpos, self.cube_adr, uniform_xy(rng, SPAWN_X, SPAWN_Y), rng.uniform(-np.pi, np.pi))
        return ResetState(qpos, instruction=int(rng.integers(len(self.instructions))))

    def privileged(self, view: BatchView) -> np.ndarray:
        parts = [self.tcp(view), view.xpos[:, self.cube], view.xquat[:, self.cube]]
        return np.concatenate(parts, axis=-1).astype(np.float32)  # (N, 10)

    def success(self, view: BatchView) -> np.ndarray:
        return view.xpos[:, self.cube, 2] - CUBE_HALF >= LIFT_HEIGHT

    def endings(self, view: BatchView) -> list[str]:
        return grasp_endings(self.tcp(view), view.xpos[:, self.cube], view.qpos[:, self.arm_qpos[-1]])

    def reward(self, view: BatchView) -> np.ndarray:
        cube = view.xpos[:, self.cube]
        lifted = lift_fraction(cube[:, 2])
        return np.where(self.success(view), 1.0, 0.3 * reach_reward(self.tcp(view), cube) + 0.6 * lifted)


@TASKS.register("pick_color")
class PickColor(Task):
    """Three coloured cubes; pick up the one the instruction names."""

    name = "pick_color"
    instructions = tuple(f"pick up the {c} cube" for c in COLORS) + tuple(
        f"lift the {c} block" for c in COLORS
    )
    episode_seconds = 8.0

    def add_objects(self, spec: mujoco.MjSpec) -> None:
        for color, rgba in COLORS.items():
            add_free_box(spec, f"cube_{color}", (CUBE_HALF,) * 3, rgba)

    def bind(self, model: mujoco.MjModel) -> None:
        super().bind(model)
        self.cubes = np.array([model.body(f"cube_{c}").id for c in COLORS])
        self.cube_adrs = [self.free_qposadr(f"cube_{c}") for c in COLORS]

    def target_index(self, instruction: np.ndarray) -> np.ndarray:
        return np.asarray(instruction) % len(COLORS)

    def sample_reset(self, rng: np.random.Generator) -> ResetState:
        qpos = self.home_qpos()
        for adr, xy in zip(self.cube_adrs, spaced_points(rng, len(COLORS), 0.055), strict=True):
            place_cube(qpos, adr, xy, rng.uniform(-np.pi, np.pi))
        return ResetState(qpos, instruction=int(rng.integers(len(self.instructions))))

    def privileged(self, view: BatchView) -> np.ndarray:
        n = view.num_envs
        poses = np.concatenate([view.xpos[:, self.cubes], view.xquat[:, self.cubes]], axis=-1)  # (N, 3, 7)
        onehot = np.eye(len(COLORS))[self.target_index(view.instruction)]  # (N, 3)
        return np.concatenate([self.tcp(view), poses.reshape(n, -1), onehot], axis=-1).astype(
            np.float32
        )  # (N, 27)

    def success(self, view: BatchView) -> np.ndarray:
        heights = view.xpos[:, self.cubes, 2] - CUBE_HALF  # (N, 3)
        target = self.target_index(view.instruction)
        chosen = heights[np.arange(view.num_envs), target]
        others_down = (np.where(np.eye(len(COLORS), dtype=bool)[target], 0.0, heights) < 0.02).all(axis=-1)
        return (chosen >= LIFT_HEIGHT) & others_down

    def reward(self, view: BatchView) -> np.ndarray:
        target = self.target_index(view.instruction)
        cube = view.xpos[np.arange(view.num_envs), self.cubes[target]]  # (N, 3)
        shaped = 0.3 * reach_reward(self.tcp(view), cube) + 0.6 * lift_fraction(cube[:, 2])
        return np.where(self.success(view), 1.0, shaped)

    def endings(self, view: BatchView) -> list[str]:
        cube = view.xpos[np.arange(view.num_envs), self.cubes[self.target_index(view.instruction)]]
        return grasp_endings(self.tcp(view), cube, view.qpos[:, self.arm_qpos[-1]])
