"""Scripted experts: per-task controllers that act from the twin's observation (state + privileged).

Each expert is registered under its task's name, has more than one strategy (so demonstrations are
multimodal) and takes Gaussian action noise. They plan in Cartesian space and map to joints with
``honed.sim.ik.JacobianIK``. An expert that can recover from a failed attempt may also be asked to
fail on purpose now and then (``recoveries``), so that its demos show the recovery a policy needs
once its own attempt goes wrong; the deliberate failure is an episode's first attempt only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from honed.features import PRIVILEGED, STATE
from honed.registry import Registry
from honed.sim.config import SimConfig
from honed.sim.core import build_world
from honed.sim.ik import JacobianIK
from honed.sim.tasks.base import Task

EXPERTS: Registry[type[Expert]] = Registry("expert")

SETTLE_SECONDS = 0.5
"""Time (s) an expert holds its finished result before reporting itself finished (the episode may end)."""


class Expert(ABC):
    """One episode at a time: ``reset(obs)`` then ``act(obs)`` every control step."""

    strategies: tuple[str, ...] = ("default",)

    def __init__(
        self,
        task: Task,
        rng: np.random.Generator,
        noise: float = 0.0,
        strategy: str | None = None,
        control_hz: float = 30.0,
        recoveries: float = 0.0,
        snap_gripper: bool = False,
        recovery_kinds: Sequence[str] | None = None,
    ):
        if not 0.0 <= recoveries <= 1.0:
            raise ValueError(
                f"recoveries is the fraction of episodes to recover in; use 0..1, got {recoveries}"
            )
        if recoveries > 0 and not self.can_recover:
            raise ValueError(f"the {task.name} expert has no recovery to demonstrate; leave recoveries at 0")
        kinds = tuple(recovery_kinds) if recovery_kinds else self.default_recovery_kinds
        if unknown := [k for k in kinds if k not in self.recovery_choices]:
            raise ValueError(
                f"recovery_kinds {unknown} are not mistakes the {task.name} expert can stage; "
                f"choose from {list(self.recovery_choices) or 'none (it has no recovery)'}"
            )
        if strategy is not None and strategy not in self.strategies:
            raise ValueError(f"strategy {strategy!r} is not one of {', '.join(self.strategies)}")
        self.task = task
        self.model = task.model
        self.ik = JacobianIK(task.model)
        self.rng = rng
        self.noise = noise
        self.fixed_strategy = strategy
        self.control_hz = control_hz
        self.strategy = strategy or self.strategies[0]
        self.recoveries = recoveries
        self.recovery_kinds = kinds
        """The mistakes a recovery episode draws from, at even odds."""
        self.recovering = False
        """Whether this episode's first attempt fails on purpose."""
        self.snap_gripper = snap_gripper
        """Command the gripper's target at once at each phase start instead of ramping to it."""

    recovery_choices: tuple[str, ...] = ()
    """The mistakes the expert can stage and repair (none: it cannot recover; ``recoveries`` stays 0)."""
    default_recovery_kinds: tuple[str, ...] = ()
    """The mistakes drawn from when the caller names none."""

    @property
    def can_recover(self) -> bool:
        """Whether the expert can fail an attempt on purpose and recover (honours ``recoveries``)."""
        return bool(self.recovery_choices)

    def reset(self, obs: dict[str, Any]) -> None:
        """Start an episode; picks a strategy at random unless one was fixed."""
        self.strategy = self.fixed_strategy or str(self.rng.choice(self.strategies))
        self.recovering = self.recoveries > 0 and bool(self.rng.random() < self.recoveries)
        self.begin(obs)

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        """(6,) absolute joint targets (rad) with the configured noise."""
        action = self.plan(np.asarray(obs[STATE], np.float64), np.asarray(obs[PRIVILEGED], np.float64), obs)
        if self.noise > 0:
            action = action + self.rng.normal(0.0, self.noise, size=action.shape)
        return np.clip(action, self.model.actuator_ctrlrange[:, 0], self.model.actuator_ctrlrange[:, 1])

    @property
    def staging(self) -> bool:
        """True while the last action belongs to a mistake made on purpose (not to be imitated)."""
        return False

    @property
    def finished(self) -> bool:
        """True once the task is done and has held for SETTLE_SECONDS; a recorder may end the episode."""
        return False

    @abstractmethod
    def begin(self, obs: dict[str, Any]) -> None:
        """Episode start: plan from the first observation."""

    @abstractmethod
    def plan(self, state: np.ndarray, privileged: np.ndarray, obs: dict[str, Any]) -> np.ndarray:
        """The noiseless (6,) joint targets for this step."""


def make_expert(
    task: str,
    seed: int = 0,
    noise: float = 0.0,
    strategy: str | None = None,
    recoveries: float = 0.0,
    snap_gripper: bool = False,
    recovery_kinds: Sequence[str] | None = None,
    **sim: Any,
) -> Expert:
    """An expert for ``task`` with its own copy of the twin's kinematics."""
    cfg = SimConfig(task=task, **sim)
    _, bound_task, _ = build_world(cfg)
    expert = EXPERTS.get(task)
    return expert(
        bound_task,
        np.random.default_rng(seed),
        noise,
        strategy,
        cfg.control_hz,
        recoveries,
        snap_gripper,
        recovery_kinds,
    )
