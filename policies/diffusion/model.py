"""Diffusion Policy (Chi et al.) and flow matching (the pi0 action head) over action chunks.

Observation tokens: per observation frame, the state MLP's feature and each camera's image feature
(plus the task's language feature), one token per frame. The denoiser (U-Net or transformer) maps
noise to a normalised chunk of ``horizon`` actions starting at the current frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from honed.features import ACTION, IMAGE_PREFIX, PRIVILEGED, STATE, TASK, Features, image_key
from honed.policies.base import (
    Batch,
    EncodesFrames,
    Policy,
    SamplesNoise,
    ScoresActions,
    TrainsOnStagedMistakes,
    register_policy,
)
from honed.policies.contract import Contract
from honed.policies.diffusion.config import DiffusionConfig
from honed.policies.diffusion.denoisers import DENOISERS, Denoiser, compile_for_sampling, sampling_compiled
from honed.policies.diffusion.objectives import OBJECTIVES
from honed.policies.encoders import ImageEncoder, PrivilegedPoseHead, StateEncoder
from honed.policies.language import SAVED_DIR, TaskEmbedding, TextEncoder
from honed.policies.normalize import Normalizer


def _tasks_of(value: Any, batch_size: int) -> list[str]:
    if isinstance(value, str):
        return [value] * batch_size
    tasks = [str(t) for t in value]
    if len(tasks) != batch_size:
        raise ValueError(f"field 'task' has {len(tasks)} instructions for a batch of {batch_size}")
    return tasks


@register_policy("diffusion")
class DiffusionPolicy(Policy, SamplesNoise, EncodesFrames, ScoresActions, TrainsOnStagedMistakes):
    """Conditional denoiser over action chunks with DDPM/DDIM or flow-matching sampling."""

    config: DiffusionConfig

    def __init__(self, config: DiffusionConfig, contract: Contract, checkpoint_dir: Path | None = None):
        super().__init__(config, contract, checkpoint_dir)
        config.validate()
        chunking = (config.n_obs_steps, config.horizon, config.n_action_steps)
        if chunking != (contract.n_obs_steps, contract.horizon, contract.n_action_steps):
            raise ValueError(f"config chunking {chunking} differs from the contract's; rebuild the contract")
        features = contract.features
        self.image_keys = [k for k in features if k.startswith(IMAGE_PREFIX)]
        self.vector_keys = [k for k in (STATE, PRIVILEGED) if k in features]  # joints, object poses
        self.normalizer = Normalizer(features, contract.stats, contract.numeric_keys, config.image_scaling)
        self.state_encoder = (
            StateEncoder(sum(features[k].shape[0] for k in self.vector_keys), config.state_dim)
            if self.vector_keys
            else None
        )
        self.image_encoders = nn.ModuleDict(
            {
                k[len(IMAGE_PREFIX) :]: ImageEncoder(
                    features[k].shape[0],
                    features[k].shape[1],
                    config.crop_ratio,
                    config.keypoints,
                    config.image_dim,
                    config.image_width,
                    config.image_stages,
                )
                for k in self.image_keys
            }
        )
        self.pose_head = self._pose_head(config, contract)
        self.language = self._language_encoder(config, contract, checkpoint_dir)
        # where the cameras' features lie in each token: after the state's, before the language's
        state_dim = config.state_dim if self.vector_keys else 0
        self.image_span = slice(state_dim, state_dim + config.image_dim * len(self.image_keys))
        self.frame_dim = self.image_span.stop
        """Features per encoded frame (what :meth:`observe` returns): state, cameras."""
        self.token_dim = self.frame_dim + (config.language_dim if self.language is not None else 0)
        """Features per observation token: state, cameras, language."""
        self.denoiser = DENOISERS.get(config.denoiser).build(config, self.action_dim, self.token_dim)
        self.sample_with()

    def sample_with(self, sampler: str = "", steps: int = 0) -> None:
        """Sample with another sampler of the trained objective (DDIM or DDPM after DDPM training,
        Euler or Heun after flow matching) or step count; the weights are the same either way."""
        c = self.config
        self.objective = OBJECTIVES.get(c.objective)(
            sampler or c.sampler, steps or c.num_inference_steps, c.num_train_timesteps, c.clip_sample
        )

    def sampling(self) -> dict[str, Any]:
        return {"sampler": self.objective.sampler, "num_inference_steps": self.objective.steps}

    @classmethod
    def unseen_instructions(cls, config: DiffusionConfig, contract: Contract, instructions: Any) -> list[str]:
        """A learned task embedding knows only the contract's ``tasks``: the other ``instructions``."""
        if config.language != "embedding":
            return []
        return sorted(set(instructions) - set(contract.tasks))

    def _pose_head(self, config: DiffusionConfig, contract: Contract) -> PrivilegedPoseHead | None:
        """The training-only object-pose regression of ``privileged_aux_weight`` (None when off)."""
        if config.privileged_aux_weight == 0:
            return None
        if PRIVILEGED not in contract.stats or not self.image_keys:
            raise ValueError(
                "privileged_aux_weight > 0 needs cameras and the statistics of observation.privileged in the "
                "contract (train on a twin-recorded dataset), or set policy.privileged_aux_weight=0"
            )
        return PrivilegedPoseHead(
            config.image_dim * len(self.image_keys),
            contract.stats[PRIVILEGED],
            tuple(config.pose_square_yaw_at),
            tuple((a, b) for a, b in config.pose_offsets),
            config.pose_offset_scale,
        )

    @staticmethod
    def _language_encoder(
        config: DiffusionConfig, contract: Contract, checkpoint_dir: Path | None
    ) -> TaskEmbedding | TextEncoder | None:
        if config.language == "embedding":
            return TaskEmbedding(list(contract.tasks), config.language_dim)
        if config.language == "text":
            kept = config.save_text_model  # else rebuilt from text_model, not from the checkpoint
            saved = checkpoint_dir / SAVED_DIR if checkpoint_dir is not None and kept else None
            return TextEncoder(config.text_model, config.language_dim, saved=saved)
        return None

    def compile_for_inference(self) -> DiffusionPolicy:
        """torch.compile the frame encoding and the denoiser's step for sampling (not for training).

        The weights are frozen into the compiled code (see :func:`compile_for_sampling`): call this
        after loading them. The first chunk of each batch size pays the compilation (about a minute on
        a small CPU; later runs reuse inductor's on-disk cache). Outputs match eager ones to float rounding.
        """
        self.denoiser.compile_step()
        self.__dict__["_compiled_encode"] = compile_for_sampling(self._encode_frames)
        return self

    def frozen_prefixes(self) -> list[str]:
        """The text model when ``save_text_model`` is off: rebuilt from ``text_model`` on loading."""
        if isinstance(self.language, TextEncoder) and not self.config.save_text_model:
            return ["language.model."]
        return []

    def save_assets(self, folder: Path) -> None:
        if isinstance(self.language, TextEncoder) and self.config.save_text_model:
            self.language.save_parts(folder / SAVED_DIR)

    @staticmethod
    def _cameras(config: DiffusionConfig, features: Features) -> list[str]:
        """The cameras the config reads from data with ``features``."""
        return features.cameras if config.cameras is None else list(config.cameras)

    @classmethod
    def input_keys(cls, config: DiffusionConfig, features: Features) -> list[str]:
        """Keys the config reads; ValueError naming every one the data lacks."""
        cameras = cls._cameras(config, features)
        wanted = (
            [STATE] * config.use_state
            + [PRIVILEGED] * config.use_privileged
            + [image_key(c) for c in cameras]
        )
        wanted += [TASK] if config.language != "none" else []
        missing = [k for k in [*wanted, ACTION] if k not in features and k != TASK]
        if missing:
            raise ValueError(
                f"the policy config reads {missing}, which the dataset lacks (it has {list(features)}); "
                "set policy.cameras / policy.use_state / policy.use_privileged / policy.language to match the dataset"
            )
        if not [k for k in wanted if k != TASK]:
            raise ValueError("the policy reads no observation: set policy.use_state=true or policy.cameras")
        return wanted

    @classmethod
    def learns_from_not_imitated(cls, config: DiffusionConfig) -> bool:
        return config.pose_on_not_imitated

    @classmethod
    def training_targets(cls, config: DiffusionConfig, features: Features) -> list[str]:
        if config.privileged_aux_weight == 0:
            return []
        if not cls._cameras(config, features) or PRIVILEGED not in features:
            raise ValueError(
                f"policy.privileged_aux_weight={config.privileged_aux_weight} regresses {PRIVILEGED!r} from camera "
                f"features, so it needs cameras and that field in the dataset (it has {list(features)}): record "
                "the demos in the twin, or set policy.privileged_aux_weight=0"
            )
        return [PRIVILEGED]

    # ---- observation tokens -------------------------------------------------------------------
    def _check_frames(self, frames: Batch, leading: int) -> None:
        for key in self.vector_keys + self.image_keys:
            if key not in frames:
                raise ValueError(f"observation lacks field {key!r} that this policy reads")
            expected = self.contract.features[key].shape
            got = tuple(frames[key].shape[leading:])
            if got != expected:
                raise ValueError(f"field {key!r} has frame shape {got}, expected {expected}")

    def encode_frames(self, frames: Batch) -> Tensor:
        """Per-frame features (N, F) from state (N, S) and images (N, H, W, 3)."""
        compiled = sampling_compiled(self, "_compiled_encode")
        if compiled is not None:
            return compiled({k: frames[k] for k in self.vector_keys + self.image_keys})
        return self._encode_frames(frames)

    def _encode_frames(self, frames: Batch) -> Tensor:
        parts = []
        if self.state_encoder is not None:
            vector = torch.cat(
                [self.normalizer.normalize(k, frames[k].float()) for k in self.vector_keys], -1
            )
            parts.append(self.state_encoder(vector))  # (N, state_dim)
        for key in self.image_keys:
            camera = key[len(IMAGE_PREFIX) :]
            parts.append(self.image_encoders[camera](self.normalizer.normalize(key, frames[key])))
        return torch.cat(parts, dim=-1)  # (N, F)

    def tokens_from_features(self, features: Tensor, tasks: Any) -> Tensor:
        """Frame features (B, S, F) -> tokens (B, S, F + L) with the task's feature on every frame."""
        if self.language is None:
            return features
        lang = self.language(_tasks_of(tasks, features.shape[0]))  # (B, L)
        return torch.cat([features, lang[:, None].expand(-1, features.shape[1], -1)], dim=-1)

    def tokens(self, obs: Batch) -> Tensor:
        """Observation tokens (B, n_obs, F) from a history batch (state (B, n_obs, S), ...)."""
        self._check_frames(obs, leading=2)
        reference = obs[(self.vector_keys + self.image_keys)[0]]
        batch, steps = reference.shape[:2]
        if steps != self.config.n_obs_steps:
            raise ValueError(
                f"observation history has {steps} frames, the policy reads {self.config.n_obs_steps}"
            )
        flat = {k: obs[k].flatten(0, 1) for k in self.vector_keys + self.image_keys}
        features = self.encode_frames(flat).unflatten(0, (batch, steps))  # (B, n_obs, F)
        return self.tokens_from_features(features, obs.get(TASK))

    # ---- training -----------------------------------------------------------------------------
    def _loss_terms(self, batch: Batch) -> tuple[Tensor, Tensor]:
        """Per-sample denoising losses (B,) and the observation tokens (B, n_obs, F) they were conditioned on."""
        actions = batch[ACTION]
        if tuple(actions.shape[1:]) != (self.config.horizon, self.action_dim):
            raise ValueError(
                f"field 'action' has chunk shape {tuple(actions.shape[1:])}, "
                f"expected ({self.config.horizon}, {self.action_dim}); build the dataset with horizon="
                f"{self.config.horizon}"
            )
        target = self.normalizer.normalize(ACTION, actions.float())  # (B, H, A)
        valid = ~batch["action_is_pad"] if self.config.mask_padding and "action_is_pad" in batch else None
        tokens = self.tokens(batch)
        conditioning = self._scale_image_gradient(tokens)
        return self.objective.loss(self.denoiser, target, conditioning, valid), tokens  # (B,), (B, n_obs, F)

    def _scale_image_gradient(self, tokens: Tensor) -> Tensor:
        """The same tokens, with the gradient into their camera features scaled by image_action_grad."""
        share = self.config.image_action_grad
        if share == 1:
            return tokens
        scale = torch.ones(tokens.shape[-1], dtype=tokens.dtype, device=tokens.device)  # (F,)
        scale[self.image_span] = share
        frozen = tokens.detach()
        return frozen + (tokens - frozen) * scale  # values of tokens, gradient scaled per feature

    def compute_loss(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        terms, tokens = self._loss_terms(batch)
        imitated = batch.get("imitated")
        if imitated is None:
            loss = terms.mean()
        else:  # samples starting in a staged mistake teach the pose loss only
            weights = imitated.to(terms.dtype)  # (B,)
            loss = (terms * weights).sum() / weights.sum().clamp(min=1)
        metrics: dict[str, float] = {}
        if self.pose_head is not None:
            metrics["denoise_loss"] = float(loss.detach())
            current = tokens[:, -1, self.image_span]  # the current frame's camera features
            pose_loss = self.pose_head(current, batch[PRIVILEGED][:, -1])
            metrics["pose_loss"] = float(pose_loss.detach())
            loss = loss + self.config.privileged_aux_weight * pose_loss
        return loss, {"loss": float(loss.detach()), **metrics}

    def log_prob(self, batch: Batch) -> Tensor:
        """Negative denoising loss at one random time and noise: an ELBO surrogate up to constants."""
        return -self._loss_terms(batch)[0]

    # ---- sampling -----------------------------------------------------------------------------
    def noise_shape(self, batch_size: int) -> tuple[int, ...]:
        return (batch_size, self.config.horizon, self.action_dim)

    def sample_from_tokens(
        self,
        tokens: Tensor,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
        denoiser: Denoiser | None = None,
    ) -> Tensor:
        """Raw-unit chunk (B, H, A) from tokens; ``noise`` (B, H, A) fixes the sampler's start;
        ``denoiser`` stands in for the policy's own (an ensemble's, reading several policies' tokens)."""
        if noise is None:
            noise = torch.randn(self.noise_shape(tokens.shape[0]), generator=generator, device=tokens.device)
        elif tuple(noise.shape) != self.noise_shape(tokens.shape[0]):
            raise ValueError(
                f"noise has shape {tuple(noise.shape)}, expected {self.noise_shape(tokens.shape[0])}"
            )
        denoiser = self.denoiser if denoiser is None else denoiser
        noise = noise.to(tokens.device, tokens.dtype)
        sample = self.objective.sample(denoiser, tokens, noise, generator)  # (B, H, A)
        return self.normalizer.unnormalize(ACTION, sample)

    @torch.inference_mode()
    def predict_chunk(
        self, obs: Batch, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        return self.sample_from_tokens(self.tokens(obs), noise, generator)

    def observe(self, frame: Batch) -> Tensor:
        self._check_frames(frame, leading=1)
        return self.encode_frames(frame)  # (B, F)

    def chunk_from_history(
        self,
        history: Tensor,
        current: Batch,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        tokens = self.tokens_from_features(history, current.get(TASK))  # (B, n_obs, F + L)
        return self.sample_from_tokens(tokens, noise, generator)
