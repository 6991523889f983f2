"""``mujoco`` backend: N MjData on CPU, stepped by a thread pool with the GIL released inside mj_step.

Each step the calling thread and ``threads - 1`` pool threads take worlds one at a time from a shared
counter (so a slow world does not leave a core idle behind a fixed split) and copy each stepped
world's state into the shared (N, ...) buffers.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch

from honed.sim.backends.base import BACKENDS, PhysicsBackend

# MuJoCo's checks for a non-finite or huge position, velocity or acceleration: each one restarts
# the world from the model's default state (mj_resetData) inside mj_step and counts a warning.
_UNSTABLE = [int(w) for w in (mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL,
                              mujoco.mjtWarning.mjWARN_BADQACC)]  # fmt: skip
_FIELDS = ("qpos", "qvel", "xpos", "xquat", "site_xpos", "site_xmat", "mocap_pos", "mocap_quat")


@BACKENDS.register("mujoco")
class MujocoBackend(PhysicsBackend):
    """The embedded default. ``threads`` defaults to the number of cores (1 world: no pool)."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, substeps: int, threads: int | None = None):
        super().__init__(model, num_envs, substeps)
        self.datas = [mujoco.MjData(model) for _ in range(num_envs)]
        self.models = [model] * num_envs
        self._helpers = min(num_envs, threads or os.cpu_count() or 1) - 1
        self._pool = ThreadPoolExecutor(self._helpers, thread_name_prefix="mj") if self._helpers else None
        d = self.datas[0]
        self._buffers = {name: np.zeros((num_envs,) + getattr(d, name).shape) for name in _FIELDS}
        # Views into each MjData's own memory, made once: attribute access builds a new array each time.
        self._views = [[getattr(d, name) for name in _FIELDS] for d in self.datas]
        self._rows = [[buf[i] for buf in self._buffers.values()] for i in range(num_envs)]
        self._tensors = {name: torch.from_numpy(self._buffers[name]) for name in ("qpos", "qvel")}
        self._warnings = [d.warning.number for d in self.datas]  # each world's warning counts, live
        self._diverged = np.zeros(num_envs, dtype=bool)

    def _gather(self, ids: list[int]) -> None:
        """Copy worlds' states into the shared (N, ...) buffers (run inside the stepping threads)."""
        for i in ids:
            for row, view in zip(self._rows[i], self._views[i]):
                row[...] = view

    def set_state(
        self, ids: np.ndarray, qpos: np.ndarray, mocap_pos: np.ndarray, mocap_quat: np.ndarray
    ) -> None:
        for k, i in enumerate(ids):
            m, d = self.models[i], self.datas[i]
            mujoco.mj_resetData(m, d)
            d.qpos[:] = qpos[k]
            d.mocap_pos[:], d.mocap_quat[:] = mocap_pos[k], mocap_quat[k]
            d.ctrl[:] = qpos[k][: m.nu]
            mujoco.mj_forward(m, d)
        self._diverged[ids] = False
        self._gather(list(ids))

    def refresh(self) -> None:
        self._gather(list(range(self.num_envs)))

    def _step_worlds(self, ctrl: np.ndarray, worlds: Iterator[int]) -> None:
        for i in worlds:
            if i >= self.num_envs:
                return
            d = self.datas[i]
            d.ctrl[:] = ctrl[i]
            mujoco.mj_step(self.models[i], d, self.substeps)
            counts = self._warnings[i]
            self._diverged[i] = bool(counts[_UNSTABLE].any())
            counts[_UNSTABLE] = 0
            self._gather([i])

    def step(self, ctrl: np.ndarray | torch.Tensor) -> None:
        ctrl = np.asarray(ctrl.cpu() if isinstance(ctrl, torch.Tensor) else ctrl, dtype=np.float64)
        worlds = itertools.count()  # next() is atomic under the GIL: each world is taken once
        helpers = (
            [self._pool.submit(self._step_worlds, ctrl, worlds) for _ in range(self._helpers)]
            if self._pool
            else []
        )
        self._step_worlds(ctrl, worlds)
        for future in helpers:
            future.result()

    def diverged(self) -> np.ndarray:
        """Worlds MuJoCo restarted in the last step because their state went non-finite or huge."""
        return self._diverged.copy()

    def arrays(self) -> dict[str, np.ndarray]:
        """Views of the buffers the stepping threads filled; valid until the next step or reset."""
        return self._buffers

    def tensors(self) -> dict[str, torch.Tensor]:
        """The shared qpos and qvel buffers as torch tensors (same memory)."""
        return self._tensors

    def world(self, i: int) -> mujoco.MjData:
        return self.datas[i]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
