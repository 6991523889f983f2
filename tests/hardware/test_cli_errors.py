"""Hardware commands end in one line naming the fix: ports that do not open, arms without a
calibration file, and buses where no servo answers (emulated on real pseudo-terminals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.data.record_cli import main as record_main
from honed.hardware.cli import main as hw_main
from honed.hardware.teleop_cli import main as teleop_main

FIND_PORT = "find the arm's with `honed-hw ports find=true`"


def refusal(main, *args: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as ended:
        main(list(args))
    message = ended.value.code
    assert isinstance(message, str) and "\n" not in message  # a string exits with status 1
    return message


def test_a_port_that_does_not_exist_names_the_command_that_finds_the_arm(tmp_path: Path) -> None:
    port = str(tmp_path / "ttyACM9")
    message = refusal(hw_main, "calibrate", f"port={port}", "yes=true", "duration_s=1")
    assert message.startswith(f"honed-hw calibrate: cannot open serial port {port}: ")
    assert "No such file or directory" in message and message.endswith(FIND_PORT)
    assert "lerobot-find-port" not in message


def test_dev_null_as_port_is_not_a_serial_device(tmp_path: Path) -> None:
    message = refusal(hw_main, "scan", "port=/dev/null")
    assert message.startswith("honed-hw scan: cannot open serial port /dev/null: not a serial device")
    assert message.endswith(FIND_PORT)
    message = refusal(
        record_main,
        "robot=so101_follower",
        "robot_options.port=/dev/null",
        "teleop=synthetic",
        f"store={tmp_path / 'store'}",
    )
    assert message.startswith(
        "honed-record run: so101 follower 'default' on /dev/null: cannot open serial port"
    )
    assert message.endswith(FIND_PORT)


def test_an_arm_without_a_calibration_file_names_the_file_and_the_calibrate_command(
    emulators, calibration_dir: Path, tmp_path: Path
) -> None:
    emu = emulators(robot="so101")
    message = refusal(
        teleop_main, "robot=so101_follower", f"robot_port={emu.path}", "robot_id=bench_arm",
        f"calibration_dir={calibration_dir}", "teleop=synthetic", "duration_s=0.1", f"output_dir={tmp_path}",
    )  # fmt: skip
    expected = calibration_dir / "robots" / "so_follower" / "bench_arm.json"
    assert message.startswith("honed-teleop run: so101 follower 'bench_arm'")
    assert f"no calibration file at {expected}" in message
    assert f"honed-hw calibrate robot=so101 role=follower id=bench_arm port={emu.path}" in message


def test_scan_exits_non_zero_when_no_servo_answers(emulators) -> None:
    emu = emulators(robot="so101", baudrate=500_000)  # the servos listen at another rate
    message = refusal(hw_main, "scan", f"port={emu.path}", "baudrates=[1000000]")
    assert message.startswith(f"honed-hw scan: no servo answered on {emu.path} at 1000000 baud")
    assert "baudrates=[]" in message
