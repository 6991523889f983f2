"""The batched env equals N single envs, auto-resets, and keeps torch shapes [num_envs, ...]."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from honed.features import PRIVILEGED, STATE, TASK
from honed.sim import make_batched_env, make_env
from honed.sim.batched import EpisodeTally
from honed.sim.tasks.base import HOME_QPOS


@pytest.mark.parametrize("task", ["pick_cube", "place_cube"])
def test_batched_equals_single_envs(task):
    n, steps = 4, 12
    rng = np.random.default_rng(1)
    actions = HOME_QPOS + rng.normal(0, 0.3, size=(steps, n, 6))
    batched = make_batched_env(task, n, seed=100)
    obs = batched.reset()
    states = [obs[STATE].numpy()]
    for t in range(steps):
        obs, *_ = batched.step(torch.tensor(actions[t], dtype=torch.float32))
        states.append(obs[STATE].numpy())
    batched.close()
    for i in range(n):
        single = make_env(task)
        o, _ = single.reset(seed=100 + i)
        np.testing.assert_allclose(o[STATE], states[0][i], atol=1e-6)
        for t in range(steps):
            o, *_ = single.step(actions[t, i].astype(np.float32))
            np.testing.assert_allclose(o[STATE], states[t + 1][i], atol=1e-5)
        single.close()


def test_shapes_dtypes_and_auto_reset():
    env = make_batched_env("pick_cube", 3, episode_seconds=0.2)  # 6 control steps
    obs = env.reset()
    assert obs[STATE].shape == (3, 12) and obs[STATE].dtype == torch.float32
    assert obs[PRIVILEGED].shape == (3, 10)
    assert len(obs[TASK]) == 3
    first = obs[PRIVILEGED].clone()
    act = torch.tensor(HOME_QPOS, dtype=torch.float32).repeat(3, 1)
    returns = torch.zeros(3, dtype=torch.float64)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(act)
        returns += reward
        assert not truncated.any() and (info["episode_length"] == 0).all()
        assert info["endings"] == ["", "", ""]  # no episode ended yet
    obs, reward, terminated, truncated, info = env.step(act)
    assert truncated.all() and info["done"].all()
    assert info["endings"] == ["jaws away from the cube"] * 3  # read before the reset, at the home pose
    assert (info["episode_length"] == 6).all()
    torch.testing.assert_close(info["episode_return"], returns + reward, rtol=1e-5, atol=1e-5)
    assert reward.shape == (3,) and reward.dtype == torch.float32
    # every world was reset to its next seeded episode: the cube moved to a new spawn
    assert not torch.allclose(obs[PRIVILEGED][:, 3:6], first[:, 3:6])
    env.close()


def test_worlds_are_seeded_independently():
    env = make_batched_env("pick_cube", 2, seed=7)
    obs = env.reset()
    assert not torch.allclose(obs[PRIVILEGED][0], obs[PRIVILEGED][1])
    again = env.reset(seed=7)
    torch.testing.assert_close(obs[PRIVILEGED], again[PRIVILEGED])
    env.close()


def test_images_render_per_world():
    env = make_batched_env("pick_color", 2, cameras=("front", "wrist"), image_height=48, image_width=64)
    obs = env.reset()
    front = obs["observation.images.front"]
    assert front.shape == (2, 48, 64, 3) and front.dtype == torch.uint8
    assert obs["observation.images.wrist"].float().std() > 5  # not a blank frame
    assert not torch.equal(front[0], front[1])  # different scenes per world
    env.close()


@given(st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10), st.booleans(), st.booleans()), max_size=40))
def test_the_tally_reports_each_finished_episode_once(steps):
    """Batched envs (the twin's and ManiSkill's) report a finished world's return and length, then restart it."""
    tally = EpisodeTally(2)
    expected_return, expected_length = [0.0, 0.0], [0, 0]
    for r0, r1, d0, d1 in steps:
        tally.add(np.array([r0, r1]))
        out = tally.close(np.array([d0, d1]))
        for i, (r, d) in enumerate(((r0, d0), (r1, d1))):
            expected_return[i] += r
            expected_length[i] += 1
            assert out["episode_length"][i] == (expected_length[i] if d else 0)
            assert out["episode_return"][i] == pytest.approx(expected_return[i] if d else 0.0, abs=1e-9)
            if d:
                expected_return[i], expected_length[i] = 0.0, 0
