"""Generative objectives over normalised action chunks: DDPM (with DDIM or DDPM sampling) and flow matching.

DDPM uses diffusers' schedulers for the noise schedule, the forward process and the sampler's
timesteps. Each DDIM or DDPM sampler step is the same affine update of the clipped ``x_0`` estimate,
so its coefficients are computed once from diffusers' ``alphas_cumprod`` (:func:`step_coefficients`)
instead of calling ``scheduler.step`` per step, which redoes that bookkeeping at every call. Tests check the update equals diffusers' ``step`` at every timestep.
Flow matching follows the pi0 action head: ``x_t = t * noise + (1 - t) * action``, the network
regresses the velocity ``noise - action``, training times are drawn from Beta(1.5, 1) (biased to the
noisy end), and sampling integrates from t = 1 to 0 with Euler or Heun steps. Heun's last step is an
Euler step, as in Karras et al.'s (EDM) sampler: its corrector would read the velocity at t = 0, where
training draws almost no times and the target's noise is invisible in ``x_t`` (docs/experiments.md
has the runs). diffusers' flow-matching
scheduler implements only Euler steps with image-generation time shifts, so the two integrators are
written here (a few lines each).

Both samplers are deterministic given the initial noise except DDPM sampling (which draws fresh
noise each step from ``generator``), so residual and noise-space RL can steer them through ``noise``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from diffusers import DDIMScheduler, DDPMScheduler
from torch import Tensor

from honed.policies.diffusion.denoisers import Denoiser
from honed.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def masked_mean(err: Tensor, valid: Tensor | None) -> Tensor:
    """Per-sample mean of (B, H, A) errors over the valid (B, H) steps -> (B,)."""
    per_step = err.mean(-1)  # (B, H)
    if valid is None:
        return per_step.mean(-1)
    weights = valid.float()  # (B, H)
    return (per_step * weights).sum(-1) / weights.sum(-1).clamp(min=1.0)


def _scheduler(kind: type, config: dict[str, Any]) -> Any:
    """A diffusers scheduler (typed Any: diffusers builds its attributes from the config at run time)."""
    return kind(**config)


class Objective(ABC):
    """The training loss and the sampler of one objective."""

    samplers: tuple[str, ...] = ()

    def __init__(self, sampler: str, steps: int, num_train_timesteps: int, clip_sample: bool):
        if sampler not in self.samplers:
            raise ValueError(
                f"sampler {sampler!r} does not fit objective {type(self).__name__}; use one of {self.samplers}"
            )
        if steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
        self.sampler, self.steps = sampler, steps
        self.num_train_timesteps, self.clip_sample = num_train_timesteps, clip_sample

    @abstractmethod
    def loss(
        self, denoiser: Denoiser, actions: Tensor, tokens: Tensor, valid: Tensor | None = None
    ) -> Tensor:
        """Per-sample loss (B,) of normalised actions (B, H, A) given observation tokens (B, S, F)."""

    @abstractmethod
    def sample(
        self, denoiser: Denoiser, tokens: Tensor, noise: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Normalised action chunks (B, H, A) from initial noise (B, H, A)."""


def step_coefficients(stepper: Any) -> list[tuple[float, ...]]:
    """Per sampler step (r, s, a, b, c, sigma) of diffusers' DDIM (eta 0) or DDPM (fixed_small) step.

    With eps the predicted noise: x0 = clip((x - s * eps) / r); x_prev = a * x0 + b * eps + c * x
    + sigma * z, z standard normal (DDPM only, drawn as diffusers draws it).
    """
    cumprod, ddim = stepper.alphas_cumprod, isinstance(stepper, DDIMScheduler)
    out = []
    for t in stepper.timesteps.tolist():
        if ddim:
            prev = t - stepper.config.num_train_timesteps // stepper.num_inference_steps
            final = stepper.final_alpha_cumprod
        else:
            prev, final = int(stepper.previous_timestep(t)), stepper.one
        alpha, alpha_prev = cumprod[t], cumprod[prev] if prev >= 0 else final
        r, s = alpha**0.5, (1 - alpha) ** 0.5
        if ddim:
            out.append((r, s, alpha_prev**0.5, (1 - alpha_prev) ** 0.5, 0.0, 0.0))
            continue
        current_alpha = alpha / alpha_prev
        a = alpha_prev**0.5 * (1 - current_alpha) / (1 - alpha)
        c = current_alpha**0.5 * (1 - alpha_prev) / (1 - alpha)
        sigma = stepper._get_variance(t) ** 0.5 if t > 0 else 0.0
        out.append((r, s, a, 0.0, c, sigma))
    return [tuple(float(v) for v in row) for row in out]


@OBJECTIVES.register("ddpm")
class DDPM(Objective):
    """Epsilon-prediction DDPM (squared-cosine schedule); sampled with DDIM (eta = 0) or DDPM steps."""

    samplers = ("ddim", "ddpm")

    def __init__(self, sampler: str, steps: int, num_train_timesteps: int = 100, clip_sample: bool = True):
        super().__init__(sampler, steps, num_train_timesteps, clip_sample)
        schedule = {"num_train_timesteps": num_train_timesteps, "beta_schedule": "squaredcos_cap_v2",
                    "clip_sample": clip_sample, "prediction_type": "epsilon"}  # fmt: skip
        self.schedule = _scheduler(DDPMScheduler, schedule)
        self.stepper = _scheduler(DDIMScheduler if sampler == "ddim" else DDPMScheduler, schedule)
        self.stepper.set_timesteps(steps)
        self.coefficients = step_coefficients(self.stepper)

    def loss(
        self, denoiser: Denoiser, actions: Tensor, tokens: Tensor, valid: Tensor | None = None
    ) -> Tensor:
        noise = torch.randn_like(actions)  # (B, H, A)
        t = torch.randint(0, self.num_train_timesteps, (actions.shape[0],), device=actions.device)  # (B,)
        noisy = self.schedule.add_noise(actions, noise, t)  # (B, H, A)
        return masked_mean((denoiser(noisy, t, tokens) - noise) ** 2, valid)

    def sample(
        self, denoiser: Denoiser, tokens: Tensor, noise: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        prepared = denoiser.prepare(self.stepper.timesteps.to(tokens.device), tokens)
        x = noise
        for (r, s, a, b, c, sigma), cond in zip(self.coefficients, prepared):
            eps = denoiser.step(x, cond)  # (B, H, A)
            x0 = (x - s * eps) / r
            x0 = x0.clamp(-1.0, 1.0) if self.clip_sample else x0
            x = a * x0 + b * eps + c * x
            if sigma:
                x = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x


@OBJECTIVES.register("flow")
class FlowMatching(Objective):
    """Conditional flow matching with a straight path from action (t = 0) to noise (t = 1)."""

    samplers = ("euler", "heun")

    def __init__(self, sampler: str, steps: int, num_train_timesteps: int = 100, clip_sample: bool = True):
        super().__init__(sampler, steps, num_train_timesteps, clip_sample)
        self.time_beta = torch.distributions.Beta(torch.tensor(1.5), torch.tensor(1.0))

    def _net_time(self, t: Tensor) -> Tensor:
        """Flow time in [0, 1] on the denoiser's time scale (that of DDPM steps)."""
        return t * self.num_train_timesteps

    def loss(
        self, denoiser: Denoiser, actions: Tensor, tokens: Tensor, valid: Tensor | None = None
    ) -> Tensor:
        noise = torch.randn_like(actions)  # (B, H, A)
        t = 0.001 + 0.999 * self.time_beta.sample((actions.shape[0],)).to(actions.device)  # (B,)
        x_t = t[:, None, None] * noise + (1 - t[:, None, None]) * actions  # (B, H, A)
        velocity = denoiser(x_t, self._net_time(t), tokens)  # (B, H, A)
        return masked_mean((velocity - (noise - actions)) ** 2, valid)

    def sample(
        self, denoiser: Denoiser, tokens: Tensor, noise: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        times = torch.linspace(1.0, 0.0, self.steps + 1, device=noise.device)  # (K + 1,)
        prepared = denoiser.prepare(self._net_time(times), tokens)
        x = noise
        for k in range(self.steps):
            dt = times[k + 1] - times[k]  # negative
            v = denoiser.step(x, prepared[k])  # (B, H, A)
            if self.sampler == "heun" and k < self.steps - 1:  # the last step lands on t = 0 by Euler
                v_next = denoiser.step(x + dt * v, prepared[k + 1])
                v = (v + v_next) / 2
            x = x + dt * v
        return x.clamp(-1.0, 1.0) if self.clip_sample else x
