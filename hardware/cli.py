"""``honed-hw``: emulate a servo bus, find ports, scan buses, set servo IDs, calibrate arms."""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from honed.cli import Verb, bounded, run
from honed.hardware.demo import DemoConfig
from honed.hardware.emulator.config import EmulatorConfig, FaultConfig


@dataclass
class CalibrateConfig:
    """Calibrate an arm (or write its saved calibration back into the servos)."""

    robot: str = "so101"
    """Arm model: so101, so100 or koch."""
    role: str = "follower"
    """follower or leader."""
    id: str = "default"
    """Robot id: names the calibration file."""
    port: str = ""
    """Serial port of the arm's bus (see `honed-hw ports`)."""
    calibration_dir: str = ""
    """Root of calibration files (default: lerobot's)."""
    restore: bool = False
    """Write the existing calibration file into the servos instead of recording a new one."""
    yes: bool = False
    """Do not wait for Enter: home at once, then record ranges for duration_s."""
    duration_s: float = bounded(0.0, ge=0)
    """Record ranges for this long (0: until Enter)."""


@dataclass
class PortsConfig:
    """List serial ports."""

    find: bool = False
    """Ask you to unplug the adapter and report which port disappeared."""


@dataclass
class ScanConfig:
    """Find the servos on a bus."""

    port: str = ""
    """Serial port to scan."""
    protocol: str = "feetech"
    """feetech (SO-100/SO-101) or dynamixel (Koch)."""
    baudrates: list[int] = bounded([1_000_000], ge=1)
    """Baud rates to try ([]: every rate the protocol supports; slow rates take seconds each)."""


@dataclass
class SetIdConfig:
    """Give a new servo (alone on the bus) the ID and baud rate of its joint."""

    robot: str = "so101"
    """Arm model: so101, so100 or koch."""
    role: str = "follower"
    """follower or leader."""
    port: str = ""
    """Serial port with only that servo connected."""
    motor: str = "gripper"
    """Joint the servo will drive (its ID comes from the arm's table)."""
    baudrate: int = bounded(0, ge=0)
    """The servo's present baud rate (0: search every rate)."""


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def emulate(cfg: EmulatorConfig) -> dict[str, Any]:
    from honed.hardware.emulator import BusEmulator
    from honed.hardware.emulator.preset import program_and_save

    emulator = BusEmulator(cfg)
    path = emulator.open()
    print(f"port: {path}", flush=True)
    if cfg.link:
        print(f"link: {cfg.link} -> {path}", flush=True)
    if cfg.calibrated_as:
        saved = program_and_save(emulator, cfg.calibrated_as, cfg.calibration_dir or None)
        print(f"calibration: {saved}", flush=True)
    print(
        f"Emulating {cfg.robot} {cfg.role} ({len(emulator.servos)} servos, {cfg.joints} joints); Ctrl-C stops.",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        emulator.serve()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    summary = {"port": path, "vanished": emulator.vanished, **vars(emulator.stats)}
    print(json.dumps(summary), flush=True)
    return summary


def _arm(robot: str, role: str, port: str, robot_id: str = "default", calibration_dir: str = "") -> Any:
    from honed.hardware.arm import ServoArm

    return ServoArm(robot, role, port, robot_id, calibration_dir or None)


def calibrate(cfg: CalibrateConfig) -> str:
    from honed.hardware.calibrate import enter_pressed, restore, run_calibration

    if cfg.yes and not cfg.restore and cfg.duration_s <= 0:
        raise SystemExit("honed-hw calibrate: yes=true needs duration_s > 0 (how long to record the ranges)")
    arm = _arm(cfg.robot, cfg.role, cfg.port, cfg.id, cfg.calibration_dir)
    arm.bus.connect()
    try:
        if cfg.restore:
            path = restore(arm)
        else:

            def wait(message: str) -> None:
                print(message, flush=True)
                if not cfg.yes:
                    input()

            def stop(elapsed: float) -> bool:
                return (cfg.duration_s > 0 and elapsed >= cfg.duration_s) or (not cfg.yes and enter_pressed())

            path = run_calibration(arm, wait, stop)
    finally:
        arm.close(disable_torque=True)
    print(f"calibration: {path}", flush=True)
    return str(path)


def ports(cfg: PortsConfig) -> list[str]:
    from serial.tools import list_ports

    def listing() -> dict[str, str]:
        return {p.device: p.description for p in list_ports.comports()}

    before = listing()
    for device, description in sorted(before.items()):
        print(f"{device}\t{description}")
    if not cfg.find:
        return sorted(before)
    input("Unplug the USB cable of the arm's adapter and press Enter...")
    time.sleep(0.5)
    gone = sorted(set(before) - set(listing()))
    print(
        f"The arm's port is {gone[0]}"
        if len(gone) == 1
        else f"Could not tell: ports that disappeared: {gone}"
    )
    return gone


def scan(cfg: ScanConfig) -> dict[int, dict[int, int]]:
    """IDs and model numbers of the servos answering at each baud rate; BusConnectionError when none does."""
    from honed.hardware.bus import BUS_CLASSES
    from honed.hardware.transport import BusConnectionError

    if cfg.protocol not in BUS_CLASSES:
        raise SystemExit(f"honed-hw scan: protocol={cfg.protocol!r}; use feetech or dynamixel")
    if not cfg.port:
        raise SystemExit("honed-hw scan: give port=... (see `honed-hw ports`)")
    bus = BUS_CLASSES[cfg.protocol](cfg.port, {})
    bus._connect(handshake=False)
    rates = list(cfg.baudrates) or list(bus.available_baudrates)
    unknown = sorted(set(rates) - set(bus.available_baudrates))
    if unknown:
        raise SystemExit(f"honed-hw scan: {cfg.protocol} servos do not use baud rates {unknown}")
    found: dict[int, dict[int, int]] = {}
    try:
        for rate in rates:
            bus.set_baudrate(rate)
            ids = bus.broadcast_ping() or {}
            if ids:
                found[rate] = ids
                print(f"{rate} baud: " + ", ".join(f"id {i} (model {m})" for i, m in ids.items()), flush=True)
    finally:
        bus.port_handler.closePort()
    if not found:
        raise BusConnectionError(
            f"no servo answered on {cfg.port} at {', '.join(map(str, rates))} baud: check the power and "
            f"cabling{', or try every rate with baudrates=[]' if cfg.baudrates else ''}"
        )
    print(json.dumps({str(rate): ids for rate, ids in found.items()}), flush=True)
    return found


def set_id(cfg: SetIdConfig) -> int:
    arm = _arm(cfg.robot, cfg.role, cfg.port)
    if cfg.motor not in arm.bus.motors:
        raise SystemExit(f"honed-hw set-id: motor={cfg.motor!r}; joints: {', '.join(arm.bus.motors)}")
    arm.bus._connect(handshake=False)
    try:
        arm.bus.setup_motor(cfg.motor, initial_baudrate=cfg.baudrate or None)
    finally:
        arm.bus.port_handler.closePort()
    new_id = arm.bus.motors[cfg.motor].id
    print(f"{cfg.motor} servo now has id {new_id} at {arm.bus.default_baudrate} baud", flush=True)
    return int(new_id)


def _demo(cfg: DemoConfig) -> dict[str, Any]:
    from honed.hardware.demo import run_demo

    return run_demo(cfg)


_QUICK = EmulatorConfig(joints="kinematic", timing=False)

VERBS: dict[str, Verb] = {
    "emulate": Verb(
        EmulatorConfig,
        emulate,
        "emulate an arm's servo bus on a pseudo-terminal (prints the port)",
        {
            "debug": _QUICK,
            "leader": EmulatorConfig(role="leader", operator="wave"),
            "faulty": EmulatorConfig(faults=FaultConfig(drop_rate=0.02, corrupt_rate=0.02)),
        },
    ),
    "calibrate": Verb(CalibrateConfig, calibrate, "record an arm's calibration (homing and ranges)"),
    "ports": Verb(PortsConfig, ports, "list serial ports (find=true: spot the arm's adapter)"),
    "scan": Verb(ScanConfig, scan, "list servo IDs and models on a bus"),
    "set-id": Verb(SetIdConfig, set_id, "give a lone servo its joint's ID and the bus baud rate"),
    "demo": Verb(
        DemoConfig,
        _demo,
        "calibrate, teleoperate and record on two emulated arms, unattended",
        {"debug": DemoConfig(output_dir="outputs/debug/hardware", teleop_s=1.0, episodes=1, episode_s=1.0)},
    ),
}


def main(argv: list[str] | None = None) -> None:
    run("hw", VERBS, argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
