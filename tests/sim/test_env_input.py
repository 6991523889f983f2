"""Bad input: unknown names list valid ones; bad actions name the env and field; clipping is counted."""

import numpy as np
import pytest
import torch

from honed.registry import UnknownNameError
from honed.sim import make_batched_env, make_env
from honed.sim.tasks.base import HOME_QPOS


def test_unknown_task_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid task names: .*pick_cube"):
        make_env("pick_cub")


def test_unknown_backend_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid backend names: maniskill, mujoco, warp"):
        make_batched_env("pick_cube", 2, backend="bullet")


def test_unknown_camera_is_rejected():
    with pytest.raises(ValueError, match="unknown camera"):
        make_env("pick_cube", cameras=("top",))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_names_env_and_field(bad):
    env = make_batched_env("pick_cube", 3)
    env.reset()
    actions = torch.tensor(HOME_QPOS, dtype=torch.float32).repeat(3, 1)
    actions[2, 1] = bad
    with pytest.raises(ValueError, match=r"env 2: field 'action' holds non-finite"):
        env.step(actions)
    env.close()


def test_wrong_action_shape_is_rejected():
    env = make_batched_env("pick_cube", 2)
    env.reset()
    with pytest.raises(ValueError, match=r"field 'action' has shape \(2, 5\), expected \(2, 6\)"):
        env.step(torch.zeros(2, 5))
    env.close()


def test_out_of_range_actions_are_clipped_and_counted():
    env = make_env("pick_cube")
    env.reset(seed=0)
    action = HOME_QPOS.copy()
    action[0] = 5.0  # beyond shoulder_pan's range
    action[5] = -3.0  # beyond the gripper's
    _, _, _, _, info = env.step(action)
    assert info["action_clipped"] == 2
    assert env.data.ctrl[0] == pytest.approx(env.model.actuator_ctrlrange[0, 1])
    assert env.data.ctrl[5] == pytest.approx(env.model.actuator_ctrlrange[5, 0])
    _, _, _, _, info = env.step(HOME_QPOS)
    assert info["action_clipped"] == 0
    env.close()


def test_malformed_mjcf_override_fails_before_build_with_mujoco_message():
    with pytest.raises(ValueError, match="mjcf_override is not a valid MJCF scene: .*"):
        make_env(
            "pick_cube",
            mjcf_override="<mujoco><worldbody><body name='a'><geom type='nosuchtype'/></body></worldbody></mujoco>",
        )


def test_mjcf_override_without_arm_joints_is_refused():
    with pytest.raises(ValueError, match="lacks the SO-101 joints"):
        make_env("pick_cube", mjcf_override="<mujoco><worldbody/></mujoco>")


def test_mjcf_override_from_file_is_used(tmp_path):
    from honed.sim.scene import arm_xml_text

    path = tmp_path / "arm.xml"
    path.write_text(arm_xml_text().replace('damping="0.5"', 'damping="0.9"'))
    env = make_env("pick_cube", mjcf_override=str(path))
    assert env.model.dof_damping[0] == pytest.approx(0.9)
    env.close()


@pytest.mark.filterwarnings("ignore:MuJoCo:UserWarning")  # the instability is the point
def test_diverged_world_ends_its_episode_and_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    env = make_batched_env("pick_cube", 3)
    env.reset(seed=0)
    actions = torch.tensor(HOME_QPOS, dtype=torch.float32).repeat(3, 1)
    env.step(actions)
    env.core.backend.world(1).qvel[0] = np.nan  # the engine restarts a world whose state goes non-finite
    _, _, terminated, truncated, info = env.step(actions)
    assert info["diverged"].tolist() == [False, True, False]
    assert truncated.tolist() == [False, True, False] and not terminated.any()
    assert info["episode_length"].tolist() == [0, 2, 0]
    # MuJoCo's own warning reaches honed's log, not a MUJOCO_LOG.TXT in the working directory
    assert any("unstable" in r.getMessage() for r in caplog.records if r.name == "honed.sim.mujoco")
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    _, _, _, truncated, info = env.step(actions)  # world 1 runs its next episode, undisturbed
    assert not info["diverged"].any() and not truncated.any()
    env.close()


@pytest.mark.filterwarnings("ignore:MuJoCo:UserWarning")  # the instability is the point
def test_diverged_single_env_truncates():
    env = make_env("pick_cube")
    env.reset(seed=0)
    env.data.qpos[0] = np.inf
    _, _, terminated, truncated, info = env.step(HOME_QPOS)
    assert info["diverged"] and truncated and not terminated
    _, _, _, truncated, info = env.step(HOME_QPOS)
    assert not info["diverged"] and not truncated
    env.close()
