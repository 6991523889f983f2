"""Cartesian motion for the grasping experts: tool poses, minimum-jerk segments, IK tracking.

A :class:`ToolPose` is what a 5-joint arm can reach: a tcp position, a pitch of the tool axis below
the horizontal (pi/2 = pointing straight down; its azimuth is always the tcp's own, since every
pitch joint turns in the pan plane) and a roll of the jaws about the tool axis. Segments blend
between poses with a minimum-jerk profile; :class:`IKTracker` turns each blended pose into joint
targets with ``honed.sim.ik.JacobianIK``, warm-started from the previous solution so consecutive
targets stay close, and adds the position servos' gravity sag as a feed-forward offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import mujoco
import numpy as np

from honed.sim.ik import JacobianIK, tilted_rotation

DOWN = float(np.pi / 2)
"""Pitch of a tool pointing straight down."""


def wrap(angle: float) -> float:
    """Angle wrapped into [-pi, pi)."""
    return float((angle + np.pi) % (2 * np.pi) - np.pi)


def azimuth(pos: np.ndarray) -> float:
    """Direction (rad) of a point seen from the arm's pan axis (the world z axis)."""
    return float(np.arctan2(pos[1], pos[0]))


def roll_for_closing(pos: np.ndarray, closing_yaw: float) -> float:
    """Roll (rad) of a top-down tool at ``pos`` whose jaws close along the world yaw ``closing_yaw``."""
    return wrap(azimuth(pos) + np.pi / 2 - closing_yaw)


def min_jerk(s: float) -> float:
    """Minimum-jerk progress for phase time ``s`` in [0, 1]: zero velocity and acceleration at both ends."""
    s = min(max(s, 0.0), 1.0)
    return s**3 * (10 - 15 * s + 6 * s * s)


@dataclass(frozen=True)
class ToolPose:
    """A reachable tool pose: tcp position, tool pitch and jaw roll."""

    pos: np.ndarray
    """tcp position in the world (m), shape (3,)."""
    pitch: float = DOWN
    """Tool axis below the horizontal (rad); pi/2 points straight down."""
    roll: float = 0.0
    """Jaw roll about the tool axis (rad); 0 closes the jaws across the reach direction."""

    def rotation(self) -> np.ndarray:
        """World rotation of the tool frame (columns: tool x, jaw closing y, z), shape (3, 3)."""
        c, s = np.cos(self.roll), np.sin(self.roll)
        about_x = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        return tilted_rotation(azimuth(self.pos), self.pitch) @ about_x

    def closing_axis(self) -> np.ndarray:
        """World direction (3,) the jaws close along (tool y)."""
        return self.rotation()[:, 1]

    def moved(self, pos: np.ndarray) -> ToolPose:
        return replace(self, pos=np.asarray(pos, dtype=np.float64))

    @staticmethod
    def blend(a: ToolPose, b: ToolPose, s: float) -> ToolPose:
        """Pose a fraction ``s`` of the way from ``a`` to ``b`` (linear in position, pitch and roll)."""
        return ToolPose(
            pos=a.pos + s * (b.pos - a.pos),
            pitch=a.pitch + s * (b.pitch - a.pitch),
            roll=a.roll + s * (b.roll - a.roll),
        )

    @staticmethod
    def from_rotation(pos: np.ndarray, rot: np.ndarray) -> ToolPose:
        """The pose of a measured tcp position and tool rotation (3, 3)."""
        x, y = rot[:, 0], rot[:, 1]
        pitch = float(np.arcsin(np.clip(-x[2], -1.0, 1.0)))
        level = tilted_rotation(azimuth(pos), pitch)
        roll = float(np.arctan2(y @ level[:, 2], y @ level[:, 1]))
        return ToolPose(np.asarray(pos, dtype=np.float64).copy(), pitch, roll)


class IKTracker:
    """Joint targets for a stream of tool poses, with gravity feed-forward for the position servos."""

    def __init__(self, model: mujoco.MjModel, ik: JacobianIK):
        self.model = model
        self.ik = ik
        self.data = mujoco.MjData(model)
        self.kp = model.actuator_gainprm[: len(ik.qadr), 0].copy()
        self.q: np.ndarray = np.zeros(len(ik.qadr))
        """Last joint solution (the next solve's warm start), shape (5,)."""
        self.error = 0.0
        """Position error (m) of the last solve."""

    def start(self, arm_q: np.ndarray) -> ToolPose:
        """Take the arm's measured joints as the warm start; returns the tool pose they give."""
        self.q = np.asarray(arm_q[: len(self.q)], dtype=np.float64).copy()
        pos, rot = self.ik.forward(self.q)
        return ToolPose.from_rotation(pos, rot)

    def solve(self, pose: ToolPose, iterations: int = 30) -> np.ndarray:
        """Five joint angles reaching ``pose`` (warm-started from the last call)."""
        self.q, self.error = self.ik.solve(pose.pos, pose.rotation(), q_init=self.q, iterations=iterations)
        return self.q

    def command(self, pose: ToolPose) -> np.ndarray:
        """Five servo targets: the IK solution plus the offset that cancels gravity sag at it."""
        q = self.solve(pose)
        return q + self.gravity_torque(q) / self.kp

    def gravity_torque(self, arm_q: np.ndarray) -> np.ndarray:
        """Torques (N m) gravity puts on the five arm joints at rest in ``arm_q``."""
        self.data.qpos[self.ik.qadr] = arm_q
        self.data.qvel[:] = 0.0
        mujoco.mj_forward(self.model, self.data)
        return self.data.qfrc_bias[self.ik.dofs].copy()

    def reachable_pitch(self, pos: np.ndarray, tolerance: float = 1e-3, lowest: float = 0.6) -> float:
        """The steepest tool pitch (pi/2 first) at which IK reaches ``pos`` within ``tolerance`` (m)."""
        saved = self.q.copy()
        best, best_error = DOWN, np.inf
        for pitch in np.arange(DOWN, lowest - 1e-9, -0.1):
            q, error = self.ik.solve(pos, ToolPose(pos, float(pitch)).rotation(), q_init=saved, iterations=80)
            if error < best_error:
                best, best_error = float(pitch), error
            if error < tolerance:
                break
        self.q = saved
        return best


@dataclass(frozen=True)
class Phase:
    """One stretch of a motion script: blend to a goal pose and a gripper target over ``seconds``."""

    name: str
    """Phase name (also what ``then`` returns to jump here)."""
    seconds: float
    """Duration of the blend (s); the goal is held after it until the phase ends."""
    gripper: float
    """Gripper target (rad) reached at the end of the blend (0 closed, about 1 wide open)."""
    goal: Callable[[np.ndarray], ToolPose]
    """Privileged observation -> goal pose; evaluated every step, so goals can follow moving objects."""
    enter: Callable[[np.ndarray], None] | None = None
    """Called with the privileged observation when the phase starts (to choose grasps, say)."""
    then: Callable[[np.ndarray], str | None] | None = None
    """At the phase's end: the next phase's name; None (or no ``then``) goes to the next in the list."""


class PhaseRunner:
    """Runs a list of phases one control step at a time, feeding the blended poses to an IKTracker."""

    def __init__(self, tracker: IKTracker, control_hz: float, snap_gripper: bool = False):
        self.tracker = tracker
        self.dt = 1.0 / control_hz
        self.snap_gripper = snap_gripper
        """Command each phase's gripper target from its first step instead of blending to it."""
        self.phases: list[Phase] = []
        self.index = 0
        self.elapsed = 0.0
        self.pose = ToolPose(np.zeros(3))
        self.gripper = 0.0
        self._from_pose = self.pose
        self._from_gripper = 0.0
        self._entered = False

    @property
    def phase(self) -> Phase:
        return self.phases[self.index]

    def holding_for(self, seconds: float) -> bool:
        """Whether the script has reached its ``hold`` phase and stayed in it for ``seconds``."""
        return bool(self.phases) and self.phase.name == "hold" and self.elapsed >= seconds

    def begin(self, phases: list[Phase], arm_q: np.ndarray, gripper: float) -> None:
        """Start the script from the arm's measured joints and gripper angle."""
        self.phases = phases
        self.pose = self.tracker.start(arm_q)
        self.gripper = float(gripper)
        self.jump(0)

    def jump(self, index: int) -> None:
        self.index, self.elapsed, self._entered = index, 0.0, False
        self._from_pose, self._from_gripper = self.pose, self.gripper

    def step(self, privileged: np.ndarray) -> np.ndarray:
        """(6,) joint targets for this control step."""
        phase = self.phase
        if not self._entered:
            self._entered = True
            if phase.enter is not None:
                phase.enter(privileged)
        self.elapsed += self.dt
        s = min_jerk(self.elapsed / phase.seconds)
        self.pose = ToolPose.blend(self._from_pose, phase.goal(privileged), s)
        self.gripper = (
            phase.gripper
            if self.snap_gripper
            else self._from_gripper + s * (phase.gripper - self._from_gripper)
        )
        action = np.append(self.tracker.command(self.pose), self.gripper)
        last = self.index == len(self.phases) - 1
        if self.elapsed >= phase.seconds - 1e-9 and (phase.then is not None or not last):
            self._advance(privileged)
        return action

    def _advance(self, privileged: np.ndarray) -> None:
        target = self.phase.then(privileged) if self.phase.then is not None else None
        names = [p.name for p in self.phases]
        if target is not None and target not in names:
            raise ValueError(f"phase {self.phase.name!r} jumps to unknown phase {target!r}; phases: {names}")
        self.jump(names.index(target) if target is not None else self.index + 1)
