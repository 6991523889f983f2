"""Scripted experts for push_t and peg_insert: success over seeded resets, modes, noise, planner model."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.sim import make_env
from honed.sim.experts import make_expert, run_expert
from honed.sim.experts.push_t import PUSH_DISTANCES, PushPlanner, contact_candidates, distance_to_t
from honed.sim.experts.run import DEFAULT_NOISE
from honed.sim.tasks.peg_insert import SPAWN_XY
from honed.sim.tasks.push_t import inside_t

TASKS = ("push_t", "peg_insert")
SEEDS = 20


@pytest.fixture(scope="module", params=TASKS)
def report(request):
    """One run of 20 seeded episodes per task with the demos' default noise (shared by the tests)."""
    return run_expert(request.param, SEEDS, seed=0, noise=DEFAULT_NOISE, progress=False)


def test_expert_succeeds_on_95_percent_of_seeded_resets(report):
    failed = [e.seed for e in report.episodes if not e.success]
    assert len(report.episodes) == SEEDS
    assert report.success_rate >= 0.95, f"{report.task}: failed seeds {failed}"


def test_expert_draws_both_strategies_across_episodes(report):
    assert {e.strategy for e in report.episodes} == set(make_expert(report.task).strategies)


def rollout(task: str, reset_seed: int, steps: int, **expert) -> np.ndarray:
    """Actions (steps, 6) of the task's expert from one reset."""
    env = make_env(task)
    agent = make_expert(task, **expert)
    obs, _ = env.reset(seed=reset_seed)
    agent.reset(obs)
    actions = []
    for _ in range(steps):
        actions.append(agent.act(obs))
        obs, _, terminated, truncated, _ = env.step(actions[-1])
        if terminated or truncated:
            break
    env.close()
    return np.array(actions)


@pytest.mark.parametrize("task", TASKS)
def test_strategies_give_different_trajectories(task):
    first, second = make_expert(task).strategies
    a = rollout(task, 0, 75, strategy=first)
    b = rollout(task, 0, 75, strategy=second)
    n = min(len(a), len(b))
    gap = np.abs(a[:n] - b[:n]).mean(axis=0)  # (6,) mean per-joint gap between the two modes
    assert gap.max() > 0.1, f"{task}: {first} and {second} move alike (per-joint gap {gap.round(3)})"


@pytest.mark.parametrize("task", TASKS)
def test_noise_changes_actions_and_none_repeats_them(task):
    quiet = rollout(task, 3, 20, strategy=None, seed=5)
    again = rollout(task, 3, 20, strategy=None, seed=5)
    noisy = rollout(task, 3, 20, strategy=None, seed=5, noise=0.01)
    np.testing.assert_array_equal(quiet, again)
    first_step = noisy[0] - quiet[0]  # same state, same plan: only the noise differs
    assert np.all(first_step != 0.0)
    assert np.abs(first_step).max() < 0.06, "noise of std 0.01 rad should stay within a few std"


@pytest.mark.parametrize("task", TASKS)
def test_unknown_strategy_is_rejected_with_the_valid_names(task):
    with pytest.raises(ValueError, match="strategy 'sideways'") as err:
        make_expert(task, strategy="sideways")
    for name in make_expert(task).strategies:
        assert name in str(err.value)


def test_peg_and_hole_spawn_inside_the_top_down_reach():
    env = make_env("peg_insert")
    (x_lo, x_hi), (y_lo, y_hi) = SPAWN_XY
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        priv = obs["observation.privileged"]  # tcp(3), peg pos(3), peg quat(4), hole pos(3), hole cos/sin(2)
        for xy in (priv[3:5], priv[10:12]):
            assert x_lo <= xy[0] <= x_hi and y_lo <= xy[1] <= y_hi
            assert np.linalg.norm(xy) <= 0.23
    env.close()


# -- the pushing model --------------------------------------------------------------------------------


def planner() -> PushPlanner:
    return PushPlanner(com=np.array([0.0, 0.0125]), mu=0.5)


def candidate(point: tuple[float, float], normal: tuple[float, float]) -> int:
    contacts, normals = contact_candidates()
    near = np.linalg.norm(contacts - point, axis=1) + np.linalg.norm(normals - normal, axis=1)
    return int(np.argmin(near))


def rotation(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s], [s, c]])


def test_push_through_the_centre_of_mass_translates_without_turning():
    plan = planner()
    plan.contacts, plan.normals = np.array([[0.0, -0.05]]), np.array([[0.0, 1.0]])  # stem bottom, pushed up
    moved = plan.predict(np.zeros(3), PUSH_DISTANCES)[0]  # (D, 3)
    np.testing.assert_allclose(moved[:, 1], PUSH_DISTANCES, atol=1e-9)
    np.testing.assert_allclose(moved[:, [0, 2]], 0.0, atol=1e-9)


def test_push_on_the_bar_end_turns_the_t_the_right_way():
    pose = np.array([0.2, 0.0, 0.0])
    right_down = candidate((0.044, 0.05), (0.0, -1.0))  # near the right end of the bar's top, pushed down
    left_down = candidate((-0.044, 0.05), (0.0, -1.0))
    moved = planner().predict(pose, np.array([0.02]))
    assert moved[right_down, 0, 2] < -0.05  # clockwise
    assert moved[left_down, 0, 2] > 0.05  # counter-clockwise


@settings(max_examples=40, deadline=None)
@given(
    x=st.floats(0.15, 0.3),
    y=st.floats(-0.1, 0.1),
    yaw=st.floats(-np.pi, np.pi),
    distance=st.floats(0.001, 0.08),
)
def test_pushed_t_never_outruns_the_pusher(x, y, yaw, distance):
    """Quasi-static pushing: the T's centre of mass moves forward, and no farther than the pusher."""
    plan = planner()
    pose = np.array([x, y, yaw])
    moved = plan.predict(pose, np.array([distance]))[:, 0]  # (K, 3)
    com_before = pose[:2] + rotation(yaw) @ plan.com
    com_after = moved[:, :2] + np.einsum("kij,j->ki", np.stack([rotation(a) for a in moved[:, 2]]), plan.com)
    step = com_after - com_before  # (K, 2)
    directions = plan.normals @ rotation(yaw).T  # (K, 2) world push directions
    assert np.all(np.isfinite(moved))
    assert np.all(np.linalg.norm(step, axis=1) <= distance + 1e-9)
    assert np.all(np.einsum("kd,kd->k", step, directions) >= 0.0)


@settings(max_examples=60, deadline=None)
@given(
    px=st.floats(-0.08, 0.08),
    py=st.floats(-0.08, 0.08),
    yaw=st.floats(-np.pi, np.pi),
)
def test_distance_to_t_is_zero_exactly_inside_the_t(px, py, yaw):
    pose = np.array([0.2, 0.05, yaw])
    local = np.array([px, py])
    world = pose[:2] + rotation(yaw) @ local
    distance = float(distance_to_t(world, pose))
    at_origin = float(distance_to_t(local, np.zeros(3)))  # the same point with no rotation: exact
    if inside_t(local):
        assert distance < 1e-12 and at_origin == 0.0
    else:
        assert at_origin > 0.0 and distance == pytest.approx(at_origin, abs=1e-12)
    assert distance <= np.linalg.norm(local)  # never farther than the T's origin, which is inside it


def test_push_expert_waits_and_replans_when_no_push_is_reachable():
    env = make_env("push_t")
    agent = make_expert("push_t", strategy="rotate_first")
    choose, calls = agent.planner.choose, []

    def none_first(*args):
        calls.append(len(calls))
        return None if len(calls) == 1 else choose(*args)

    agent.planner.choose = none_first
    obs, _ = env.reset(seed=1)
    agent.reset(obs)
    assert agent.runner.phase.name == "wait"
    for _ in range(30):
        obs, *_ = env.step(agent.act(obs))
    assert len(calls) >= 2 and agent.strokes == 1, "the expert should plan again after waiting"
    env.close()


def test_push_expert_pushes_deeper_after_a_stroke_falls_short():
    env = make_env("push_t")
    agent = make_expert("push_t")
    agent.reset(env.reset(seed=0)[0])
    env.close()
    before = agent.last_block.copy()
    start_depth = agent.extra_depth
    agent.adapt_depth(before)  # the T did not move although the stroke planned to move it
    assert agent.extra_depth > start_depth
    moved = agent.last_push.predicted  # the T went exactly where planned
    agent.last_block = before
    agent.adapt_depth(moved)
    agent.adapt_depth(moved)
    assert agent.extra_depth < start_depth + 0.0015
