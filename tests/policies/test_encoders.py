"""Encoders, language conditioning and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


def cube_poses(yaws: np.ndarray, xy: np.ndarray) -> torch.Tensor:
    """pick_cube's observation.privileged layout, (N, 10): tcp, cube position, cube quaternion."""
    from honed.sim.tasks.base import yaw_quat

    n = len(yaws)
    tcp = np.full((n, 3), 0.2)
    cube = np.concatenate([xy, np.full((n, 1), 0.015)], axis=1)
    return torch.tensor(np.concatenate([tcp, cube, yaw_quat(yaws)], axis=1), dtype=torch.float32)


@settings(max_examples=50, deadline=None)
@given(yaw=st.floats(-np.pi, np.pi), turns=st.integers(-3, 3))
def test_a_square_prisms_pose_target_repeats_every_quarter_turn_and_nothing_less(pk, yaw, turns):
    from honed.policies.encoders import PrivilegedPoseHead

    head = PrivilegedPoseHead(4, pk.unit_stats(10), square_yaw_at=(6,))
    xy = np.zeros((3, 2))
    targets = head.targets(cube_poses(np.array([yaw, yaw + turns * np.pi / 2, yaw + np.pi / 4]), xy))
    torch.testing.assert_close(targets[0], targets[1], atol=1e-4, rtol=0)
    torch.testing.assert_close(targets[2, 6:8], -targets[0, 6:8], atol=1e-4, rtol=0)  # an eighth turn apart
    assert torch.count_nonzero(targets[:, 8:]) == 0


def test_the_square_yaw_target_is_what_a_head_reading_the_visible_turn_can_fit():
    """Features that carry what an image shows (position, yaw modulo a quarter turn) fit the square
    target exactly, and leave most of the recorded quaternion's error in place; the two left-out
    quaternion slots do not count, and reading gives positions in metres and the turn's cosine and sine."""
    from honed.policies.encoders import PrivilegedPoseHead

    rng = np.random.default_rng(0)
    yaws, xy = rng.uniform(-np.pi, np.pi, 200), rng.uniform(-0.1, 0.1, (200, 2))
    poses = cube_poses(yaws, xy)
    visible = torch.tensor(np.column_stack([xy, np.cos(4 * yaws), np.sin(4 * yaws)]), dtype=torch.float32)

    def fitted_error(head: PrivilegedPoseHead) -> float:
        design = torch.cat([visible, torch.ones(200, 1)], dim=1)  # (N, 5)
        solution = torch.linalg.lstsq(design, head.targets(poses)).solution  # (5, 10)
        with torch.no_grad():
            head.linear.weight.copy_(solution[:4].T)
            head.linear.bias.copy_(solution[4])
            return float(head(visible, poses))

    stats = {"mean": np.zeros(10), "std": np.ones(10), "min": np.full(10, -0.2), "max": np.full(10, 0.2)}
    square = PrivilegedPoseHead(4, stats, square_yaw_at=(6,))
    assert fitted_error(square) < 1e-8
    assert fitted_error(PrivilegedPoseHead(4, stats)) > 1.0  # half turns of the quaternion, unreadable
    with torch.no_grad():
        square.linear.bias[8:] += 5.0  # the left-out slots
        assert float(square(visible, poses)) < 1e-8
        read = square.read(visible)
    torch.testing.assert_close(read[:, 3:5], poses[:, 3:5], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        read[:, 6], torch.cos(4 * torch.tensor(yaws, dtype=torch.float32)), atol=1e-5, rtol=0
    )


def test_a_square_yaw_outside_the_poses_or_without_the_pose_loss_is_refused(pk):
    from honed.policies.encoders import PrivilegedPoseHead

    with pytest.raises(ValueError, match="pose_square_yaw_at \\[7\\].*10 values"):
        PrivilegedPoseHead(4, pk.unit_stats(10), square_yaw_at=(7,))
    with pytest.raises(ValueError, match="privileged_aux_weight > 0 or policy.pose_square_yaw_at=\\[\\]"):
        DiffusionConfig(pose_square_yaw_at=[6]).validate()
    DiffusionConfig(pose_square_yaw_at=[6], privileged_aux_weight=1.0).validate()


@settings(max_examples=50, deadline=None)
@given(offset=st.lists(st.floats(-0.3, 0.3), min_size=3, max_size=3), scale=st.floats(0.01, 0.2))
def test_the_offset_target_is_tanh_of_the_objects_offset_from_the_jaws(pk, offset, scale):
    from honed.policies.encoders import PrivilegedPoseHead

    head = PrivilegedPoseHead(4, pk.unit_stats(10), square_yaw_at=(6,), offsets=((3, 0),), offset_scale=scale)
    poses = cube_poses(np.array([0.3, 0.3]), np.zeros((2, 2)))
    poses[1, 3:6] = poses[1, 0:3] + torch.tensor(offset)  # the cube moved, the jaws stayed
    targets = head.targets(poses)
    assert targets.shape == (2, 13)
    torch.testing.assert_close(targets[1, :6], poses[1, :6])  # unit stats: positions as recorded
    expected = np.tanh((np.asarray(poses[1, 3:6] - poses[1, 0:3], dtype=np.float64)) / scale)
    np.testing.assert_allclose(targets[1, 10:].numpy(), expected, atol=1e-5)
    assert bool(torch.all(targets[:, 10:].abs() <= 1))
    assert head.read(torch.zeros(2, 4)).shape == (2, 10)  # positions and yaw only, not the offsets


def test_an_offset_heads_loss_counts_each_offset_output_beside_the_poses():
    from honed.policies.encoders import PrivilegedPoseHead

    rng = np.random.default_rng(1)
    xy = rng.uniform(-0.1, 0.1, (100, 2))
    poses = cube_poses(rng.uniform(-np.pi, np.pi, 100), xy)
    stats = {"mean": np.zeros(10), "std": np.ones(10), "min": np.full(10, -0.2), "max": np.full(10, 0.2)}
    head = PrivilegedPoseHead(16, stats, square_yaw_at=(6,), offsets=((3, 0),))
    features = torch.randn(100, 16)
    design = torch.cat([features, torch.ones(100, 1)], dim=1)
    targets = head.targets(poses)
    solution = torch.linalg.lstsq(design, targets).solution  # (17, 13)
    with torch.no_grad():
        head.linear.weight.copy_(solution[:16].T)
        head.linear.bias.copy_(solution[16])
        fitted = float(head(features, poses))
        head.linear.bias[10:] += 0.5  # the offsets' outputs off by 0.5 each
        assert float(head(features, poses)) == pytest.approx(fitted + 3 * 0.25 / 11, rel=0.05)


def test_offsets_outside_the_poses_or_without_the_pose_loss_are_refused(pk):
    from honed.policies.encoders import PrivilegedPoseHead

    with pytest.raises(ValueError, match="pose_offsets \\[\\[8, 0\\]\\].*10 values"):
        PrivilegedPoseHead(4, pk.unit_stats(10), offsets=((8, 0),))
    with pytest.raises(ValueError, match="privileged_aux_weight > 0 or policy.pose_offsets=\\[\\]"):
        DiffusionConfig(pose_offsets=[[3, 0]]).validate()
    with pytest.raises(ValueError, match="pairs \\[object, jaws\\].*policy.pose_offsets=\\[\\[3,0\\]\\]"):
        DiffusionConfig(pose_offsets=[[3, 0, 1]], privileged_aux_weight=1.0).validate()
    with pytest.raises(ValueError, match="pose_offset_scale \\(0.0\\) must be a finite distance"):
        DiffusionConfig(pose_offset_scale=0.0).validate()
    DiffusionConfig(pose_offsets=[[3, 0]], privileged_aux_weight=1.0).validate()
