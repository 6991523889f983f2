"""The contract a policy checkpoint makes with the robot or task that runs it.

It records the features the policy reads and writes (names, shapes, dtypes), the normalisation
statistics, the action representation, the control rate, the chunking (observation steps, horizon,
executed steps) and the task strings seen in training, plus a digest of all of it. Deploy and eval
refuse a checkpoint whose contract does not match the robot or task they run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from honed.errors import UserError
from honed.features import ACTION, ACTION_SPACES, TASK, Features
from honed.policies.normalize import check_stats


class ContractError(UserError, ValueError):
    """A checkpoint and a robot/task/dataset disagree; the message lists every difference."""


def check_execution_steps(
    value: int,
    horizon: int,
    name: str,
    horizon_name: str,
    error: type[Exception] = ValueError,
    zero_means: str = "",
) -> None:
    """Refuse an executed-steps count outside 1..horizon (or 0 where ``zero_means`` names its meaning)."""
    if not (0 if zero_means else 1) <= value <= horizon:
        also = f", or 0 for {zero_means}" if zero_means else ""
        raise error(f"{name} ({value}) must be between 1 and {horizon_name} ({horizon}){also}")


@dataclass(frozen=True)
class Contract:
    """What a policy expects and produces; see the module docstring."""

    features: Features
    """Observation features the policy reads, plus ``action`` (and ``task`` when it reads language)."""
    stats: Mapping[str, Mapping[str, np.ndarray]]
    """Normalisation statistics per numeric and camera feature (mean, std, min, max), and per
    training-only target the policy regressed (see ``Policy.training_targets``)."""
    control_hz: float
    """Control rate the policy was trained at (Hz)."""
    n_obs_steps: int
    """Observation frames the policy reads (the current one and earlier ones)."""
    horizon: int
    """Actions predicted per chunk, from the current step."""
    n_action_steps: int
    """Actions executed from each chunk before predicting the next."""
    action_space: str = "absolute_joint"
    """Action representation: absolute_joint, delta_joint, absolute_ee or delta_ee; a robot or task
    whose ``action`` feature declares another is refused."""
    tasks: tuple[str, ...] = field(default_factory=tuple)
    """Task instructions seen in training (the learned task embedding knows only these)."""
    trained_tasks: tuple[str, ...] = field(default_factory=tuple)
    """Registered twin tasks the training data came from (empty when the data does not say)."""

    def __post_init__(self) -> None:
        if ACTION not in self.features:
            raise ContractError("contract features must include 'action'")
        if self.action_space not in ACTION_SPACES:
            raise ContractError(
                f"action_space {self.action_space!r} is not one of {', '.join(ACTION_SPACES)}"
            )
        declared = self.features[ACTION].representation
        if declared is not None and declared != self.action_space:
            raise ContractError(
                f"action_space {self.action_space!r} disagrees with the action feature's representation "
                f"{declared!r}"
            )
        check_execution_steps(self.n_action_steps, self.horizon, "n_action_steps", "horizon", ContractError)
        if self.n_obs_steps < 1 or self.control_hz <= 0:
            raise ContractError(
                f"n_obs_steps ({self.n_obs_steps}) and control_hz ({self.control_hz}) must be > 0"
            )
        check_stats(self.stats, self.features, self.numeric_keys)

    @property
    def numeric_keys(self) -> list[str]:
        """Features the normaliser handles: every one but ``task``."""
        return [k for k in self.features if k != TASK]

    @property
    def observation_keys(self) -> list[str]:
        return [k for k in self.features if k not in (ACTION, TASK)]

    @property
    def action_dim(self) -> int:
        return int(self.features[ACTION].shape[0])

    def to_dict(self) -> dict[str, Any]:
        body = {
            "features": self.features.to_dict(),
            "stats": {k: {n: np.asarray(v).tolist() for n, v in s.items()} for k, s in self.stats.items()},
            "control_hz": float(self.control_hz),
            "n_obs_steps": self.n_obs_steps,
            "horizon": self.horizon,
            "n_action_steps": self.n_action_steps,
            "action_space": self.action_space,
            "tasks": list(self.tasks),
        }
        if self.trained_tasks:  # absent when unknown, so contracts written before it keep their digest
            body["trained_tasks"] = list(self.trained_tasks)
        return {**body, "digest": _digest(body)}

    @property
    def digest(self) -> str:
        return str(self.to_dict()["digest"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "contract") -> Contract:
        """Parse and verify the digest; raise ContractError naming the bad field."""
        body = {k: v for k, v in data.items() if k != "digest"}
        try:
            contract = cls(
                features=Features.from_dict(body["features"]),
                stats={
                    k: {n: np.asarray(v, dtype=np.float64) for n, v in s.items()}
                    for k, s in body["stats"].items()
                },
                control_hz=float(body["control_hz"]),
                n_obs_steps=int(body["n_obs_steps"]),
                horizon=int(body["horizon"]),
                n_action_steps=int(body["n_action_steps"]),
                action_space=str(body.get("action_space", "absolute_joint")),
                tasks=tuple(str(t) for t in body.get("tasks", [])),
                trained_tasks=tuple(str(t) for t in body.get("trained_tasks", [])),
            )
        except KeyError as e:
            raise ContractError(f"{where}: missing field {e.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError, AttributeError) as e:
            raise ContractError(f"{where}: malformed ({e})") from None
        if "digest" in data and data["digest"] != contract.digest:
            raise ContractError(
                f"{where}: digest {data['digest']} does not match its content ({contract.digest}); "
                "the file was edited or corrupted"
            )
        return contract

    def mismatches(self, features: Features, control_hz: float | None = None) -> list[str]:
        """Differences against what a robot/task/dataset provides (extra features there are fine)."""
        keys = [k for k in self.features if k != TASK]
        problems = [
            p.replace("missing on the right", "missing there")
            for p in self.features.mismatches(features, keys)
        ]
        if TASK in self.features and TASK not in features:
            problems.append("task: the policy reads a language instruction, none is provided")
        provided = features[ACTION].representation if ACTION in features else None
        if provided is not None and provided != self.action_space:
            problems.append(f"action representation: policy {self.action_space} vs {provided}")
        if control_hz is not None and abs(control_hz - self.control_hz) > 1e-6:
            problems.append(f"control rate: policy {self.control_hz:g} Hz vs {control_hz:g} Hz")
        return problems

    def check(self, features: Features, control_hz: float | None = None, where: str = "the task") -> None:
        """Raise ContractError listing every mismatch between this contract and ``where``."""
        problems = self.mismatches(features, control_hz)
        if problems:
            raise ContractError(
                f"checkpoint contract does not match {where} (policy vs {where}):\n  " + "\n  ".join(problems)
            )


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
