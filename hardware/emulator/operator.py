"""The scripted person who holds an emulated arm: still, waving it about, or following calibration.

``calibrate`` does what the calibration prompts ask a person to do: hold the arm in the middle
of its range until the homing offsets have been written, sweep every joint through its whole
range once, then keep moving it (``wave``) like a leader arm in a teleoperation session. Like a
person watching the live range table, it holds each stop until a reading of the positions has
seen it there, so a driver that a busy machine keeps waiting still records the whole range.
"""

from __future__ import annotations

import numpy as np

from honed.arms import ArmSpec

OPERATORS = ("limp", "hold", "wave", "calibrate")
WAVE_BIAS = np.array([0.0, -0.4, 0.3, 0.0, 0.0, 0.0])
"""Shoulder leaned back and elbow bent (rad) so the waving hand clears the table."""
SETTLE_S = 0.3
"""Time between the last homing write and the start of the sweep."""
SWEEP_OVERSHOOT = 1 / np.cos(0.2 * np.pi)
"""Gain of the sweep's sine before clipping to the limits: each limit is held for a fifth of the sweep."""
HOLDS = ((0.15, 0.35), (0.65, 0.85))
"""Stretches of the sweep (fractions of it) where the joints are held at their upper, then lower limits."""


class Operator:
    """Hand poses (rad) over time; None means nobody is holding the arm."""

    RAMP_S = 1.0
    """The wave grows from the middle pose over this long, so the hand never jumps."""

    def __init__(self, arm: ArmSpec, mode: str, sweep_s: float = 4.0, wave_period_s: float = 4.0):
        if mode not in OPERATORS:
            raise ValueError(f"operator {mode!r} is not one of {', '.join(OPERATORS)}")
        self.arm = arm
        self.mode = mode
        self.sweep_s = sweep_s
        self.wave_period_s = wave_period_s
        self.middle = np.clip(np.zeros(arm.num_joints), arm.low, arm.high)
        self._homed_at: float | None = None
        self._start: float | None = None
        self._paused = 0.0
        """Seconds the sweep has waited at a stop for a reading to see it."""
        self._seen = [False] * len(HOLDS)
        self.swept = False
        """The calibration sweep is over (both stops were seen)."""

    def homing_written(self, now: float) -> None:
        """The driver wrote homing offsets: the calibration is underway (the sweep starts once per run;
        the offsets written again when the calibration is saved must not start another)."""
        if self._homed_at is None or now - self._homed_at < SETTLE_S:
            self._homed_at = now

    def pose(self, now: float) -> np.ndarray | None:
        if self._start is None:
            self._start = now
        if self.mode == "limp":
            return None
        if self.mode == "hold":
            return self.middle
        if self.mode == "wave":
            return self.wave(now - self._start)
        return self._calibration_pose(now)

    def positions_read(self, now: float) -> None:
        """A driver read the positions the arm had at ``now``: a stop held then has been seen."""
        s = self._sweep_fraction(now)
        for k, (start, end) in enumerate(HOLDS):
            if s is not None and start <= s <= end:
                self._seen[k] = True

    def _sweep_fraction(self, now: float) -> float | None:
        """How far the sweep is at ``now`` (below 0 while settling, above 1 once waving); None before homing."""
        if self._homed_at is None:
            return None
        return (now - self._homed_at - SETTLE_S - self._paused) / self.sweep_s

    def _calibration_pose(self, now: float) -> np.ndarray:
        s = self._sweep_fraction(now)
        if s is None or s < 0:
            return self.middle
        for k, (_, end) in enumerate(HOLDS):
            if s > end and not self._seen[k]:  # still at the stop: nobody has seen it yet
                self._paused += (s - end) * self.sweep_s
                s = end
                break
        if s < 1:
            return self.sweep(s)
        self.swept = True
        return self.wave((s - 1) * self.sweep_s)

    def sweep(self, s: float) -> np.ndarray:
        """Through the upper limit, then the lower limit, back to the middle, for s in [0, 1]; each
        limit is held for a fifth of the sweep, as a person holds a joint against its stop, so a
        reader that polls the positions catches the limits even when its replies come late."""
        wave = np.clip(SWEEP_OVERSHOOT * np.sin(2 * np.pi * s), -1.0, 1.0)
        return np.where(wave >= 0, wave * self.arm.high, -wave * self.arm.low)

    def wave(self, t: float) -> np.ndarray:
        """A smooth motion over a third of each joint's range, joints out of phase, hand above the table."""
        n = self.arm.num_joints
        phase = 2 * np.pi * (t / self.wave_period_s + np.arange(n) / n)
        centre = np.clip((self.arm.low + self.arm.high) / 2 + WAVE_BIAS[:n], self.arm.low, self.arm.high)
        half = (self.arm.high - self.arm.low) / 6
        ramp = min(1.0, t / self.RAMP_S)
        return self.middle + ramp * (centre + half * np.sin(phase) - self.middle)
