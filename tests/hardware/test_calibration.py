"""Calibration files (lerobot's format), tick <-> radian conversion, and the calibration procedure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from honed.arms import ARMS
from honed.hardware.calibration import (
    CalibrationError,
    JointConverter,
    MotorCal,
    calibration_path,
    find_calibration,
    load_calibration,
    save_calibration,
)
from honed.hardware.motors import arm_motors

MOTORS = arm_motors("so101", "follower")
GOOD = {m.joint: MotorCal(m.id, 0, 100 - 40 * m.id, 900 + m.id, 3100 + m.id) for m in MOTORS}


def write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_files_use_lerobot_layout_and_format(tmp_path: Path) -> None:
    path = save_calibration(calibration_path("so101", "follower", "arm1", tmp_path), GOOD)
    assert path == tmp_path / "robots" / "so_follower" / "arm1.json"
    assert (
        calibration_path("koch", "leader", "l", tmp_path)
        == tmp_path / "teleoperators" / "koch_leader" / "l.json"
    )
    raw = json.loads(path.read_text())
    assert raw["gripper"] == {
        "id": 6,
        "drive_mode": 0,
        "homing_offset": -140,
        "range_min": 906,
        "range_max": 3106,
    }
    assert load_calibration(path, MOTORS) == GOOD


def test_lerobot_can_read_our_files(tmp_path: Path) -> None:
    import draccus
    from lerobot.motors import MotorCalibration

    path = save_calibration(calibration_path("so101", "follower", "arm1", tmp_path), GOOD)
    with open(path) as f, draccus.config_type("json"):
        theirs = draccus.load(dict[str, MotorCalibration], f)  # type: ignore[type-var]
    assert {j: vars(c) for j, c in theirs.items()} == {j: vars(c) for j, c in GOOD.items()}


def test_we_read_files_lerobot_wrote(tmp_path: Path) -> None:
    import draccus
    from lerobot.motors import MotorCalibration

    path = calibration_path("so101", "leader", "theirs", tmp_path)
    path.parent.mkdir(parents=True)
    with open(path, "w") as f, draccus.config_type("json"):  # as lerobot's Robot._save_calibration does
        draccus.dump({j: MotorCalibration(**vars(c)) for j, c in GOOD.items()}, f, indent=4)  # type: ignore[type-var]
    assert load_calibration(path, arm_motors("so101", "leader")) == GOOD


def test_older_lerobot_folders_are_found(tmp_path: Path) -> None:
    legacy = tmp_path / "robots" / "so101_follower" / "old.json"
    save_calibration(legacy, GOOD)
    assert find_calibration("so101", "follower", "old", tmp_path) == legacy
    assert find_calibration("so101", "follower", "missing", tmp_path) is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("elbow_flex"), r"lacks joints \['elbow_flex'\]"),
        (lambda d: d["gripper"].pop("range_max"), "needs the fields"),
        (lambda d: d["gripper"].update(range_min="900"), r"fields \['range_min'\] must be integers"),
        (lambda d: d["gripper"].update(id=9), "id 9 but this arm drives it with servo id 6"),
        (lambda d: d["wrist_flex"].update(range_min=4000), "range_min 4000 must be below range_max"),
        (lambda d: d["wrist_flex"].update(drive_mode=2), "drive_mode must be 0 or 1"),
    ],
)
def test_malformed_files_are_rejected_naming_the_field(tmp_path: Path, mutate, message: str) -> None:
    data = {j: vars(c).copy() for j, c in GOOD.items()}
    mutate(data)
    with pytest.raises(CalibrationError, match=message):
        load_calibration(write(tmp_path / "c.json", data), MOTORS)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.json"
    bad.write_text("{not json")
    with pytest.raises(CalibrationError, match="unreadable.*honed-hw calibrate"):
        load_calibration(bad, MOTORS)
    with pytest.raises(CalibrationError, match="plain name"):
        calibration_path("so101", "follower", "../escape", tmp_path)


@given(ticks=st.lists(st.integers(0, 4095), min_size=6, max_size=6))
def test_ticks_radians_round_trip(ticks: list[int]) -> None:
    conv = JointConverter(ARMS["so101"], MOTORS, GOOD)
    t = np.clip(np.array(ticks), conv.lo, conv.hi).astype(np.int64)
    back = conv.to_ticks(conv.to_rad(t))
    assert np.abs(back - t).max() <= 1  # the gripper's linear map may round by one tick


def test_angle_conventions() -> None:
    conv = JointConverter(ARMS["so101"], MOTORS, GOOD)
    mid = (conv.lo + conv.hi) / 2
    rad = conv.to_rad(mid)
    assert np.allclose(rad[:5], 0.0)  # body joints read zero mid-range (lerobot's degrees mode)
    arm = ARMS["so101"]
    assert conv.to_rad(conv.lo)[5] == pytest.approx(arm.low[5])  # gripper range -> gripper limits
    assert conv.to_rad(conv.hi)[5] == pytest.approx(arm.high[5])
    assert conv.to_rad(mid + 4095 / 4)[0] == pytest.approx(np.pi / 2)


def test_calibration_procedure_matches_a_preset_arm(emulators, calibration_dir: Path, hw) -> None:
    from rich.console import Console

    from honed.hardware.arm import ServoArm
    from honed.hardware.calibrate import run_calibration
    from honed.hardware.emulator.preset import preset_calibration

    emu = emulators(robot="so101", joints="twin", operator="calibrate", sweep_s=1.5)
    arm = ServoArm("so101", "follower", emu.path, "cal1", calibration_dir, hw.patient)
    arm.bus.connect()
    swept = lambda _: emu.operator.swept  # noqa: E731 - the emulated person has shown both stops
    path = run_calibration(arm, wait=lambda _: None, stop=swept, console=Console(quiet=True))
    arm.close(disable_torque=True)
    recorded = load_calibration(path, MOTORS)
    programmed = {m.joint: (s.get("Homing_Offset"), s.get("Min_Position_Limit"), s.get("Max_Position_Limit"))
                  for m, s in zip(MOTORS, emu.servos)}  # fmt: skip
    assert programmed == {j: (c.homing_offset, c.range_min, c.range_max) for j, c in recorded.items()}
    expected = preset_calibration(emu)  # what an ideal sweep from the twin's zero pose gives
    for joint in recorded:
        got, want = recorded[joint], expected[joint]
        assert got.homing_offset == want.homing_offset, joint
        assert abs(got.range_min - want.range_min) <= 3 and abs(got.range_max - want.range_max) <= 3, joint


def test_a_joint_that_never_moves_fails_calibration(emulators, calibration_dir: Path, hw) -> None:
    from rich.console import Console

    from honed.hardware.arm import ServoArm
    from honed.hardware.calibrate import run_calibration

    emu = emulators(robot="so101", operator="hold")
    arm = ServoArm("so101", "follower", emu.path, "cal2", calibration_dir, hw.patient)
    arm.bus.connect()
    with pytest.raises(CalibrationError, match="barely moved"):
        run_calibration(arm, wait=lambda _: None, stop=lambda t: t > 0.2, console=Console(quiet=True))
    arm.close(disable_torque=True)
    assert find_calibration("so101", "follower", "cal2", calibration_dir) is None


def test_restore_writes_the_file_into_the_servos(emulators, calibration_dir: Path, hw) -> None:
    from honed.hardware.arm import ServoArm
    from honed.hardware.calibrate import restore

    emu = emulators(robot="koch")
    save_calibration(calibration_path("koch", "follower", "k1", calibration_dir), {
        m.joint: MotorCal(m.id, 0, 10 * m.id, 500, 3500) for m in arm_motors("koch", "follower")
    })  # fmt: skip
    arm = ServoArm("koch", "follower", emu.path, "k1", calibration_dir, hw.patient)
    arm.bus.connect()
    restore(arm)
    arm.close(disable_torque=True)
    assert [s.get("Homing_Offset") for s in emu.servos] == [10, 20, 30, 40, 50, 60]
    assert {s.get("Min_Position_Limit") for s in emu.servos} == {500}
