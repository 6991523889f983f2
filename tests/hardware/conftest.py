"""Shared fixtures: emulated servo buses on real pseudo-terminals, opened with real pyserial.

Waits end on what they wait for (bytes arriving, a frame handled, an emulator's simulated time),
never on a guess of how long a busy machine takes; HUNG_S caps each wait only to report a hang.
Drivers in tests that are not about timeouts retry under PATIENT: an emulator thread that a busy
machine leaves waiting for the CPU answers late, and the driver's reply timeouts are wall-clock.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial

from honed.hardware import transport
from honed.hardware.emulator import BusEmulator, EmulatorConfig, FaultConfig
from honed.hardware.emulator.process import EmulatorProcess
from honed.hardware.transport import RetryPolicy

PATIENT = RetryPolicy(attempts=3, reply_timeout_ms=1000, budget_ms=60_000)
"""Retries of drivers in tests that are not about timeouts: replies a busy machine delays by a second
are waited for; only a hung emulator (or a servo made dead on purpose) uses them up."""


@pytest.fixture
def emulators() -> Iterator[Callable[..., BusEmulator]]:
    """Start emulators (background threads) from EmulatorConfig fields; all stop at teardown."""
    started: list[BusEmulator] = []

    def start(preset: bool = False, **fields: object) -> BusEmulator:
        fields.setdefault("joints", "kinematic")
        fields.setdefault("timing", False)
        if isinstance(fields.get("faults"), dict):
            fields["faults"] = FaultConfig(**fields["faults"])  # type: ignore[arg-type]
        emulator = BusEmulator(EmulatorConfig(**fields))  # type: ignore[arg-type]
        if preset:
            from honed.hardware.emulator.preset import preset_calibration

            preset_calibration(emulator)
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def calibration_dir(tmp_path: Path) -> Path:
    path = tmp_path / "calibration"
    path.mkdir()
    return path


HUNG_S = 120.0
"""Wall-clock cap of every wait here: reached only when what is awaited is hung, not merely slow."""


def open_port(path: str, baudrate: int = 1_000_000) -> serial.Serial:
    return serial.Serial(path, baudrate, timeout=0)


def transact(port: serial.Serial, packet: bytes, expect: int, timeout: float = HUNG_S) -> bytes:
    """Write a packet and collect ``expect`` bytes (or whatever came before the deadline)."""
    port.reset_input_buffer()
    port.write(packet)
    return collect(port, expect, timeout)


def unanswered(port: serial.Serial, packet: bytes, probe: bytes, probe_reply: bytes) -> bool:
    """Whether ``packet`` went unanswered: ``probe`` is sent right after it and its reply is the first
    thing that comes back (the bus answers in order, so any answer to ``packet`` would arrive first)."""
    port.reset_input_buffer()
    port.write(packet + probe)
    return collect(port, len(probe_reply), HUNG_S) == probe_reply


def collect(port: serial.Serial, expect: int, timeout: float = HUNG_S) -> bytes:
    out = bytearray()
    deadline = time.monotonic() + timeout
    while len(out) < expect:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([port.fileno()], [], [], remaining)
        if ready:
            out += port.read(max(1, port.in_waiting))
    return bytes(out)


def wait_for(condition: Callable[[], bool], what: str, hung_s: float = HUNG_S) -> None:
    """Poll ``condition`` until true; fail naming ``what`` if it is still false after ``hung_s`` (a hang)."""
    deadline = time.monotonic() + hung_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {hung_s:g} s: hung")
        time.sleep(0.005)


def path_exists(path: str) -> bool:
    return os.path.exists(path)


@pytest.fixture
def hw() -> object:
    """The helpers above, for tests (importlib mode does not put conftest on sys.path)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        open_port=open_port,
        transact=transact,
        unanswered=unanswered,
        collect=collect,
        wait_for=wait_for,
        path_exists=path_exists,
        patient=PATIENT,
        patient_options={"reply_timeout_ms": PATIENT.reply_timeout_ms, "budget_ms": PATIENT.budget_ms},
    )


@pytest.fixture
def patient_buses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buses built without a retry policy (the ``honed-hw`` commands' own) retry under PATIENT."""
    monkeypatch.setattr(transport, "RetryPolicy", lambda: PATIENT)


@pytest.fixture
def emulator_processes() -> Iterator[Callable[..., EmulatorProcess]]:
    started: list[EmulatorProcess] = []

    def start(*args: str) -> EmulatorProcess:
        process = EmulatorProcess(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
