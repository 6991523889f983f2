"""``honed-hw emulate`` in its own process, driven from Python (benchmarks, the demo, tests)."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

HUNG_S = 300.0
"""How long to wait for a line the emulator prints before calling it hung (a process that ends stops the
wait at once; a busy machine only makes the line late, and the importing and programming take seconds)."""


class EmulatorProcess:
    """Starts an emulator process and waits for the device path it prints."""

    def __init__(self, *args: str, startup_s: float = HUNG_S):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "honed.hardware.cli", "emulate", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, name="emulator output", daemon=True).start()
        self.path = self.wait_for("port: ", startup_s)

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip())
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The rest of the next output line starting with ``prefix``; RuntimeError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                break
            self.lines.append(line)
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        self.stop()
        raise RuntimeError(f"emulator printed no {prefix!r} line within {timeout} s; it said: {self.lines}")

    def wait_calibration(self, timeout: float = HUNG_S) -> str:
        """Path of the calibration file it wrote (with calibrated_as=...)."""
        return self.wait_for("calibration: ", timeout)

    def stop(self) -> list[str]:
        """Stop it (SIGTERM, as Ctrl-C would) and return everything it printed."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        while True:
            try:
                line = self._queue.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                self._queue.put(None)
                break
            self.lines.append(line)
        return self.lines

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
