"""The DDIM and DDPM sampler updates equal diffusers' scheduler steps at every timestep; the flow
samplers integrate an exact velocity field to its target without reading it at t = 0."""

from __future__ import annotations

import pytest
import torch

from honed.policies.diffusion.objectives import DDPM, FlowMatching


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


class PointMassVelocity:
    """The exact flow-matching velocity towards one action chunk: (x_t - target) / t, undefined at t = 0
    (where a trained network is least reliable: training draws almost no times there)."""

    def __init__(self, target: torch.Tensor, time_scale: float):
        self.target, self.time_scale = target, time_scale
        self.times: list[float] = []  # the times the sampler read the field at, in order

    def prepare(self, times: torch.Tensor, tokens: torch.Tensor) -> list[float]:
        return (times / self.time_scale).tolist()

    def step(self, x: torch.Tensor, t: float) -> torch.Tensor:
        self.times.append(t)
        return (x - self.target) / t


@pytest.mark.parametrize(("sampler", "calls"), [("euler", 10), ("heun", 19)])
def test_flow_samplers_reach_the_target_without_reading_the_velocity_at_time_zero(sampler, calls):
    objective = FlowMatching(sampler, 10, clip_sample=False)
    g = torch.Generator().manual_seed(0)
    target, noise = torch.rand(2, 16, 6, generator=g) - 0.5, torch.randn(2, 16, 6, generator=g)
    field = PointMassVelocity(target, objective.num_train_timesteps)
    sample = objective.sample(field, torch.zeros(2, 1), noise)  # type: ignore[arg-type]
    torch.testing.assert_close(sample, target, rtol=1e-4, atol=1e-5)
    assert len(field.times) == calls and min(field.times) == pytest.approx(0.1)
