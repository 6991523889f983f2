"""Typed configurations of the diffusion / flow-matching family: ``policy=diffusion`` and
``policy=diffusion_ensemble`` (several trained diffusion policies sampled as one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from honed.cli import bounded
from honed.errors import ConfigError
from honed.policies.config import POLICY_CONFIGS, PolicyConfig
from honed.policies.normalize import IMAGE_SCALINGS


@POLICY_CONFIGS.register("diffusion")
@dataclass
class DiffusionConfig(PolicyConfig):
    """Denoiser, objective, sampler, observation encoders and chunking of one policy (the horizon
    is a multiple of 2^(len(unet_widths) - 1) for the U-Net)."""

    use_state: bool = True
    """Read observation.state (joint positions and velocities)."""
    use_privileged: bool = False
    """Read observation.privileged (object poses: the low-dimensional task state the twin provides)."""
    language: str = "none"
    """Task conditioning: none, embedding (learned per instruction) or text (transformers encoder)."""
    text_model: str = "tiny"
    """Text encoder for language=text: a transformers hub name, or tiny (random, offline)."""
    save_text_model: bool = True
    """Keep the frozen text model's weights in model.safetensors (false: the checkpoint names
    text_model, and loading rebuilds the model from there, the hub or a local folder)."""
    denoiser: str = "unet"
    """Denoiser network: unet (1D temporal U-Net with FiLM) or transformer."""
    unet_widths: list[int] = bounded([64, 128, 256], ge=1)
    """Channel widths of the U-Net's levels (each level but the last halves the length)."""
    kernel_size: int = bounded(5, ge=1)
    """Temporal kernel size of the U-Net's convolutions."""
    groups: int = bounded(8, ge=1)
    """GroupNorm groups in the U-Net."""
    time_dim: int = bounded(128, ge=2)
    """Size of the diffusion-time embedding."""
    transformer_width: int = bounded(256, ge=1)
    """Token width of the transformer denoiser."""
    transformer_depth: int = bounded(6, ge=1)
    """Decoder layers of the transformer denoiser."""
    transformer_heads: int = bounded(4, ge=1)
    """Attention heads of the transformer denoiser."""
    objective: str = "ddpm"
    """Training objective: ddpm (noise prediction) or flow (flow matching)."""
    sampler: str = "ddim"
    """Sampler: ddim or ddpm for objective=ddpm; euler or heun for objective=flow."""
    num_inference_steps: int = bounded(10, ge=1)
    """Sampler steps per chunk (Heun evaluates the network twice per step but the last)."""
    num_train_timesteps: int = bounded(100, ge=1)
    """DDPM diffusion steps in training (also the time scale of the flow's time embedding)."""
    clip_sample: bool = True
    """Clip sampled (normalised) actions to [-1, 1], the range of the training data."""
    mask_padding: bool = False
    """Leave padded actions past an episode's end out of the loss (Diffusion Policy keeps them)."""
    crop_ratio: float = bounded(0.875, gt=0, le=1)
    """Random-crop size as a fraction of the image side (centre crop at inference); 1 disables."""
    keypoints: int = bounded(32, ge=1)
    """Spatial-softmax keypoints per camera."""
    image_width: int = bounded(64, ge=16)
    """Channels of the ResNet-18 trunk's first stage, doubling per stage (64: torchvision's ResNet-18;
    16 or 32 cost about 1/16 or 1/4 of its arithmetic)."""
    image_stages: int = bounded(4, ge=1, le=4)
    """ResNet-18 stages the image trunk keeps (1-4): each stage dropped halves the stride of the
    spatial softmax's feature map (4: stride 32, a 3x3 map for an 84-px crop; 3: stride 16, 6x6)."""
    privileged_aux_weight: float = bounded(0.0, ge=0)
    """Weight of a training-only loss regressing the twin's object poses (observation.privileged) from
    the current frame's image features, which teaches the image encoders where the objects are; the
    policy never reads them at run time (0: off; needs cameras and a twin-recorded dataset)."""
    pose_on_not_imitated: bool = False
    """Train the pose loss of privileged_aux_weight on the frames of staged mistakes too (episode
    metadata not_imitated): they show the objects as well as any frame; the action loss leaves them
    out either way."""
    pose_square_yaw_at: list[int] = bounded([], ge=0)
    """Where quaternions of square prisms start in observation.privileged (pick_cube's cube: [6]):
    the pose loss regresses (cos 4ψ, sin 4ψ) of their yaw ψ in place of the quaternion, which an
    image cannot tell apart from a quarter turn ([]: every value of the poses as recorded)."""
    pose_offsets: list[list[int]] = bounded([], ge=0)
    """Pairs [a, b] of where two positions start in observation.privileged (pick_cube's cube and jaws:
    [[3, 0]]): the pose loss also regresses tanh((p_a - p_b) / pose_offset_scale), the object's offset
    from the jaws, dense in every approach and fine near a grasp ([]: off)."""
    pose_offset_scale: float = bounded(0.05, gt=0)
    """Distance in metres at which pose_offsets' targets reach tanh(1): finer below, saturating above."""
    image_action_grad: float = bounded(1.0, ge=0, le=1)
    """Share of the action loss's gradient that reaches the image encoders (1: all of it; 0: they
    learn from the pose loss alone; below 1 needs privileged_aux_weight > 0)."""
    image_scaling: str = "mean_std"
    """Camera images into the encoders: mean_std (per channel, from the data's statistics) or unit
    ([0, 255] to [-1, 1])."""
    image_dim: int = bounded(64, ge=1)
    """Feature size per camera frame."""
    state_dim: int = bounded(64, ge=1)
    """Feature size of the state MLP."""
    language_dim: int = bounded(64, ge=1)
    """Feature size of the task embedding or projected text feature."""

    def validate(self) -> None:
        """Raise ConfigError (a ValueError) naming the field and the fix."""
        super().validate()
        from honed.policies.diffusion.denoisers import DENOISERS
        from honed.policies.diffusion.objectives import OBJECTIVES

        samplers = OBJECTIVES.get(self.objective).samplers
        if self.sampler not in samplers:
            raise ConfigError(
                f"sampler {self.sampler!r} does not fit objective {self.objective!r}: set policy.sampler to one of {samplers}"
            )
        DENOISERS.get(self.denoiser)
        if self.image_width < 16 or self.image_width % 16:
            raise ConfigError(
                f"image_width ({self.image_width}) must be a positive multiple of 16 (GroupNorm groups of 16 "
                "channels): set policy.image_width to 16, 32, 48 or 64"
            )
        if not 1 <= self.image_stages <= 4:
            raise ConfigError(
                f"image_stages ({self.image_stages}) must be 1 to 4, the stages of a ResNet-18: "
                "set policy.image_stages to 4 (the whole trunk) or 3 (a map twice as fine)"
            )
        if not 0 <= self.privileged_aux_weight < float("inf"):
            raise ConfigError(
                f"privileged_aux_weight ({self.privileged_aux_weight}) must be a finite weight >= 0: "
                "set policy.privileged_aux_weight to 0 (off) or, say, 1"
            )
        if not 0 <= self.image_action_grad <= 1:
            raise ConfigError(
                f"image_action_grad ({self.image_action_grad}) must be in [0, 1]: set policy.image_action_grad "
                "to 1 (the action loss trains the image encoders) or lower it towards 0"
            )
        if self.image_action_grad < 1 and self.privileged_aux_weight == 0:
            raise ConfigError(
                f"image_action_grad={self.image_action_grad} takes the action loss's gradient from the image "
                "encoders, and privileged_aux_weight=0 leaves them nothing else to learn from: set "
                "policy.privileged_aux_weight > 0 or policy.image_action_grad=1"
            )
        if self.pose_on_not_imitated and self.privileged_aux_weight == 0:
            raise ConfigError(
                "pose_on_not_imitated=true trains the pose loss, and privileged_aux_weight=0 turns it off: "
                "set policy.privileged_aux_weight > 0 or policy.pose_on_not_imitated=false"
            )
        if self.pose_square_yaw_at and self.privileged_aux_weight == 0:
            raise ConfigError(
                "pose_square_yaw_at shapes the pose loss, and privileged_aux_weight=0 turns it off: "
                "set policy.privileged_aux_weight > 0 or policy.pose_square_yaw_at=[]"
            )
        if self.pose_offsets and self.privileged_aux_weight == 0:
            raise ConfigError(
                "pose_offsets shape the pose loss, and privileged_aux_weight=0 turns it off: "
                "set policy.privileged_aux_weight > 0 or policy.pose_offsets=[]"
            )
        if any(len(pair) != 2 for pair in self.pose_offsets):
            raise ConfigError(
                f"pose_offsets {self.pose_offsets} must be pairs [object, jaws] of where positions start in "
                "observation.privileged: set, say, policy.pose_offsets=[[3,0]]"
            )
        if not 0 < self.pose_offset_scale < float("inf"):
            raise ConfigError(
                f"pose_offset_scale ({self.pose_offset_scale}) must be a finite distance > 0 in metres: "
                "set policy.pose_offset_scale to, say, 0.05"
            )
        if self.image_scaling not in IMAGE_SCALINGS:
            raise ConfigError(
                f"image_scaling {self.image_scaling!r} is unknown: set policy.image_scaling to mean_std "
                "(per-channel statistics of the data) or unit ([0, 255] to [-1, 1])"
            )
        if self.language not in ("none", "embedding", "text"):
            raise ConfigError(f"language must be none, embedding or text, got {self.language!r}")
        if self.denoiser == "unet":
            factor = 2 ** (len(self.unet_widths) - 1)
            if self.horizon % factor:
                raise ConfigError(
                    f"horizon ({self.horizon}) must be a multiple of {factor} for unet_widths {self.unet_widths}"
                )
            if any(w % self.groups for w in self.unet_widths):
                raise ConfigError(
                    f"unet_widths {self.unet_widths} must be multiples of groups ({self.groups})"
                )


@POLICY_CONFIGS.register("diffusion_ensemble")
@dataclass
class EnsembleConfig(PolicyConfig):
    """The member policies' configs, in order; the chunking is the members' (they agree on it) and
    the cameras every camera a member reads."""

    members: list[DiffusionConfig] = field(default_factory=list)
    """Configs of the diffusion policies sampled together (at least two; weights under members.<i>.)."""

    def __post_init__(self) -> None:
        if not self.members:
            return
        lead = self.members[0]
        self.n_obs_steps, self.horizon, self.n_action_steps = (
            lead.n_obs_steps,
            lead.horizon,
            lead.n_action_steps,
        )
        read = [m.cameras for m in self.members]
        self.cameras = None if None in read else list(dict.fromkeys(c for cams in read for c in cams or []))

    def validate(self) -> None:
        """Refuse training from this config: an ensemble is joined from trained checkpoints."""
        raise ConfigError(
            "policy=diffusion_ensemble is joined from trained checkpoints, not trained from scratch: train each "
            "member with policy=diffusion (say, with seed=0 and seed=1), then run honed-train ensemble "
            "members=[<ckpt_a>,<ckpt_b>] output=<dir>"
        )
