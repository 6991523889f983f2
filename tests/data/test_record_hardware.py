"""honed-record with a real follower driver and a leader arm, over emulated servo buses on pseudo-terminals.

The drivers talk real serial bytes to the hardware package's bus emulator; the recorder only knows
them by their registry names.
"""

from __future__ import annotations

import numpy as np

from honed.data.record_cli import RecordConfig, record
from honed.data.store import EpisodeStore
from honed.data.verify import verify_store
from honed.features import STATE
from honed.hardware.emulator import BusEmulator, EmulatorConfig
from honed.hardware.emulator.preset import program_and_save


def start_emulator(calibration_dir, robot_id: str, **fields) -> BusEmulator:
    emulator = BusEmulator(EmulatorConfig(robot="so101", timing=False, **fields))
    program_and_save(emulator, robot_id, calibration_dir)
    emulator.start()
    return emulator


def test_leader_arm_drives_a_follower_while_recording(tmp_path):
    calibration = tmp_path / "calibration"
    follower = start_emulator(calibration, "f1", joints="kinematic")
    leader = start_emulator(calibration, "l1", role="leader", joints="kinematic", operator="wave")
    try:
        # replies a busy machine delays are waited for
        patient = {"reply_timeout_ms": 1000, "budget_ms": 60_000}
        cfg = RecordConfig(
            store=str(tmp_path / "store"), robot="so101_follower", teleop="so101_leader",
            robot_options={"port": follower.path, "id": "f1", "calibration_dir": str(calibration), **patient},
            teleop_options={"port": leader.path, "id": "l1", "calibration_dir": str(calibration), **patient},
            instruction="wave", episodes=2, episode_s=1.0, reset_s=0.2, robot_id="arm-7", progress=False,
        )  # fmt: skip
        assert record(cfg) == 0
    finally:
        follower.stop()
        leader.stop()
    store = EpisodeStore.open(tmp_path / "store")
    assert store.num_episodes == 2 and store.info.robot_type == "so101_follower"
    episode = store.episode(1)
    assert episode.task == "wave" and episode.meta["robot_id"] == "arm-7"
    assert isinstance(episode.meta["calibration_hash"], str) and len(episode.meta["calibration_hash"]) >= 8
    actions, states = episode.array("action"), episode.array(STATE)
    assert np.ptp(actions, axis=0).max() > 0.05  # the waving hand moved the leader
    assert np.abs(states[-1, :6] - actions[-5, :6]).max() < 0.3  # the follower followed
    assert verify_store(store.root, progress=False) == []
