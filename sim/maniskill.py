"""``maniskill`` backend: ManiSkill3's GPU-simulated SO-100 tasks behind the batched seam.

ManiSkill3 renders and simulates through SAPIEN, which needs a Vulkan-capable GPU. On machines
without one, building this env raises ``ManiSkillUnavailable`` saying why. Observations are mapped
onto honed's Features: ``observation.state`` = SO-100 joint positions then velocities,
``observation.privileged`` = ManiSkill's task extras (object and goal poses) flattened,
``observation.images.front`` = its first camera when ``cameras`` asks for ``front``.
Actions are absolute joint targets (rad) through ManiSkill's ``pd_joint_pos`` controller; targets
beyond the controller's limits (``action_low``/``action_high``) are clipped and counted in
``info["action_clipped"]``, as in the twin. Episodes end, auto-reset and are tallied by the same
bookkeeping as the twin's (:class:`honed.sim.batched.AutoResetEnv`): ManiSkill's vector env runs
without its own auto-reset, and finished worlds are reset through its partial reset
(``options={"env_idx": ...}``). World i is seeded ``seed + i`` through ManiSkill's per-world seeds
(how a seed becomes a scene is ManiSkill's: its tasks also draw from torch's generator).
``features`` and ``cfg.control_hz`` come from the built env, so ``honed-eval`` checks a checkpoint's
contract against ManiSkill's spaces; the joints are named ``so100.<joint>``, so a checkpoint trained
in the SO-101 twin is refused (another arm, even where the shapes agree).
"""

from __future__ import annotations

import ctypes.util
from typing import Any

import numpy as np
import torch

from honed.features import ACTION, PRIVILEGED, STATE, TASK, Feature, Features, image_key
from honed.sim.batched import Advance, AutoResetEnv, Observation, select_rows
from honed.sim.config import SimConfig

TASK_IDS = {"pick_cube": "PickCubeSO100-v1", "grasp_cube": "SO100GraspCube-v1"}
"""honed task name -> ManiSkill3 env id (SO-100 tasks)."""

INSTRUCTIONS = {"pick_cube": ("pick up the cube",), "grasp_cube": ("grasp the cube",)}
"""honed task name -> the instructions its episodes carry in ``task``."""


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


def build_vector_env(cfg: SimConfig, num_envs: int) -> Any:
    """ManiSkill3's vector env of ``cfg.task`` on the GPU (raises where it cannot run)."""
    reason = unavailable_reason()
    if reason:
        raise ManiSkillUnavailable(reason)
    import gymnasium as gym
    import mani_skill.envs  # noqa: F401  (registers envs)
    from mani_skill.vector.wrappers.gymnasium import ManiSkillVectorEnv

    env = gym.make(
        TASK_IDS[cfg.task],
        num_envs=num_envs,
        obs_mode="rgb" if cfg.cameras else "state_dict",
        control_mode="pd_joint_pos",
        sim_backend="gpu",
        sensor_configs={"width": cfg.image_width, "height": cfg.image_height},
    )
    return ManiSkillVectorEnv(env, auto_reset=False, ignore_terminations=False)


class ManiSkillBatchedEnv(AutoResetEnv):
    """The batched seam (:class:`honed.sim.batched.BatchedEnv`) over a ManiSkill3 GPU env.

    ``vector_env`` is an already-built ManiSkill vector env without auto-reset (built from ``cfg``
    when None); tensors come back on ``device``, wherever ManiSkill simulates. Episodes end by
    ManiSkill's own terminations and time limit, or where the state goes non-finite.
    """

    def __init__(
        self,
        cfg: SimConfig | None = None,
        num_envs: int = 1,
        seed: int = 0,
        device: str = "cpu",
        vector_env: Any = None,
        **_: Any,
    ):
        cfg = cfg or SimConfig()
        if cfg.task not in TASK_IDS:
            raise ValueError(
                f"task {cfg.task!r} has no ManiSkill3 counterpart; choose one of {', '.join(TASK_IDS)}"
            )
        if tuple(cfg.cameras) not in ((), ("front",)):
            raise ValueError(f"field 'cameras' = {list(cfg.cameras)}: ManiSkill3's tasks give 'front' only")
        self.env = vector_env if vector_env is not None else build_vector_env(cfg, num_envs)
        control_freq = getattr(self.env.unwrapped, "control_freq", None)
        if control_freq:
            cfg.control_hz = float(control_freq)
        space = self.env.single_action_space
        low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
        super().__init__(cfg, num_envs, seed, device, low, high, max_steps=None)
        self.instructions: tuple[str, ...] = INSTRUCTIONS[cfg.task]
        self.episode_seeds = np.arange(num_envs, dtype=np.int64) + seed
        """The seed each world was last given (ManiSkill's seeded reset takes one for every world)."""
        self._last: Observation = {}
        self.features = self._features(self.reset())

    def joint_names(self, dof: int) -> list[str]:
        """``so100.<joint>`` for each actuated joint, named as ManiSkill's robot names them."""
        try:
            joints = [joint.name for joint in self.env.unwrapped.agent.robot.active_joints]
        except AttributeError:  # a build of ManiSkill that does not expose its robot's joints
            joints = []
        if len(joints) != dof or not all(joints):
            joints = [f"joint{i}" for i in range(dof)]
        return [f"so100.{j}" for j in joints]

    def _features(self, obs: dict[str, Any]) -> Features:
        dof = obs[STATE].shape[1] // 2
        joints = self.joint_names(dof)
        names = tuple(f"{j}.pos" for j in joints) + tuple(f"{j}.vel" for j in joints)
        items = {STATE: Feature((2 * dof,), "float32", names=names, unit="rad, rad/s")}
        if image_key("front") in obs:
            items[image_key("front")] = Feature(tuple(obs[image_key("front")].shape[1:]), "uint8")
        if obs[PRIVILEGED].shape[1]:
            items[PRIVILEGED] = Feature((obs[PRIVILEGED].shape[1],), "float32", unit="m, quaternion")
        items[TASK] = Feature((1,), "string")
        action_names = tuple(f"{j}.pos" for j in joints) if len(self.action_low) == dof else None
        items[ACTION] = Feature((len(self.action_low),), "float32", names=action_names, unit="rad")
        return Features(items)

    def _convert(self, obs: dict[str, Any]) -> dict[str, Any]:
        agent, dev = obs["agent"], self.device
        out: dict[str, Any] = {STATE: torch.cat([agent["qpos"], agent["qvel"]], dim=-1).float().to(dev)}
        extra = [v.reshape(self.num_envs, -1).float().to(dev) for v in obs.get("extra", {}).values()]
        out[PRIVILEGED] = torch.cat(extra, dim=-1) if extra else torch.zeros(self.num_envs, 0, device=dev)
        if "sensor_data" in obs and "front" in self.cfg.cameras:
            cam = next(iter(obs["sensor_data"].values()))
            out[image_key("front")] = cam["rgb"][..., :3].to(torch.uint8).to(dev)  # (N, H, W, 3)
        out[TASK] = [self.instructions[0]] * self.num_envs
        return out

    def _advance(self, targets: torch.Tensor) -> Advance:
        obs, reward, terminated, truncated, info = self.env.step(targets.float())
        self._last = self._convert(obs)
        return Advance(
            reward=reward,
            success=info.get("success", torch.zeros(self.num_envs, dtype=torch.bool)),
            terminated=terminated,
            truncated=truncated,
            diverged=~torch.isfinite(self._last[STATE]).all(dim=1),  # SAPIEN reports no restart of its own
        )

    def _observe(self, ids: np.ndarray | None = None) -> Observation:
        return self._last if ids is None else select_rows(self._last, ids)

    def _start(self, ids: np.ndarray, seeds: list[int] | None) -> None:
        every = len(ids) == self.num_envs
        options = (
            None if every else {"env_idx": torch.as_tensor(ids, device=getattr(self.env, "device", "cpu"))}
        )
        if seeds is not None:
            self.episode_seeds[ids] = seeds
        obs, _ = self.env.reset(seed=None if seeds is None else self.episode_seeds.tolist(), options=options)
        self._last = self._convert(obs)

    def close(self) -> None:
        self.env.close()
