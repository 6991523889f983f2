"""Expert for ``peg_insert``: a top-down grasp of the standing peg, a carry, and a guarded insertion.

The peg is grasped near its top with the jaws closing across one pair of its faces, lifted clear of
the socket's walls and carried over the hole with the wrist rolled so that the peg's faces line up
with the socket's. Over the hole the expert closes the loop on the peg itself (its measured bottom
centre and yaw, not the tcp), so servo sag and a peg shifted in the grasp are corrected before and
during the descent. A grasp that comes up empty opens and tries again; a peg that jams on the rim is
lifted, realigned and lowered again.

Strategies (the demos' modes): ``square`` closes the jaws across the peg's face pair that needs the
least wrist roll; ``turned`` closes them across the other pair, a quarter turn of the wrist away.
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
    roll_for_closing,
    wrap,
)
from honed.sim.tasks.base import quat_yaw
from honed.sim.tasks.peg_insert import INSERT_DEPTH, PEG_HALF, WALL_HALF_HEIGHT

GRIPPER_OPEN = 0.9
"""Jaw opening (rad): clears the 2 cm peg by about 2 cm on the moving jaw's side."""
GRIPPER_STOWED = 0.2
"""Jaw target (rad) while rising from the start pose: nearly closed, so the jaws sweep nothing over."""
GRIPPER_SQUEEZE = -0.15
"""Closed target (rad) past contact, so the servo holds the peg at its force limit."""
JAW_GAP = 0.004
"""Gap (m) left between the fixed jaw and the peg as the jaws come down around it."""
FIXED_JAW_FACE = -0.015
"""Tool-frame y (m) of the fixed jaw's inner face; the tcp is on the roll axis at y = 0."""
GRASP_BELOW_TOP = 0.014
"""tcp depth (m) below the peg's top at the grasp: the jaws' tips stay above the socket's rim."""
JAW_REACH = 0.018
"""How far (m) the jaws' tips reach past the tcp along the tool axis."""
CLEARANCE = 0.012
"""Height (m) of the jaws' tips over the peg before the descent, and of the held peg's bottom over the rim."""
LIFTED = 0.015
"""Rise (m) of the peg's centre above its resting height that counts as holding it."""
SAFE_HEIGHT = 0.1
"""tcp height (m) the arm first rises to, above the standing peg's top with the jaws open."""
ALIGN_GAIN = 0.25
"""Fraction of the measured peg-to-hole offset corrected per control step over the hole."""
MAX_CORRECTION = 0.012
"""Cap (m) on the accumulated correction of the tcp over the hole."""
ALIGNED = 0.0015
"""Peg-to-hole offset (m, smoothed) below which the descent starts: the clearance on each side."""
SMOOTHING = 0.3
"""Weight of each new measurement in the smoothed peg-to-hole offset (action noise shakes the peg)."""
PRESS = 0.004
"""How far (m) below the grasp height the insertion aims, so the peg is pressed home."""


def face_closing_yaws(peg_yaw: float) -> np.ndarray:
    """World yaws (4,) along which the jaws can close across the peg's faces."""
    return peg_yaw + np.arange(4) * np.pi / 2


def nearest(values: np.ndarray, reference: float) -> float:
    return float(values[np.argmin(np.abs(values - reference))])


@EXPERTS.register("peg_insert")
class PegInsertExpert(Expert):
    """Grasps the peg, carries it over the socket, aligns it on the peg's own pose and inserts it."""

    strategies = ("square", "turned")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.tracker = IKTracker(self.model, self.ik)
        self.runner = PhaseRunner(self.tracker, self.control_hz, self.snap_gripper)
        self.tempo = 1.0
        self.roll = 0.0
        self.frozen = ToolPose(np.zeros(3))
        self.grasp_height = 0.0
        self.in_hand = np.zeros(3)
        self.yaw_in_hand = 0.0
        self.correction = np.zeros(2)
        self.smoothed_offset = np.full(2, np.inf)
        self.rest_height = 0.0
        self.hole_target = (np.zeros(2), 0.0)

    # -- observation -------------------------------------------------------------------------------

    @staticmethod
    def peg(privileged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Peg centre (3,) and rotation matrix (3, 3)."""
        w, x, y, z = privileged[6:10]  # tcp(3), peg pos(3), peg quat(4), hole pos(3), hole cos/sin(2)
        rot = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
            ]
        )
        return privileged[3:6], rot

    def peg_bottom(self, privileged: np.ndarray) -> np.ndarray:
        center, rot = self.peg(privileged)
        return center - rot[:, 2] * PEG_HALF[2]

    @staticmethod
    def peg_yaw(privileged: np.ndarray) -> float:
        return float(quat_yaw(privileged[6:10]))

    @staticmethod
    def hole(privileged: np.ndarray) -> tuple[np.ndarray, float]:
        """Hole centre (2,) and yaw."""
        return privileged[10:12], float(np.arctan2(privileged[14], privileged[13]))

    # -- episode -----------------------------------------------------------------------------------

    def begin(self, obs: dict[str, Any]) -> None:
        state = np.asarray(obs[STATE], np.float64)
        self.tempo = float(self.rng.uniform(0.9, 1.1))
        self.correction = np.zeros(2)
        self.runner.begin(self.phases(), state[:5], state[5])

    def plan(self, state: np.ndarray, privileged: np.ndarray, obs: dict[str, Any]) -> np.ndarray:
        return self.runner.step(privileged)

    @property
    def finished(self) -> bool:
        """True once the peg is inserted and held there for SETTLE_SECONDS."""
        return self.runner.holding_for(SETTLE_SECONDS)

    def seconds(self, base: float) -> float:
        return base * self.tempo

    def phases(self) -> list[Phase]:
        s = self.seconds
        return [
            Phase("rise", s(0.4), GRIPPER_STOWED, self.risen, enter=self.freeze),
            Phase("approach", s(1.1), GRIPPER_OPEN, self.above_peg, enter=self.choose_roll),
            Phase("descend", s(0.8), GRIPPER_OPEN, self.hold, enter=self.aim_at_peg),
            Phase("close", s(0.5), GRIPPER_SQUEEZE, self.hold, enter=self.freeze),
            Phase("lift", s(0.7), GRIPPER_SQUEEZE, self.lifted, enter=self.start_lift, then=self.holding),
            Phase("carry", s(1.4), GRIPPER_SQUEEZE, self.over_hole, enter=self.measure_grasp),
            Phase("align", s(0.5), GRIPPER_SQUEEZE, self.over_hole, then=self.until_aligned),
            Phase("insert", s(1.2), GRIPPER_SQUEEZE, self.into_hole, then=self.until_inserted),
            Phase("hold", 1e9, GRIPPER_SQUEEZE, self.into_hole),
            Phase("reopen", s(0.6), GRIPPER_OPEN, self.reopen, enter=self.freeze, then=lambda _: "approach"),
            Phase("back_up", s(0.5), GRIPPER_SQUEEZE, self.over_hole, then=lambda _: "align"),
        ]

    # -- grasp -------------------------------------------------------------------------------------

    def choose_roll(self, privileged: np.ndarray) -> None:
        """Fix the grasp's wrist roll from the strategy and the peg's yaw."""
        pos = self.peg(privileged)[0]
        rolls = np.array([roll_for_closing(pos, c) for c in face_closing_yaws(self.peg_yaw(privileged))])
        order = np.argsort(np.abs(rolls))
        square = rolls[order[0]]
        if self.strategy == "square":
            self.roll = float(square)
        else:
            self.roll = next(float(r) for r in rolls[order] if abs(abs(wrap(r - square)) - np.pi / 2) < 0.1)

    def grasp_pose(self, privileged: np.ndarray, height: float) -> ToolPose:
        """Top-down pose at tcp ``height`` whose fixed jaw passes just beside the peg's face."""
        pos = self.peg(privileged)[0]
        rolls = [roll_for_closing(pos, c) for c in face_closing_yaws(self.peg_yaw(privileged))]
        pose = ToolPose(np.array([pos[0], pos[1], height]), DOWN, nearest(np.array(rolls), self.roll))
        peg_offset = FIXED_JAW_FACE + PEG_HALF[0] + JAW_GAP  # tool-frame y of the peg's centre
        return pose.moved(pose.pos - peg_offset * pose.closing_axis())

    def peg_top(self, privileged: np.ndarray) -> float:
        return float(self.peg(privileged)[0][2] + PEG_HALF[2])

    def above_peg(self, privileged: np.ndarray) -> ToolPose:
        return self.grasp_pose(privileged, self.peg_top(privileged) + JAW_REACH + CLEARANCE)

    def aim_at_peg(self, privileged: np.ndarray) -> None:
        """Fix the grasp pose before going down, so a brushed peg is not chased over."""
        self.frozen = self.grasp_pose(privileged, self.peg_top(privileged) - GRASP_BELOW_TOP)

    def freeze(self, privileged: np.ndarray) -> None:
        self.frozen = self.runner.pose

    def risen(self, privileged: np.ndarray) -> ToolPose:
        """The start pose raised so the jaws clear the peg on the way over."""
        return self.frozen.moved(np.append(self.frozen.pos[:2], max(self.frozen.pos[2], SAFE_HEIGHT)))

    def hold(self, privileged: np.ndarray) -> ToolPose:
        return self.frozen

    def reopen(self, privileged: np.ndarray) -> ToolPose:
        return self.frozen.moved(self.frozen.pos + np.array([0.0, 0.0, JAW_REACH + CLEARANCE]))

    # -- carry and insert --------------------------------------------------------------------------

    def start_lift(self, privileged: np.ndarray) -> None:
        self.freeze(privileged)
        self.grasp_height = float(self.frozen.pos[2])
        self.rest_height = float(self.peg(privileged)[0][2])

    def carry_height(self) -> float:
        """tcp height that holds the peg's bottom CLEARANCE over the socket's rim."""
        return self.grasp_height + 2 * WALL_HALF_HEIGHT + CLEARANCE

    def lifted(self, privileged: np.ndarray) -> ToolPose:
        return self.frozen.moved(np.append(self.frozen.pos[:2], self.carry_height()))

    def measure_grasp(self, privileged: np.ndarray) -> None:
        """Record where the peg sits in the jaws: its bottom in the tool frame and its yaw offset."""
        pose = self.runner.pose
        self.in_hand = pose.rotation().T @ (self.peg_bottom(privileged) - privileged[:3])
        closing = float(np.arctan2(pose.closing_axis()[1], pose.closing_axis()[0]))
        self.yaw_in_hand = wrap(self.peg_yaw(privileged) - closing)
        self.correction = np.zeros(2)
        self.smoothed_offset = np.full(2, np.inf)

    def holding(self, privileged: np.ndarray) -> str | None:
        return None if self.peg(privileged)[0][2] > self.rest_height + LIFTED else "reopen"

    def hole_pose(self, height: float) -> ToolPose:
        """Pose that puts the held peg's bottom over the hole at tcp ``height``, faces lined up."""
        hole_xy, hole_yaw = self.hole_target
        closing = face_closing_yaws(hole_yaw - self.yaw_in_hand)
        probe = np.array([hole_xy[0], hole_xy[1], height])
        roll = nearest(np.array([roll_for_closing(probe, c) for c in closing]), self.frozen.roll)
        pose = ToolPose(probe, DOWN, roll)
        for _ in range(3):  # the roll depends on the tcp's azimuth, the tcp on the roll
            bottom = pose.pos + pose.rotation() @ self.in_hand
            shifted = pose.pos + np.append(hole_xy + self.correction - bottom[:2], 0.0)
            roll = nearest(np.array([roll_for_closing(shifted, c) for c in closing]), self.frozen.roll)
            pose = ToolPose(shifted, DOWN, roll)
        return pose

    def track_hole(self, privileged: np.ndarray) -> None:
        """Close the loop on the peg: add a fraction of its measured offset from the hole."""
        hole_xy, hole_yaw = self.hole(privileged)
        self.hole_target = (hole_xy, hole_yaw)
        offset = hole_xy - self.peg_bottom(privileged)[:2]
        fresh = not np.isfinite(self.smoothed_offset).all()
        self.smoothed_offset = (
            offset if fresh else self.smoothed_offset + SMOOTHING * (offset - self.smoothed_offset)
        )
        if self.runner.phase.name in ("align", "insert", "back_up"):
            self.correction = np.clip(self.correction + ALIGN_GAIN * offset, -MAX_CORRECTION, MAX_CORRECTION)

    def over_hole(self, privileged: np.ndarray) -> ToolPose:
        self.track_hole(privileged)
        return self.hole_pose(self.carry_height())

    def into_hole(self, privileged: np.ndarray) -> ToolPose:
        self.track_hole(privileged)
        return self.hole_pose(self.grasp_height - PRESS)

    def until_aligned(self, privileged: np.ndarray) -> str | None:
        return None if np.linalg.norm(self.smoothed_offset) < ALIGNED else "align"

    def until_inserted(self, privileged: np.ndarray) -> str | None:
        depth = 2 * WALL_HALF_HEIGHT - float(self.peg_bottom(privileged)[2])
        return None if depth >= INSERT_DEPTH else "back_up"
