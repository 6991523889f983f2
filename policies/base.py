"""The Policy seam: what training, evaluation, deployment and RL call on every policy.

A policy is a stateless ``nn.Module`` built from its typed config (a :class:`PolicyConfig`) and a
:class:`Contract` (features, statistics, chunking). Observations and actions cross the seam in raw
units (radians, uint8 images); normalisation happens inside. Every policy offers
``compute_loss(batch)`` and ``predict_chunk(obs)``; the observation history and the queue of
executed actions of running episodes live in a :class:`~honed.policies.executor.ChunkExecutor`.

What only some families can do is an optional capability, asked for with ``isinstance`` (or
``issubclass`` for the class-level one):

- :class:`SamplesNoise`: chunks are sampled from an initial noise the caller may supply (common
  random numbers in evaluation, noise-space RL), with a choice of sampler and step count.
- :class:`EncodesFrames`: a frame is encoded once when it arrives and the history keeps encodings,
  so a chunk encodes only its newest frame.
- :class:`ScoresActions`: a log-likelihood (or surrogate) of actions given observations, for RL.
- :class:`TrainsOnStagedMistakes`: training also reads frames of staged mistakes (not imitated).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from honed.errors import UserError
from honed.features import ACTION
from honed.policies.config import POLICY_CONFIGS, PolicyConfig
from honed.policies.contract import Contract
from honed.registry import Registry

POLICIES: Registry[type[Policy]] = Registry("policy")
"""policy family name -> its Policy class (families are declared in ``honed.policies``)."""
Batch = dict[str, Any]


def register_policy(name: str) -> Any:
    """Register a Policy class under ``name``; its config class is the one registered under ``name``
    in ``POLICY_CONFIGS``."""

    def decorate(cls: type[Policy]) -> type[Policy]:
        cls.name, cls.config_class = name, POLICY_CONFIGS.get(name)
        return POLICIES.register(name)(cls)

    return decorate


def policy_class_for(config: PolicyConfig) -> type[Policy]:
    """The registered policy class whose config class ``config`` is an instance of."""
    for name in POLICY_CONFIGS.names():
        if type(config) is POLICY_CONFIGS.get(name):
            return POLICIES.get(name)
    raise ValueError(f"no registered policy takes a {type(config).__name__}; policies: {POLICIES.names()}")


class UnsafeActionError(UserError, RuntimeError):
    """The policy produced a non-finite action; nothing was sent."""


def check_finite(actions: Tensor, where: str) -> Tensor:
    if not bool(torch.isfinite(actions).all()):
        bad = torch.nonzero(~torch.isfinite(actions))[0].tolist()
        raise UnsafeActionError(f"{where}: non-finite action at index {bad}; refusing to return it")
    return actions


class Policy(nn.Module, ABC):
    """Imitation policy over action chunks; see the module docstring."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: PolicyConfig, contract: Contract, checkpoint_dir: Path | None = None):
        """``checkpoint_dir``: the checkpoint being loaded, for files beside the weights (None when new)."""
        super().__init__()
        self.config = config
        self.contract = contract

    @classmethod
    @abstractmethod
    def input_keys(cls, config: Any, features: Any) -> list[str]:
        """Observation keys this config reads from data with ``features``; ValueError if some are absent."""

    @classmethod
    def training_targets(cls, config: Any, features: Any) -> list[str]:
        """Keys this config regresses in training only (auxiliary targets such as the twin's object
        poses): the contract keeps their statistics, the policy never reads them at run time.
        ValueError naming the fix if the data lacks one."""
        return []

    @classmethod
    def unseen_instructions(cls, config: Any, contract: Contract, instructions: Any) -> list[str]:
        """The ``instructions`` a policy of this config with ``contract`` cannot take (sorted; default:
        none, a policy that reads no language or reads any text)."""
        return []

    @abstractmethod
    def compute_loss(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """Mean training loss of a collated batch and scalar metrics to log."""

    @abstractmethod
    def predict_chunk(
        self, obs: Batch, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Actions (B, horizon, A) in raw units from an observation history (B, n_obs_steps, ...).
        ``noise`` and ``generator`` fix the sampling of policies that sample (:class:`SamplesNoise`);
        others take neither."""

    def frozen_prefixes(self) -> list[str]:
        """Prefixes of parameter names whose weights the constructor rebuilds from a pretrained source
        its config names (a frozen backbone): checkpoints leave them out. Default: none."""
        return []

    def save_assets(self, folder: Path) -> None:  # noqa: B027 - optional hook
        """Write files a checkpoint needs besides weights, config and contract; default: none."""

    @property
    def device(self) -> torch.device:
        """Where the policy's weights are (the CPU for a policy without any)."""
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    @property
    def action_dim(self) -> int:
        return int(self.contract.features[ACTION].shape[0])


@runtime_checkable
class SamplesNoise(Protocol):
    """Capability of a policy that samples chunks from an initial noise (diffusion, flow matching).

    ``predict_chunk(obs, noise)`` starts from ``noise`` when given, so a caller can pair evaluations
    by seed or steer the sampler (noise-space RL). The sampler and its step count are a deployment
    choice: the weights are the same either way.
    """

    def noise_shape(self, batch_size: int) -> tuple[int, ...]:
        """Shape of the initial noise ``predict_chunk`` accepts for ``batch_size`` observations."""
        ...

    def sample_with(self, sampler: str = "", steps: int = 0) -> None:
        """Sample with ``sampler`` in ``steps`` steps (empty / 0: the config's own); ValueError naming
        the fix for a sampler the policy cannot take."""
        ...

    def sampling(self) -> dict[str, Any]:
        """The sampler and its step count in use, e.g. ``{"sampler": "ddim", "num_inference_steps": 10}``."""
        ...

    def sample_noise(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """Standard normal initial noise for ``batch_size`` observations, on the generator's device."""
        device = generator.device if generator is not None else None
        return torch.randn(self.noise_shape(batch_size), generator=generator, device=device)


@runtime_checkable
class EncodesFrames(Protocol):
    """Capability of a policy that encodes each observation frame on its own, so a history of
    encodings serves every chunk that reads it (the executor encodes each frame once)."""

    def observe(self, frame: Batch) -> Tensor:
        """Features (B, F) of one observation frame (state (B, S), images (B, H, W, 3), ...)."""
        ...

    def chunk_from_history(
        self,
        history: Tensor,
        current: Batch,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Actions (B, horizon, A) in raw units from encodings (B, n_obs_steps, F) of the history's
        frames (oldest first) and the current frame (for what is not encoded per frame: the task)."""
        ...


@runtime_checkable
class ScoresActions(Protocol):
    """Capability of a policy with a log-likelihood of actions (exact, or a surrogate), for RL."""

    def log_prob(self, batch: Batch) -> Tensor:
        """(B,) log-likelihood (or surrogate) of the batch's action chunks given its observations."""
        ...


@runtime_checkable
class TrainsOnStagedMistakes(Protocol):
    """Capability of a family whose training may also read the frames of staged mistakes (flagged
    ``imitated`` False in the batch) for a loss on what they show; the action loss never imitates them."""

    @classmethod
    def learns_from_not_imitated(cls, config: Any) -> bool:
        """Whether a policy of ``config`` trains on those frames."""
        ...


def learns_from_not_imitated(cls: type[Policy], config: PolicyConfig) -> bool:
    """Whether training a ``cls`` policy of ``config`` samples the frames of staged mistakes too."""
    return issubclass(cls, TrainsOnStagedMistakes) and cls.learns_from_not_imitated(config)
