"""Normalisation inside the policy, from the dataset's statistics, so training and deployment share it.

State and action are mapped to [-1, 1] by their min and max (diffusion samplers clip to that range);
camera images (per channel, in [0, 1] units) to zero mean and unit variance, or with
``image_scaling="unit"`` from [0, 255] to [-1, 1] whatever the data's colours. The statistics travel
in the checkpoint's contract, never in pickled objects.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from honed.features import Features

Stats = Mapping[str, Mapping[str, np.ndarray]]
MIN_HALF_RANGE = 1e-3
"""Half-ranges below this (a joint that never moved in the data) are widened to it."""
MIN_STD = 1e-3


def check_stats(stats: Stats, features: Features, keys: list[str]) -> None:
    """Raise ValueError naming the key and statistic if any is missing, misshapen or non-finite."""
    for key in keys:
        if key not in stats:
            raise ValueError(
                f"statistics have no entry for feature {key!r} (they cover {sorted(stats)}); "
                "recompute the dataset statistics"
            )
        feature = features[key]
        expected = (3,) if feature.is_image else feature.shape
        for name in ("mean", "std", "min", "max"):
            if name not in stats[key]:
                raise ValueError(f"statistics of {key!r} lack {name!r}; recompute the dataset statistics")
            value = np.asarray(stats[key][name], dtype=np.float64)
            if value.size != int(np.prod(expected)):
                raise ValueError(f"statistic {key}.{name} has shape {value.shape}, expected {expected}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"statistic {key}.{name} holds non-finite values {value.tolist()}")


IMAGE_SCALINGS = ("mean_std", "unit")
"""Per-channel mean and std of the data, or [0, 255] to [-1, 1]."""


class Normalizer(nn.Module):
    """Maps raw features to the network's units and actions back. Buffers are rebuilt from the contract."""

    def __init__(self, features: Features, stats: Stats, keys: list[str], image_scaling: str = "mean_std"):
        super().__init__()
        if image_scaling not in IMAGE_SCALINGS:
            raise ValueError(f"image_scaling {image_scaling!r} is not one of {IMAGE_SCALINGS}")
        check_stats(stats, features, keys)
        self.keys = list(keys)
        self.images = {k for k in keys if features[k].is_image}
        for i, key in enumerate(self.keys):
            s = {name: np.asarray(v, dtype=np.float64).reshape(-1) for name, v in stats[key].items()}
            center: np.ndarray
            scale: np.ndarray
            if key in self.images and image_scaling == "unit":
                center, scale = np.full(3, 0.5), np.full(3, 0.5)
            elif key in self.images:
                center, scale = s["mean"], np.maximum(s["std"], MIN_STD)
            else:
                center = (s["max"] + s["min"]) / 2
                scale = np.maximum((s["max"] - s["min"]) / 2, MIN_HALF_RANGE)
            self.register_buffer(f"center_{i}", torch.tensor(center, dtype=torch.float32), persistent=False)
            self.register_buffer(f"scale_{i}", torch.tensor(scale, dtype=torch.float32), persistent=False)

    def _params(self, key: str) -> tuple[Tensor, Tensor]:
        i = self.keys.index(key)
        return getattr(self, f"center_{i}"), getattr(self, f"scale_{i}")

    def normalize(self, key: str, x: Tensor) -> Tensor:
        """Numeric (..., D) -> (..., D); images uint8 (..., H, W, 3) -> float (..., 3, H, W)."""
        center, scale = self._params(key)
        if key in self.images:
            x = x.movedim(-1, -3).float().contiguous() / 255.0  # (..., 3, H, W), channel-first memory
            return (x - center[:, None, None]) / scale[:, None, None]
        return (x - center) / scale

    def unnormalize(self, key: str, x: Tensor) -> Tensor:
        center, scale = self._params(key)
        return x * scale + center
