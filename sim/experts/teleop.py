"""The ``expert`` teleoperator: a scripted expert behind the Teleoperator seam.

The recording loop drives it like any other teleop, on the single env's observations or on the
twin robot's ``read()``. Both carry ``observation.privileged`` (object poses), which a scripted expert
needs; a real arm's observations do not, and are refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from honed.arms import SO101
from honed.features import PRIVILEGED, STATE
from honed.sim.experts.base import Expert, make_expert
from honed.teleop import TELEOPS, Teleoperator, TeleopEvents


@TELEOPS.register("expert")
class ExpertTeleop(Teleoperator):
    """Acts with the scripted expert of ``task``; one episode per ``reset`` (or per first action)."""

    name = "expert"

    def __init__(
        self,
        task: str,
        seed: int = 0,
        noise: float = 0.0,
        strategy: str | None = None,
        control_hz: float = 30.0,
        recoveries: float = 0.0,
        snap_gripper: bool = False,
        recovery_kinds: Sequence[str] | None = None,
    ):
        if not noise >= 0:
            raise ValueError(f"noise must be a standard deviation >= 0 (rad), got {noise}")
        self.task = task
        self.expert: Expert = make_expert(
            task,
            seed=seed,
            noise=noise,
            strategy=strategy,
            control_hz=control_hz,
            recoveries=recoveries,
            snap_gripper=snap_gripper,
            recovery_kinds=recovery_kinds,
        )
        self._started = False

    def reset(self, observation: dict[str, Any]) -> None:
        """Start a new episode from ``observation`` (picks the episode's strategy)."""
        self.expert.reset(self._checked(observation))
        self._started = True

    def reseed(self, seed: int) -> None:
        """The expert's strategy, noise and staged misses for the coming episode come from ``seed``, so an
        episode's demo depends on its seed alone, not on the episodes recorded before it in the session."""
        self.expert.rng = np.random.default_rng(seed)

    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        """(6,) absolute joint targets (rad); the first call of an episode starts it if reset was not called."""
        observation = self._checked(observation)
        if not self._started:
            self.reset(observation)
        return self.expert.act(observation).astype(np.float32)

    def events(self) -> TeleopEvents:
        """Ends the episode once the expert has finished its script and held the result; marks the
        actions of a deliberate mistake (``recoveries``) as not to be imitated."""
        return TeleopEvents(end_episode=self.expert.finished, imitate=not self.expert.staging)

    def disconnect(self) -> None:
        self._started = False

    def _checked(self, observation: dict[str, Any]) -> dict[str, Any]:
        missing = [k for k in (STATE, PRIVILEGED) if k not in observation]
        if missing:
            raise ValueError(
                f"expert teleop for {self.task!r}: the observation lacks {missing}; a scripted expert needs "
                f"'{PRIVILEGED}' (object poses), which the single env and the twin robot provide and a real "
                "arm does not. Drive the twin, or use a human teleop on a real arm."
            )
        expected = {STATE: SO101.state_feature().shape, PRIVILEGED: (self.expert.task.privileged_size(),)}
        for key, shape in expected.items():
            value = np.asarray(observation[key], dtype=np.float64)
            if value.shape != shape:
                raise ValueError(
                    f"expert teleop for {self.task!r}: field {key!r} has shape {value.shape}, expected "
                    f"{shape} (one world of this task's scene)"
                )
            if not np.all(np.isfinite(value)):
                raise ValueError(f"expert teleop: field {key!r} holds non-finite values {value.tolist()}")
        return observation
