"""Encoders, language conditioning and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from honed.features import ACTION, STATE, Feature, Features, image_key
from honed.policies.diffusion.config import DiffusionConfig
from honed.policies.encoders import (
    ImageEncoder,
    SpatialSoftmax,
    center_crop,
    group_norm,
    random_crop,
    resnet18_trunk,
)
from honed.policies.language import TaskEmbedding, TextEncoder
from honed.policies.normalize import Normalizer


def test_random_crop_differs_per_image_and_centre_crop_is_fixed():
    images = torch.arange(4 * 16 * 16, dtype=torch.float32).reshape(4, 1, 16, 16).repeat(1, 3, 1, 1)
    torch.manual_seed(0)
    crops = random_crop(images, 8, 8)  # (4, 3, 8, 8)
    corners = {float(c[0, 0, 0]) - 256 * i for i, c in enumerate(crops)}
    assert crops.shape == (4, 3, 8, 8) and len(corners) > 1
    centre = center_crop(images, 8, 8)
    assert torch.equal(centre[:, :, 0, 0], images[:, :, 4, 4])


def test_image_encoder_crops_only_in_training():
    encoder = ImageEncoder(96, 96, crop_ratio=0.75, keypoints=4, out_dim=8)  # 72x72 crops: 3x3 keypoint maps
    x = torch.rand(2, 3, 96, 96)
    encoder.eval()
    torch.testing.assert_close(encoder(x), encoder(x))
    encoder.train()
    torch.manual_seed(0)
    first = encoder(x)
    torch.manual_seed(1)
    assert not torch.allclose(first, encoder(x))


def test_trunk_width_64_is_torchvisions_resnet18_and_narrower_widths_scale_every_stage():
    import torchvision

    reference = torchvision.models.resnet18(weights=None, norm_layer=group_norm)
    expected = {k: v.shape for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    full = {k: v.shape for k, v in resnet18_trunk(64).state_dict().items()}
    # names offset by one (the trunk is a Sequential of the children), shapes equal
    assert list(full.values()) == list(expected.values())
    narrow = resnet18_trunk(16)
    assert narrow.state_dict().keys() == full.keys()  # the same 18 layers
    assert narrow(torch.zeros(2, 3, 84, 84)).shape == (2, 128, 3, 3)  # 8 x 16 channels at 1/32 of the side
    params = sum(p.numel() for p in narrow.parameters())
    assert params < sum(p.numel() for p in resnet18_trunk(64).parameters()) / 12  # ~ (16/64)^2


@pytest.mark.parametrize("width", [16, 64])
def test_fewer_trunk_stages_keep_a_finer_map_with_the_same_first_layers(width):
    full = resnet18_trunk(width)
    names = list(full.state_dict())
    for stages, side in [(3, 6), (2, 11), (1, 21)]:  # an 84-px crop at strides 16, 8 and 4
        trunk = resnet18_trunk(width, stages)
        assert trunk(torch.zeros(1, 3, 84, 84)).shape == (1, width * 2 ** (stages - 1), side, side)
        kept = list(trunk.state_dict())
        assert kept == names[: len(kept)]  # a prefix of the whole trunk's layers, under the same names
    encoder = ImageEncoder(96, 96, keypoints=4, out_dim=8, channels=width, stages=3)
    assert encoder.pool.grid.shape == (36, 2)  # the spatial softmax reads the 6x6 map


@pytest.mark.parametrize("stages", [0, 5])
def test_image_stages_outside_the_trunk_are_refused(stages):
    with pytest.raises(
        ValueError, match=rf"image_stages \({stages}\) must be 1 to 4.*set policy.image_stages"
    ):
        DiffusionConfig(image_stages=stages).validate()
    with pytest.raises(ValueError, match="1 to 4 stages"):
        resnet18_trunk(16, stages)


def test_image_width_must_be_a_multiple_of_16():
    with pytest.raises(ValueError, match=r"image_width \(24\).*set policy.image_width to 16, 32, 48 or 64"):
        DiffusionConfig(image_width=24).validate()


def test_spatial_softmax_returns_coordinates_of_the_peak():
    pool = SpatialSoftmax(1, 5, 5, keypoints=1)
    with torch.no_grad():
        pool.keypoints.weight.fill_(1.0)
        pool.keypoints.bias.zero_()
    maps = torch.zeros(1, 1, 5, 5)
    maps[0, 0, 4, 0] = 50.0  # bottom-left
    torch.testing.assert_close(pool(maps), torch.tensor([[-1.0, 1.0]]), atol=1e-3, rtol=0)


def test_task_embedding_names_unknown_instructions():
    emb = TaskEmbedding(["pick the cube", "push the T"], 4)
    assert emb(["push the T", "pick the cube"]).shape == (2, 4)
    with pytest.raises(ValueError, match="'stack the cups' was not seen in training"):
        emb(["stack the cups"])


def test_text_encoder_tells_instructions_apart_and_stays_frozen():
    enc = TextEncoder("tiny", 8)
    out = enc(["pick up the cube", "push the T", "pick up the cube"])
    assert out.shape == (3, 8)
    torch.testing.assert_close(out[0], out[2])
    assert not torch.allclose(out[0], out[1])
    assert all(not p.requires_grad for p in enc.model.parameters())
    assert enc.project.weight.requires_grad


def test_normalizer_maps_the_data_range_to_unit_and_back():
    features = Features({STATE: Feature((3,), "float32"), image_key("cam"): Feature((4, 4, 3), "uint8"),
                         ACTION: Feature((2,), "float32")})  # fmt: skip
    stats = {
        STATE: {
            "mean": np.zeros(3),
            "std": np.ones(3),
            "min": np.array([0.0, -2.0, 5.0]),
            "max": np.array([1.0, 2.0, 5.0]),
        },
        ACTION: {"mean": np.zeros(2), "std": np.ones(2), "min": -np.ones(2) * 3, "max": np.ones(2) * 3},
        image_key("cam"): {
            "mean": np.full(3, 0.5),
            "std": np.full(3, 0.25),
            "min": np.zeros(3),
            "max": np.ones(3),
        },
    }
    norm = Normalizer(features, stats, list(features))
    x = torch.tensor([[0.0, -2.0, 5.0], [1.0, 2.0, 5.0]])
    y = norm.normalize(STATE, x)
    torch.testing.assert_close(y[:, :2], torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    assert torch.isfinite(y).all()  # a joint that never moved does not divide by zero
    torch.testing.assert_close(norm.unnormalize(STATE, y), x)
    image = torch.full((1, 4, 4, 3), 255, dtype=torch.uint8)
    assert norm.normalize(image_key("cam"), image).shape == (1, 3, 4, 4)
    torch.testing.assert_close(norm.normalize(image_key("cam"), image), torch.full((1, 3, 4, 4), 2.0))
    unit = Normalizer(features, stats, list(features), image_scaling="unit")  # the data's colours ignored
    pixels = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 1, 3, 1).expand(1, 1, 3, 3)  # (1, 1, 3, 3)
    torch.testing.assert_close(
        unit.normalize(image_key("cam"), pixels)[0, :, 0], torch.tensor([-1.0, 1.0, -0.6]).expand(3, 3)
    )
    torch.testing.assert_close(unit.normalize(STATE, x), y)  # numeric features keep min-max
    with pytest.raises(ValueError, match="image_scaling"):
        Normalizer(features, stats, list(features), image_scaling="minmax")
    with pytest.raises(ValueError, match="no entry for feature 'action'"):
        Normalizer(features, {k: v for k, v in stats.items() if k != ACTION}, list(features))
