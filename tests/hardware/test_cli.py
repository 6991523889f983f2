"""``honed-hw``: emulate (as its own process), scan, set-id, calibrate, ports, and argument errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from honed.cli import run
from honed.hardware.calibration import find_calibration
from honed.hardware.cli import VERBS, main


def hw_cli(*args: str):  # type: ignore[no-untyped-def]
    return run("hw", VERBS, list(args))


def test_help_lists_verbs_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    assert all(verb in out for verb in ("emulate", "calibrate", "ports", "scan", "set-id"))
    main(["emulate", "--help"])
    out = capsys.readouterr().out
    assert "faults.drop_rate" in out and "Probability that a status packet is not sent." in out


def test_bad_arguments_are_rejected_before_work() -> None:
    with pytest.raises(SystemExit, match="no field 'protocl'; did you mean protocol"):
        hw_cli("scan", "protocl=feetech")
    with pytest.raises(SystemExit, match="protocol='canbus'"):
        hw_cli("scan", "port=/dev/null", "protocol=canbus")
    with pytest.raises(SystemExit, match=r"honed-hw emulate: ids \[9\] are not servos of so101"):
        hw_cli("emulate", "ids=[9]")
    with pytest.raises(
        SystemExit, match=r"honed-hw emulate: faults.drop_rate=2.0: must be a finite number in \[0, 1\]"
    ):
        hw_cli("emulate", "faults.drop_rate=2.0")
    with pytest.raises(SystemExit, match="honed-hw emulate: view=true shows the twin"):
        hw_cli("emulate", "view=true", "joints=kinematic")
    with pytest.raises(SystemExit, match="yes=true needs duration_s"):
        hw_cli("calibrate", "port=/dev/null", "yes=true")


def test_emulate_process_then_scan(emulator_processes, calibration_dir: Path) -> None:
    emu = emulator_processes(
        "robot=koch", "joints=kinematic", "calibrated_as=k", f"calibration_dir={calibration_dir}"
    )
    saved = emu.wait_calibration()
    assert Path(saved) == calibration_dir / "robots" / "koch_follower" / "k.json"
    found = hw_cli("scan", f"port={emu.path}", "protocol=dynamixel")
    assert found == {1_000_000: {1: 1060, 2: 1060, 3: 1200, 4: 1200, 5: 1200, 6: 1200}}
    summary = json.loads(emu.stop()[-1])
    assert summary["port"] == emu.path and summary["instructions"] >= 1


def test_scan_finds_the_servos_at_their_baud_rate(emulators, patient_buses: None) -> None:
    emu = emulators(robot="so101", ids=[2, 3], baudrate=500_000)
    found = hw_cli("scan", f"port={emu.path}", "baudrates=[57600,500000,1000000]")
    assert found == {500_000: {2: 777, 3: 777}}


def test_set_id_on_a_lone_new_servo(emulators, patient_buses: None) -> None:
    emu = emulators(robot="so101", ids=[1], baudrate=115_200)  # a servo fresh from the box
    assert hw_cli("set-id", f"port={emu.path}", "motor=gripper") == 6
    assert (emu.servos[0].id, emu.servos[0].baudrate) == (6, 1_000_000)
    assert hw_cli("scan", f"port={emu.path}") == {1_000_000: {6: 777}}


def test_calibrate_unattended_then_restore(emulators, calibration_dir: Path, patient_buses: None) -> None:
    emu = emulators(robot="so101", role="leader", joints="twin", operator="calibrate", sweep_s=1.5)
    args = ["robot=so101", "role=leader", "id=lead", f"port={emu.path}", f"calibration_dir={calibration_dir}"]
    path = hw_cli("calibrate", *args, "yes=true", "duration_s=2.2")
    assert Path(path) == find_calibration("so101", "leader", "lead", calibration_dir)
    offsets = [s.get("Homing_Offset") for s in emu.servos]
    for servo in emu.servos:
        servo.set("Homing_Offset", 0)  # as after a factory reset
    assert hw_cli("calibrate", *args, "restore=true") == path
    assert [s.get("Homing_Offset") for s in emu.servos] == offsets


def test_ports_lists_serial_devices(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(hw_cli("ports"), list)


@pytest.mark.skipif(
    not os.environ.get("DISPLAY"), reason="the MuJoCo viewer needs a display (DISPLAY is unset)"
)
def test_emulator_viewer_window(emulator_processes) -> None:
    emu = emulator_processes("view=true", "duration_s=3")
    assert emu.path.startswith("/dev/pts/")
