"""Conditional denoisers over action chunks: a 1D temporal U-Net with FiLM, and a transformer.

Both predict, from a noisy chunk ``x`` (B, H, A), a diffusion time and observation tokens (B, S, F),
the regression target of the objective (noise, velocity). Both split their work into ``prepare``
(everything that depends only on the time and the observation: done once per chunk for all sampler
steps) and ``denoise`` (the per-step network), so a sampler pays the conditioning once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from honed.policies.diffusion.config import DiffusionConfig
from honed.policies.diffusion.layers import (
    ConvNormMish,
    Downsample,
    FiLMResidualBlock,
    TimeEmbedding,
    UNetLevel,
    Upsample,
    conv1d,
)
from honed.registry import Registry

DENOISERS: Registry[type[Denoiser]] = Registry("denoiser")


CPU_GEMM_OPTIONS: dict[str, str | int | bool] = {
    "max_autotune_gemm": True,
    "max_autotune_gemm_backends": "CPP",
}
"""Inductor options for compiling on CPU: matrix products from inductor's C++ GEMM template.

The template generates kernels specialised to the frozen weights and the small row counts of
sampling. Only the template is offered, not a choice between it and MKL by inductor's own timing
("ATEN,CPP"), which times candidates with warm caches; products it cannot take fall back to ATen.
Timings: docs/experiments.md (policy latency).
"""


def compile_for_sampling(fn: Any) -> Any:
    """``torch.compile`` of a function or (in place) a module for inference: weights folded in as constants, generated code called from C++.

    Sets inductor's process-wide ``freezing`` (dynamo reads it when it traces, so a per-call option
    does not reach it; it only acts on graphs traced without gradients) and ``cpp_wrapper``. Frozen
    weights are baked into the compiled code: load or update them first, and compile again after.
    On CPU the matrix products come from inductor's GEMM template (:data:`CPU_GEMM_OPTIONS`).
    """
    import torch._inductor.config as inductor

    inductor.freezing = True
    inductor.cpp_wrapper = True
    owner = fn if isinstance(fn, nn.Module) else fn.__self__
    on_cpu = all(p.device.type == "cpu" for p in owner.parameters())
    options: dict[str, Any] = dict(CPU_GEMM_OPTIONS) if on_cpu else {}
    if isinstance(fn, nn.Module):  # in place: the module keeps its parameter names
        fn.compile(dynamic=False, options=options)
        return fn
    return torch.compile(fn, dynamic=False, options=options)


def sampling_compiled(owner: nn.Module, name: str) -> Any:
    """The compiled callable ``owner`` keeps under ``name``, if there is one and no gradient is wanted."""
    return None if torch.is_grad_enabled() else owner.__dict__.get(name)


class Denoiser(nn.Module, ABC):
    """x (B, H, A), t (B,), obs tokens (B, S, F) -> prediction (B, H, A)."""

    @classmethod
    @abstractmethod
    def build(cls, config: DiffusionConfig, action_dim: int, token_dim: int) -> Denoiser:
        """The denoiser a policy config asks for (one observation token per observation frame)."""

    @abstractmethod
    def prepare(self, times: Tensor, tokens: Tensor) -> list[Any]:
        """Per-step conditioning for sampler times (K,) and tokens (B, S, F): a list of K entries."""

    @abstractmethod
    def denoise(self, x: Tensor, prepared: Any) -> Tensor:
        """One network evaluation with one entry of :meth:`prepare`."""

    @abstractmethod
    def prepare_pointwise(self, t: Tensor, tokens: Tensor) -> Any:
        """Conditioning for a batch with one time per sample, t (B,) (training)."""

    def forward(self, x: Tensor, t: Tensor, tokens: Tensor) -> Tensor:
        return self.denoise(x, self.prepare_pointwise(t, tokens))

    def step(self, x: Tensor, prepared: Any) -> Tensor:
        """:meth:`denoise` for samplers: the compiled version when compiled and no gradient is wanted."""
        compiled = sampling_compiled(self, "_compiled")
        if compiled is not None:
            return compiled(x, prepared)
        return self.denoise(x, prepared)

    def compile_step(self) -> None:
        """Compile :meth:`denoise` for sampling (one graph per batch and horizon; weights frozen)."""
        self.__dict__["_compiled"] = compile_for_sampling(self.denoise)


@DENOISERS.register("unet")
class ConditionalUnet1d(Denoiser):
    """Chi et al.'s temporal U-Net: residual conv blocks with FiLM from (time, observation)."""

    def __init__(
        self,
        action_dim: int,
        token_dim: int,
        num_tokens: int,
        widths: tuple[int, ...] = (64, 128, 256),
        kernel_size: int = 5,
        groups: int = 8,
        time_dim: int = 128,
    ):
        super().__init__()
        self.time_dim = time_dim
        self.time_embedding = TimeEmbedding(time_dim)
        block = {"kernel_size": kernel_size, "groups": groups}
        levels = list(zip((action_dim, *widths[:-1]), widths))
        self.down = nn.ModuleList(
            UNetLevel(
                FiLMResidualBlock(c_in, c_out, **block),
                FiLMResidualBlock(c_out, c_out, **block),
                Downsample(c_out) if i < len(levels) - 1 else nn.Identity(),
            )  # fmt: skip
            for i, (c_in, c_out) in enumerate(levels)
        )
        self.mid = nn.ModuleList([FiLMResidualBlock(widths[-1], widths[-1], **block) for _ in range(2)])
        self.up = nn.ModuleList(
            UNetLevel(
                FiLMResidualBlock(2 * c_in, c_out, **block),
                FiLMResidualBlock(c_out, c_out, **block),
                Upsample(c_out),
            )  # fmt: skip
            for c_out, c_in in reversed(levels[1:])
        )
        self.final = ConvNormMish(widths[0], widths[0], kernel_size, groups)
        self.out = nn.Conv1d(widths[0], action_dim, 1)
        self.blocks = [m for m in self.modules() if isinstance(m, FiLMResidualBlock)]
        self.film = nn.Linear(time_dim + token_dim * num_tokens, sum(b.film_size for b in self.blocks))
        self.downsampling = 2 ** (len(widths) - 1)

    @classmethod
    def build(cls, config: DiffusionConfig, action_dim: int, token_dim: int) -> ConditionalUnet1d:
        return cls(action_dim, token_dim, config.n_obs_steps, tuple(config.unet_widths),
                   config.kernel_size, config.groups, config.time_dim)  # fmt: skip

    def prepare(self, times: Tensor, tokens: Tensor) -> list[Tensor]:
        w_time, w_obs = self.film.weight[:, : self.time_dim], self.film.weight[:, self.time_dim :]
        film_time = F.linear(F.mish(self.time_embedding(times)), w_time)  # (K, total)
        film_obs = F.linear(F.mish(tokens.flatten(1)), w_obs, self.film.bias)  # (B, total)
        return list(film_time[:, None] + film_obs[None])  # K x (B, total)

    def prepare_pointwise(self, t: Tensor, tokens: Tensor) -> Tensor:
        cond = torch.cat([self.time_embedding(t), tokens.flatten(1)], dim=-1)  # (B, time + S*F)
        return self.film(F.mish(cond))  # (B, total)

    def denoise(self, x: Tensor, prepared: Tensor) -> Tensor:
        if x.shape[1] % self.downsampling:
            raise ValueError(f"horizon {x.shape[1]} must be a multiple of {self.downsampling} for this U-Net")
        films = iter(prepared.split([b.film_size for b in self.blocks], dim=-1))
        h = x.transpose(1, 2)  # (B, A, H)
        skips = []
        for level in self.down:
            h, skip = level(h, films)
            skips.append(skip)
        for block in self.mid:
            h = block(h, next(films))
        for level in self.up:
            h, _ = level(torch.cat([h, skips.pop()], dim=1), films)
        h = conv1d(self.final(h), self.out.weight, self.out.bias)  # (B, A, H)
        return h.transpose(1, 2)  # (B, H, A)


@DENOISERS.register("transformer")
class TransformerDenoiser(Denoiser):
    """Action tokens attend to each other and, by cross-attention, to a time token and observation tokens."""

    def __init__(
        self,
        action_dim: int,
        token_dim: int,
        num_tokens: int,
        horizon: int = 16,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.action_in = nn.Linear(action_dim, width)
        self.position = nn.Parameter(torch.zeros(1, horizon, width))
        self.memory_position = nn.Parameter(torch.zeros(1, num_tokens + 1, width))
        self.time_embedding = TimeEmbedding(width)
        self.token_in = nn.Linear(token_dim, width)
        layer = nn.TransformerDecoderLayer(
            width, heads, 4 * width, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(layer, depth, norm=nn.LayerNorm(width))
        self.action_out = nn.Linear(width, action_dim)
        nn.init.normal_(self.position, std=0.02)
        nn.init.normal_(self.memory_position, std=0.02)

    @classmethod
    def build(cls, config: DiffusionConfig, action_dim: int, token_dim: int) -> TransformerDenoiser:
        return cls(action_dim, token_dim, config.n_obs_steps, config.horizon, config.transformer_width,
                   config.transformer_depth, config.transformer_heads)  # fmt: skip

    def _memory(self, time_token: Tensor, obs: Tensor) -> Tensor:
        return torch.cat([time_token[:, None], obs], dim=1) + self.memory_position  # (B, 1+S, W)

    def prepare(self, times: Tensor, tokens: Tensor) -> list[Tensor]:
        obs = self.token_in(tokens)  # (B, S, W)
        time_tokens = self.time_embedding(times)  # (K, W)
        return [self._memory(tt.expand(obs.shape[0], -1), obs) for tt in time_tokens]

    def prepare_pointwise(self, t: Tensor, tokens: Tensor) -> Tensor:
        return self._memory(self.time_embedding(t), self.token_in(tokens))

    def denoise(self, x: Tensor, prepared: Tensor) -> Tensor:
        if x.shape[1] > self.position.shape[1]:
            raise ValueError(f"chunk of {x.shape[1]} steps exceeds this transformer's horizon")
        h = self.action_in(x) + self.position[:, : x.shape[1]]  # (B, H, W)
        return self.action_out(self.decoder(h, prepared))  # (B, H, A)
