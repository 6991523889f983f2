"""``warp`` backend: MuJoCo Warp on the same MJCF and task code, N worlds as one batch of arrays.

Runs on Warp's CPU device where no CUDA device exists, and on CUDA elsewhere (``warp_device=cuda:0``).
Contact and constraint buffers are sized per world from the scene (``nconmax``, ``njmax``). What Warp
prints while it starts and loads its kernel modules goes to honed's log file (:mod:`honed.log`).

The worlds' state stays in Warp's arrays on its device; the backend reads and writes it through
torch tensors that share that memory (``wp.to_torch``): controls are copied into ``ctrl`` in place
(from a tensor on the same device: no host copy), resets write the chosen worlds' rows in place,
and ``tensors()`` (qpos, qvel, from which the env makes ``observation.state``) are those arrays
themselves. A reset runs MuJoCo Warp's ``forward`` over every world; the worlds not being reset get
back what the task reads of them, so their observations and rewards stay as if no reset happened. What crosses to the host is what the task's numpy code reads (``arrays()``: qpos,
qvel, xpos, xquat, site_xpos, site_xmat, mocap_pos, mocap_quat as float64, read once per step and
reset and kept until the next; on the CPU device a conversion of Warp's memory, on CUDA one
device-to-host copy each) for rewards, success, the privileged observation, endings and rendering,
and the new worlds' reset states drawn on the host. On CUDA, Warp launches on torch's current stream
of the device, so torch's reads and writes of the shared memory are ordered with the physics.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import mujoco
import numpy as np
import torch

from honed.sim.backends.base import BACKENDS, PhysicsBackend

_HOST_READS = ("qpos", "qvel", "xpos", "xquat", "site_xpos", "site_xmat", "mocap_pos", "mocap_quat")
"""The state arrays the task's numpy code reads (``arrays()``)."""
_DERIVED = ("xpos", "xquat", "site_xpos", "site_xmat")
"""Read arrays that ``forward`` recomputes from qpos (after a step they lag it by one step, as in MuJoCo)."""
_SHARED = (*_HOST_READS, "ctrl", "qacc_warmstart")
"""Warp arrays read or written through torch tensors sharing their memory."""


@BACKENDS.register("warp")
class WarpBackend(PhysicsBackend):
    """MuJoCo Warp worlds; ``warp_device`` is a Warp device name (default: cuda:0 if present, else cpu)."""

    def __init__(
        self,
        model: mujoco.MjModel,
        num_envs: int,
        substeps: int,
        warp_device: str | None = None,
        nconmax: int = 48,
        njmax: int = 192,
    ):
        from honed.log import route_warp

        wp = route_warp()  # Warp's start-up and module-loading lines go to honed's log
        import mujoco_warp as mjw

        super().__init__(model, num_envs, substeps)
        self.wp, self.mjw = wp, mjw
        self.warp_device = wp.get_device(warp_device or ("cuda:0" if wp.is_cuda_available() else "cpu"))
        self.device = torch.device(wp.device_to_torch(self.warp_device))
        with wp.ScopedDevice(self.warp_device):
            self.m = mjw.put_model(model)
            self.d = mjw.put_data(model, mujoco.MjData(model), nworld=num_envs, nconmax=nconmax, njmax=njmax)
        self.shared = {name: wp.to_torch(getattr(self.d, name)) for name in _SHARED}
        """Torch tensors over Warp's own arrays (no copy): writing them writes the worlds' state."""
        self._host: dict[str, np.ndarray] | None = None

    @contextmanager
    def _launching(self) -> Iterator[None]:
        """Warp launches on its device, and on CUDA on torch's current stream there."""
        with self.wp.ScopedDevice(self.warp_device):
            if self.warp_device.is_cuda:
                with self.wp.ScopedStream(self.wp.stream_from_torch(self.device)):
                    yield
            else:
                yield

    def set_state(
        self, ids: np.ndarray, qpos: np.ndarray, mocap_pos: np.ndarray, mocap_quat: np.ndarray
    ) -> None:
        rows = torch.as_tensor(np.asarray(ids), dtype=torch.long, device=self.device)
        s = self.shared
        start = torch.as_tensor(qpos, dtype=torch.float32).to(self.device)  # (k, nq)
        s["qpos"][rows] = start
        s["qvel"][rows] = 0.0
        s["ctrl"][rows] = start[:, : self.model.nu]
        s["qacc_warmstart"][rows] = 0.0
        if self.model.nmocap:
            s["mocap_pos"][rows] = torch.as_tensor(mocap_pos, dtype=torch.float32).to(self.device)
            s["mocap_quat"][rows] = torch.as_tensor(mocap_quat, dtype=torch.float32).to(self.device)
        others = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        others[rows] = False
        kept = {name: s[name][others].clone() for name in _DERIVED}
        with self._launching():
            self.mjw.forward(self.m, self.d)  # runs over every world: the others' reads are put back
        for name, values in kept.items():
            s[name][others] = values
        self._host = None

    def step(self, ctrl: np.ndarray | torch.Tensor) -> None:
        self.shared["ctrl"].copy_(torch.as_tensor(ctrl))  # (N, nu), in place on Warp's device
        with self._launching():
            for _ in range(self.substeps):
                self.mjw.step(self.m, self.d)
        self._host = None

    def tensors(self) -> dict[str, torch.Tensor]:
        """Warp's qpos and qvel themselves, on its device."""
        return {"qpos": self.shared["qpos"], "qvel": self.shared["qvel"]}

    def refresh(self) -> None:
        self._host = None

    def arrays(self) -> dict[str, np.ndarray]:
        """Float64 host copies of the state the task reads, made once per step or reset."""
        if self._host is None:
            host = {name: self.shared[name].cpu().numpy().astype(np.float64) for name in _HOST_READS}
            host["site_xmat"] = host["site_xmat"].reshape(self.num_envs, -1, 9)
            self._host = host
        return self._host
