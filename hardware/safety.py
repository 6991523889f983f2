"""Last-line checks on joint targets before any byte is sent to a motor.

A target that is not a finite number, or lies farther outside a joint's range than the margin
(wrong units, a diverged policy), is refused whole: nothing is sent. Targets just outside the range
are clipped into it, and each joint's step from its present position is limited per write.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from honed.arms import ArmSpec
from honed.errors import UserError


class SafetyError(UserError, ValueError):
    """A target was refused; nothing was sent to the motors."""


@dataclass(frozen=True)
class SafetyLimits:
    """How far targets may stray and jump."""

    range_margin_rad: float = 0.1
    """Targets farther than this outside a joint's range are refused; nearer ones are clipped into it."""
    max_step_rad: float = 0.35
    """Largest change of a joint target per write, measured from the joint's present position."""

    def __post_init__(self) -> None:
        if not (self.range_margin_rad >= 0 and self.max_step_rad > 0):
            raise ValueError("safety range_margin_rad must be >= 0 and max_step_rad > 0")


class ActionGuard:
    """Checks and limits absolute joint targets (rad) for one arm."""

    def __init__(
        self,
        arm: ArmSpec,
        limits: SafetyLimits,
        low: np.ndarray | None = None,
        high: np.ndarray | None = None,
    ):
        self.arm = arm
        self.limits = limits
        self.low = arm.low if low is None else np.maximum(arm.low, low)
        self.high = arm.high if high is None else np.minimum(arm.high, high)
        if np.any(self.low >= self.high):
            raise ValueError(f"empty joint range after calibration: low {self.low} high {self.high}")

    def check(self, action: object, present: np.ndarray) -> np.ndarray:
        """The target to send (float64 rad), or SafetyError naming the joint and the fix."""
        n = self.arm.num_joints
        try:
            target = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise SafetyError(f"action must be {n} joint targets in rad; got {action!r}") from e
        if target.shape != (n,):
            raise SafetyError(
                f"action must have shape ({n},) (joints {', '.join(self.arm.joints)}); got {target.shape}"
            )
        bad = ~np.isfinite(target)
        if bad.any():
            names = [self.arm.joints[i] for i in np.flatnonzero(bad)]
            raise SafetyError(
                f"action has non-finite targets for {names}: {target.tolist()}; nothing was sent"
            )
        margin = self.limits.range_margin_rad
        outside = (target < self.low - margin) | (target > self.high + margin)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise SafetyError(
                f"action[{i}] ({self.arm.joints[i]}) = {target[i]:.3f} rad is outside the joint range "
                f"[{self.low[i]:.3f}, {self.high[i]:.3f}] by more than {margin} rad (targets are radians); "
                "nothing was sent"
            )
        step = self.limits.max_step_rad
        target = np.clip(target, present - step, present + step)
        return np.clip(target, self.low, self.high)
