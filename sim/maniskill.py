"""``maniskill`` backend: ManiSkill3's GPU-simulated SO-100 tasks behind the batched seam.

ManiSkill3 renders and simulates through SAPIEN, which needs a Vulkan-capable GPU. On machines
without one, building this env raises ``ManiSkillUnavailable`` saying why. Observations are mapped
onto honed's Features: ``observation.state`` = SO-100 joint positions then velocities,
``observation.privileged`` = ManiSkill's task extras (object and goal poses) flattened,
``observation.images.front`` = its base camera when ``cameras`` asks for ``front``.
Actions are absolute joint targets (rad) through ManiSkill's ``pd_joint_pos`` controller.
"""

from __future__ import annotations

import ctypes.util
from typing import Any

import numpy as np
import torch

from honed.features import PRIVILEGED, STATE, TASK, image_key
from honed.sim.batched import EpisodeTally
from honed.sim.config import SimConfig

TASK_IDS = {"pick_cube": "PickCubeSO100-v1", "grasp_cube": "SO100GraspCube-v1"}
"""honed task name -> ManiSkill3 env id (SO-100 tasks)."""


class ManiSkillUnavailable(RuntimeError):
    """ManiSkill3 cannot run here (not installed, or no Vulkan GPU)."""


def unavailable_reason() -> str | None:
    """Why ManiSkill3 cannot run on this machine, or None if it can."""
    try:
        import mani_skill  # noqa: F401
    except ImportError as e:
        return f"mani-skill is not installed ({e}); install the 'maniskill' extra"
    if ctypes.util.find_library("vulkan") is None:
        return "no Vulkan loader (libvulkan.so.1): ManiSkill3 needs a Vulkan-capable GPU"
    if not torch.cuda.is_available():
        return "no CUDA device: ManiSkill3's GPU simulation needs one"
    return None


class ManiSkillBatchedEnv:
    """Same reset/step contract as ``honed.sim.batched.BatchedEnv`` over a ManiSkill3 GPU env."""

    def __init__(
        self, cfg: SimConfig | None = None, num_envs: int = 1, seed: int = 0, device: str = "cuda", **_: Any
    ):
        reason = unavailable_reason()
        if reason:
            raise ManiSkillUnavailable(reason)
        import gymnasium as gym
        import mani_skill.envs  # noqa: F401  (registers envs)
        from mani_skill.vector.wrappers.gymnasium import ManiSkillVectorEnv

        self.cfg = cfg or SimConfig()
        if self.cfg.task not in TASK_IDS:
            raise ValueError(
                f"task {self.cfg.task!r} has no ManiSkill3 counterpart; choose one of {', '.join(TASK_IDS)}"
            )
        obs_mode = "rgb" if self.cfg.cameras else "state_dict"
        env = gym.make(
            TASK_IDS[self.cfg.task],
            num_envs=num_envs,
            obs_mode=obs_mode,
            control_mode="pd_joint_pos",
            sim_backend="gpu",
            sensor_configs={"width": self.cfg.image_width, "height": self.cfg.image_height},
        )
        self.env = ManiSkillVectorEnv(env, auto_reset=True, ignore_terminations=False)
        self.num_envs, self.seed = num_envs, seed
        self.tally = EpisodeTally(num_envs)
        self.instruction = "pick up the cube"

    def _convert(self, obs: dict[str, Any]) -> dict[str, Any]:
        agent = obs["agent"]
        out: dict[str, Any] = {STATE: torch.cat([agent["qpos"], agent["qvel"]], dim=-1).float()}  # (N, 12)
        extra = [v.reshape(self.num_envs, -1).float() for v in obs.get("extra", {}).values()]
        out[PRIVILEGED] = torch.cat(extra, dim=-1) if extra else torch.zeros(self.num_envs, 0)
        if "sensor_data" in obs and "front" in self.cfg.cameras:
            cam = next(iter(obs["sensor_data"].values()))
            out[image_key("front")] = cam["rgb"][..., :3].to(torch.uint8)  # (N, H, W, 3)
        out[TASK] = [self.instruction] * self.num_envs
        return out

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        obs, _ = self.env.reset(seed=self.seed if seed is None else seed)
        self.tally.restart()
        return self._convert(obs)

    def step(
        self, actions: torch.Tensor | np.ndarray
    ) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        actions = torch.as_tensor(actions, dtype=torch.float32)
        if actions.shape != (self.num_envs, 6):
            raise ValueError(
                f"field 'action' has shape {tuple(actions.shape)}, expected ({self.num_envs}, 6)"
            )
        bad = ~torch.isfinite(actions).all(dim=1)
        if bad.any():
            i = int(torch.nonzero(bad)[0])
            raise ValueError(f"env {i}: field 'action' holds non-finite values {actions[i].tolist()}")
        obs, reward, terminated, truncated, info = self.env.step(actions)
        success = info.get("success", torch.zeros(self.num_envs, dtype=torch.bool))
        done = (terminated | truncated).cpu()
        self.tally.add(reward.detach().cpu().double().numpy())  # the vector env auto-resets finished worlds
        out_info = {"success": success.cpu(), "done": done, **self.tally.close(done.numpy())}
        return self._convert(obs), reward.float(), terminated, truncated, out_info

    def close(self) -> None:
        self.env.close()
