"""``warp`` backend: MuJoCo Warp on the same MJCF and task code, N worlds as one batch of arrays.

Runs on Warp's CPU device where no CUDA device exists, and on CUDA elsewhere (``device=cuda:0``).
Contact and constraint buffers are sized per world from the scene (``nconmax``, ``njmax``). What Warp
prints while it starts and loads its kernel modules goes to honed's log file (:mod:`honed.log`).
"""

from __future__ import annotations

import mujoco
import numpy as np

from honed.sim.backends.base import BACKENDS, PhysicsBackend


@BACKENDS.register("warp")
class WarpBackend(PhysicsBackend):
    """MuJoCo Warp worlds; ``device`` is a Warp device name (default: cuda:0 if present, else cpu)."""

    def __init__(
        self,
        model: mujoco.MjModel,
        num_envs: int,
        substeps: int,
        device: str | None = None,
        nconmax: int = 48,
        njmax: int = 192,
    ):
        from honed.log import route_warp

        wp = route_warp()  # Warp's start-up and module-loading lines go to honed's log
        import mujoco_warp as mjw

        super().__init__(model, num_envs, substeps)
        self.wp, self.mjw = wp, mjw
        self.device = wp.get_device(device or ("cuda:0" if wp.is_cuda_available() else "cpu"))
        with wp.ScopedDevice(self.device):
            self.m = mjw.put_model(model)
            self.d = mjw.put_data(model, mujoco.MjData(model), nworld=num_envs, nconmax=nconmax, njmax=njmax)
        self._graph = None

    def _assign(self, name: str, ids: np.ndarray, values: np.ndarray) -> None:
        arr = getattr(self.d, name)
        host = arr.numpy()
        host[ids] = values.reshape((len(ids),) + host.shape[1:])
        arr.assign(self.wp.array(host, dtype=arr.dtype, device=self.device))

    def set_state(
        self, ids: np.ndarray, qpos: np.ndarray, mocap_pos: np.ndarray, mocap_quat: np.ndarray
    ) -> None:
        ids = np.asarray(ids)
        self._assign("qpos", ids, qpos)
        self._assign("qvel", ids, np.zeros((len(ids), self.model.nv)))
        self._assign("ctrl", ids, qpos[:, : self.model.nu])
        self._assign("qacc_warmstart", ids, np.zeros((len(ids), self.model.nv)))
        if self.model.nmocap:
            self._assign("mocap_pos", ids, mocap_pos)
            self._assign("mocap_quat", ids, mocap_quat)
        with self.wp.ScopedDevice(self.device):
            self.mjw.forward(self.m, self.d)

    def step(self, ctrl: np.ndarray) -> None:
        self.d.ctrl.assign(
            self.wp.array(ctrl.astype(np.float32), dtype=self.d.ctrl.dtype, device=self.device)
        )
        with self.wp.ScopedDevice(self.device):
            for _ in range(self.substeps):
                self.mjw.step(self.m, self.d)

    def arrays(self) -> dict[str, np.ndarray]:
        d, n = self.d, self.num_envs
        out = {
            name: getattr(d, name).numpy().astype(np.float64)
            for name in ("qpos", "qvel", "xpos", "xquat", "site_xpos")
        }
        out["site_xmat"] = d.site_xmat.numpy().reshape(n, -1, 9).astype(np.float64)
        for name in ("mocap_pos", "mocap_quat"):
            out[name] = (
                getattr(d, name).numpy().astype(np.float64)
                if self.model.nmocap
                else np.zeros((n, 0, 3 if name == "mocap_pos" else 4))
            )
        return out
