"""Scripted experts for pick_cube, pick_color and place_cube in the real MuJoCo twin."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.features import PRIVILEGED, STATE
from honed.sim import make_env
from honed.sim.experts import ExpertTeleop, make_expert, run_expert
from honed.sim.experts.cartesian import DOWN, IKTracker, ToolPose, min_jerk, roll_for_closing
from honed.sim.experts.pick import GRIPPER_SQUEEZE, GraspExpert
from honed.sim.experts.run import DEFAULT_NOISE, main, write_report
from honed.sim.scene import load_arm_model
from honed.sim.tasks.base import quat_yaw
from honed.sim.twin import TwinRobot
from honed.teleop import TELEOPS

TASKS = ("pick_cube", "pick_color", "place_cube")
SEEDS = 20


@pytest.fixture(scope="module")
def reports() -> dict:
    """Each task's expert over seeds 0..19 at the demo noise, run once for the whole module."""
    return {task: run_expert(task, SEEDS, seed=0, noise=DEFAULT_NOISE, progress=False) for task in TASKS}


@pytest.mark.parametrize("task", TASKS)
def test_expert_succeeds_on_95_percent_of_seeded_resets(reports: dict, task: str) -> None:
    report = reports[task]
    assert sorted(report.successes) == list(range(SEEDS))
    assert report.success_rate >= 0.95, f"{task}: failed seeds {report.summary()['failed_seeds']}"
    assert set(report.summary()["strategies_used"]) == {"square", "turned"}


def rollout(task: str, seed: int, steps: int, **expert_options: object) -> tuple[np.ndarray, list]:
    """(steps, 6) actions and the privileged observations the expert acted on."""
    env = make_env(task)
    expert = make_expert(task, seed=0, **expert_options)  # type: ignore[arg-type]
    obs, _ = env.reset(seed=seed)
    expert.reset(obs)
    actions, seen = [], []
    for _ in range(steps):
        actions.append(expert.act(obs))
        seen.append(obs[PRIVILEGED].copy())
        obs, *_ = env.step(actions[-1])
    env.close()
    return np.array(actions), seen


@pytest.mark.parametrize("task", TASKS)
def test_strategies_grasp_across_different_face_pairs(task: str) -> None:
    """The two strategies end the descent a quarter wrist turn apart, each across a pair of faces."""
    rolls = {}
    for strategy in ("square", "turned"):
        actions, _ = rollout(task, seed=3, steps=65, strategy=strategy)
        rolls[strategy] = actions[-1, 4]  # wrist_roll target at the bottom of the descent
    assert abs(rolls["square"]) <= np.pi / 4 + 0.05
    assert abs(abs(rolls["square"] - rolls["turned"]) - np.pi / 2) < 0.1


def test_each_strategy_closes_the_jaws_along_a_face_normal() -> None:
    for strategy in ("square", "turned"):
        expert = make_expert("pick_cube", strategy=strategy)
        env = make_env("pick_cube")
        obs, _ = env.reset(seed=7)
        expert.reset(obs)
        while expert.runner.phase.name != "close":  # type: ignore[attr-defined]
            obs, *_ = env.step(expert.act(obs))
        cube_yaw = float(quat_yaw(obs[PRIVILEGED][6:10]))
        closing = expert.runner.pose.closing_axis()  # type: ignore[attr-defined]
        angle = np.arctan2(closing[1], closing[0]) - cube_yaw
        assert abs(np.sin(2 * angle)) < 0.05, f"{strategy}: jaws close {angle:.2f} rad off the cube's faces"
        env.close()


def test_noise_perturbs_actions_by_its_standard_deviation_and_zero_noise_repeats() -> None:
    clean, _ = rollout("pick_cube", seed=1, steps=1, strategy="square")
    again, _ = rollout("pick_cube", seed=1, steps=1, strategy="square")
    np.testing.assert_array_equal(clean, again)
    diffs = []
    for seed in range(20):
        expert = make_expert("pick_cube", seed=seed, noise=0.02, strategy="square")
        quiet = make_expert("pick_cube", seed=seed, noise=0.0, strategy="square")
        env = make_env("pick_cube")
        obs, _ = env.reset(seed=1)
        expert.reset(obs)
        quiet.reset(obs)
        diffs.append(expert.act(obs) - quiet.act(obs))
        env.close()
    spread = float(np.std(np.concatenate(diffs)))
    assert 0.014 < spread < 0.026, f"action noise std {spread:.4f}, configured 0.02"


def test_unknown_strategy_is_refused_with_the_valid_names() -> None:
    with pytest.raises(ValueError, match="square, turned"):
        make_expert("pick_cube", strategy="sideways")
    with pytest.raises(ValueError, match="square, turned"):
        ExpertTeleop("place_cube", strategy="sideways")


def test_an_empty_grasp_is_retried_until_the_cube_is_lifted() -> None:
    """Move the cube away while the jaws close: the expert reopens, goes after it and lifts it."""
    env = make_env("pick_cube", episode_seconds=12.0)
    expert = make_expert("pick_cube", strategy="square")
    obs, _ = env.reset(seed=2)
    expert.reset(obs)
    phases, moved, info = [], False, {"success": False}
    for _ in range(env.core.max_steps):
        obs, _, done, truncated, info = env.step(expert.act(obs))
        phases.append(expert.runner.phase.name)  # type: ignore[attr-defined]
        if phases[-1] == "close" and not moved:
            adr = env.task.cube_adr
            env.data.qpos[adr : adr + 2] += (0.0, 0.06)
            mujoco.mj_forward(env.model, env.data)
            env.core.backend.refresh()
            moved = True
        if done or truncated:
            break
    assert "reopen" in phases
    assert phases.index("reopen") < len(phases) - 1 - phases[::-1].index("approach")
    assert info["success"]


def test_expert_teleop_is_registered_and_completes_pick_on_the_twin_robot() -> None:
    assert TELEOPS.get("expert") is ExpertTeleop
    teleop = ExpertTeleop("pick_cube", seed=0, noise=DEFAULT_NOISE)
    with TwinRobot("pick_cube", seed=4, cameras=()) as robot, teleop:
        steps = 0
        while not teleop.events().end_episode and steps < 300:
            robot.write(teleop.get_action(robot.read()))
            steps += 1
        assert robot.success and teleop.events().end_episode
        obs = robot.read()
        assert obs[PRIVILEGED][5] > 0.06  # cube still held up when the teleop says it is done


def test_expert_teleop_refuses_observations_without_object_poses() -> None:
    teleop = ExpertTeleop("pick_cube")
    env = make_env("pick_cube")
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="observation.privileged"):
        teleop.get_action({STATE: obs[STATE]})
    with pytest.raises(ValueError, match="shape"):
        teleop.get_action({**obs, PRIVILEGED: np.zeros(27, np.float32)})
    with pytest.raises(ValueError, match="non-finite"):
        teleop.get_action({**obs, STATE: np.full(12, np.nan, np.float32)})
    action = teleop.get_action(obs)
    assert action.shape == (6,) and action.dtype == np.float32
    env.close()


def test_run_expert_reports_per_seed_calls_the_hook_and_writes_json_and_png(tmp_path) -> None:
    calls = []
    report = run_expert("pick_cube", 2, seed=5, on_step=lambda i, o, a, info: calls.append((i, a.shape)))
    assert [e.seed for e in report.episodes] == [5, 6]
    assert len(calls) == sum(e.steps for e in report.episodes)
    assert {i for i, _ in calls} == {0, 1} and all(shape == (6,) for _, shape in calls)
    out = write_report(report, tmp_path)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["success_rate"] == report.success_rate and len(summary["per_episode"]) == 2
    assert (out / "success.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="episodes"):
        run_expert("pick_cube", 0)
    with pytest.raises(ValueError, match="noise"):
        run_expert("pick_cube", 1, noise=float("nan"))


def test_command_prints_the_summary_as_its_last_line(tmp_path, capsys) -> None:
    main(["run", "preset=debug", "task=place_cube", f"out={tmp_path}"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)["place_cube"]
    assert summary["episodes"] == 2 and 0.0 <= summary["success_rate"] <= 1.0
    assert (tmp_path / "place_cube" / "summary.json").exists()


# -- Cartesian helpers ----------------------------------------------------------------------------

tracker = IKTracker(load_arm_model(), make_expert("pick_cube").ik)
angles = st.floats(-np.pi, np.pi, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0.12, 0.28),
    angles,
    st.floats(0.01, 0.15),
    st.floats(0.3, DOWN),
    st.floats(-2.5, 2.5),
)
def test_tool_pose_round_trips_through_its_rotation(
    r: float, az: float, z: float, pitch: float, roll: float
) -> None:
    pose = ToolPose(np.array([r * np.cos(az), r * np.sin(az), z]), pitch, roll)
    back = ToolPose.from_rotation(pose.pos, pose.rotation())
    assert back.pitch == pytest.approx(pitch, abs=1e-9)
    assert np.cos(back.roll - roll) == pytest.approx(1.0, abs=1e-9)


@given(st.floats(0.15, 0.26), st.floats(-0.1, 0.1), angles)
def test_top_down_roll_for_closing_points_the_jaws_along_the_yaw(x: float, y: float, yaw: float) -> None:
    pos = np.array([x, y, 0.05])
    closing = ToolPose(pos, DOWN, roll_for_closing(pos, yaw)).closing_axis()
    np.testing.assert_allclose(closing, [np.cos(yaw), np.sin(yaw), 0.0], atol=1e-9)


@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_min_jerk_is_monotone_from_zero_to_one(a: float, b: float) -> None:
    assert min_jerk(0.0) == 0.0 and min_jerk(1.0) == 1.0
    lo, hi = sorted((a, b))
    assert 0.0 <= min_jerk(lo) <= min_jerk(hi) <= 1.0


@settings(max_examples=15, deadline=None)
@given(st.floats(0.15, 0.26), st.floats(-0.1, 0.1), st.floats(0.025, 0.09), st.floats(-2.3, 2.3))
def test_tracker_reaches_poses_over_the_spawn_region(x: float, y: float, z: float, roll: float) -> None:
    """From the home pose, at the steepest reachable pitch, for any roll the experts use (|roll| <= 3pi/4)."""
    tracker.start(np.array([0.0, -0.9, 1.2, 0.9, 0.0]))
    pos = np.array([x, y, z])
    pose = ToolPose(pos, tracker.reachable_pitch(pos), roll)
    for _ in range(4):
        tracker.solve(pose)
    assert tracker.error < 1e-3


def test_gravity_feed_forward_holds_the_tcp_on_target() -> None:
    """The servos sag under gravity; the feed-forward offset cancels most of it."""
    env = make_env("pick_cube")
    errors = {}
    for feed_forward in (False, True):
        obs, _ = env.reset(seed=0)
        local = IKTracker(env.model, make_expert("pick_cube").ik)
        local.start(obs[STATE][:5].astype(np.float64))
        pose = ToolPose(np.array([0.24, 0.05, 0.06]), DOWN, 0.3)
        for _ in range(60):
            arm = local.command(pose) if feed_forward else local.solve(pose)
            obs, *_ = env.step(np.append(arm, 0.5))
        errors[feed_forward] = float(np.linalg.norm(obs[PRIVILEGED][:3] - pose.pos))
    env.close()
    assert errors[True] < 1.5e-3 < errors[False]


# -- recovery demos -------------------------------------------------------------------------------


def run_recovery(
    task: str, kind: str, episode_seconds: float = 20.0
) -> tuple[GraspExpert, float, list[tuple[str, bool, np.ndarray]], bool]:
    """One recovery episode of ``kind`` from env seed 3: (expert, the mistake's drawn offset (m), per
    step (phase that acted, staged, privileged after), succeeded)."""
    env = make_env(task, episode_seconds=episode_seconds)
    obs, _ = env.reset(seed=3)
    expert = make_expert(task, recoveries=1.0, strategy="square", recovery_kinds=[kind])
    assert isinstance(expert, GraspExpert)
    expert.reset(obs)
    offset = abs(expert.miss) or abs(expert.land) or float(np.linalg.norm(expert.off_aim))
    steps, succeeded = [], False
    for _ in range(int(episode_seconds * 30)):
        phase = expert.runner.phase.name
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        steps.append((phase, expert.staging, obs[PRIVILEGED].copy()))
        succeeded |= bool(info["success"])
        if expert.finished or terminated or truncated:
            break
    env.close()
    return expert, offset, steps, succeeded


@pytest.mark.parametrize("task", ("pick_cube", "place_cube"))
def test_a_deliberate_miss_shows_the_retry_and_still_succeeds(task: str) -> None:
    """A ``retry`` recovery: the first grasp closes beside the cube, the expert reopens, the second one holds."""
    expert, offset, steps, succeeded = run_recovery(task, "retry")
    assert 0.032 <= offset <= 0.04
    phases = [phase for phase, _, _ in steps]
    assert "reopen" in phases, "the deliberate miss never led to a retry"
    first_reopen = phases.index("reopen")
    assert all(staged for _, staged, _ in steps[:first_reopen]) and not steps[-1][1]
    assert expert.miss == 0.0 and succeeded


@pytest.mark.parametrize("task", ("pick_cube", "place_cube"))
def test_a_miss_lifted_before_it_is_noticed_reopens_from_the_lift_and_still_succeeds(task: str) -> None:
    """A ``retry_lifted`` recovery: the first grasp closes beside the cube and the jaws are lifted empty
    (not imitated); at the lift's check the expert reopens from up there (imitated) and grasps again."""
    expert, offset, steps, succeeded = run_recovery(task, "retry_lifted")
    assert 0.032 <= offset <= 0.04
    phases = [phase for phase, _, _ in steps]
    first_reopen = phases.index("reopen")
    assert phases[first_reopen - 1] == "check", "the empty grasp should be noticed at the lift's check"
    before = steps[first_reopen - 1][2]
    assert before[2] > before[5] + 0.04, "the jaws should have been lifted well above the cube"
    assert before[5] < 0.02, "the cube should still lie on the table"
    assert all(staged for _, staged, _ in steps[:first_reopen])
    assert not any(staged for _, staged, _ in steps[first_reopen:])
    assert phases.count("reopen") > 0 and expert.miss == 0.0 and not expert.lift_empty and succeeded


def test_an_approach_aimed_off_the_cube_is_corrected_on_the_way_down() -> None:
    """A ``correct`` recovery: the approach stops 6-14 mm to one side of its usual goal (not imitated),
    the descent steers onto the cube (imitated) and the grasp holds the first time."""
    expert, offset, steps, succeeded = run_recovery("pick_cube", "correct")
    assert 0.006 <= offset <= 0.014
    phases = [phase for phase, _, _ in steps]
    assert "reopen" not in phases and succeeded
    approach = phases.index("descend")
    assert all(staged for _, staged, _ in steps[:approach])
    assert not any(staged for _, staged, _ in steps[approach:])
    tcp = steps[approach - 1][2][:3]
    plain = make_expert("pick_cube", strategy="square")
    assert isinstance(plain, GraspExpert)
    plain.roll = expert.roll
    goal = plain.above_cube(steps[approach - 1][2]).pos  # where an approach with no offset would stop
    assert 0.005 <= np.linalg.norm(tcp[:2] - goal[:2]) <= 0.015
    at_close = steps[phases.index("close")][2]
    assert np.linalg.norm(at_close[:2] - plain.at_cube(at_close).pos[:2]) < 0.003  # the usual grasp pose


def test_a_landing_on_the_cube_backs_off_and_aims_again_within_the_episode() -> None:
    """A ``land`` recovery: the first descent puts the moving jaw on the cube's top (not imitated); the
    expert backs off upward without closing and the second attempt lifts the cube inside the task's
    own 8 s episode."""
    expert, offset, steps, succeeded = run_recovery("pick_cube", "land", episode_seconds=8.0)
    assert 0.016 <= offset <= 0.022
    phases = [phase for phase, _, _ in steps]
    first_reopen = phases.index("reopen")
    assert "close" not in phases[:first_reopen], "the landing should block the descent before any close"
    assert phases[first_reopen - 1] == "descend"
    blocked_tcp_z = steps[first_reopen - 1][2][2]
    assert blocked_tcp_z > steps[first_reopen - 1][2][5] + 0.012  # tcp held well above the cube's centre
    assert all(staged for _, staged, _ in steps[:first_reopen])
    assert not any(staged for _, staged, _ in steps[first_reopen:])
    assert expert.land == 0.0 and succeeded


def test_recovery_kinds_default_to_retry_and_correct_and_unknown_kinds_are_refused() -> None:
    assert make_expert("pick_cube").recovery_kinds == ("retry", "correct")
    assert make_expert("place_cube", recovery_kinds=["land"]).recovery_kinds == ("land",)
    with pytest.raises(ValueError, match=r"recovery_kinds \['slip'\].*retry"):
        make_expert("pick_cube", recoveries=0.5, recovery_kinds=["retry", "slip"])
    with pytest.raises(ValueError, match="recovery_kinds.*none"):
        make_expert("push_t", recovery_kinds=["retry"])
    teleop = TELEOPS.get("expert")("pick_cube", recoveries=0.5, recovery_kinds=["land"], snap_gripper=True)
    assert teleop.expert.recovery_kinds == ("land",) and teleop.expert.snap_gripper


def test_snap_gripper_commands_the_squeeze_at_once_and_still_lifts() -> None:
    """Ramped, the close passes through in-between gripper commands; snapped, the first close action is
    already the squeeze, and the grasp still lifts the cube."""
    firsts, succeeded = {}, {}
    for snap in (False, True):
        env = make_env("pick_cube")
        obs, _ = env.reset(seed=5)
        expert = make_expert("pick_cube", strategy="square", snap_gripper=snap)
        assert isinstance(expert, GraspExpert)
        expert.reset(obs)
        closing, success = [], False
        for _ in range(240):
            phase = expert.runner.phase.name
            action = expert.act(obs)
            if phase == "close":
                closing.append(action[5])
            obs, _, terminated, truncated, info = env.step(action)
            success |= bool(info["success"])
            if terminated or truncated:
                break
        env.close()
        firsts[snap], succeeded[snap] = closing[0], success
    assert firsts[True] == pytest.approx(GRIPPER_SQUEEZE)
    assert firsts[False] > 0.9  # a ramp from open starts near open
    assert succeeded[True] and succeeded[False]


def test_recoveries_zero_leaves_the_demos_as_they_were() -> None:
    plain, _ = rollout("pick_cube", 4, 60, noise=0.01)
    unchanged, _ = rollout("pick_cube", 4, 60, noise=0.01, recoveries=0.0)
    np.testing.assert_array_equal(plain, unchanged)


def test_recoveries_out_of_range_or_unsupported_are_refused() -> None:
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="recoveries"):
            make_expert("pick_cube", recoveries=bad)
    with pytest.raises(ValueError, match="no recovery"):
        make_expert("push_t", recoveries=0.5)
    teleop = TELEOPS.get("expert")("pick_cube", recoveries=0.5)
    assert teleop.expert.recoveries == 0.5
