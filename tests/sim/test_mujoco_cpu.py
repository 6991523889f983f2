"""The CPU MuJoCo backend: a thread pool steps every world exactly once, as one thread would."""

from __future__ import annotations

import numpy as np

from honed.sim.backends.mujoco_cpu import MujocoBackend
from honed.sim.config import SimConfig
from honed.sim.core import build_world


def test_threads_share_worlds_and_step_each_exactly_once():
    model, task, substeps = build_world(SimConfig(task="pick_cube"))
    pooled, alone = MujocoBackend(model, 7, substeps, threads=3), MujocoBackend(model, 7, substeps, threads=1)
    qpos = np.stack([task.sample_reset(np.random.default_rng(i)).qpos for i in range(7)])
    mocap_pos, mocap_quat = np.zeros((7, model.nmocap, 3)), np.tile([1.0, 0, 0, 0], (7, model.nmocap, 1))
    ctrl = qpos[:, : model.nu] + np.random.default_rng(0).normal(0, 0.2, (7, model.nu))
    for backend in (pooled, alone):
        backend.set_state(np.arange(7), qpos, mocap_pos, mocap_quat)
        for _ in range(3):
            backend.step(ctrl)
    assert np.array_equal(pooled.arrays()["qpos"], alone.arrays()["qpos"])
    steps_taken = [round(d.time / model.opt.timestep) for d in pooled.datas]
    assert steps_taken == [3 * substeps] * 7
    pooled.close()
