"""Follower robots and leader teleops on emulated buses: calibration gate, safety, failures, cameras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from honed.features import STATE, image_key
from honed.hardware.emulator.preset import program_and_save
from honed.hardware.follower import KochFollower, SO101Follower
from honed.hardware.leader import KochLeader, SO101Leader
from honed.hardware.safety import SafetyError
from honed.robot import ROBOTS, RobotError
from honed.teleop import TELEOPS


def calibrated(emulators, calibration_dir: Path, robot_id: str, **fields):  # type: ignore[no-untyped-def]
    emu = emulators(**fields)
    program_and_save(emu, robot_id, calibration_dir)
    return emu


def torque(emu) -> list[int]:  # type: ignore[no-untyped-def]
    return [s.get("Torque_Enable") for s in emu.servos]


def test_drivers_are_registered() -> None:
    assert {"so101_follower", "so100_follower", "koch_follower"} <= set(ROBOTS.names())
    assert {"so101_leader", "so100_leader", "koch_leader"} <= set(TELEOPS.names())


def test_missing_calibration_refuses_torque(emulators, calibration_dir: Path, hw) -> None:
    emu = emulators(robot="so101")
    robot = SO101Follower(port=emu.path, id="nobody", calibration_dir=calibration_dir, **hw.patient_options)
    with pytest.raises(
        RobotError, match=r"no calibration file .*honed-hw calibrate robot=so101 role=follower id=nobody"
    ):
        robot.connect()
    assert torque(emu) == [0] * 6 and not robot.arm.bus.is_connected


def test_mismatching_calibration_refuses_torque(emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(emulators, calibration_dir, "arm", robot="so101")
    emu.servos[2].set("Homing_Offset", emu.servos[2].get("Homing_Offset") + 7)  # someone swapped a servo
    robot = SO101Follower(port=emu.path, id="arm", calibration_dir=calibration_dir, **hw.patient_options)
    with pytest.raises(RobotError, match=r"elbow_flex\.homing_offset: file .*restore=true"):
        robot.connect()
    assert torque(emu) == [0] * 6


def test_follower_reads_and_moves_the_twin(emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(emulators, calibration_dir, "arm", robot="so101", joints="twin")
    robot = SO101Follower(port=emu.path, id="arm", calibration_dir=calibration_dir, **hw.patient_options)
    with robot:
        assert torque(emu) == [1] * 6
        obs = robot.read()
        robot.features.select([STATE]).check_frame(obs)
        q, _, _ = emu.joints.state()
        assert np.allclose(obs[STATE][:6], q, atol=0.01)
        target = obs[STATE][:6].copy()
        target[0] += 0.3
        sent = robot.write(target)
        assert np.allclose(sent, target, atol=1e-6)
        emu.wait_until(
            lambda: abs(robot.read()[STATE][0] - target[0]) < 0.02, 5.0, "shoulder_pan to reach the target"
        )
        far = target.copy()
        far[0] -= 1.0
        sent = robot.write(far)  # the step per write is limited
        assert sent[0] == pytest.approx(robot.read()[STATE][0] - robot.limits.max_step_rad, abs=0.03)
    assert torque(emu) == [0] * 6  # disconnect turns torque off


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([np.nan, 0, 0, 0, 0, 0], "non-finite"),
        ([0, 0, 0, 0, np.inf, 0], "non-finite"),
        ([0, 0, 90.0, 0, 0, 0], r"action\[2\] \(elbow_flex\) = 90.000 rad is outside"),
        ([0, 0, 0], r"shape \(6,\)"),
        ("fast", "joint targets"),
    ],
)
def test_bad_targets_send_nothing(bad: object, message: str, emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(emulators, calibration_dir, "arm", robot="so101")
    with SO101Follower(
        port=emu.path, id="arm", calibration_dir=calibration_dir, **hw.patient_options
    ) as robot:
        robot.read()
        goals = [s.get("Goal_Position") for s in emu.servos]
        before = emu.stats.writes
        with pytest.raises(SafetyError, match=message):
            robot.write(np.asarray(bad, dtype=object) if isinstance(bad, str) else np.asarray(bad))
        robot.read()  # the emulator handles packets in order: a stray write would be counted before this read
        assert emu.stats.writes == before
        assert [s.get("Goal_Position") for s in emu.servos] == goals


def test_targets_just_outside_the_range_are_clipped(emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(emulators, calibration_dir, "arm", robot="so101")
    robot = SO101Follower(
        port=emu.path, id="arm", calibration_dir=calibration_dir, max_step_rad=10, **hw.patient_options
    )
    with robot:
        robot.read()
        assert robot.guard is not None
        target = robot.guard.high + 0.05
        sent = robot.write(target)
        assert np.all(sent <= robot.guard.high + 1e-6) and np.all(sent >= robot.guard.high - 1e-3)


def test_repeated_bus_failures_mark_the_robot_failed(emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(emulators, calibration_dir, "arm", robot="so101")
    robot = SO101Follower(port=emu.path, id="arm", calibration_dir=calibration_dir, **hw.patient_options)
    robot.connect()
    robot.read()
    emu.config.faults.dead_ids = [4]
    timeouts = robot.stats.timeouts
    with pytest.raises(RobotError, match="no valid answer after 3 attempts"):
        robot.read()
    assert robot.stats.timeouts - timeouts == 3
    assert robot.failed is not None and robot.stats.failures == 1
    with pytest.raises(RobotError, match="marked failed"):
        robot.write(np.zeros(6))
    emu.config.faults.dead_ids = []  # the cable is fixed
    robot.connect()
    assert robot.failed is None and robot.read()[STATE].shape == (12,)
    robot.disconnect()


def test_port_vanishing_mid_loop_raises_without_hanging(emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(emulators, calibration_dir, "arm", robot="so101")
    robot = SO101Follower(port=emu.path, id="arm", calibration_dir=calibration_dir, **hw.patient_options)
    robot.connect()
    timeouts = robot.stats.timeouts
    with pytest.raises(RobotError, match="serial port"):
        for tick in range(100_000):  # the port goes mid-loop, when the emulator next wakes
            if tick == 10:
                emu.vanish()
            robot.write(robot.read()[STATE][:6])
    assert robot.stats.timeouts - timeouts < 3  # it did not wait out the retries of an exchange
    robot.disconnect()
    assert not robot.is_connected


def test_leader_reads_the_hand_in_the_follower_frame(emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(
        emulators, calibration_dir, "lead", robot="so101", role="leader", joints="twin", operator="wave"
    )
    with SO101Leader(
        port=emu.path, id="lead", calibration_dir=calibration_dir, **hw.patient_options
    ) as leader:
        assert torque(emu) == [0] * 6  # a leader stays limp
        first = leader.get_action({})
        emu.wait_until(
            lambda: np.abs(leader.get_action({}) - first).max() > 0.1, 5.0, "the hand to move the leader"
        )
        action = leader.get_action({})
        q, _, _ = emu.joints.state()
        assert action.dtype == np.float32 and np.allclose(action, q, atol=0.03)


def test_koch_follower_and_leader(emulators, calibration_dir: Path, hw) -> None:
    f_emu = calibrated(emulators, calibration_dir, "kf", robot="koch")
    l_emu = calibrated(emulators, calibration_dir, "kl", robot="koch", role="leader")
    follower = KochFollower(port=f_emu.path, id="kf", calibration_dir=calibration_dir, **hw.patient_options)
    leader = KochLeader(port=l_emu.path, id="kl", calibration_dir=calibration_dir, **hw.patient_options)
    with follower, leader:
        assert torque(l_emu) == [0, 0, 0, 0, 0, 1]  # the Koch leader's gripper is a sprung trigger
        assert [s.get("Operating_Mode") for s in f_emu.servos] == [4, 4, 4, 4, 4, 5]
        action = leader.get_action({})
        action[1] += 0.2
        follower.write(action)
        f_emu.wait_until(
            lambda: abs(follower.read()[STATE][1] - action[1]) < 0.03, 5.0, "the follower to follow"
        )


def test_twin_camera_on_a_follower(emulators, calibration_dir: Path, hw) -> None:
    emu = calibrated(emulators, calibration_dir, "arm", robot="so101")
    robot = SO101Follower(
        port=emu.path,
        id="arm",
        calibration_dir=calibration_dir,
        cameras=["front:twin@64x48"],
        **hw.patient_options,
    )
    assert robot.features[image_key("front")].shape == (48, 64, 3)
    with robot:
        obs = robot.read()
        robot.features.check_frame(obs | {"action": np.zeros(6, np.float32)})
        assert obs[image_key("front")].dtype == np.uint8 and obs[image_key("front")].std() > 1
