"""The ManiSkill3 adapter behind the batched seam.

ManiSkill3 itself needs a Vulkan GPU: on such a machine the last test steps the real env, elsewhere
it skips with the reason. The mapping onto honed's keys, clipping, bad-action refusal, episode
tallies and the contract check run everywhere over a stand-in for ManiSkill's vector env (the
dict observations and auto-reset of ``ManiSkillVectorEnv``), which sits below the seam under test.
"""

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

from honed.features import ACTION, PRIVILEGED, STATE, TASK, image_key
from honed.policies.contract import Contract, ContractError
from honed.sim import SimConfig, make_batched_env
from honed.sim.batched import BatchedEnv
from honed.sim.maniskill import ManiSkillBatchedEnv, ManiSkillUnavailable, unavailable_reason

REASON = unavailable_reason()
JOINTS = ("Rotation", "Pitch", "Elbow", "Wrist_Pitch", "Wrist_Roll", "Jaw")


class StandInVectorEnv:
    """ManiSkill's vector-env surface as the adapter reads it, without auto-reset (as the adapter
    builds it); world i's episodes last ``lengths[i]`` steps and its joint positions read 0.1 per
    step taken in the episode."""

    def __init__(
        self, num_envs: int, lengths: tuple[int, ...] = (), image: tuple[int, int] | None = (24, 32)
    ):
        self.n, self.image = num_envs, image
        self.lengths = torch.tensor(lengths or (3,) * num_envs)
        self.single_action_space = gym.spaces.Box(-2.0, 2.0, shape=(6,), dtype=np.float32)
        robot = SimpleNamespace(active_joints=[SimpleNamespace(name=j) for j in JOINTS])
        self.unwrapped = SimpleNamespace(control_freq=20, agent=SimpleNamespace(robot=robot))
        self.t = torch.zeros(num_envs, dtype=torch.int64)
        self.sent: list[torch.Tensor] = []
        self.resets: list[tuple] = []

    def _obs(self) -> dict:
        obs: dict[str, dict] = {
            "agent": {"qpos": 0.1 * self.t[:, None].float().repeat(1, 6), "qvel": torch.zeros(self.n, 6)},
            "extra": {"tcp_pose": torch.zeros(self.n, 7), "goal_pos": torch.ones(self.n, 3)},
        }
        if self.image:
            rgb = torch.full((self.n, *self.image, 4), 7, dtype=torch.uint8)
            obs["sensor_data"] = {"base_camera": {"rgb": rgb}}
        return obs

    def reset(self, seed=None, options=None):
        worlds = options["env_idx"] if options else torch.arange(self.n)
        self.t[worlds] = 0
        self.resets.append((seed, worlds.tolist()))
        return self._obs(), {}

    def step(self, actions):
        self.sent.append(torch.as_tensor(actions).clone())
        self.t += 1
        done = self.t >= self.lengths
        reward = torch.arange(self.n, dtype=torch.float32)
        return self._obs(), reward, done, torch.zeros(self.n, dtype=torch.bool), {"success": done.clone()}

    def close(self):
        pass


def adapter(num_envs=2, cameras=("front",), seed=0, **stand_in):
    cfg = SimConfig(task="pick_cube", cameras=cameras)
    return ManiSkillBatchedEnv(cfg, num_envs, seed=seed, vector_env=StandInVectorEnv(num_envs, **stand_in))


def test_observations_and_features_use_honed_keys():
    env = adapter()
    obs = env.reset(seed=5)
    assert obs[STATE].shape == (2, 12) and obs[PRIVILEGED].shape == (2, 10)
    assert obs[image_key("front")].shape == (2, 24, 32, 3) and obs[image_key("front")].dtype == torch.uint8
    assert obs[TASK] == ["pick up the cube"] * 2 and env.instructions == ("pick up the cube",)
    assert env.cfg.control_hz == 20.0  # from ManiSkill's control frequency, not the twin's default
    for key in (STATE, PRIVILEGED, image_key("front")):
        assert env.features[key].shape == tuple(obs[key].shape[1:])
    assert env.features[STATE].names[:2] == ("so100.Rotation.pos", "so100.Pitch.pos")
    assert env.features[ACTION].names[-1] == "so100.Jaw.pos"


def test_state_only_env_has_no_camera_feature():
    env = adapter(cameras=(), image=None)
    assert image_key("front") not in env.features and image_key("front") not in env.reset()


def test_out_of_range_targets_are_clipped_and_counted():
    env = adapter()
    env.reset()
    actions = torch.zeros(2, 6)
    actions[0, 0], actions[0, 5], actions[1, 2] = 3.0, -9.0, 1.5
    _, _, _, _, info = env.step(actions)
    assert info["action_clipped"].tolist() == [2, 0]
    assert env.env.sent[-1][0, 0] == 2.0 and env.env.sent[-1][0, 5] == -2.0 and env.env.sent[-1][1, 2] == 1.5


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (torch.zeros(3, 6), r"field 'action' has shape \(3, 6\), expected \(2, 6\)"),
        (
            torch.tensor([[0.0] * 6, [0.0, float("nan"), 0, 0, 0, 0]]),
            "env 1: field 'action' holds non-finite",
        ),
    ],
)
def test_bad_actions_never_reach_maniskill(actions, message):
    env = adapter()
    env.reset()
    with pytest.raises(ValueError, match=message):
        env.step(actions)
    assert env.env.sent == []


def test_finished_worlds_report_return_and_length_then_restart():
    env = adapter()
    env.reset()
    for step in range(1, 4):
        _, reward, terminated, _, info = env.step(torch.zeros(2, 6))
        assert reward.device.type == "cpu" and terminated.tolist() == [step == 3] * 2
    assert info["done"].tolist() == [True, True] and info["success"].tolist() == [True, True]
    assert info["episode_length"].tolist() == [3, 3] and info["episode_return"].tolist() == [0.0, 3.0]
    _, _, _, _, info = env.step(torch.zeros(2, 6))
    assert info["episode_length"].tolist() == [0, 0]  # the next episode is running


def test_finished_worlds_keep_their_last_observation_and_reset_alone():
    env = adapter(num_envs=3, lengths=(2, 3, 5), seed=40)
    assert env.env.resets == [([40, 41, 42], [0, 1, 2])]  # world i seeded seed + i
    for _ in range(2):
        obs, _, terminated, _, info = env.step(torch.zeros(3, 6))
    assert terminated.tolist() == [True, False, False] and info["final_mask"].tolist() == [True, False, False]
    assert info["final_observation"][STATE][:, 0].tolist() == pytest.approx(
        [0.2, 0.2, 0.2]
    )  # before the reset
    assert obs[STATE][:, 0].tolist() == pytest.approx([0.0, 0.2, 0.2])  # world 0 starts its next episode
    assert env.env.resets[-1] == (None, [0])  # ManiSkill reset world 0 alone, from its own generator
    obs, _, _, _, info = env.step(torch.zeros(3, 6))
    assert info["final_mask"].tolist() == [False, True, False]
    assert info["final_observation"][STATE][:, 0].tolist() == pytest.approx([0.1, 0.3, 0.3])
    obs = env.reset(seed=[7], mask=torch.tensor([False, False, True]))
    assert env.env.resets[-1] == ([40, 41, 7], [2]) and obs[STATE][:, 0].tolist() == pytest.approx(
        [0.1, 0.0, 0.0]
    )


def test_the_adapter_satisfies_the_batched_env_protocol():
    env = adapter()
    assert isinstance(env, BatchedEnv)
    assert env.action_low.tolist() == [-2.0] * 6 and env.action_high.dtype == torch.float32
    assert env.control_hz == 20.0 and env.num_envs == 2 and env.device == torch.device("cpu")


def test_twin_contract_is_refused_on_maniskill_features():
    twin = make_batched_env("pick_cube", 1, cameras=("front",), image_height=24, image_width=32)
    twin_features = twin.features.select([STATE, image_key("front"), ACTION])
    twin.close()
    stats = {key: {"mean": np.zeros(n), "std": np.ones(n), "min": -np.ones(n), "max": np.ones(n)}
             for key, n in ((STATE, 12), (image_key("front"), 3), (ACTION, 6))}  # fmt: skip
    contract = Contract(twin_features, stats, control_hz=20.0, n_obs_steps=1, horizon=16, n_action_steps=8)
    env = adapter()
    with pytest.raises(ContractError, match="observation.state: names"):
        contract.check(env.features, env.cfg.control_hz, where="maniskill task 'pick_cube'")


def test_unknown_task_and_camera_are_refused_before_building():
    with pytest.raises(ValueError, match="choose one of pick_cube, grasp_cube"):
        ManiSkillBatchedEnv(SimConfig(task="push_t"), 1, vector_env=StandInVectorEnv(1))
    with pytest.raises(ValueError, match="field 'cameras'"):
        adapter(cameras=("front", "wrist"))


def test_unavailable_machine_gets_a_clear_error():
    if REASON is None:
        pytest.skip("this machine can run ManiSkill3, so there is no refusal to check")
    with pytest.raises(ManiSkillUnavailable, match="Vulkan|CUDA|not installed"):
        make_batched_env("pick_cube", 2, backend="maniskill")


@pytest.mark.skipif(REASON is not None, reason=f"ManiSkill3 cannot run here: {REASON}")
def test_maniskill_pick_cube_steps_with_shared_keys():
    env = make_batched_env("pick_cube", 4, backend="maniskill")
    obs = env.reset()
    assert obs[STATE].shape == env.features[STATE].shape and obs[STATE].shape[0] == 4
    obs, reward, terminated, truncated, info = env.step(obs[STATE][:, :6])
    assert reward.shape == (4,) and torch.isfinite(reward).all()
    assert set(info) >= {"success", "done", "episode_return", "episode_length", "action_clipped"}
    assert info["episode_length"].shape == (4,)
    env.close()
