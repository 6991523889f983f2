"""Each sampler recovers a known bimodal action distribution (which a regression policy would average).

Actions are whole chunks at +0.6 or -0.6 (half each) with small noise, under one constant observation.
A policy that regresses the mean would answer 0; the samplers must put their samples on both modes,
in about equal shares, with almost none in between.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from honed.features import ACTION, STATE, Feature, Features
from honed.policies import Contract, DiffusionPolicy
from honed.policies.diffusion.objectives import OBJECTIVES

MODE = 0.6


def toy_policy(pk, objective: str) -> DiffusionPolicy:
    features = Features({STATE: Feature((2,), "float32"), ACTION: Feature((1,), "float32")})
    stats = {STATE: pk.unit_stats(2), ACTION: pk.unit_stats(1)}
    sampler = OBJECTIVES.get(objective).samplers[0]
    cfg = pk.tiny_config(n_obs_steps=1, horizon=4, n_action_steps=2, objective=objective, sampler=sampler)
    torch.manual_seed(0)  # the initial weights, whatever ran before in this process
    return DiffusionPolicy(cfg, Contract(features, stats, 30.0, 1, 4, 2))


def train_toy(policy: DiffusionPolicy, steps: int = 250, batch: int = 128) -> None:
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    for _ in range(steps):
        modes = torch.where(torch.rand(batch) < 0.5, -MODE, MODE)  # (B,)
        actions = modes[:, None, None] + 0.03 * torch.randn(batch, 4, 1)  # (B, H, 1)
        loss, _ = policy.compute_loss({STATE: torch.zeros(batch, 1, 2), ACTION: actions})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    policy.eval()


def sample_means(policy: DiffusionPolicy, n: int = 400) -> np.ndarray:
    chunks = policy.predict_chunk({STATE: torch.zeros(n, 1, 2)}, generator=torch.Generator().manual_seed(1))
    return chunks[:, :, 0].mean(1).numpy()  # (n,) mean action of each chunk


@pytest.mark.parametrize(("objective", "samplers"), [("ddpm", ("ddim", "ddpm")), ("flow", ("euler", "heun"))])
def test_samplers_recover_both_modes(pk, objective, samplers):
    policy = toy_policy(pk, objective)
    train_toy(policy)
    for sampler in samplers:
        steps = 100 if sampler == "ddpm" else 10
        policy.objective = OBJECTIVES.get(objective)(sampler, steps, 100, True)
        means = sample_means(policy)
        upper, lower = np.mean(means > MODE / 2), np.mean(means < -MODE / 2)
        assert 0.25 < upper < 0.75 and 0.25 < lower < 0.75, (sampler, upper, lower)
        assert 1 - upper - lower < 0.1, f"{sampler}: {1 - upper - lower:.2f} of samples between the modes"
        assert np.median(np.abs(np.abs(means) - MODE)) < 0.1, f"{sampler}: samples are not on the modes"
