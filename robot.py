"""The Robot seam: a follower arm, real or simulated, behind one interface.

Deploy and recording code cannot tell a real arm from the twin except by ``name``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

import numpy as np

from honed.errors import UserError
from honed.features import Features
from honed.registry import Registry

ROBOTS: Registry[Any] = Registry("robot")


class RobotError(UserError, RuntimeError):
    """A robot failed: lost connection, repeated bus faults, refused calibration."""


class Robot(ABC):
    """A follower arm. ``read`` returns a frame of ``features`` minus ``action``; ``write`` sends targets."""

    name: str = "robot"

    @property
    @abstractmethod
    def features(self) -> Features:
        """Observation features this robot produces plus the ``action`` it accepts."""

    @property
    @abstractmethod
    def is_connected(self) -> bool: ...

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def disconnect(self) -> None: ...

    @abstractmethod
    def read(self) -> dict[str, Any]:
        """One observation: ``observation.state`` (float32) and ``observation.images.<cam>`` (uint8 HWC)."""

    @abstractmethod
    def write(self, action: np.ndarray) -> np.ndarray:
        """Send absolute joint targets (rad); returns the action actually sent after safety clipping.

        Non-finite values raise before anything reaches a motor.
        """

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.disconnect()
