"""The batched twin: the single env's spaces as torch tensors ``[num_envs, ...]`` with auto-reset."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch

from honed.features import TASK
from honed.registry import Registry
from honed.sim.config import SimConfig
from honed.sim.core import TwinCore


def to_torch(obs: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v if k == TASK else torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in obs.items()
    }


class EpisodeTally:
    """Return and length of each world's running episode, for a batched env's ``info``: ``close``
    reports the finished worlds' totals (0 elsewhere) and starts their next episode from zero."""

    def __init__(self, num_envs: int):
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.returns = np.zeros(num_envs)

    def restart(self) -> None:
        self.steps[:] = 0
        self.returns[:] = 0

    def add(self, reward: np.ndarray) -> None:
        self.steps += 1
        self.returns += reward

    def close(self, done: np.ndarray) -> dict[str, torch.Tensor]:
        out = {
            "episode_return": torch.from_numpy(np.where(done, self.returns, 0.0)),
            "episode_length": torch.from_numpy(np.where(done, self.steps, 0)),
        }
        self.steps[done] = 0
        self.returns[done] = 0
        return out


class BatchedEnv:
    """N worlds of one task on a chosen backend. World i is seeded ``seed + i``.

    ``step`` returns (obs, reward, terminated, truncated, info); finished worlds are reset in the same
    call, so ``obs`` holds their first observation of the next episode, and ``info`` carries
    ``success``, ``episode_return`` and ``episode_length`` of the episode that just ended, and
    ``diverged``: worlds whose physics went non-finite this step (the engine restarted them), whose
    episodes end there, truncated.
    """

    def __init__(
        self,
        cfg: SimConfig | None = None,
        num_envs: int = 1,
        backend: str = "mujoco",
        seed: int = 0,
        device: str = "cpu",
        **backend_options: Any,
    ):
        self.cfg = cfg or SimConfig()
        self.core = TwinCore(self.cfg, num_envs, backend, **backend_options)
        self.num_envs = num_envs
        self.features = self.core.features
        self.instructions: tuple[str, ...] = tuple(self.core.task.instructions)
        self.device = torch.device(device)
        self.seed = seed
        self.tally = EpisodeTally(num_envs)

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        if seed is not None:
            self.seed = seed
        self.core.seed([self.seed + i for i in range(self.num_envs)])
        self.core.reset_worlds(np.arange(self.num_envs))
        self.tally.restart()
        return to_torch(self.core.observe(), self.device)

    def step(
        self, actions: torch.Tensor | np.ndarray
    ) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        if isinstance(actions, torch.Tensor):
            actions = actions.detach().cpu().numpy()
        out = self.core.step(actions)  # validates shape and finiteness per env
        self.tally.add(out["reward"])
        terminated = out["success"] & self.cfg.terminate_on_success
        truncated = ((self.tally.steps >= self.core.max_steps) | out["diverged"]) & ~terminated
        done = terminated | truncated
        info: dict[str, Any] = {
            "success": torch.from_numpy(out["success"].copy()),
            "action_clipped": torch.from_numpy(out["action_clipped"]),
            "diverged": torch.from_numpy(out["diverged"]),
            **self.tally.close(done),
            "done": torch.from_numpy(done.copy()),
        }
        endings = self.core.endings() if done.any() else [""] * self.num_envs
        info["endings"] = [e if d else "" for e, d in zip(endings, done, strict=True)]  # before the reset
        if done.any():
            self.core.reset_worlds(np.flatnonzero(done))
        obs = to_torch(self.core.observe(), self.device)
        dev = self.device
        return (
            obs,
            torch.from_numpy(out["reward"].astype(np.float32)).to(dev),
            torch.from_numpy(terminated).to(dev),
            torch.from_numpy(truncated).to(dev),
            info,
        )

    def close(self) -> None:
        self.core.close()


BATCHED_ENVS: Registry[Any] = Registry("backend")
"""backend name -> factory(cfg, num_envs=, seed=, device=, **options) of a batched env."""
for _name in ("mujoco", "warp"):
    BATCHED_ENVS.register(_name)(partial(BatchedEnv, backend=_name))


@BATCHED_ENVS.register("maniskill")
def _maniskill(cfg: SimConfig | None = None, **kwargs: Any) -> Any:
    from honed.sim.maniskill import ManiSkillBatchedEnv

    return ManiSkillBatchedEnv(cfg, **kwargs)
