"""The batched env equals N single envs, auto-resets, and keeps torch shapes [num_envs, ...]."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from honed.features import ACTION, PRIVILEGED, STATE, TASK
from honed.sim import make_batched_env, make_env
from honed.sim.batched import BATCHED_ENVS, BatchedEnv, EpisodeTally, TwinBatchedEnv
from honed.sim.maniskill import ManiSkillBatchedEnv, unavailable_reason
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


def _single_env_observations(seed: int, actions: np.ndarray, resets_after: tuple[int, ...]) -> list[dict]:
    """Observations of a single env seeded ``seed`` stepping ``actions``; after each step in
    ``resets_after`` it starts its next episode from its own generator (as a batched world does)."""
    env = make_env("pick_cube", episode_seconds=0.2)
    seen = [env.reset(seed=seed)[0]]
    for t, action in enumerate(actions):
        seen.append(env.step(action.astype(np.float32))[0])
        if t in resets_after:
            seen.append(env.reset()[0])
    env.close()
    return seen


def _assert_same_observation(batched: dict, world: int, single: dict) -> None:
    for key in (STATE, PRIVILEGED):
        np.testing.assert_allclose(batched[key][world].numpy(), single[key], atol=1e-6)
    assert batched[TASK][world] == single[TASK]


def test_final_observation_is_the_single_envs_last_observation_before_its_reset():
    """Worlds 1 and 2 are truncated after 6 steps; world 0, reset by mask after step 2, after step 8.
    Each finished world's row of ``final_observation`` is the single env's last observation of the
    episode; its row of ``obs`` the first of the single env's next episode."""
    n, steps, seed = 3, 8, 20
    actions = HOME_QPOS + np.random.default_rng(3).normal(0, 0.3, size=(steps, n, 6))
    env = make_batched_env("pick_cube", n, seed=seed, episode_seconds=0.2)  # 6 control steps
    env.reset()
    infos, observations = [], []
    for t in range(steps):
        obs, _, _, _, info = env.step(torch.tensor(actions[t], dtype=torch.float32))
        infos.append(info)
        observations.append(obs)
        if t == 1:
            env.reset(mask=torch.tensor([True, False, False]))
    env.close()
    assert [info["final_mask"].tolist() for info in infos] == [[False] * 3] * 5 + [
        [False, True, True], [False] * 3, [True, False, False]]  # fmt: skip
    for world, last_step, resets_after in ((1, 5, (5,)), (2, 5, (5,)), (0, 7, (1, 7))):
        single = _single_env_observations(seed + world, actions[: last_step + 1, world], resets_after)
        _assert_same_observation(infos[last_step]["final_observation"], world, single[-2])
        _assert_same_observation(observations[last_step], world, single[-1])
    for t in (5, 7):  # the worlds still running hold their current observation
        running = ~infos[t]["final_mask"]
        for key in (STATE, PRIVILEGED):
            torch.testing.assert_close(
                infos[t]["final_observation"][key][running], observations[t][key][running]
            )
    assert infos[0]["final_observation"] is observations[0]  # no world finished: the same observation


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_masked_reset_leaves_the_other_worlds_bit_identical(backend):
    """Two envs step the same actions; one resets world 1 halfway: worlds 0 and 2 stay bit-identical."""
    n, kept = 3, [0, 2]
    rng = np.random.default_rng(5)
    actions = torch.tensor(HOME_QPOS + rng.normal(0, 0.3, size=(6, n, 6)), dtype=torch.float32)
    untouched, reset = (make_batched_env("pick_cube", n, backend=backend, seed=9) for _ in range(2))
    untouched.reset()
    got = reset.reset()
    for t in range(6):
        if t == 3:
            again = reset.reset(mask=np.array([False, True, False]))
            for key in (STATE, PRIVILEGED):
                assert torch.equal(again[key][kept], got[key][kept])  # the others are read, not moved
        expected, _, _, _, _ = untouched.step(actions[t])
        got, _, _, _, info = reset.step(actions[t])
    for key in (STATE, PRIVILEGED):
        assert torch.equal(got[key][kept], expected[key][kept])
    for name in ("qpos", "qvel"):
        assert np.array_equal(
            reset.core.backend.arrays()[name][kept], untouched.core.backend.arrays()[name][kept]
        )
    assert not torch.equal(got[PRIVILEGED][1], expected[PRIVILEGED][1])  # world 1 runs another scene
    assert reset.tally.steps.tolist() == [6, 3, 6]  # world 1's episode restarted at the reset
    untouched.close()
    reset.close()


def test_masked_reset_takes_per_world_seeds():
    env = make_batched_env("pick_cube", 3, seed=0)
    env.reset()
    single = make_env("pick_cube")
    obs = env.reset(seed=[5, 8], mask=torch.tensor([True, False, True]))  # one seed per selected world
    np.testing.assert_allclose(obs[PRIVILEGED][0].numpy(), single.reset(seed=5)[0][PRIVILEGED], atol=0)
    np.testing.assert_allclose(obs[PRIVILEGED][2].numpy(), single.reset(seed=8)[0][PRIVILEGED], atol=0)
    obs = env.reset(seed=30, mask=torch.tensor([False, True, False]))  # an int: world i gets seed + i
    np.testing.assert_allclose(obs[PRIVILEGED][1].numpy(), single.reset(seed=31)[0][PRIVILEGED], atol=0)
    with pytest.raises(ValueError, match="field 'seed' gives 1 seeds for 2 selected worlds"):
        env.reset(seed=[1], mask=torch.tensor([True, True, False]))
    with pytest.raises(
        ValueError, match=r"field 'mask' has shape \(2,\) and dtype bool, expected \(3,\) bool"
    ):
        env.reset(mask=np.array([True, False]))
    env.close()
    single.close()


def statically_both_envs_are_batched_envs(
    twin: TwinBatchedEnv, maniskill: ManiSkillBatchedEnv
) -> list[BatchedEnv]:
    """Checked by mypy (``make typecheck``): each concrete env satisfies the protocol's types."""
    return [twin, maniskill]


@pytest.mark.parametrize("backend", BATCHED_ENVS.names())
def test_every_backend_satisfies_the_batched_env_protocol(backend):
    if backend == "maniskill" and (reason := unavailable_reason()):
        print(f"maniskill: {reason}; its adapter is checked over a stand-in in test_maniskill.py")
        pytest.skip(f"ManiSkill3 cannot run here: {reason}")
    env = make_batched_env("pick_cube", 2, backend=backend)
    assert isinstance(env, BatchedEnv)
    (actions,) = env.features[ACTION].shape
    for bound in (env.action_low, env.action_high):
        assert bound.shape == (actions,) and bound.dtype == torch.float32 and bound.device == env.device
    assert bool((env.action_low < env.action_high).all()) and env.control_hz > 0 and env.instructions
    obs = env.reset(seed=1)
    assert obs[STATE].shape == (2, *env.features[STATE].shape) and obs[STATE].device == env.device
    obs, reward, terminated, truncated, info = env.step((env.action_low + env.action_high).repeat(2, 1) / 2)
    assert reward.shape == terminated.shape == truncated.shape == (2,)
    assert info["final_mask"].shape == (2,) and info["final_observation"][STATE].shape == obs[STATE].shape
    env.close()
