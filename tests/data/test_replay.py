"""honed-data replay: a recorded episode sent again through the robot seam, onto the twin (from the
episode's own scene) and onto a follower driver talking to the servo-bus emulator over a real
pseudo-terminal; episodes that do not fit the robot are refused in one line before anything moves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zarr

from honed.arms import SO101
from honed.data.cli import main as data_main
from honed.data.layout import StoreInfo
from honed.data.record_cli import main as record_main
from honed.data.replay import ReplayConfig, ReplayError, replay_episode
from honed.data.store import EpisodeStore
from honed.features import ACTION, STATE, Features
from honed.hardware.emulator import BusEmulator, EmulatorConfig
from honed.hardware.emulator.preset import program_and_save


def data_cli(*args: str) -> SystemExit:
    with pytest.raises(SystemExit) as exit_info:
        data_main(list(args))
    return exit_info.value


def write_episode(root: Path, actions: np.ndarray, robot_type: str = "so101_follower",
                  action_feature=None, meta: dict | None = None) -> EpisodeStore:  # fmt: skip
    """A store holding one episode whose joints followed ``actions`` exactly (velocities zero)."""
    features = Features({STATE: SO101.state_feature(), ACTION: action_feature or SO101.action_feature()})
    store = EpisodeStore.create(root, StoreInfo(features, 30, robot_type))
    joints = (
        actions[:, : SO101.num_joints]
        if actions.shape[1] >= SO101.num_joints
        else np.zeros((len(actions), 6))
    )
    with store.writer() as writer:
        writer.start_episode("wave", meta or {})
        for t, action in enumerate(actions):
            state = np.concatenate([joints[t], np.zeros(SO101.num_joints)]).astype(np.float32)
            writer.add_frame({STATE: state, ACTION: action.astype(np.float32)}, t / 30)
        writer.save_episode()
    store.reload()
    return store


def test_twin_replay_reproduces_the_recorded_episode_from_its_seed(tmp_path):
    store_path = tmp_path / "demos"
    with pytest.raises(SystemExit) as recorded:
        record_main(["teleop=expert", "task=pick_cube", "episodes=2", "realtime=false", "episode_s=15",
                     f"store={store_path}", "robot_options.cameras=[]", "progress=false"])  # fmt: skip
    assert recorded.value.code == 0
    episode = EpisodeStore.open(store_path).episode(1)
    assert episode.meta["seed"] == 1 and episode.meta["success"] is True
    summary = replay_episode(ReplayConfig(store=str(store_path), episode=1, realtime=False, progress=False))
    assert summary["scene"] == {"task": "pick_cube", "seed": 1}  # the episode's own scene, not seed 0
    assert summary["frames_sent"] == summary["frames"] == len(episode)
    assert summary["frames_changed_by_robot"] == 0  # the recorded actions are what the twin was sent
    assert summary["max_deviation_from_recording_rad"] < 1e-4  # the same joint trajectory
    assert summary["success"] is True and summary["recorded_success"] is True
    assert set(summary["tracking_error_rad"]) == set(SO101.action_feature().names or ())


def calibrated_emulator(tmp_path: Path) -> BusEmulator:
    emulator = BusEmulator(EmulatorConfig(robot="so101", joints="kinematic", timing=False))
    program_and_save(emulator, "arm", tmp_path / "calibration")
    emulator.start()
    return emulator


def follower_cfg(emulator: BusEmulator, tmp_path: Path, store: EpisodeStore) -> ReplayConfig:
    calibration = str(tmp_path / "calibration")
    patient = {"reply_timeout_ms": 1000, "budget_ms": 60_000}  # replies a busy machine delays are waited for
    options = {"port": emulator.path, "id": "arm", "calibration_dir": calibration, **patient}
    return ReplayConfig(store=str(store.root), robot="so101_follower", robot_options=options, progress=False)


@pytest.fixture
def emulator(tmp_path):
    emulator = calibrated_emulator(tmp_path)
    yield emulator
    emulator.stop()


def test_replay_on_a_follower_over_the_emulated_bus_goes_through_its_safety_guard(tmp_path, emulator):
    start = emulator.joints.state()[0]
    actions = np.repeat(start[None], 21, axis=0)  # (21, 6)
    actions[:10, 0] += np.linspace(0.02, 0.2, 10)  # shoulder_pan ramps out 0.2 rad
    actions[10:, 0] += 0.2  # and holds there
    actions[12, 0] = start[0] + 1.0  # one frame jumps far: the guard limits its step
    store = write_episode(tmp_path / "store", actions)
    summary = replay_episode(follower_cfg(emulator, tmp_path, store))
    assert summary["robot"] == "so101_follower" and summary["frames_sent"] == 21
    assert summary["frames_changed_by_robot"] >= 1 and summary["max_change_rad"] > 0.4  # the jump was limited
    assert np.isfinite(summary["max_tracking_error_rad"])
    # the last target the servos were given is the held one (the goal registers, not a wall-clock wait)
    np.testing.assert_allclose(emulator.joints.goal, actions[-1], atol=3e-3)
    assert not any(servo.torque_on for servo in emulator.servos)  # replay ended by disconnecting


def test_non_finite_actions_are_refused_before_the_arm_is_touched(tmp_path, emulator):
    store = write_episode(tmp_path / "store", np.zeros((5, 6)))
    # the writer refuses NaN, so put it into the committed zarr array itself (a damaged or foreign store)
    zarr.open_array(store.episode_path(store.index.episodes[0]) / ACTION, mode="r+")[3, 2] = np.nan
    with pytest.raises(ReplayError, match=r"non-finite actions .*frame 3, joint 2.*nothing was sent"):
        replay_episode(follower_cfg(emulator, tmp_path, store))
    assert emulator.stats.instructions == 0  # the driver never spoke on the bus


def test_actions_outside_the_guard_ranges_are_refused_before_any_motion(tmp_path, emulator):
    start = emulator.joints.state()[0]
    actions = np.repeat(start[None], 6, axis=0)
    actions[4, 0] = 3.0  # past shoulder_pan's range by far more than the margin
    store = write_episode(tmp_path / "store", actions)
    with pytest.raises(ReplayError, match=r"frame 4: .*shoulder_pan.*refused before any motion"):
        replay_episode(follower_cfg(emulator, tmp_path, store))
    assert abs(emulator.joints.goal[0] - start[0]) < 0.01  # no target went out


MISMATCHED = {
    "more joints": dict(action_feature=replace(SO101.action_feature(), shape=(7,), names=None)),
    "degrees": dict(action_feature=replace(SO101.action_feature(), unit="deg")),
    "other joint names": dict(action_feature=replace(SO101.action_feature(), names=tuple(f"j{i}" for i in range(6)))),
    "another arm": dict(robot_type="koch_follower"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MISMATCHED))
def test_an_episode_that_does_not_fit_the_robot_is_refused_in_one_line(tmp_path, case):
    width = 7 if case == "more joints" else 6
    store = write_episode(tmp_path / "store", np.zeros((4, width)), **MISMATCHED[case])
    # the port does not exist: the refusal has to come before the driver tries to open it
    error = data_cli("replay", f"store={store.root}", "robot=so101_follower", "robot_options.port=/nonexistent",
                     "progress=false")  # fmt: skip
    message = str(error.code)
    assert message.startswith("honed-data replay: episode 0 of") and "\n" not in message
    assert (
        "cannot be replayed on so101_follower: "
        + ("it was recorded on a koch arm" if case == "another arm" else "action")
        in message
    )


def test_an_episode_number_past_the_store_is_refused(tmp_path):
    store = write_episode(tmp_path / "store", np.zeros((4, 6)))
    error = data_cli("replay", f"store={store.root}", "episode=3", "progress=false")
    assert str(error.code) == f"honed-data replay: episode=3: {store.root} holds episodes 0..0"


def test_unpaced_replay_is_refused_on_servos(tmp_path):
    store = write_episode(tmp_path / "store", np.zeros((4, 6)))
    error = data_cli("replay", f"store={store.root}", "robot=so101_follower", "robot_options.port=/nonexistent",
                     "realtime=false", "progress=false")  # fmt: skip
    assert str(error.code).startswith("honed-data replay: realtime=false sends targets as fast as")
