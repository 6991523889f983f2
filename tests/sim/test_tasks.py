"""Every registered task builds, resets, steps with finite observations matching its Features."""

import numpy as np
import pytest

from honed.features import ACTION, PRIVILEGED, STATE, TASK
from honed.sim import make_env
from honed.sim.tasks import TASKS
from honed.sim.tasks.base import HOME_QPOS
from honed.sim.tasks.pick import grasp_endings


@pytest.mark.parametrize("task", TASKS.names())
def test_task_builds_resets_and_steps(task):
    env = make_env(task)
    obs, info = env.reset(seed=3)
    assert info["success"] is False
    feats = env.features
    assert set(obs) == set(feats) - {ACTION}
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs, reward, terminated, truncated, info = env.step(HOME_QPOS + rng.normal(0, 0.2, 6))
        feats.select([STATE, PRIVILEGED]).check_frame(obs, where=task)
        assert np.isfinite(reward) and 0.0 <= reward <= 1.0
        assert isinstance(obs[TASK], str) and obs[TASK] in env.task.instructions
    assert not terminated, "random motion near home should not solve the task"
    env.close()


@pytest.mark.parametrize("task", TASKS.names())
def test_reset_distribution_is_seeded(task):
    env = make_env(task)
    a, _ = env.reset(seed=11)
    b, _ = env.reset(seed=11)
    c, _ = env.reset(seed=12)
    np.testing.assert_array_equal(a[PRIVILEGED], b[PRIVILEGED])
    assert not np.allclose(a[PRIVILEGED], c[PRIVILEGED])
    env.close()


def test_task_not_solved_at_reset_for_many_seeds():
    env = make_env("push_t")
    for seed in range(20):
        env.reset(seed=seed)
        assert env.task.coverage(env.core.backend.view(env.core.instruction))[0] < 0.5
    env.close()


def test_pick_cube_success_predicate_on_lifted_cube():
    env = make_env("pick_cube")
    env.reset(seed=0)
    data, task = env.data, env.task
    view = env.core.backend.view(env.core.instruction)
    assert not task.success(view)[0]
    data.qpos[task.cube_adr + 2] = 0.015 + 0.051
    import mujoco

    mujoco.mj_forward(env.model, data)
    env.core.backend.refresh()
    assert task.success(env.core.backend.view(env.core.instruction))[0]
    env.close()


def test_grasp_endings_name_where_a_lift_attempt_stopped() -> None:
    cube = np.array([[0.2, 0.0, 0.015]] * 6)
    tcp = np.array([
        [0.2, 0.0, 0.07],  # cube in the jaws, lifted 3 cm: short of the 5 cm goal
        [0.21, 0.01, 0.11],  # closed jaws 9.5 cm up, the cube still on the table
        [0.21, 0.0, 0.03],  # open jaws 1 cm beside the cube
        [0.2, 0.02, 0.02],  # closed jaws 2 cm beside it, at its height
        [0.3, 0.0, 0.02],  # 10 cm away
        [0.2, 0.0, 0.11],  # open jaws high above it
    ])  # fmt: skip
    cube[0, 2] = 0.045
    gripper = np.array([0.6, 0.1, 1.0, 0.2, 0.2, 1.0])
    assert grasp_endings(tcp, cube, gripper) == [
        "cube lifted short of the goal",
        "closed jaws lifted without the cube",
        "open jaws at the cube",
        "closed jaws at the cube",
        "jaws away from the cube",
        "open jaws above the cube",
    ]


@pytest.mark.parametrize("task", ["pick_cube", "pick_color"])
def test_pick_endings_read_the_scene(task: str) -> None:
    """The tasks read the tcp, the (named) cube and the gripper joint from the simulated scene."""
    env = make_env(task)
    env.reset(seed=0)
    assert env.core.endings() == ["jaws away from the cube"]  # the home pose, well behind the cubes
    env.close()
    other = make_env("push_t")
    other.reset(seed=0)
    assert other.core.endings() == [""]  # a task that tells no endings apart
    other.close()


def test_pick_color_success_only_for_named_cube():
    import mujoco

    env = make_env("pick_color")
    env.reset(seed=0)
    task, data = env.task, env.data
    target = int(task.target_index(env.core.instruction)[0])
    other = (target + 1) % 3
    data.qpos[task.cube_adrs[other] + 2] = 0.08
    mujoco.mj_forward(env.model, data)
    env.core.backend.refresh()
    assert not task.success(env.core.backend.view(env.core.instruction))[0]
    data.qpos[task.cube_adrs[other] + 2] = 0.015
    data.qpos[task.cube_adrs[target] + 2] = 0.08
    mujoco.mj_forward(env.model, data)
    env.core.backend.refresh()
    assert task.success(env.core.backend.view(env.core.instruction))[0]
    env.close()


def test_push_t_overlap_is_one_at_goal_and_drops_with_offset():
    from honed.sim.tasks.push_t import GOAL_POSE, overlap

    goal = np.array([GOAL_POSE])
    assert overlap(goal, goal)[0] == pytest.approx(1.0)
    shifted = goal + np.array([[0.01, 0, 0]])
    assert 0.6 < overlap(shifted, goal)[0] < 0.95
    assert overlap(goal + np.array([[0.04, 0, 0]]), goal)[0] < 0.5
    turned = goal + np.array([[0, 0, np.pi]])
    assert overlap(turned, goal)[0] < 0.9  # flipped T: the stems overlap, the bars don't
