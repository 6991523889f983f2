"""The recording loop: episodes, operator events, faults that end an episode cleanly, pacing."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.data.record import Recorder, RecordError, frame_ranges, open_store_for
from honed.data.record_cli import main as record_main
from honed.data.store import EpisodeStore, FeatureMismatchError
from honed.data.synthetic import SyntheticRobot, SyntheticTeleop
from honed.data.verify import verify_store
from honed.robot import RobotError
from honed.teleop import TeleopEvents


class CountingRobot(SyntheticRobot):
    def __init__(self, **kwargs: Any):
        super().__init__(height=48, width=64, **kwargs)
        self.writes = 0

    def write(self, action: np.ndarray) -> np.ndarray:
        self.writes += 1
        return super().write(action)


class ScriptedTeleop(SyntheticTeleop):
    """Raises operator events at given (episode, frame) moments; can emit NaN from a given call."""

    def __init__(self, script: dict[tuple[int, int], str], nan_from: int | None = None):
        super().__init__()
        self.script, self.nan_from = script, nan_from
        self.episode, self.frame, self.calls = -1, 0, 0

    def reset(self, observation: dict[str, Any]) -> None:
        super().reset(observation)
        self.episode, self.frame = self.episode + 1, 0

    def get_action(self, observation: dict[str, Any]) -> np.ndarray:
        self.frame, self.calls = self.frame + 1, self.calls + 1
        action = super().get_action(observation)
        return (
            np.full_like(action, np.nan)
            if self.nan_from is not None and self.calls >= self.nan_from
            else action
        )

    def events(self) -> TeleopEvents:
        event = self.script.get((self.episode, self.frame))
        return TeleopEvents(**{event: True}) if event else TeleopEvents()


def make_recorder(tmp_path, robot: SyntheticRobot, teleop, **kwargs: Any) -> Recorder:
    store = open_store_for(robot, str(tmp_path / "store"), 30, "so101")
    robot.connect()
    options = {"episode_s": 0.5, "reset_s": 0.1, "realtime": False, "progress": False, **kwargs}
    return Recorder(robot, teleop, store, task="", meta={"operator": "ada"}, **options)


def test_records_episodes_with_metadata(tmp_path):
    recorder = make_recorder(tmp_path, CountingRobot(task="stack it"), SyntheticTeleop())
    results = recorder.run(episodes=2)
    assert [r.outcome for r in results] == ["saved", "saved"]
    store = EpisodeStore.open(tmp_path / "store")
    assert [e.length for e in store.index.episodes] == [15, 15]
    meta = store.episode(1).meta
    assert meta["operator"] == "ada" and meta["ended_by"] == "time" and meta["dropped_frames"] == 0
    assert store.episode(0).task == "stack it" and meta["seed"] == 1
    assert verify_store(store.root, progress=False) == []


def test_operator_events_rerecord_end_and_stop(tmp_path):
    teleop = ScriptedTeleop({(0, 4): "rerecord", (1, 6): "end_episode", (2, 3): "stop"})
    recorder = make_recorder(tmp_path, CountingRobot(), teleop)
    results = recorder.run(episodes=5)
    assert [r.outcome for r in results] == ["rerecord", "saved", "stop"]
    store = EpisodeStore.open(tmp_path / "store")
    assert [(e.length, e.meta["ended_by"]) for e in store.index.episodes] == [(6, "teleop"), (3, "stop")]


def test_each_commit_is_stated_in_the_log_without_the_progress_line(tmp_path, capsys):
    teleop = ScriptedTeleop({(0, 4): "rerecord", (1, 6): "end_episode", (2, 3): "stop"})
    make_recorder(tmp_path, CountingRobot(), teleop, progress=False).run(episodes=5)
    store = EpisodeStore.open(tmp_path / "store")
    committed = [line for line in capsys.readouterr().out.splitlines() if "committed" in line]
    assert committed == [
        f"[honed-record] committed episode {e.id} ({e.length} frames, {store.episode_path(e)})"
        for e in store.index.episodes
    ]
    assert len(committed) == 2  # the re-recorded attempt was never committed


def test_lost_camera_ends_the_episode_and_keeps_committed_ones(tmp_path):
    robot = CountingRobot(camera_fails_after=25)
    recorder = make_recorder(tmp_path, robot, SyntheticTeleop())
    with pytest.raises(
        RecordError, match=r"episode 1 ended: .*missing field 'observation.images.front'.*1 committed"
    ):
        recorder.run(episodes=3)
    store = EpisodeStore.open(tmp_path / "store")
    assert store.num_episodes == 1 and verify_store(store.root, progress=False) == []


class VanishingRobot(CountingRobot):
    """Its port vanishes at the ``vanish_at``-th read."""

    def __init__(self, vanish_at: int):
        super().__init__()
        self.vanish_at, self.reads = vanish_at, 0

    def read(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads >= self.vanish_at:
            raise RobotError("serial port /dev/ttyACM0 vanished")
        return super().read()


def test_robot_fault_in_the_reset_period_ends_recording_with_a_record_error(tmp_path):
    # episode 0: one read before and 15 in the loop; the reset period then reads for 3 ticks
    recorder = make_recorder(tmp_path, VanishingRobot(vanish_at=18), SyntheticTeleop())
    with pytest.raises(RecordError, match=r"reset period before episode 1 ended: .*vanished.*1 committed"):
        recorder.run(episodes=3)
    store = EpisodeStore.open(tmp_path / "store")
    assert store.num_episodes == 1 and verify_store(store.root, progress=False) == []


def test_non_finite_action_never_reaches_the_robot(tmp_path):
    robot = CountingRobot()
    recorder = make_recorder(tmp_path, robot, ScriptedTeleop({}, nan_from=4))
    with pytest.raises(RecordError, match="Nothing was sent to the robot"):
        recorder.run(episodes=1)
    assert robot.writes == 3
    assert EpisodeStore.open(tmp_path / "store").num_episodes == 0


def test_store_of_another_robot_is_refused_before_recording(tmp_path):
    open_store_for(CountingRobot(), str(tmp_path / "store"), 30, "so101")
    other = SyntheticRobot(height=48, width=64, cameras=("front",))
    with pytest.raises(FeatureMismatchError, match="observation.images.wrist: missing on the right"):
        open_store_for(other, str(tmp_path / "store"), 30, "so101")


def test_record_command_debug_preset_and_argument_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        record_main(["preset=debug", f"store={tmp_path / 'dbg'}", "progress=false"])
    assert exit_info.value.code == 0 and EpisodeStore.open(tmp_path / "dbg").num_episodes == 2
    with pytest.raises(SystemExit, match=r"robot 'synthetic' options \['colour'\] not accepted"):
        record_main(["preset=debug", f"store={tmp_path / 'x'}", "robot_options.colour=red"])
    with pytest.raises(
        SystemExit, match="^honed-record run: unknown teleop 'no_such_teleop'; valid teleop names"
    ):
        record_main(["preset=debug", f"store={tmp_path / 'y'}", "teleop=no_such_teleop"])


def test_full_disk_ends_the_episode_with_a_clear_error(tmp_path, tmpfs_prefix):
    prefix = tmpfs_prefix
    disk = tmp_path / "disk"
    disk.mkdir()
    store = disk / "store"
    record = [sys.executable, "-c", "from honed.data.record_cli import main; main()", "robot=synthetic",
              "teleop=synthetic", "robot_options.height=48", "robot_options.width=64", f"store={store}",
              "episodes=1000", "episode_s=0.3", "reset_s=0", "realtime=false", "progress=false"]  # fmt: skip
    data = [sys.executable, "-c", "from honed.data.cli import main; main()"]
    script = (
        f"mount -t tmpfs -o size=400k tmpfs {disk} && {shlex.join(record)}; echo RECORD_EXIT=$?; "
        f"{shlex.join([*data, 'repair', f'store={store}'])} >/dev/null; "
        f"{shlex.join([*data, 'verify', f'store={store}'])}; echo VERIFY_EXIT=$?"
    )
    out = subprocess.run(
        [*prefix, "sh", "-c", script], capture_output=True, text=True, timeout=300, env=os.environ
    )
    text = out.stdout + out.stderr
    assert "RECORD_EXIT=1" in text and "disk full (No space left on device) while writing" in text, text[
        -3000:
    ]
    assert "committed episodes in" in text and "VERIFY_EXIT=0" in text, text[-3000:]


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 300)))
def test_frame_ranges_cover_exactly_the_frames_in_sorted_disjoint_runs(frames):
    runs = frame_ranges(sorted(frames))
    assert {f for a, b in runs for f in range(a, b)} == frames
    assert all(a < b for a, b in runs) and all(b1 < a2 for (_, b1), (a2, _) in zip(runs, runs[1:]))
