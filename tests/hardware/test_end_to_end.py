"""Leader -> follower teleoperation and recording over two emulator processes, as a user runs them."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from honed.cli import run
from honed.features import ACTION, STATE
from honed.hardware.teleop_cli import VERBS as TELEOP_VERBS


@pytest.fixture
def arms(emulator_processes, calibration_dir: Path):  # type: ignore[no-untyped-def]
    """A follower and a (waving) leader SO-101, each a `honed-hw emulate` process backed by the twin."""

    def start(*extra: str):  # type: ignore[no-untyped-def]
        common = [f"calibration_dir={calibration_dir}", "robot=so101"]
        follower = emulator_processes(*common, "calibrated_as=f", *extra)
        leader = emulator_processes(*common, "role=leader", "operator=wave", "calibrated_as=l")
        follower.wait_calibration()
        leader.wait_calibration()
        return follower, leader

    return start


def test_teleoperation_mirrors_the_leader(arms, calibration_dir: Path, tmp_path: Path, hw) -> None:
    follower, leader = arms()
    out = tmp_path / "teleop"
    patient = [  # new keys of the option dicts, with the ++ that honed-teleop's main() adds to them
        f"++{side}_options.{k}={v}" for side in ("robot", "teleop") for k, v in hw.patient_options.items()
    ]
    summary = run("teleop", TELEOP_VERBS, [
        "run", f"robot_port={follower.path}", "robot_id=f", f"teleop_port={leader.path}", "teleop_id=l",
        f"calibration_dir={calibration_dir}", "fps=60", "duration_s=3", f"output_dir={out}",
        "cameras=[front:twin@64x48]", *patient,
    ])  # fmt: skip
    assert summary["ticks"] > 60
    assert summary["tracking_error_rad_median"] < 0.05  # the follower goes where the leader went
    assert summary["follower_lag_ms"] < 300  # shortly after, with room for a loaded machine
    assert summary["robot_bus"]["failures"] == 0 and summary["teleop_bus"]["failures"] == 0
    assert json.loads((out / "teleop.json").read_text()) == summary
    assert (out / "teleop.png").stat().st_size > 1000
    from honed.media import read_mp4

    video = read_mp4(out / "teleop.mp4")  # the follower's camera, as the twin renders it
    assert video.shape[1:] == (48, 64, 3) and len(video) > 10


def record(
    store: Path, follower: str, leader: str, calibration_dir: Path, episodes: int, patient: dict
) -> int:
    from honed.data.record_cli import RecordConfig
    from honed.data.record_cli import record as run_record

    options = {"calibration_dir": str(calibration_dir), **patient}  # a vanished port still fails at once
    return run_record(RecordConfig(
        store=str(store), robot="so101_follower", robot_options={"port": follower, "id": "f", **options},
        teleop="so101_leader", teleop_options={"port": leader, "id": "l", **options},
        instruction="wave the arm", episodes=episodes, episode_s=1.0, reset_s=0.2, fps=30, progress=False,
    ))  # fmt: skip


def test_recording_real_arm_demos(arms, calibration_dir: Path, tmp_path: Path, hw) -> None:
    from honed.data.store import EpisodeStore

    follower, leader = arms()
    assert record(tmp_path / "store", follower.path, leader.path, calibration_dir, 2, hw.patient_options) == 0
    store = EpisodeStore.open(tmp_path / "store")
    assert store.num_episodes == 2
    episode = store.episode(1)
    assert episode.task == "wave the arm" and 20 <= len(episode) <= 30
    action, state = episode.array(ACTION), episode.array(STATE)
    assert np.isfinite(action).all() and np.isfinite(state).all()
    assert np.abs(np.diff(action, axis=0)).max() > 0  # the leader was moving
    assert np.median(np.abs(action[:-3] - state[3:, :6])) < 0.1  # and the follower followed
    assert episode.meta["calibration_hash"] is not None


def test_port_vanishing_keeps_the_recording_intact(arms, calibration_dir: Path, tmp_path: Path, hw) -> None:
    from honed.data.store import EpisodeStore
    from honed.data.verify import verify_store
    from honed.robot import RobotError

    follower, leader = arms()
    path = tmp_path / "store"

    def pull_the_follower_cable() -> None:  # once an episode is committed, however long that took
        deadline = time.monotonic() + 300  # reached only if the recording hung
        while not (path.exists() and EpisodeStore.open(path).num_episodes) and time.monotonic() < deadline:
            time.sleep(0.01)
        follower.stop()  # the emulator process ends and its port vanishes

    puller = threading.Thread(target=pull_the_follower_cable, daemon=True)
    puller.start()
    try:  # an error exit: RecordError (rc 1) mid-episode, RobotError if it happens between episodes
        assert record(path, follower.path, leader.path, calibration_dir, 10, hw.patient_options) == 1
    except RobotError as e:
        assert "serial port" in str(e)
    puller.join()
    store = EpisodeStore.open(path)
    assert 0 < store.num_episodes < 10
    assert verify_store(tmp_path / "store", progress=False) == []
    assert all(len(e) == 30 for e in store)
