"""Experts for ``pick_cube`` and ``pick_color``: a top-down grasp of a cube, then a lift.

Strategies (the demos' modes): ``square`` closes the jaws across the cube's face pair that needs the
least wrist roll; ``turned`` closes them across the other face pair, a quarter turn of the wrist
away. Both approach from above, descend straight down, squeeze, and lift while drawing the cube
back toward the base. A grasp that comes up empty, or a descent that lands on the cube, reopens and
tries again. An episode chosen for a recovery (``recoveries``) shows one mistake and its repair, drawn
at even odds from ``recovery_kinds`` (default ``retry`` and ``correct``): ``retry``, the first grasp
closes beside the cube and the expert reopens and tries again; ``correct``, the approach stops off to
one side of the cube and the descent steers back onto it, so the wrist camera sees the cube off-centre
with the motion that centres it; ``retry_lifted``, the first grasp closes beside the cube as in
``retry`` but the expert lifts before it sees the jaws empty, then reopens up there and tries again,
so the demos show what to do once a grasp has come up empty; ``land``, the first attempt is aimed
along the closing axis so that a jaw comes down on the cube's top, and the expert backs off upward
and aims again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from honed.features import STATE
from honed.sim.experts.base import EXPERTS, SETTLE_SECONDS, Expert
from honed.sim.experts.cartesian import (
    DOWN,
    IKTracker,
    Phase,
    PhaseRunner,
    ToolPose,
    azimuth,
    roll_for_closing,
)
from honed.sim.tasks.base import quat_yaw
from honed.sim.tasks.pick import COLORS

GRIPPER_OPEN = 1.0
"""Jaw opening (rad) for a 3 cm cube: clears it by about 1 cm on the moving jaw's side."""
GRIPPER_SQUEEZE = -0.15
"""Closed target (rad) past contact, so the servo holds the cube at its force limit."""
PREGRASP_HEIGHT = 0.075
"""tcp height (m) above the table before the straight descent."""
GRASP_ABOVE_CENTER = 0.006
"""tcp height above the cube's centre (m) at the grasp: keeps the fixed jaw's tip off the table."""
FIXED_JAW_CLEARANCE = 0.007
"""Offset (m) of the tcp from the cube's centre toward the fixed jaw, so that jaw clears the cube."""
LIFT_HEIGHT = 0.12
"""tcp height (m) the cube is lifted to."""
LIFT_REACH = 0.21
"""Largest distance (m) from the base at the end of the lift (draws far cubes back)."""
LIFTED = 0.035
"""Cube centre height (m) above which a grasp counts as holding the cube."""
BLOCKED = 0.01
"""How far (m) the tcp may stay above its grasp height before the descent counts as blocked."""
EMPTY_GRIP = 0.3
"""Gripper angle (rad) below which closed jaws hold nothing (they stop near 0.6 on a 3 cm cube)."""
MISS = (0.032, 0.04)
"""Range (m) of the offset, across the closing axis, of a grasp aimed beside the cube on purpose (a
recovery demo): far enough that the jaws close on nothing."""
OFF_AIM = (0.006, 0.014)
"""Range (m) of the horizontal offset, in any direction, at which a ``correct`` recovery's approach
stops; the descent closes it while the jaws are still above the cube."""
LAND = (0.016, 0.022)
"""Range (m) of the offset, along the closing axis away from the fixed jaw, of an attempt aimed so that
the moving jaw lands on the cube's top (a ``land`` recovery). Offsets the other way do not block the
descent: the jaws close on the cube's edge instead."""


def grasp_rolls(pos: np.ndarray, cube_yaw: float) -> np.ndarray:
    """Rolls of the four top-down grasps closing across the cube's faces, shape (4,)."""
    return np.array([roll_for_closing(pos, cube_yaw + k * np.pi / 2) for k in range(4)])


def nearest_roll(rolls: np.ndarray, reference: float) -> float:
    return float(rolls[np.argmin(np.abs(rolls - reference))])


class GraspExpert(Expert):
    """Top-down cube grasping shared by the pick and place experts; subclasses say which cube."""

    strategies = ("square", "turned")
    recovery_choices = ("retry", "correct", "retry_lifted", "land")
    default_recovery_kinds = ("retry", "correct")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.miss = 0.0
        """Signed offset (m) of this attempt's grasp across the closing axis (non-zero only in a deliberate miss)."""
        self.land = 0.0
        """Signed offset (m) of this attempt along the closing axis (non-zero only in a ``land`` recovery)."""
        self.off_aim: np.ndarray = np.zeros(2)
        """Horizontal offset (m) of the approach's goal (non-zero only in a ``correct`` recovery's approach)."""
        self.aiming_off = False
        """Whether the last action came from an approach aimed off the cube on purpose."""
        self.lift_empty = False
        """Whether this attempt's deliberate miss is lifted before the expert notices it (``retry_lifted``)."""
        self.tracker = IKTracker(self.model, self.ik)
        self.runner = PhaseRunner(self.tracker, self.control_hz, self.snap_gripper)
        self.roll = 0.0
        self.tempo = 1.0
        self.state = np.zeros(12)
        """Latest measured joint positions and velocities."""

    def cube(self, privileged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position (3,) and quaternion (4,) of the cube to grasp."""
        raise NotImplementedError

    def begin(self, obs: dict[str, Any]) -> None:
        state = np.asarray(obs[STATE], np.float64)
        self.tempo = float(self.rng.uniform(0.9, 1.1))
        self.miss, self.land = 0.0, 0.0
        self.off_aim = np.zeros(2)
        kind = self.rng.choice(self.recovery_kinds) if self.recovering else None
        self.lift_empty = kind == "retry_lifted"
        if kind in ("retry", "retry_lifted"):
            self.miss = float(self.rng.choice([-1.0, 1.0]) * self.rng.uniform(*MISS))
        elif kind == "land":
            self.land = float(self.rng.uniform(*LAND))
        elif kind == "correct":
            angle = self.rng.uniform(-np.pi, np.pi)
            self.off_aim = self.rng.uniform(*OFF_AIM) * np.array([np.cos(angle), np.sin(angle)])
        self.runner.begin(self.phases(), state[:5], state[5])

    def plan(self, state: np.ndarray, privileged: np.ndarray, obs: dict[str, Any]) -> np.ndarray:
        self.state = state
        self.aiming_off = self.runner.phase.name == "approach" and bool(self.off_aim.any())
        return self.runner.step(privileged)

    def phases(self) -> list[Phase]:
        return self.grasp_phases() + self.lift_phases() + self.retry_phases()

    @property
    def staging(self) -> bool:
        """True from the start of a deliberate miss or landing until the expert backs off to retry, and
        during an approach aimed off the cube on purpose (the correcting descent after it is imitated)."""
        return self.miss != 0.0 or self.land != 0.0 or self.aiming_off

    @property
    def finished(self) -> bool:
        """True once the script has held its final pose for SETTLE_SECONDS (the episode may end)."""
        return self.runner.holding_for(SETTLE_SECONDS)

    def seconds(self, base: float) -> float:
        return base * self.tempo

    # -- grasp ---------------------------------------------------------------------------------------

    def choose_roll(self, privileged: np.ndarray) -> None:
        """Fix the grasp's wrist roll for this attempt from the strategy and the cube's yaw."""
        pos, quat = self.cube(privileged)
        rolls = grasp_rolls(pos, float(quat_yaw(quat)))
        order = np.argsort(np.abs(rolls))
        square = rolls[order[0]]
        if self.strategy == "square":
            self.roll = float(square)
        else:
            turned = [r for r in rolls[order] if abs(abs(r - square) - np.pi / 2) < 0.1]
            self.roll = float(turned[0])

    def grasp_pose(self, privileged: np.ndarray, height: float) -> ToolPose:
        """Top-down pose over the cube at tcp ``height`` with the chosen roll (kept as the cube turns)."""
        pos, quat = self.cube(privileged)
        roll = nearest_roll(grasp_rolls(pos, float(quat_yaw(quat))), self.roll)
        closing = azimuth(pos) + np.pi / 2 - roll  # world yaw the jaws close along
        across = np.array([np.cos(closing), np.sin(closing), 0.0])
        along = np.array([-across[1], across[0], 0.0])
        tcp = (
            np.array([pos[0], pos[1], height])
            + (self.land - FIXED_JAW_CLEARANCE) * across
            + self.miss * along
        )
        return ToolPose(tcp, DOWN, roll_for_closing(tcp, closing))

    def above_cube(self, privileged: np.ndarray) -> ToolPose:
        pose = self.grasp_pose(privileged, PREGRASP_HEIGHT)
        pos = pose.pos + np.append(self.off_aim, 0.0)
        return ToolPose(pos, self.tracker.reachable_pitch(pos), pose.roll)

    def at_cube(self, privileged: np.ndarray) -> ToolPose:
        return self.grasp_pose(privileged, self.cube(privileged)[0][2] + GRASP_ABOVE_CENTER)

    def grasp_phases(self) -> list[Phase]:
        hold = self.hold_current
        return [
            Phase("approach", self.seconds(1.3), GRIPPER_OPEN, self.above_cube, enter=self.choose_roll),
            Phase("descend", self.seconds(0.9), GRIPPER_OPEN, self.at_cube, then=self.retry_if_blocked),
            Phase(
                "close", self.seconds(0.5), GRIPPER_SQUEEZE, hold, enter=self.freeze, then=self.retry_if_empty
            ),
        ]

    def freeze(self, privileged: np.ndarray) -> None:
        self.frozen = self.runner.pose

    def hold_current(self, privileged: np.ndarray) -> ToolPose:
        return self.frozen

    # -- lift ----------------------------------------------------------------------------------------

    def lift_goal(self, privileged: np.ndarray) -> ToolPose:
        start = self.frozen.pos
        xy = start[:2] * min(1.0, LIFT_REACH / max(float(np.linalg.norm(start[:2])), 1e-6))
        pos = np.array([xy[0], xy[1], LIFT_HEIGHT])
        return ToolPose(pos, self.lift_pitch, self.frozen.roll)

    def start_lift(self, privileged: np.ndarray) -> None:
        self.freeze(privileged)
        self.lift_pitch = DOWN
        self.lift_pitch = self.tracker.reachable_pitch(self.lift_goal(privileged).pos)

    def retry_if_blocked(self, privileged: np.ndarray) -> str | None:
        """Start over if the jaws came down on the cube instead of around it."""
        blocked = privileged[2] - self.runner.pose.pos[2] > BLOCKED  # privileged starts with the tcp
        return "reopen" if blocked else None

    def retry_if_empty(self, privileged: np.ndarray) -> str | None:
        """Start over if the jaws closed on nothing (the cube was not between them); a ``retry_lifted``
        miss lifts first and starts over at the lift's check. A grasp that holds ends a staged miss
        there, so what follows is imitated even if the miss caught the cube."""
        if self.state[5] < EMPTY_GRIP:
            return None if self.lift_empty else "reopen"
        self.miss, self.land, self.lift_empty = 0.0, 0.0, False
        return None

    def holding(self, privileged: np.ndarray) -> bool:
        return bool(self.cube(privileged)[0][2] > LIFTED)

    def retry_unless_holding(self, privileged: np.ndarray) -> str | None:
        return None if self.holding(privileged) else "reopen"

    def start_retry(self, privileged: np.ndarray) -> None:
        """Back off from a failed grasp; the next attempt aims at the cube itself."""
        self.freeze(privileged)
        self.miss, self.land, self.lift_empty = 0.0, 0.0, False
        self.off_aim = np.zeros(2)

    def reopen_goal(self, privileged: np.ndarray) -> ToolPose:
        return self.frozen.moved(self.frozen.pos + np.array([0.0, 0.0, 0.03]))

    def lift_phases(self) -> list[Phase]:
        return [
            Phase("lift", self.seconds(1.2), GRIPPER_SQUEEZE, self.lift_goal, enter=self.start_lift),
            Phase(
                "check", self.seconds(0.2), GRIPPER_SQUEEZE, self.lift_goal, then=self.retry_unless_holding
            ),
            Phase("hold", 1e9, GRIPPER_SQUEEZE, self.lift_goal),
        ]

    def retry_phases(self) -> list[Phase]:
        """Reached only through a ``then`` jump: open, back off upward, and grasp again."""
        again = self.grasp_phases()[0].name
        return [
            Phase(
                "reopen",
                self.seconds(0.6),
                GRIPPER_OPEN,
                self.reopen_goal,
                enter=self.start_retry,
                then=lambda _: again,
            )
        ]


@EXPERTS.register("pick_cube")
class PickCubeExpert(GraspExpert):
    """Lifts the task's only cube."""

    def cube(self, privileged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return privileged[3:6], privileged[6:10]  # tcp(3), cube pos(3), cube quat(4)


@EXPERTS.register("pick_color")
class PickColorExpert(GraspExpert):
    """Lifts the cube whose colour the instruction names (one-hot at the end of the privileged vector)."""

    def cube(self, privileged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(COLORS)
        target = int(np.argmax(privileged[-n:]))
        pose = privileged[3 : 3 + 7 * n].reshape(n, 7)[target]  # tcp(3), n x (pos(3), quat(4)), onehot(n)
        return pose[:3], pose[3:]
