"""The small-batch convolutions equal torch's, so training (oneDNN) and control (matmul) share weights."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.policies.diffusion import layers
from honed.policies.diffusion.layers import SinusoidalEmbedding, conv1d, conv_transpose1d


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 4),
    channels=st.integers(1, 12),
    out=st.integers(1, 12),
    length=st.integers(1, 20),
    kernel=st.sampled_from([1, 3, 5]),
    stride=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_conv1d_matches_torch(batch, channels, out, length, kernel, stride, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, length, generator=g)
    w, b = torch.randn(out, channels, kernel, generator=g), torch.randn(out, generator=g)
    expected = F.conv1d(x, w, b, stride=stride, padding=kernel // 2)
    torch.testing.assert_close(conv1d(x, w, b, stride), expected, rtol=1e-4, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 3), channels=st.integers(1, 10), out=st.integers(1, 10), length=st.integers(1, 12)
)
def test_conv_transpose1d_matches_torch(batch, channels, out, length):
    x = torch.randn(batch, channels, length)
    w, b = torch.randn(channels, out, 4), torch.randn(out)
    expected = F.conv_transpose1d(x, w, b, stride=2, padding=1)
    torch.testing.assert_close(conv_transpose1d(x, w, b, 2, 1), expected, rtol=1e-4, atol=1e-4)


def test_large_batches_take_torchs_convolution_with_the_same_result(monkeypatch):
    x, w, b = torch.randn(2, 4, 16), torch.randn(6, 4, 5), torch.randn(6)
    small = conv1d(x, w, b)
    monkeypatch.setattr(layers, "SMALL_CONV_ELEMENTS", 0)
    torch.testing.assert_close(conv1d(x, w, b), small, rtol=1e-5, atol=1e-5)


def test_training_takes_torchs_convolution_with_the_same_values_and_gradients():
    x, b = torch.randn(2, 4, 16), torch.randn(6)
    w = torch.randn(6, 4, 5, requires_grad=True)
    assert layers.unfolded(x, w.detach()) and not layers.unfolded(x, w)
    with torch.no_grad():
        inference = conv1d(x, w, b)
    training = conv1d(x, w, b)
    torch.testing.assert_close(training, inference, rtol=1e-5, atol=1e-5)
    training.square().sum().backward()
    expected = torch.autograd.grad(F.conv1d(x, w, b, padding=2).square().sum(), w)[0]
    torch.testing.assert_close(w.grad, expected, rtol=1e-5, atol=1e-5)


def test_time_embedding_tells_times_apart():
    emb = SinusoidalEmbedding(32)(torch.tensor([0.0, 1.0, 50.0, 50.5]))
    assert emb.shape == (4, 32)
    distances = torch.cdist(emb, emb)
    assert (distances + torch.eye(4) > 1e-3).all()
