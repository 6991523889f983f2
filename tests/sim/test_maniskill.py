"""The ManiSkill3 adapter behind the batched seam (needs a Vulkan GPU; skips with the reason otherwise)."""

import pytest
import torch

from honed.sim import make_batched_env
from honed.sim.maniskill import ManiSkillUnavailable, unavailable_reason

REASON = unavailable_reason()


def test_unavailable_machine_gets_a_clear_error():
    if REASON is None:
        pytest.skip("this machine can run ManiSkill3, so there is no refusal to check")
    with pytest.raises(ManiSkillUnavailable, match="Vulkan|CUDA|not installed"):
        make_batched_env("pick_cube", 2, backend="maniskill")


@pytest.mark.skipif(REASON is not None, reason=f"ManiSkill3 cannot run here: {REASON}")
def test_maniskill_pick_cube_steps_with_shared_keys():
    env = make_batched_env("pick_cube", 4, backend="maniskill")
    obs = env.reset()
    assert obs["observation.state"].shape == (4, 12)
    obs, reward, terminated, truncated, info = env.step(obs["observation.state"][:, :6])
    assert reward.shape == (4,) and torch.isfinite(reward).all()
    assert set(info) >= {"success", "done", "episode_return", "episode_length"}  # what honed-eval reads
    assert info["episode_length"].shape == (4,)
    env.close()
