"""``mujoco`` backend: N MjData on CPU, stepped by a thread pool with the GIL released inside mj_step."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np

from honed.sim.backends.base import BACKENDS, PhysicsBackend

_FIELDS = ("qpos", "qvel", "xpos", "xquat", "site_xpos", "site_xmat", "mocap_pos", "mocap_quat")


@BACKENDS.register("mujoco")
class MujocoBackend(PhysicsBackend):
    """The embedded default. ``threads`` defaults to the number of cores (1 world: no pool)."""

    def __init__(self, model: mujoco.MjModel, num_envs: int, substeps: int, threads: int | None = None):
        super().__init__(model, num_envs, substeps)
        self.datas = [mujoco.MjData(model) for _ in range(num_envs)]
        self.models = [model] * num_envs
        n_threads = min(num_envs, threads or os.cpu_count() or 1)
        self._chunks = [list(range(num_envs))[k::n_threads] for k in range(n_threads)]
        self._pool = ThreadPoolExecutor(n_threads, thread_name_prefix="mj") if n_threads > 1 else None
        d = self.datas[0]
        self._buffers = {name: np.zeros((num_envs,) + getattr(d, name).shape) for name in _FIELDS}

    def _gather(self, ids: list[int]) -> None:
        """Copy worlds' states into the shared (N, ...) buffers (run inside the stepping threads)."""
        for name, buf in self._buffers.items():
            for i in ids:
                buf[i] = getattr(self.datas[i], name)

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
        self._gather(list(ids))

    def refresh(self) -> None:
        self._gather(list(range(self.num_envs)))

    def _step_chunk(self, chunk: list[int], ctrl: np.ndarray) -> None:
        for i in chunk:
            d = self.datas[i]
            d.ctrl[:] = ctrl[i]
            mujoco.mj_step(self.models[i], d, self.substeps)
        self._gather(chunk)

    def step(self, ctrl: np.ndarray) -> None:
        if self._pool is None:
            self._step_chunk(self._chunks[0], ctrl)
            return
        for future in [self._pool.submit(self._step_chunk, c, ctrl) for c in self._chunks]:
            future.result()

    def arrays(self) -> dict[str, np.ndarray]:
        """Views of the buffers the stepping threads filled; valid until the next step or reset."""
        return self._buffers

    def world(self, i: int) -> mujoco.MjData:
        return self.datas[i]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
