"""The fixed-rate Pacer: the tick every real-time loop (recording, replay, teleoperation, deployment) keeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Pacer:
    """Fixed-rate ticks; a tick whose deadline has already passed by a whole period is dropped."""

    fps: int
    """Ticks per second."""
    realtime: bool = True
    """False: ``wait`` returns at once (as fast as the loop runs)."""
    clock: Callable[[], float] = time.perf_counter
    """Seconds, monotonic."""
    sleep: Callable[[float], None] = time.sleep
    """Blocks for the given seconds."""
    dropped: int = 0
    """Ticks passed unrun since ``start`` because the loop fell a whole period or more behind."""
    _next: float = field(default=0.0, init=False)
    _started: float = field(default=0.0, init=False)
    _ticks: int = field(default=0, init=False)

    def start(self) -> None:
        self._started = self._next = self.clock()
        self._ticks, self.dropped = 0, 0

    def wait(self) -> None:
        """Block until the next tick (immediately when not real-time)."""
        self._ticks += 1
        if not self.realtime:
            return
        period = 1.0 / self.fps
        self._next += period
        late = self.clock() - self._next
        if late >= period:
            missed = int(late // period)
            self.dropped += missed
            self._next += missed * period
        delay = self._next - self.clock()
        if delay > 0:
            self.sleep(delay)

    @property
    def rate_hz(self) -> float:
        elapsed = self.clock() - self._started
        return self._ticks / elapsed if elapsed > 0 else 0.0
