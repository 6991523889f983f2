"""The physics seam: N worlds of one model stepped together. Backends differ only behind it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import mujoco
import numpy as np
import torch

from honed.registry import Registry
from honed.sim.tasks.base import BatchView

BACKENDS: Registry[Any] = Registry("backend")


class PhysicsBackend(ABC):
    """Holds N worlds; sets their states, steps them with held controls, exposes numpy views of
    their states (for task code) and torch tensors of their joint states on ``device``."""

    device: torch.device = torch.device("cpu")
    """Where the worlds' states live (``tensors`` and controls)."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, substeps: int):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.model = model
        self.num_envs = num_envs
        self.substeps = substeps
        self._scratch = mujoco.MjData(model)

    @abstractmethod
    def set_state(
        self, ids: np.ndarray, qpos: np.ndarray, mocap_pos: np.ndarray, mocap_quat: np.ndarray
    ) -> None:
        """Put worlds ``ids`` at rest in the given state: qpos (k, nq), mocap (k, nmocap, 3|4)."""

    @abstractmethod
    def step(self, ctrl: np.ndarray | torch.Tensor) -> None:
        """Hold ``ctrl`` (N, nu) for ``substeps`` physics steps in every world."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """qpos, qvel, xpos, xquat, site_xpos, site_xmat, mocap_pos, mocap_quat, each (N, ...)."""

    def tensors(self) -> dict[str, torch.Tensor]:
        """qpos (N, nq) and qvel (N, nv) as torch tensors on ``device``, sharing the backend's memory
        (valid until the next step or reset). Default: the numpy arrays, shared on the CPU."""
        a = self.arrays()
        return {name: torch.from_numpy(a[name]) for name in ("qpos", "qvel")}

    def diverged(self) -> np.ndarray:
        """(N,) bool: worlds whose physics went non-finite in the last step. Default: a NaN or
        infinite position or velocity (backends that restart such worlds themselves report it their
        own way)."""
        t = self.tensors()
        finite = torch.isfinite(t["qpos"]).all(dim=1) & torch.isfinite(t["qvel"]).all(dim=1)
        return ~finite.cpu().numpy()

    def refresh(self) -> None:  # noqa: B027 - optional hook
        """Re-read world states after someone edited an MjData directly; default: views are live."""

    def view(self, instruction: np.ndarray) -> BatchView:
        return BatchView(**self.arrays(), instruction=instruction)

    def world(self, i: int) -> mujoco.MjData:
        """An MjData holding world i's current state (for rendering); backends may return a live one."""
        a = self.arrays()
        d = self._scratch
        d.qpos[:], d.qvel[:] = a["qpos"][i], a["qvel"][i]
        d.mocap_pos[:], d.mocap_quat[:] = a["mocap_pos"][i], a["mocap_quat"][i]
        mujoco.mj_forward(self.model, d)
        return d

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads or devices; default: nothing held."""
