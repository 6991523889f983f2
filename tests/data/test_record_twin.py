"""Recording in the MuJoCo twin: unattended expert demos, and keyboard jogging through a real pty."""

from __future__ import annotations

import os
import pty

import numpy as np
import pytest

from honed.data.dataset import EpisodeDataset
from honed.data.record import Recorder, open_store_for
from honed.data.record_cli import main as record_main
from honed.data.store import EpisodeStore
from honed.data.verify import verify_store
from honed.features import PRIVILEGED, STATE


def test_expert_teleop_records_successful_demos_unattended(tmp_path):
    store_path = tmp_path / "demos"
    with pytest.raises(SystemExit) as exit_info:
        record_main(["teleop=expert", "task=pick_cube", "episodes=2", "realtime=false", "episode_s=15",
                     f"store={store_path}", "robot_options.image_height=64", "robot_options.image_width=64",
                     "progress=false", "operator=script"])  # fmt: skip
    assert exit_info.value.code == 0
    store = EpisodeStore.open(store_path)
    assert store.num_episodes == 2 and PRIVILEGED in store.features
    for episode in store:
        assert episode.meta["success"] is True and episode.meta["ended_by"] == "teleop"
        assert episode.meta["teleop"] == "expert" and episode.meta["robot"] == "so101_twin"
        assert episode.task  # the twin's language instruction
    first, second = (store.episode(e).array(PRIVILEGED)[0] for e in range(2))
    assert not np.allclose(first, second)  # each episode starts from a new scene
    assert verify_store(store_path, progress=False) == []


@pytest.mark.parametrize("task", ["push_t", "peg_insert"])
def test_expert_ends_each_episode_once_its_task_has_held_success(tmp_path, task):
    store_path = tmp_path / task
    with pytest.raises(SystemExit) as exit_info:
        record_main(["teleop=expert", f"task={task}", "episodes=1", "realtime=false", "episode_s=30",
                     f"store={store_path}", "robot_options.cameras=[]", "progress=false"])  # fmt: skip
    assert exit_info.value.code == 0
    episode = EpisodeStore.open(store_path).episode(0)
    assert episode.meta["success"] is True and episode.meta["ended_by"] == "teleop"
    assert len(episode) < 900  # ended by the expert, not by the 30 s limit (900 frames)


def test_a_staged_mistake_is_recorded_and_marked_not_to_be_imitated(tmp_path):
    """recoveries=1: the mistake's frames are kept (they are what happened) but marked, so the training
    set starts no sample in them. This episode's seed draws a ``correct`` recovery: the approach, aimed
    off the cube, is marked; the correcting descent, the grasp and the lift that follow are imitated."""
    store_path = tmp_path / "recoveries"
    with pytest.raises(SystemExit) as exit_info:
        record_main(["teleop=expert", "task=pick_cube", "episodes=1", "realtime=false", "episode_s=20",
                     f"store={store_path}", "robot_options.cameras=[]", "progress=false",
                     "teleop_options.recoveries=1.0"])  # fmt: skip
    assert exit_info.value.code == 0
    episode = EpisodeStore.open(store_path).episode(0)
    assert episode.meta["success"] is True
    [[start, stop]] = episode.meta["not_imitated"]
    assert start == 0 and 30 <= stop <= 45  # the approach (1.3 s at 30 Hz, tempo 0.9-1.1)
    dataset = EpisodeDataset(store_path, n_obs_steps=2, horizon=16)
    assert len(dataset) == len(episode) - stop
    gripper = episode.array(STATE)[:, 5]
    assert gripper[stop - 1] > 0.5 and gripper[-1] > 0.3  # open at the mark's end, on the cube at the end


def test_a_bad_expert_option_is_refused_before_a_store_is_made(tmp_path):
    store_path = tmp_path / "never"
    with pytest.raises(SystemExit, match=r"teleop 'expert'.*recovery_kinds \['slip'\].*land"):
        record_main(["teleop=expert", "task=pick_cube", "episodes=1", "realtime=false", f"store={store_path}",
                     "robot_options.cameras=[]", "progress=false", "teleop_options.recoveries=0.5",
                     "teleop_options.recovery_kinds=[retry,slip]"])  # fmt: skip
    assert not store_path.exists()


def test_a_landing_recovery_with_a_snapped_gripper_is_recorded_from_the_command_line(tmp_path):
    """``land`` and ``snap_gripper`` reach the expert through teleop_options: the landing is marked not
    to be imitated up to the back-off, and the recorded close goes straight to the squeeze."""
    store_path = tmp_path / "land"
    with pytest.raises(SystemExit) as exit_info:
        record_main(["teleop=expert", "task=pick_cube", "episodes=1", "realtime=false", f"store={store_path}",
                     "robot_options.cameras=[]", "progress=false", "teleop_options.recoveries=1.0",
                     "teleop_options.recovery_kinds=[land]", "teleop_options.snap_gripper=true"])  # fmt: skip
    assert exit_info.value.code == 0
    episode = EpisodeStore.open(store_path).episode(0)
    assert episode.meta["success"] is True
    [[start, stop]] = episode.meta["not_imitated"]
    gripper_command = episode.array("action")[:, 5]
    assert start == 0 and np.all(gripper_command[:stop] > 0.9)  # the landing never closes the jaws
    after = gripper_command[stop:]
    assert np.all(np.isclose(after, 1.0, atol=1e-4) | np.isclose(after, -0.15, atol=1e-4))  # nothing between


def test_a_demo_depends_on_its_seed_alone_not_on_the_session_that_recorded_it(tmp_path):
    """Three demos in one session equal two demos and a top-up of one: the expert's strategy, noise and
    staged misses are drawn from each episode's seed, so an appended session does not replay the draws
    of the first session's opening episode."""
    args = ["teleop=expert", "task=pick_cube", "realtime=false", "episode_s=12", "robot_options.cameras=[]",
            "progress=false", "teleop_options.noise=0.02", "teleop_options.recoveries=0.5"]  # fmt: skip
    for store, sessions in (("once", [3]), ("topped_up", [2, 1])):
        for episodes in sessions:
            with pytest.raises(SystemExit) as exit_info:
                record_main([*args, f"episodes={episodes}", f"store={tmp_path / store}"])
            assert exit_info.value.code == 0
    once, topped_up = (EpisodeStore.open(tmp_path / name) for name in ("once", "topped_up"))
    actions = [[store.episode(e).array("action") for e in range(3)] for store in (once, topped_up)]
    for a, b in zip(*actions, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(actions[0][2], actions[0][0])  # the seeds do draw different demos


def test_keyboard_jogs_the_twin_and_ends_the_episode(tmp_path):
    from honed.hardware.teleop_keyboard import KeyboardTeleop
    from honed.sim.twin import TwinRobot

    master, slave = pty.openpty()
    robot = TwinRobot(task="pick_cube", image_height=48, image_width=48)
    teleop = KeyboardTeleop(fd=slave, step_m=0.004)
    store = open_store_for(robot, str(tmp_path / "kb"), 30, "so101_twin")
    recorder = Recorder(robot, teleop, store, task="", episode_s=5.0, realtime=False, progress=False)
    try:
        with robot, teleop:
            os.write(master, b"r" * 10 + b"\x1b[C")  # ten presses of "up", then → to save the episode
            results = recorder.run(episodes=1)
    finally:
        os.close(master)
        os.close(slave)
    assert [r.outcome for r in results] == ["saved"]
    episode = EpisodeStore.open(tmp_path / "kb").episode(0)
    assert episode.meta["ended_by"] == "teleop" and len(episode) < 150
    q0, q1 = episode.array(STATE)[0, :5], episode.array("action")[-1, :5]
    z0, z1 = teleop.ik.forward(q0.astype(np.float64))[0][2], teleop.ik.forward(q1.astype(np.float64))[0][2]
    assert z1 - z0 == pytest.approx(0.04, abs=0.01)
