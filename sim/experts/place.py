"""Expert for ``place_cube``: grasp the cube (as the pick experts do), carry it over the pad, set it down.

Strategies are the grasp's (``square``, ``turned``). While carrying, the expert measures where the
cube sits in the jaws (in the tool frame) and aims the tcp so that the cube, not the tcp, lands on
the pad's centre.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from honed.sim.experts.base import EXPERTS
from honed.sim.experts.cartesian import DOWN, Phase, ToolPose
from honed.sim.experts.pick import GRIPPER_OPEN, GRIPPER_SQUEEZE, GraspExpert
from honed.sim.tasks.pick import CUBE_HALF

CARRY_HEIGHT = 0.08
"""tcp height (m) while carrying the cube to the pad."""
SET_DOWN_GAP = 0.002
"""Height (m) of the cube's bottom above the table when the jaws open."""
RETREAT_RISE = 0.06
"""How far (m) the open gripper rises off the placed cube."""


@EXPERTS.register("place_cube")
class PlaceCubeExpert(GraspExpert):
    """Picks the cube up and puts it on the pad (privileged: tcp, cube pos, cube quat, pad pos)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.in_hand = np.zeros(3)
        self.carry_pitch = DOWN

    def cube(self, privileged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return privileged[3:6], privileged[6:10]

    def pad(self, privileged: np.ndarray) -> np.ndarray:
        return privileged[10:13]

    def phases(self) -> list[Phase]:
        hold = self.hold_current
        return [
            *self.grasp_phases(),
            Phase("lift", self.seconds(0.8), GRIPPER_SQUEEZE, self.lift_goal, enter=self.freeze),
            Phase(
                "check", self.seconds(0.2), GRIPPER_SQUEEZE, self.lift_goal, then=self.retry_unless_holding
            ),
            Phase("carry", self.seconds(1.4), GRIPPER_SQUEEZE, self.over_pad, enter=self.start_carry),
            Phase("lower", self.seconds(0.9), GRIPPER_SQUEEZE, self.on_pad, enter=self.measure_cube),
            Phase("release", self.seconds(0.4), GRIPPER_OPEN, hold, enter=self.freeze),
            Phase("retreat", self.seconds(0.8), GRIPPER_OPEN, self.retreat_goal),
            Phase("hold", 1e9, GRIPPER_OPEN, self.retreat_goal),
            *self.retry_phases(),
        ]

    def lift_goal(self, privileged: np.ndarray) -> ToolPose:
        return self.frozen.moved(np.append(self.frozen.pos[:2], CARRY_HEIGHT))

    def measure_cube(self, privileged: np.ndarray) -> None:
        """Record the cube's centre in the tool frame from the measured joints."""
        tcp, rot = self.ik.forward(self.state[:5])
        self.in_hand = rot.T @ (self.cube(privileged)[0] - tcp)

    def start_carry(self, privileged: np.ndarray) -> None:
        self.measure_cube(privileged)
        self.carry_pitch = DOWN
        self.carry_pitch = self.tracker.reachable_pitch(self.over_pad(privileged).pos)

    def cube_at(self, privileged: np.ndarray, height: float, pitch: float) -> ToolPose:
        """The tool pose that puts the held cube's centre over the pad at ``height``."""
        target = np.append(self.pad(privileged)[:2], height)
        pose = ToolPose(target, pitch, self.frozen.roll)
        return pose.moved(target - pose.rotation() @ self.in_hand)

    def over_pad(self, privileged: np.ndarray) -> ToolPose:
        return self.cube_at(privileged, CARRY_HEIGHT - self.in_hand[0], self.carry_pitch)

    def on_pad(self, privileged: np.ndarray) -> ToolPose:
        return self.cube_at(privileged, CUBE_HALF + SET_DOWN_GAP, DOWN)

    def retreat_goal(self, privileged: np.ndarray) -> ToolPose:
        return self.frozen.moved(self.frozen.pos + np.array([0.0, 0.0, RETREAT_RISE]))
