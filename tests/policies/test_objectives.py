"""The DDIM and DDPM sampler updates equal diffusers' scheduler steps at every timestep."""

from __future__ import annotations

import pytest
import torch

from honed.policies.diffusion.objectives import DDPM


class ReplayDenoiser:
    """Stands in for the network: returns the noise prediction recorded for each call, in order."""

    def __init__(self, predictions: list[torch.Tensor]):
        self.predictions = iter(predictions)

    def prepare(self, times: torch.Tensor, tokens: torch.Tensor) -> list[None]:
        return [None] * len(times)

    def step(self, x: torch.Tensor, prepared: None) -> torch.Tensor:
        return next(self.predictions)


@pytest.mark.parametrize(("sampler", "steps"), [("ddim", 10), ("ddim", 7), ("ddpm", 100), ("ddpm", 20)])
@pytest.mark.parametrize("clip", [True, False])
def test_sampler_update_equals_diffusers_step(sampler, steps, clip):
    objective = DDPM(sampler, steps, clip_sample=clip)
    g = torch.Generator().manual_seed(0)
    predictions = [3 * torch.randn(2, 16, 6, generator=g) for _ in range(steps)]  # large: clipping acts
    noise = torch.randn(2, 16, 6, generator=g)
    ours = objective.sample(
        ReplayDenoiser(predictions), torch.zeros(2, 1), noise, torch.Generator().manual_seed(1)
    )  # type: ignore[arg-type]
    reference, x = torch.Generator().manual_seed(1), noise
    for t, eps in zip(objective.stepper.timesteps, predictions):
        x = objective.stepper.step(eps, t, x, generator=reference).prev_sample
    torch.testing.assert_close(ours, x, rtol=1e-4, atol=1e-5)
