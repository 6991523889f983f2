"""MuJoCo Warp (on Warp's CPU device here) matches the CPU backend on the same states and actions."""

import numpy as np
import pytest
import torch

from honed.features import STATE
from honed.sim import make_batched_env
from honed.sim.config import SimConfig
from honed.sim.core import TwinCore
from honed.sim.tasks.base import HOME_QPOS
from honed.sim.tasks.pick import PickCube

QPOS_TOL = 1e-3
"""Stated tolerance: max |qpos difference| (rad or m) over 10 control steps (about 0.33 s)."""


@pytest.fixture(scope="module")
def pair():
    cpu = TwinCore(SimConfig(task="pick_cube"), 3, "mujoco")
    gpu_or_cpu = TwinCore(SimConfig(task="pick_cube"), 3, "warp", warp_device="cpu")
    yield cpu, gpu_or_cpu
    cpu.close()
    gpu_or_cpu.close()


def _reset_dropping_cube(core: TwinCore) -> None:
    """Seeded resets with the cube lifted 3 cm, so it falls and makes contact with the table."""
    core.seed([0, 1, 2])
    states = [core.task.sample_reset(core.rngs[i]) for i in range(3)]
    qpos = np.stack([s.qpos for s in states])
    assert isinstance(core.task, PickCube)
    qpos[:, core.task.cube_adr + 2] += 0.03
    core.backend.set_state(np.arange(3), qpos, np.zeros((3, 0, 3)), np.zeros((3, 0, 4)))


def test_warp_trajectories_match_mujoco(pair):
    cpu, warp = pair
    for core in pair:
        _reset_dropping_cube(core)
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(10):
        action = HOME_QPOS + rng.normal(0, 0.2, size=(3, 6))
        out_cpu, out_warp = cpu.step(action), warp.step(action)
        worst = max(worst, float(np.abs(cpu.backend.arrays()["qpos"] - warp.backend.arrays()["qpos"]).max()))
        np.testing.assert_array_equal(out_cpu["success"], out_warp["success"])
        np.testing.assert_allclose(out_cpu["reward"], out_warp["reward"], atol=1e-2)
    assert worst < QPOS_TOL, f"warp deviates from mujoco by {worst}"
    cube_z = warp.backend.arrays()["xpos"][:, warp.task.cube, 2]
    np.testing.assert_allclose(cube_z, 0.015, atol=2e-3)  # it landed on the table in both


def test_warp_observations_have_the_shared_keys(pair):
    _, warp = pair
    obs = warp.observe()
    assert obs["observation.state"].shape == (3, 12)
    assert np.isfinite(obs["observation.privileged"]).all()


def test_warp_state_stays_in_warps_arrays_between_steps(monkeypatch):
    """On Warp's device, a step writes the actions into Warp's ``ctrl`` in place and makes
    ``observation.state`` from Warp's own qpos and qvel; neither a step nor a masked reset converts a
    Warp array to or from numpy (the task's numpy reads go through torch views of Warp's memory)."""
    import warp as wp

    env = make_batched_env("pick_cube", 2, backend="warp", warp_device="cpu", device="cpu")
    env.reset()
    backend = env.core.backend
    assert backend.device == env.device == torch.device("cpu")
    ctrl = backend.d.ctrl.ptr
    conversions: list[str] = []
    for name in ("numpy", "assign"):
        original = getattr(wp.array, name)
        monkeypatch.setattr(
            wp.array,
            name,
            lambda self, *a, _f=original, _n=name, **k: conversions.append(_n) or _f(self, *a, **k),
        )
    host = backend.arrays

    def poisoned() -> dict[str, np.ndarray]:  # host reads whose joint states are unusable
        return {
            **host(),
            "qpos": np.full_like(host()["qpos"], np.nan),
            "qvel": np.full_like(host()["qvel"], np.nan),
        }

    monkeypatch.setattr(backend, "arrays", poisoned)
    actions = torch.tensor(HOME_QPOS, dtype=torch.float32).repeat(2, 1)
    actions[:, 0] += torch.tensor([0.1, -0.1])
    obs, *_ = env.step(actions)
    arm = torch.as_tensor(env.core.task.arm_qpos)
    qpos, qvel = wp.to_torch(backend.d.qpos), wp.to_torch(backend.d.qvel)
    assert torch.equal(
        obs[STATE], torch.cat([qpos[:, arm], qvel[:, arm]], dim=1)
    )  # finite: not the host reads
    assert backend.d.ctrl.ptr == ctrl and torch.equal(wp.to_torch(backend.d.ctrl), actions)
    env.reset(mask=torch.tensor([True, False]))
    assert conversions == []
    env.close()


WARP_STEP = """
import numpy as np
from honed.features import STATE
from honed.sim import make_batched_env
from honed.sim.config import SimConfig
from honed.sim.core import TwinCore
from honed.sim.tasks.base import HOME_QPOS
core = TwinCore(SimConfig(task="pick_cube"), 1, "warp", warp_device="cpu")
core.step(HOME_QPOS[None])
core.close()
"""


def test_warp_start_up_and_module_loading_go_to_the_log_not_the_terminal(tmp_path, capfd):
    """A fresh process (Warp starts and loads its modules once per process), its descriptors captured."""
    import os
    import subprocess
    import sys

    log_file = tmp_path / "honed.log"
    env = {**os.environ, "HONED_LOG_FILE": str(log_file)}
    subprocess.run([sys.executable, "-c", WARP_STEP], env=env, check=True, timeout=900)
    out, err = capfd.readouterr()
    assert "Warp" not in out + err and "load on device" not in out + err
    text = log_file.read_text()
    assert "honed.third_party.warp DEBUG Warp " in text and " initialized:" in text
    assert "load on device 'cpu'" in text
