"""The SO-101 MuJoCo twin: scene, tasks, single and batched envs, backends, experts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from honed.sim.config import RandomizationConfig, SimConfig

if TYPE_CHECKING:
    from honed.sim.batched import BatchedEnv


def make_env(task: str = "pick_cube", **options: Any) -> Any:
    """A single Gymnasium env of ``task``; options are SimConfig fields (cameras=("front",), ...)."""
    from honed.sim.env import TwinEnv

    return TwinEnv(SimConfig(task=task), **options)


def make_batched_env(
    task: str = "pick_cube", num_envs: int = 1, backend: str = "mujoco", seed: int = 0, **options: Any
) -> BatchedEnv:
    """A batched env of ``num_envs`` worlds on ``backend`` (mujoco, warp, maniskill); options are
    SimConfig fields, ``device`` (where tensors come back, default cpu) and the backend's own."""
    from honed.sim.batched import BATCHED_ENVS

    factory = BATCHED_ENVS.get(backend)
    cfg = SimConfig(task=task)
    backend_options = {k: options.pop(k) for k in list(options) if not hasattr(cfg, k)}
    for key, value in options.items():
        setattr(cfg, key, value)
    return factory(cfg, num_envs=num_envs, seed=seed, **backend_options)


__all__ = ["RandomizationConfig", "SimConfig", "make_batched_env", "make_env"]
