"""Tasks: scene objects, a seeded reset distribution, success, dense reward and instructions.

Task logic is written once over batched numpy views (leading axis = env), so the CPU backend, the
MuJoCo Warp backend and the single env share it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import mujoco
import numpy as np

from honed.arms import SO101
from honed.registry import Registry

TASKS: Registry[type[Task]] = Registry("task")
HOME_QPOS = np.array([0.0, -0.9, 1.2, 0.9, 0.0, 0.2])
"""Arm pose at reset: tucked up and back over the table, gripper nearly closed."""


@dataclass
class BatchView:
    """Read-only physics state of N worlds as numpy arrays, plus each world's episode parameters."""

    qpos: np.ndarray  # (N, nq)
    qvel: np.ndarray  # (N, nv)
    xpos: np.ndarray  # (N, nbody, 3)
    xquat: np.ndarray  # (N, nbody, 4)
    site_xpos: np.ndarray  # (N, nsite, 3)
    site_xmat: np.ndarray  # (N, nsite, 9)
    mocap_pos: np.ndarray  # (N, nmocap, 3)
    mocap_quat: np.ndarray  # (N, nmocap, 4)
    instruction: np.ndarray  # (N,) index into the task's instructions

    @property
    def num_envs(self) -> int:
        return int(self.qpos.shape[0])


@dataclass
class ResetState:
    """One world's initial state drawn from the task's reset distribution."""

    qpos: np.ndarray
    """Full qpos (arm joints first, then object free joints)."""
    mocap_pos: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    """Target markers' positions (nmocap, 3)."""
    mocap_quat: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    """Target markers' orientations (nmocap, 4)."""
    instruction: int = 0
    """Index of the language instruction for this episode."""


def yaw_quat(yaw: np.ndarray | float) -> np.ndarray:
    """Quaternion(s) (w, x, y, z) of a rotation about z."""
    yaw = np.asarray(yaw, dtype=np.float64)
    return np.stack([np.cos(yaw / 2), np.zeros_like(yaw), np.zeros_like(yaw), np.sin(yaw / 2)], axis=-1)


def quat_yaw(quat: np.ndarray) -> np.ndarray:
    """Yaw angle of quaternion(s) (w, x, y, z), shape (..., 4) -> (...)."""
    w, x, y, z = (quat[..., i] for i in range(4))
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


class Task(ABC):
    """A task in the SO-101 twin. Subclasses add objects, sample resets and score worlds."""

    name: str = ""
    instructions: tuple[str, ...] = ()
    episode_seconds: float = 10.0
    """Episode time limit in seconds at any control rate."""

    def build(self, spec: mujoco.MjSpec) -> None:
        """Add this task's bodies to the arm scene."""
        self.add_objects(spec)

    @abstractmethod
    def add_objects(self, spec: mujoco.MjSpec) -> None: ...

    def bind(self, model: mujoco.MjModel) -> None:
        """Look up ids in the compiled model; called once per model."""
        self.model = model
        self.tcp_site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "tcp")
        self.arm_qpos = np.array([model.jnt_qposadr[model.joint(j).id] for j in SO101.joints])

    def free_qposadr(self, body: str) -> int:
        """qpos address of a body's free joint."""
        return int(self.model.jnt_qposadr[self.model.body(body).jntadr[0]])

    def home_qpos(self) -> np.ndarray:
        qpos = self.model.qpos0.copy()
        qpos[self.arm_qpos] = HOME_QPOS
        return qpos

    @abstractmethod
    def sample_reset(self, rng: np.random.Generator) -> ResetState: ...

    @abstractmethod
    def privileged(self, view: BatchView) -> np.ndarray:
        """Object poses and goals, (N, P) float32, for critics, teachers and scripted experts."""

    @abstractmethod
    def success(self, view: BatchView) -> np.ndarray:
        """(N,) bool."""

    @abstractmethod
    def reward(self, view: BatchView) -> np.ndarray:
        """(N,) float dense shaping reward in about [0, 1] per step, 1 at success."""

    def endings(self, view: BatchView) -> list[str]:
        """Where each world's attempt stands, in a few words (read as an episode ends, to sort failed
        episodes by how they failed); "" for every world of a task that does not tell them apart."""
        return [""] * view.num_envs

    def tcp(self, view: BatchView) -> np.ndarray:
        return view.site_xpos[:, self.tcp_site]  # (N, 3)

    def privileged_size(self) -> int:
        return int(self.privileged(self._empty_view()).shape[-1])

    def _empty_view(self) -> BatchView:
        m = self.model
        return BatchView(
            qpos=m.qpos0[None].copy(),
            qvel=np.zeros((1, m.nv)),
            xpos=np.zeros((1, m.nbody, 3)),
            xquat=np.tile([1.0, 0, 0, 0], (1, m.nbody, 1)),
            site_xpos=np.zeros((1, m.nsite, 3)),
            site_xmat=np.tile(np.eye(3).ravel(), (1, m.nsite, 1)),
            mocap_pos=np.zeros((1, m.nmocap, 3)),
            mocap_quat=np.tile([1.0, 0, 0, 0], (1, m.nmocap, 1)),
            instruction=np.zeros(1, dtype=np.int64),
        )


def add_free_box(
    spec: mujoco.MjSpec,
    name: str,
    half: tuple[float, float, float],
    rgba: tuple[float, ...],
    mass: float = 0.03,
) -> mujoco.MjsBody:
    """A free-floating box object that collides with the arm, the table and other objects."""
    body = spec.worldbody.add_body(name=name, pos=[0.2, 0.0, half[2]])
    body.add_freejoint(name=f"{name}_joint")
    body.add_geom(
        name=name,
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(half),
        rgba=list(rgba),
        mass=mass,
        contype=1,
        conaffinity=3,
        friction=[1.0, 0.01, 0.001],
        condim=4,
    )
    return body


def add_marker(
    spec: mujoco.MjSpec, name: str, geom_type: mujoco.mjtGeom, size: list[float], rgba: tuple[float, ...]
) -> mujoco.MjsBody:
    """A visual-only mocap body marking a goal (does not collide)."""
    body = spec.worldbody.add_body(name=name, mocap=True, pos=[0.2, 0.0, 0.0005])
    body.add_geom(name=name, type=geom_type, size=size, rgba=list(rgba), contype=0, conaffinity=0, group=1)
    return body


def uniform_xy(rng: np.random.Generator, x: tuple[float, float], y: tuple[float, float]) -> np.ndarray:
    return np.array([rng.uniform(*x), rng.uniform(*y)])
