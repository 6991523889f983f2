"""The Teleoperator seam: anything that turns a person's (or an expert's) intent into arm actions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import numpy as np

from honed.registry import Registry

TELEOPS: Registry[Any] = Registry("teleop")


@dataclass
class TeleopEvents:
    """Operator requests read once per loop tick by the recording loop."""

    end_episode: bool = False
    """Save the current episode now."""
    rerecord: bool = False
    """Discard the current episode and record it again."""
    stop: bool = False
    """Save and stop recording."""
    imitate: bool = True
    """False when the action just given is a mistake made on purpose (a scripted expert staging a
    failure to recover from): it is recorded and sent, and training does not learn from it."""


class Teleoperator(ABC):
    """Produces absolute joint targets (rad) in the follower's action space."""

    name: str = "teleop"

    def connect(self) -> None:  # noqa: B027 - optional hook
        """Open devices; default: nothing to open."""

    def disconnect(self) -> None:  # noqa: B027 - optional hook
        """Close devices; default: nothing to close."""

    def reset(self, observation: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Start of an episode; default: no state to reset."""

    def reseed(self, seed: int) -> None:  # noqa: B027 - optional hook
        """Draw the coming episode's own randomness from ``seed``; default: a teleop without any."""

    @abstractmethod
    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        """The next action given the follower's latest observation."""

    def events(self) -> TeleopEvents:
        """Operator requests since the last call; default: none."""
        return TeleopEvents()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()
