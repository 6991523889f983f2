"""Observation encoders shared by policies: a state MLP, a per-camera ResNet-18 image encoder, and
a training-only head that regresses the twin's object poses from image features.

The image encoder follows Diffusion Policy's: torchvision's ResNet-18 trained from scratch with
GroupNorm in place of BatchNorm (batch statistics hurt with EMA weights and small batches), a
spatial-softmax keypoint head, and random-crop augmentation in training (centre crop otherwise).
``width`` scales its channels: 64 is torchvision's ResNet-18 itself; a smaller width keeps the same
18 layers (torchvision's ``BasicBlock`` in four stages of two) with ``width``, 2x, 4x and 8x channels,
for about (width / 64)^2 of the arithmetic, which is what makes training from images affordable on a CPU.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from honed.features import PRIVILEGED, Feature, Features
from honed.policies.normalize import Normalizer


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with groups of 16 channels, the BatchNorm replacement of the image backbone."""
    return nn.GroupNorm(max(channels // 16, 1), channels)


class StateEncoder(nn.Sequential):
    """(N, S) normalised state -> (N, out_dim) through a two-layer MLP."""

    def __init__(self, state_dim: int, out_dim: int = 64, hidden: int = 256):
        super().__init__(nn.Linear(state_dim, hidden), nn.Mish(), nn.Linear(hidden, out_dim))
        self.out_dim = out_dim


class SpatialSoftmax(nn.Module):
    """Feature map (N, C, h, w) -> expected image coordinates of K learned keypoints (N, K * 2)."""

    grid: Tensor

    def __init__(self, channels: int, height: int, width: int, keypoints: int = 32):
        super().__init__()
        self.keypoints = nn.Conv2d(channels, keypoints, kernel_size=1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
        self.register_buffer(
            "grid", torch.stack([xs.flatten(), ys.flatten()], dim=1), persistent=False
        )  # (hw, 2)

    def forward(self, features: Tensor) -> Tensor:
        maps = self.keypoints(features).flatten(2)  # (N, K, hw)
        attention = F.softmax(maps, dim=-1)  # (N, K, hw)
        return (attention @ self.grid).flatten(1)  # (N, K * 2)


def random_crop(images: Tensor, height: int, width: int) -> Tensor:
    """An independent random crop per image: (N, C, H, W) -> (N, C, height, width)."""
    n, _, h, w = images.shape
    top = torch.randint(0, h - height + 1, (n,), device=images.device)  # (N,)
    left = torch.randint(0, w - width + 1, (n,), device=images.device)  # (N,)
    rows = (top[:, None] + torch.arange(height, device=images.device))[:, None, :, None]  # (N, 1, h', 1)
    cols = (left[:, None] + torch.arange(width, device=images.device))[:, None, None, :]  # (N, 1, 1, w')
    batch = torch.arange(n, device=images.device)[:, None, None, None]  # (N, 1, 1, 1)
    channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]  # (1, C, 1, 1)
    return images[batch, channels, rows, cols]  # (N, C, h', w')


def center_crop(images: Tensor, height: int, width: int) -> Tensor:
    top, left = (images.shape[-2] - height) // 2, (images.shape[-1] - width) // 2
    return images[..., top : top + height, left : left + width]


def resnet18_trunk(width: int = 64, stages: int = 4) -> nn.Sequential:
    """ResNet-18 without its pooling and classifier: (N, 3, H, W) -> (N, C, H / s, W / s).

    Stem (7x7 stride-2 convolution, GroupNorm, ReLU, 3x3 stride-2 max-pool), then the first ``stages``
    of the four stages of two ``BasicBlock`` with ``width``, 2x, 4x and 8x channels, each stage after
    the first halving the side: C = width * 2^(stages - 1) channels at stride s = 2^(stages + 1)
    (32 for all four). Fewer stages keep a finer feature map, so a spatial softmax over it places
    small objects more precisely. The module names match torchvision's ``resnet18`` children, so
    width 64 with four stages is exactly that network.
    """
    if not 1 <= stages <= 4:
        raise ValueError(f"a ResNet-18 trunk has 1 to 4 stages, got {stages}")
    if width == 64:
        resnet = torchvision.models.resnet18(weights=None, norm_layer=group_norm)
        return nn.Sequential(*list(resnet.children())[: 4 + stages])
    blocks: list[nn.Module] = []
    channels = width
    for stage in range(stages):
        planes, stride = width * 2**stage, 1 if stage == 0 else 2
        downsample = None
        if stride != 1 or channels != planes:
            downsample = nn.Sequential(
                nn.Conv2d(channels, planes, 1, stride=stride, bias=False), group_norm(planes)
            )
        blocks.append(
            nn.Sequential(
                BasicBlock(channels, planes, stride, downsample, norm_layer=group_norm),
                BasicBlock(planes, planes, norm_layer=group_norm),
            )
        )
        channels = planes
    stem = [nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False), group_norm(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1)]  # fmt: skip
    return nn.Sequential(*stem, *blocks)


class ImageEncoder(nn.Module):
    """(N, 3, H, W) normalised image -> (N, out_dim): crop, ResNet-18 trunk, spatial softmax, linear."""

    def __init__(
        self,
        height: int,
        width: int,
        crop_ratio: float = 0.875,
        keypoints: int = 32,
        out_dim: int = 64,
        channels: int = 64,
        stages: int = 4,
    ):
        super().__init__()
        if not 0 < crop_ratio <= 1:
            raise ValueError(f"crop_ratio must be in (0, 1], got {crop_ratio}")
        self.crop = (max(int(round(height * crop_ratio)), 8), max(int(round(width * crop_ratio)), 8))
        self.backbone = resnet18_trunk(channels, stages)  # (N, C, h/s, w/s)
        with torch.no_grad():
            fmap = self.backbone(torch.zeros(1, 3, *self.crop)).shape
        self.pool = SpatialSoftmax(fmap[1], fmap[2], fmap[3], keypoints)
        self.out = nn.Linear(2 * keypoints, out_dim)
        self.out_dim = out_dim

    def forward(self, images: Tensor) -> Tensor:
        images = random_crop(images, *self.crop) if self.training else center_crop(images, *self.crop)
        # channels-last activations: the memory layout oneDNN's CPU convolutions work in
        images = images.contiguous(memory_format=torch.channels_last)
        return F.relu(self.out(self.pool(self.backbone(images))))  # (N, out_dim)


def square_yaw_target(quaternions: Tensor) -> Tensor:
    """Quaternions (N, 4) (w, x, y, z) -> (N, 2) (cos 4ψ, sin 4ψ) of their yaw ψ: what an image can
    tell of a square prism's turn about the vertical, which looks the same every quarter turn."""
    w, x, y, z = quaternions.unbind(-1)
    yaw = torch.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))  # (N,)
    return torch.stack([torch.cos(4 * yaw), torch.sin(4 * yaw)], dim=-1)


class PrivilegedPoseHead(nn.Module):
    """Image features (N, D) and the twin's object poses (N, P) -> mean squared regression error.

    An auxiliary loss for training only: a linear map from the image features to the poses
    (observation.privileged, scaled to [-1, 1] by the training data's range) makes the image encoders
    carry where the objects are, which the action loss alone teaches slowly from few demos. The
    policy never reads the poses at run time.

    ``square_yaw_at`` lists where quaternions of square prisms (a cube, a square peg) start in the
    poses: such an object looks the same every quarter turn, so its quaternion cannot be read from
    an image, only memorised per training scene. For each, the head's first two outputs of the
    quaternion regress (cos 4ψ, sin 4ψ) of its yaw ψ instead, and the other two are left out of the loss.

    ``offsets`` lists pairs (a, b) of where two positions start in the poses (pick_cube's cube and
    jaws: (3, 0)): the head also regresses tanh((p_a - p_b) / offset_scale) per axis, the object's
    offset from the jaws, which is fine-grained near a grasp and saturates far from it. Every frame
    of an approach shows another offset, so the encoders learn it from dense data rather than from
    the one object position each demo holds; ``read`` leaves these outputs out.
    """

    weights: Tensor
    """(P + 3 * len(offsets),) 1 for each output in the loss, 0 for the left-out quaternion slots."""

    def __init__(
        self,
        in_dim: int,
        stats: Mapping[str, np.ndarray],
        square_yaw_at: tuple[int, ...] = (),
        offsets: tuple[tuple[int, int], ...] = (),
        offset_scale: float = 0.05,
    ):
        super().__init__()
        size = int(np.asarray(stats["mean"]).size)
        outside = [s for s in square_yaw_at if not 0 <= s <= size - 4]
        if outside:
            raise ValueError(
                f"pose_square_yaw_at {outside}: a quaternion there does not fit in observation.privileged's "
                f"{size} values; set policy.pose_square_yaw_at to where the task's quaternions start"
            )
        stray = [list(pair) for pair in offsets if not all(0 <= s <= size - 3 for s in pair)]
        if stray:
            raise ValueError(
                f"pose_offsets {stray}: a position there does not fit in observation.privileged's {size} "
                "values; set policy.pose_offsets to pairs of where the task's positions start"
            )
        features = Features({PRIVILEGED: Feature((size,), "float32")})
        self.normalizer = Normalizer(features, {PRIVILEGED: stats}, [PRIVILEGED])
        self.size = size
        self.square_yaw_at = tuple(square_yaw_at)
        self.offsets = tuple((int(a), int(b)) for a, b in offsets)
        self.offset_scale = offset_scale
        outputs = size + 3 * len(self.offsets)
        self.linear = nn.Linear(in_dim, outputs)
        weights = torch.ones(outputs)
        for start in self.square_yaw_at:
            weights[start + 2 : start + 4] = 0
        self.register_buffer("weights", weights, persistent=False)

    def targets(self, poses: Tensor) -> Tensor:
        """What the head regresses (N, P + 3 * len(offsets)): the scaled poses, square prisms' yaws as
        (cos 4ψ, sin 4ψ), then the offsets."""
        target = self.normalizer.normalize(PRIVILEGED, poses.float())  # (N, P)
        for start in self.square_yaw_at:
            target[:, start : start + 2] = square_yaw_target(poses[:, start : start + 4].float())
            target[:, start + 2 : start + 4] = 0
        offsets = [torch.tanh((poses[:, a : a + 3] - poses[:, b : b + 3]).float() / self.offset_scale)
                   for a, b in self.offsets]  # fmt: skip
        return torch.cat([target, *offsets], dim=-1)  # (N, P + 3 * len(offsets))

    def read(self, image_features: Tensor) -> Tensor:
        """Poses (N, P) in the data's units from image features; a square prism's quaternion slots
        hold (cos 4ψ, sin 4ψ, -, -) instead."""
        scaled = self.linear(image_features)[:, : self.size]  # (N, P)
        poses = self.normalizer.unnormalize(PRIVILEGED, scaled)
        for start in self.square_yaw_at:
            poses[:, start : start + 2] = scaled[:, start : start + 2]
        return poses

    def forward(self, image_features: Tensor, poses: Tensor) -> Tensor:
        error = (self.linear(image_features) - self.targets(poses)) ** 2  # (N, P)
        return (error * self.weights).sum(-1).mean() / self.weights.sum()
