"""Every denoiser x objective x sampler builds, trains a step and samples with matching shapes, no NaNs."""

from __future__ import annotations

import pytest
import torch

from honed.features import ACTION, STATE, image_key
from honed.policies.diffusion.denoisers import DENOISERS

VARIANTS = [
    ("unet", "ddpm", "ddim"),
    ("unet", "ddpm", "ddpm"),
    ("unet", "flow", "euler"),
    ("transformer", "flow", "heun"),
    ("transformer", "ddpm", "ddim"),
]


@pytest.mark.parametrize(("denoiser", "objective", "sampler"), VARIANTS)
def test_shapes_loss_and_sampling(pk, denoiser, objective, sampler):
    policy = pk.make_policy(("front",), denoiser=denoiser, objective=objective, sampler=sampler,
                            num_inference_steps=3)  # fmt: skip
    batch = pk.make_batch(policy, batch=3)
    loss, metrics = policy.compute_loss(batch)
    assert (
        loss.shape == () and torch.isfinite(loss) and metrics["loss"] == pytest.approx(float(loss.detach()))
    )
    loss.backward()
    grads = [p.grad for p in policy.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    policy.eval()
    chunk = policy.predict_chunk(batch)
    assert chunk.shape == (3, policy.config.horizon, 6) and torch.isfinite(chunk).all()
    assert policy.log_prob(batch).shape == (3,)


@pytest.mark.parametrize("name", DENOISERS.names())
def test_prepared_sampling_path_equals_the_training_forward(pk, name):
    policy = pk.make_policy(denoiser=name).eval()
    net = policy.denoiser
    x, tokens = torch.randn(2, policy.config.horizon, 6), torch.randn(2, 2, 16)
    times = torch.tensor([3.0, 70.0])
    prepared = net.prepare(times, tokens)
    for k, t in enumerate(times):
        torch.testing.assert_close(
            net.denoise(x, prepared[k]), net(x, t.repeat(2), tokens), rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize(("objective", "sampler"), [("ddpm", "ddim"), ("flow", "euler"), ("flow", "heun")])
def test_caller_noise_fixes_the_chunk(pk, objective, sampler):
    policy = pk.make_policy(objective=objective, sampler=sampler, num_inference_steps=4).eval()
    batch = pk.make_batch(policy, batch=2)
    noise = policy.sample_noise(2, torch.Generator().manual_seed(0))
    first, again = policy.predict_chunk(batch, noise=noise), policy.predict_chunk(batch, noise=noise)
    other = policy.predict_chunk(batch, noise=-noise)
    torch.testing.assert_close(first, again)
    assert (first - other).abs().max() > 1e-4
    with pytest.raises(ValueError, match="noise has shape"):
        policy.predict_chunk(batch, noise=torch.zeros(2, 3, 6))


def test_ddpm_sampling_draws_its_step_noise_from_the_generator(pk):
    policy = pk.make_policy(sampler="ddpm", num_inference_steps=5).eval()
    batch = pk.make_batch(policy, batch=2)
    noise = policy.sample_noise(2, torch.Generator().manual_seed(0))
    a = policy.predict_chunk(batch, noise=noise, generator=torch.Generator().manual_seed(1))
    b = policy.predict_chunk(batch, noise=noise, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)


def test_history_path_equals_the_batch_path(pk):
    policy = pk.make_policy(("front",)).eval()
    batch = pk.make_batch(policy, batch=2)
    noise = policy.sample_noise(2, torch.Generator().manual_seed(3))
    expected = policy.predict_chunk(batch, noise=noise)
    history = torch.stack(
        [policy.observe(pk.frame_of(batch, t)) for t in range(policy.config.n_obs_steps)], 1
    )
    chunk = policy.chunk_from_history(history, pk.frame_of(batch), noise)  # (B, n_obs, F) encodings
    torch.testing.assert_close(chunk, expected, rtol=1e-4, atol=1e-5)


def test_object_poses_join_the_state_vector(pk):
    from honed.features import PRIVILEGED, Feature, Features
    from honed.policies import Contract, DiffusionPolicy

    cfg = pk.tiny_config(use_privileged=True)
    base = pk.make_contract(cfg=cfg)
    features = Features(
        {STATE: base.features[STATE], PRIVILEGED: Feature((7,), "float32"), ACTION: base.features[ACTION]}
    )
    policy = DiffusionPolicy(
        cfg, Contract(features, {**base.stats, PRIVILEGED: pk.unit_stats(7)}, 30.0, 2, 8, 4)
    )
    assert policy.vector_keys == [STATE, PRIVILEGED]
    batch = {**pk.make_batch(policy, batch=2), PRIVILEGED: torch.randn(2, 2, 7)}
    assert policy.predict_chunk(batch).shape == (2, 8, 6)
    with pytest.raises(ValueError, match="observation.privileged"):
        policy.predict_chunk({k: v for k, v in batch.items() if k != PRIVILEGED})
    assert DiffusionPolicy.input_keys(cfg, features) == [STATE, PRIVILEGED]


def pose_aux_policy(pk, weight: float = 0.5):
    from honed.features import PRIVILEGED
    from honed.policies import Contract, DiffusionPolicy

    # 16 keypoints: enough image features for the head to fit eight poses within the test's steps
    cfg = pk.tiny_config(privileged_aux_weight=weight, keypoints=16)
    base = pk.make_contract(("front",), size=64, cfg=cfg)  # 64 pixels: a 2x2 map for the spatial softmax
    stats = {**base.stats, PRIVILEGED: pk.unit_stats(7)}  # a training-only target: statistics, no feature
    return DiffusionPolicy(cfg, Contract(base.features, stats, 30.0, 2, 8, 4))


def test_the_pose_loss_trains_the_image_encoder_and_the_policy_runs_without_poses(pk):
    from honed.features import PRIVILEGED

    torch.manual_seed(0)  # the weights, the targets and the noise: not whatever ran before in this process
    policy = pose_aux_policy(pk)
    batch = {**pk.make_batch(policy, batch=8), PRIVILEGED: torch.rand(8, 2, 7) * 2 - 1}
    torch.manual_seed(0)
    loss, metrics = policy.compute_loss(batch)
    assert metrics["loss"] == pytest.approx(metrics["denoise_loss"] + 0.5 * metrics["pose_loss"], rel=1e-5)
    loss.backward()
    with_pose = [p.grad.clone() for p in policy.image_encoders["front"].parameters()]
    policy.zero_grad()
    policy.config.privileged_aux_weight = 0.0
    torch.manual_seed(0)
    policy.compute_loss(batch)[0].backward()
    without = [p.grad for p in policy.image_encoders["front"].parameters()]
    assert not all(torch.allclose(a, b) for a, b in zip(with_pose, without))
    # the head regresses poses from the images: fitting one batch (centre crops) drives its error
    # well below the poses' variance (1/3), which a head blind to the images cannot go beneath
    policy.config.privileged_aux_weight = 1.0
    policy.eval()
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    for _ in range(150):
        optimizer.zero_grad()
        policy.compute_loss(batch)[0].backward()
        optimizer.step()
    assert policy.compute_loss(batch)[1]["pose_loss"] < 0.1
    assert PRIVILEGED not in policy.contract.features
    observation = {k: v for k, v in batch.items() if k != PRIVILEGED}
    assert policy.predict_chunk(observation).shape == (8, 8, 6)


def test_image_action_grad_scales_what_the_action_loss_teaches_the_image_encoder(pk):
    """At 0 the image encoder learns from the pose loss alone; at 0.5 it gets half the action loss's
    gradient; the state encoder and the denoiser keep all of theirs, and the loss value is unchanged."""
    from honed.features import PRIVILEGED
    from honed.policies import DiffusionConfig

    torch.manual_seed(0)
    policy = pose_aux_policy(pk, weight=1.0)
    batch = {**pk.make_batch(policy, batch=8), PRIVILEGED: torch.rand(8, 2, 7) * 2 - 1}

    def action_grads(share: float) -> tuple[float, list[torch.Tensor], list[torch.Tensor]]:
        policy.config.image_action_grad = share
        policy.zero_grad()
        torch.manual_seed(1)  # the same crops and noise for every share
        terms, _ = policy._loss_terms(batch)
        loss = terms.mean()
        loss.backward()
        image = [p.grad.clone() for p in policy.image_encoders["front"].parameters()]
        others = [p.grad.clone() for p in [*policy.state_encoder.parameters(), *policy.denoiser.parameters()]]
        return float(loss.detach()), image, others

    loss_all, image_all, others_all = action_grads(1.0)
    loss_half, image_half, others_half = action_grads(0.5)
    loss_none, image_none, others_none = action_grads(0.0)
    assert loss_half == pytest.approx(loss_all) and loss_none == pytest.approx(loss_all)
    assert any(g.abs().max() > 0 for g in image_all)
    for full, half, none in zip(image_all, image_half, image_none):
        torch.testing.assert_close(half, 0.5 * full)
        assert torch.count_nonzero(none) == 0
    for full, half, none in zip(others_all, others_half, others_none):
        torch.testing.assert_close(half, full)
        torch.testing.assert_close(none, full)
    with pytest.raises(ValueError, match="privileged_aux_weight > 0"):
        DiffusionConfig(image_action_grad=0.0).validate()  # the encoders would learn nothing
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="image_action_grad"):
            DiffusionConfig(image_action_grad=bad, privileged_aux_weight=1.0).validate()


def test_samples_not_to_be_imitated_teach_the_pose_loss_and_not_the_action_loss(pk):
    from honed.features import PRIVILEGED
    from honed.policies import DiffusionConfig

    torch.manual_seed(0)
    policy = pose_aux_policy(pk, weight=1.0)
    batch = {**pk.make_batch(policy, batch=8), PRIVILEGED: torch.rand(8, 2, 7) * 2 - 1}
    torch.manual_seed(1)
    terms, _ = policy._loss_terms(batch)
    imitated = torch.tensor([True, False, True, True, False, True, True, True])
    torch.manual_seed(1)  # the same crops and noise
    _, metrics = policy.compute_loss({**batch, "imitated": imitated})
    assert metrics["denoise_loss"] == pytest.approx(float(terms.detach()[imitated].mean()), rel=1e-5)
    policy.zero_grad()
    loss, metrics = policy.compute_loss({**batch, "imitated": torch.zeros(8, dtype=torch.bool)})
    assert metrics["denoise_loss"] == 0.0 and metrics["pose_loss"] > 0
    loss.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in policy.denoiser.parameters())
    assert any(torch.count_nonzero(p.grad) > 0 for p in policy.image_encoders["front"].parameters())
    learns = type(policy).learns_from_not_imitated
    assert learns(DiffusionConfig(pose_on_not_imitated=True, privileged_aux_weight=1))
    assert not learns(DiffusionConfig())
    with pytest.raises(ValueError, match="privileged_aux_weight > 0 or policy.pose_on_not_imitated=false"):
        DiffusionConfig(pose_on_not_imitated=True).validate()  # no pose loss to train


def test_the_pose_loss_names_what_it_needs(pk):
    from honed.features import PRIVILEGED, Feature, Features
    from honed.policies import Contract, DiffusionConfig, DiffusionPolicy

    cfg = pk.tiny_config(privileged_aux_weight=1.0)
    front = pk.make_contract(("front",), cfg=cfg)
    assert DiffusionPolicy.training_targets(pk.tiny_config(), front.features) == []
    with_poses = Features({**dict(front.features), PRIVILEGED: Feature((7,), "float32")})
    assert DiffusionPolicy.training_targets(cfg, with_poses) == [PRIVILEGED]
    with pytest.raises(ValueError, match="privileged_aux_weight=0"):
        DiffusionPolicy.training_targets(cfg, front.features)  # a dataset without object poses
    state_only = Features({STATE: front.features[STATE], PRIVILEGED: Feature((7,), "float32"),
                           ACTION: front.features[ACTION]})  # fmt: skip
    with pytest.raises(ValueError, match="needs cameras"):
        DiffusionPolicy.training_targets(cfg, state_only)
    with pytest.raises(ValueError, match="privileged_aux_weight"):
        DiffusionPolicy(cfg, Contract(front.features, front.stats, 30.0, 2, 8, 4))  # no pose statistics
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="privileged_aux_weight"):
            DiffusionConfig(privileged_aux_weight=bad).validate()


def test_image_scaling_unit_feeds_the_encoders_minus_one_to_one(pk):
    from honed.policies import DiffusionConfig

    policy = pk.make_policy(("front",), image_scaling="unit")
    batch = pk.make_batch(policy)
    frames = batch[image_key("front")]
    scaled = policy.normalizer.normalize(image_key("front"), frames)
    torch.testing.assert_close(scaled, frames.movedim(-1, -3).float() / 127.5 - 1)
    assert torch.isfinite(policy.compute_loss(batch)[0])
    with pytest.raises(ValueError, match="policy.image_scaling to mean_std"):
        DiffusionConfig(image_scaling="minmax").validate()


def test_wrong_shapes_name_the_field(pk):
    policy = pk.make_policy()
    batch = pk.make_batch(policy)
    with pytest.raises(ValueError, match="observation.state"):
        policy.compute_loss({**batch, STATE: batch[STATE][..., :5]})
    with pytest.raises(ValueError, match="'action' has chunk shape"):
        policy.compute_loss({**batch, ACTION: batch[ACTION][:, :3]})
    with pytest.raises(ValueError, match="horizon"):
        pk.tiny_config(horizon=6, unet_widths=[16, 32, 64]).validate()


def test_compiled_sampling_matches_eager(pk):
    """compile_for_inference (weights frozen into inductor's code) samples the chunk eager code samples."""
    policy = pk.make_policy(("front",), num_inference_steps=3).eval()
    batch = pk.make_batch(policy, batch=2)
    noise = policy.sample_noise(2, torch.Generator().manual_seed(0))
    eager = policy.predict_chunk(batch, noise=noise)
    policy.compile_for_inference()
    torch.testing.assert_close(policy.predict_chunk(batch, noise=noise), eager, rtol=1e-4, atol=1e-4)
