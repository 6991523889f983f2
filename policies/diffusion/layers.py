"""Building blocks of the denoisers: time embedding, a small-batch 1D convolution, FiLM residual blocks.

``conv1d`` computes a padded 1D convolution as one matrix product over unfolded windows, oriented as
(time, channels x kernel) @ (channels x kernel, out channels): at the batch sizes of control (one to
a few chunks of 16 steps) this keeps the product off the oneDNN convolution torch dispatches to and
off the other orientation, a weight-stationary GEMV-like shape on CPU (timings: docs/experiments.md).
The windows are gathered time-major into a contiguous matrix: inductor's C++ GEMM template (see
``compile_for_sampling``) only takes a left operand whose rows are contiguous. It is the
same function, so training and deployment share weights and numerics to float rounding. When a
gradient is wanted (training), both take torch's convolution and its backward instead of the
unfolded form's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SMALL_CONV_ELEMENTS = 512
"""Batch x length up to which ``conv1d`` uses the unfolded matrix product instead of oneDNN."""


def unfolded(x: Tensor, weight: Tensor) -> bool:
    """Whether a convolution of ``x`` takes the matrix-product form: small, and no gradient wanted."""
    wants_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    return x.shape[0] * x.shape[2] <= SMALL_CONV_ELEMENTS and not wants_grad


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int = 1) -> Tensor:
    """Same-padded 1D convolution: x (B, C, T), weight (O, C, K) -> (B, O, ceil(T / stride))."""
    batch, channels, _ = x.shape
    out_channels, _, kernel = weight.shape
    if not unfolded(x, weight):
        return F.conv1d(x, weight, bias, stride=stride, padding=kernel // 2)
    windows = F.pad(x, (kernel // 2, kernel // 2)).unfold(2, kernel, stride)  # (B, C, T', K)
    columns = windows.transpose(1, 2).reshape(batch, -1, channels * kernel)  # (B, T', C*K), contiguous
    flat_weight = weight.reshape(out_channels, channels * kernel)  # (O, C*K)
    if batch == 1 and bias is not None:  # one fused op for the common control case
        return torch.addmm(bias, columns[0], flat_weight.t()).t()[None]  # (1, O, T')
    return F.linear(columns, flat_weight, bias).transpose(1, 2)  # (B, O, T')


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, padding: int) -> Tensor:
    """Transposed 1D convolution: x (B, C, T), weight (C, O, K) -> (B, O, (T - 1) * stride - 2 * padding + K)."""
    batch, channels, length = x.shape
    _, out_channels, kernel = weight.shape
    if not unfolded(x, weight):
        return F.conv_transpose1d(x, weight, bias, stride=stride, padding=padding)
    out_length = (length - 1) * stride - 2 * padding + kernel
    rows = x.transpose(1, 2).contiguous()  # (B, T, C), contiguous for the GEMM template
    columns = torch.matmul(rows, weight.reshape(channels, out_channels * kernel))  # (B, T, O*K)
    out = F.fold(
        columns.transpose(1, 2), (1, out_length), (1, kernel), padding=(0, padding), stride=(1, stride)
    )
    out = out[:, :, 0]  # (B, O, L)
    return out if bias is None else out + bias[:, None]


class SinusoidalEmbedding(nn.Module):
    """Sinusoidal embedding of a (possibly fractional) diffusion time, as in the Transformer paper."""

    freqs: Tensor

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        freqs = torch.exp(torch.arange(half) * -(math.log(10000.0) / (half - 1)))  # (D/2,)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        angles = t.float()[:, None] * self.freqs[None]  # (N, D/2)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)  # (N, D)


class TimeEmbedding(nn.Sequential):
    """Diffusion time -> feature vector: sinusoid then a two-layer MLP."""

    def __init__(self, dim: int):
        super().__init__(
            SinusoidalEmbedding(dim), nn.Linear(dim, dim * 4), nn.Mish(), nn.Linear(dim * 4, dim)
        )


class ConvNormMish(nn.Module):
    """Conv1d -> GroupNorm -> Mish over (B, C, T)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.GroupNorm(groups, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        y = conv1d(x, self.conv.weight, self.conv.bias)  # (B, O, T)
        return F.mish(F.group_norm(y, self.norm.num_groups, self.norm.weight, self.norm.bias))


class FiLMResidualBlock(nn.Module):
    """Two conv blocks with a FiLM (scale, shift) from the conditioning between them, plus a skip.

    The block does not own its conditioning projection: the U-Net projects the conditioning for every
    block in one matrix product (so a sampler can do it once per chunk) and hands each block its slice.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int):
        super().__init__()
        self.out_channels = out_channels
        self.block1 = ConvNormMish(in_channels, out_channels, kernel_size, groups)
        self.block2 = ConvNormMish(out_channels, out_channels, kernel_size, groups)
        self.skip = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None

    @property
    def film_size(self) -> int:
        return 2 * self.out_channels

    def forward(self, x: Tensor, film: Tensor) -> Tensor:
        """x (B, C_in, T), film (B, 2 * C_out) -> (B, C_out, T)."""
        scale, shift = film[:, : self.out_channels, None], film[:, self.out_channels :, None]  # (B, C, 1)
        h = torch.addcmul(shift, scale, self.block1(x))  # (B, C_out, T)
        h = self.block2(h)
        residual = x if self.skip is None else conv1d(x, self.skip.weight, self.skip.bias)
        return h + residual


class Downsample(nn.Conv1d):
    """Halves the length: kernel 3, stride 2 (through :func:`conv1d`)."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return conv1d(x, self.weight, self.bias, stride=2)


class Upsample(nn.ConvTranspose1d):
    """Doubles the length: transposed kernel 4, stride 2, padding 1 (through :func:`conv_transpose1d`)."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 4, stride=2, padding=1)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        return conv_transpose1d(x, self.weight, self.bias, stride=2, padding=1)


class UNetLevel(nn.Module):
    """Two FiLM residual blocks, then a resampling (down, up, or none)."""

    def __init__(self, first: FiLMResidualBlock, second: FiLMResidualBlock, resample: nn.Module):
        super().__init__()
        self.first, self.second, self.resample = first, second, resample

    def forward(self, x: Tensor, films: Iterator[Tensor]) -> tuple[Tensor, Tensor]:
        """(resampled output, output before resampling) of x (B, C, T), taking two FiLMs from ``films``."""
        h = self.second(self.first(x, next(films)), next(films))
        return self.resample(h), h
