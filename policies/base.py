"""The Policy seam: what training, evaluation, deployment and RL call on every policy.

A policy is an ``nn.Module`` built from its typed config and a :class:`Contract` (features,
statistics, chunking). Observations and actions cross the seam in raw units (radians, uint8 images);
normalisation happens inside. ``select_action`` keeps the observation history and the queue of
executed actions; ``predict_chunk`` is the stateless call underneath.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import torch
from hydra.core.config_store import ConfigStore
from torch import Tensor, nn

from honed.errors import UserError
from honed.features import ACTION, TASK
from honed.policies.contract import Contract, check_execution_steps
from honed.registry import Registry

POLICIES: Registry[type[Policy]] = Registry("policy")
Batch = dict[str, Any]


def register_policy(name: str, config_class: type) -> Any:
    """Register a Policy class under ``name`` and its config as Hydra option ``policy=<name>``."""

    def decorate(cls: type[Policy]) -> type[Policy]:
        cls.name, cls.config_class = name, config_class
        ConfigStore.instance().store(group="policy", name=name, node=config_class)
        return POLICIES.register(name)(cls)

    return decorate


def policy_class_for(config: Any) -> type[Policy]:
    """The registered policy class whose config class ``config`` is an instance of."""
    for name in POLICIES.names():
        cls = POLICIES.get(name)
        if type(config) is cls.config_class:
            return cls
    raise ValueError(f"no registered policy takes a {type(config).__name__}; policies: {POLICIES.names()}")


class UnsafeActionError(UserError, RuntimeError):
    """The policy produced a non-finite action; nothing was sent."""


def check_finite(actions: Tensor, where: str) -> Tensor:
    if not bool(torch.isfinite(actions).all()):
        bad = torch.nonzero(~torch.isfinite(actions))[0].tolist()
        raise UnsafeActionError(f"{where}: non-finite action at index {bad}; refusing to return it")
    return actions


class _Frame:
    """An observation frame in the history, with its encoding once computed."""

    def __init__(self, frame: Batch):
        self.frame = frame
        self.kept: Any = None

    def encoded(self, policy: Policy) -> Any:
        if self.kept is None:
            self.kept = policy.observe(self.frame)
        return self.kept


class Policy(nn.Module, ABC):
    """Imitation policy over action chunks; see the module docstring."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def __init__(self, config: Any, contract: Contract, checkpoint_dir: Path | None = None):
        """``checkpoint_dir``: the checkpoint being loaded, for files beside the weights (None when new)."""
        super().__init__()
        self.config = config
        self.contract = contract
        self._history: deque[_Frame] = deque(maxlen=contract.n_obs_steps)
        self._queue: deque[Tensor] = deque()
        self.n_action_steps = contract.n_action_steps
        """Actions of each chunk executed before the next is planned (the contract's by default)."""

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
    def learns_from_not_imitated(cls, config: Any) -> bool:
        """Whether training should also sample the frames of staged mistakes (flagged ``imitated``
        False in the batch) for a loss on what they show; the action loss never imitates them."""
        return False

    @classmethod
    def knows_only_its_training_tasks(cls, config: Any) -> bool:
        """Whether this config's language conditioning is a vocabulary fixed at training (the
        contract's ``tasks``), so a checkpoint cannot take instructions beyond it."""
        return False

    @classmethod
    def unseen_instructions(cls, config: Any, contract: Contract, instructions: Any) -> list[str]:
        """The ``instructions`` a policy of this config with ``contract`` cannot take (sorted)."""
        if not cls.knows_only_its_training_tasks(config):
            return []
        return sorted(set(instructions) - set(contract.tasks))

    @abstractmethod
    def compute_loss(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """Mean training loss of a collated batch and scalar metrics to log."""

    @abstractmethod
    def log_prob(self, batch: Batch) -> Tensor:
        """(B,) log-likelihood surrogate of the batch's actions given its observations (RL)."""

    @abstractmethod
    def noise_shape(self, batch_size: int) -> tuple[int, ...]:
        """Shape of the initial noise :meth:`predict_chunk` accepts."""

    @abstractmethod
    def predict_chunk(
        self, obs: Batch, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Actions (B, horizon, A) in raw units from an observation history (B, n_obs_steps, ...)."""

    @abstractmethod
    def observe(self, frame: Batch) -> Any:
        """Per-frame work done once when a frame arrives (encoding); returns what the history keeps."""

    @abstractmethod
    def chunk_from_history(self, history: list[Any], noise: Tensor | None) -> Tensor:
        """Actions (B, horizon, A) from the kept history (oldest first)."""

    def save_assets(self, folder: Path) -> None:  # noqa: B027 - optional hook
        """Write files a checkpoint needs besides weights, config and contract; default: none."""

    def execute_steps(self, n_action_steps: int) -> None:
        """Execute ``n_action_steps`` actions of each chunk before planning again (1..horizon): a
        deployment choice, so the contract, which fixes what the network predicts, keeps its own."""
        check_execution_steps(
            n_action_steps, self.contract.horizon, "n_action_steps", "the checkpoint's horizon"
        )
        self.n_action_steps = n_action_steps
        self._queue.clear()

    def sample_with(self, sampler: str = "", steps: int = 0) -> None:
        """Sample chunks with ``sampler`` in ``steps`` steps, a deployment choice like
        :meth:`execute_steps` (empty / 0: the config's own). Policies without a sampler take only those."""
        if sampler or steps:
            raise ValueError(
                f"a {self.name} policy has no sampler to choose: leave sampler and num_inference_steps unset"
            )

    def sampling(self) -> dict[str, Any]:
        """The sampler and its step count in use (empty for policies without one)."""
        return {}

    def reset(self) -> None:
        """Forget the observation history and queued actions (call at every episode start)."""
        self._history.clear()
        self._queue.clear()

    @torch.inference_mode()
    def select_action(self, frame: Batch, noise: Tensor | None = None) -> Tensor:
        """The next action (B, A) for one observation frame (state (B, S), images (B, H, W, 3), task).

        A frame is encoded when it arrives if the next chunk will read it (so the step that plans
        encodes only its own frame), later if needed, and never if no chunk reads it.
        """
        entry = _Frame(frame)
        if len(self._queue) < self.contract.n_obs_steps:
            entry.kept = self.observe(frame)
        if not self._history:
            self._history.extend([entry] * self.contract.n_obs_steps)
        else:
            self._history.append(entry)
        if not self._queue:
            history = [e.encoded(self) for e in self._history]
            chunk = check_finite(self.chunk_from_history(history, noise), self.name)
            self._queue.extend(chunk[:, : self.n_action_steps].unbind(1))
        return self._queue.popleft()

    @property
    def plans_next_call(self) -> bool:
        """Whether the next :meth:`select_action` computes a new chunk."""
        return not self._queue

    def sample_noise(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        device = next(self.parameters()).device
        return torch.randn(self.noise_shape(batch_size), generator=generator, device=device)

    @property
    def reads_task(self) -> bool:
        return TASK in self.contract.features

    @property
    def action_dim(self) -> int:
        return int(self.contract.features[ACTION].shape[0])
