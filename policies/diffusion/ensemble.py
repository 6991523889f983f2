"""Several diffusion policies trained on the same data, sampled as one (``policy=diffusion_ensemble``).

Each member encodes the observation with its own encoders. At every sampler step the members'
denoisers predict from the same noisy chunk, and the sampler steps with the mean of their
predictions (the noise after DDPM training, the velocity after flow matching): the mean of the
members' estimates of the same quantity, so one sampler run draws one chunk that all members agree
on, not a pick among their chunks. Members are typically training seeds of one recipe (measured
ensembles: docs/experiments.md); sampling costs one network evaluation per member per sampler step.

Members share the contract (features, statistics, chunking) and the objective, so their predictions
live in one normalised space. A checkpoint holds every member's weights under ``members.<i>.`` in
one safetensors file, their configs in ``config.json``, and each member's extra files (a text
encoder's) in ``member_<i>/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from honed.features import TASK, Features
from honed.policies.base import Batch, EncodesFrames, Policy, SamplesNoise, ScoresActions, register_policy
from honed.policies.contract import Contract
from honed.policies.diffusion.config import DiffusionConfig, EnsembleConfig
from honed.policies.diffusion.denoisers import Denoiser
from honed.policies.diffusion.model import DiffusionPolicy

SHARED = ("objective", "num_train_timesteps", "clip_sample", "sampler", "num_inference_steps",
          "n_obs_steps", "horizon", "n_action_steps")  # fmt: skip
"""Config fields every member must agree on: what the predictions mean and how they are sampled."""


def check_member_count(count: int) -> None:
    if count < 2:
        raise ValueError(f"an ensemble needs at least two members, got {count}: pass members=[ckpt_a,ckpt_b]")


def check_members(configs: Sequence[DiffusionConfig]) -> None:
    """ValueError naming each shared field (see :data:`SHARED`) a member sets otherwise than the first."""
    check_member_count(len(configs))
    differences = [
        f"member {i} {name}={getattr(c, name)!r} (member 0: {getattr(configs[0], name)!r})"
        for i, c in enumerate(configs[1:], start=1)
        for name in SHARED
        if getattr(c, name) != getattr(configs[0], name)
    ]
    if differences:
        raise ValueError(
            "ensemble members must share the objective, sampler and chunking: " + "; ".join(differences)
        )


class MeanDenoiser(Denoiser):
    """The members' denoisers as one: tokens are the members' tokens joined along features; each
    member conditions on its own part, and the prediction is the mean of theirs."""

    parts: list[Denoiser]

    def __init__(self, denoisers: Sequence[Denoiser], widths: Sequence[int]):
        super().__init__()
        self.__dict__["parts"] = list(denoisers)  # the members own the weights; not registered twice
        self.widths = list(widths)

    @classmethod
    def build(cls, config: DiffusionConfig, action_dim: int, token_dim: int) -> Denoiser:
        raise TypeError("a MeanDenoiser is built from trained members' denoisers, not from a config")

    def _split(self, tokens: Tensor) -> tuple[Tensor, ...]:
        return tokens.split(self.widths, dim=-1)  # per member (B, S, F_i)

    def prepare(self, times: Tensor, tokens: Tensor) -> list[Any]:
        per_member = [d.prepare(times, t) for d, t in zip(self.parts, self._split(tokens))]
        return list(zip(*per_member))  # K entries of one conditioning per member

    def prepare_pointwise(self, t: Tensor, tokens: Tensor) -> Any:
        return [d.prepare_pointwise(t, part) for d, part in zip(self.parts, self._split(tokens))]

    def denoise(self, x: Tensor, prepared: Any) -> Tensor:
        return torch.stack([d.denoise(x, p) for d, p in zip(self.parts, prepared)]).mean(0)  # (B, H, A)

    def step(self, x: Tensor, prepared: Any) -> Tensor:
        return torch.stack([d.step(x, p) for d, p in zip(self.parts, prepared)]).mean(0)  # (B, H, A)


def _member_dir(checkpoint_dir: Path | None, index: int) -> Path | None:
    return None if checkpoint_dir is None else checkpoint_dir / f"member_{index}"


@register_policy("diffusion_ensemble")
class DiffusionEnsemble(Policy, SamplesNoise, EncodesFrames, ScoresActions):
    """Diffusion policies sampled together; see the module docstring."""

    config: EnsembleConfig

    def __init__(
        self,
        config: EnsembleConfig,
        contract: Contract,
        checkpoint_dir: Path | None = None,
        members: Sequence[DiffusionPolicy] | None = None,
    ):
        """``members``: trained policies to hold as they are (their configs must be ``config.members``)."""
        super().__init__(config, contract, checkpoint_dir)
        check_members(config.members)
        if members is None:
            members = [
                DiffusionPolicy(c, contract, _member_dir(checkpoint_dir, i))
                for i, c in enumerate(config.members)
            ]
        self.members = nn.ModuleList(members)  # registers the weights under members.<i>.
        self.policies: list[DiffusionPolicy] = list(members)
        """The members, in order (the same modules, typed)."""
        self.denoiser = MeanDenoiser([m.denoiser for m in members], [m.token_dim for m in members])

    @property
    def lead(self) -> DiffusionPolicy:
        """The first member: its objective and normalisation serve the ensemble (all share them)."""
        return self.policies[0]

    @classmethod
    def input_keys(cls, config: EnsembleConfig, features: Features) -> list[str]:
        keys = [k for c in config.members for k in DiffusionPolicy.input_keys(c, features)]
        return list(dict.fromkeys(keys))

    @classmethod
    def training_targets(cls, config: EnsembleConfig, features: Features) -> list[str]:
        keys = [k for c in config.members for k in DiffusionPolicy.training_targets(c, features)]
        return list(dict.fromkeys(keys))

    @classmethod
    def unseen_instructions(cls, config: EnsembleConfig, contract: Contract, instructions: Any) -> list[str]:
        """The instructions some member cannot take."""
        unseen = {
            i for c in config.members for i in DiffusionPolicy.unseen_instructions(c, contract, instructions)
        }
        return sorted(unseen)

    def sample_with(self, sampler: str = "", steps: int = 0) -> None:
        for member in self.policies:
            member.sample_with(sampler, steps)

    def sampling(self) -> dict[str, Any]:
        return self.lead.sampling()

    def compile_for_inference(self) -> DiffusionEnsemble:
        """Compile every member's frame encoding and denoiser step (see DiffusionPolicy's)."""
        for member in self.policies:
            member.compile_for_inference()
        return self

    def frozen_prefixes(self) -> list[str]:
        return [f"members.{i}.{p}" for i, m in enumerate(self.policies) for p in m.frozen_prefixes()]

    def save_assets(self, folder: Path) -> None:
        for i, member in enumerate(self.policies):
            member.save_assets(folder / f"member_{i}")

    def compute_loss(self, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        """The mean of the members' losses (training them together); metrics averaged likewise."""
        results = [m.compute_loss(batch) for m in self.policies]
        loss = torch.stack([r[0] for r in results]).mean()
        names = results[0][1]
        return loss, {k: sum(r[1][k] for r in results) / len(results) for k in names}

    def log_prob(self, batch: Batch) -> Tensor:
        """The mean of the members' surrogates (B,)."""
        return torch.stack([m.log_prob(batch) for m in self.policies]).mean(0)

    def noise_shape(self, batch_size: int) -> tuple[int, ...]:
        return self.lead.noise_shape(batch_size)

    def tokens(self, obs: Batch) -> Tensor:
        """The members' observation tokens joined along features (B, n_obs, sum F_i)."""
        return torch.cat([m.tokens(obs) for m in self.policies], dim=-1)

    @torch.inference_mode()
    def predict_chunk(
        self, obs: Batch, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        return self.lead.sample_from_tokens(self.tokens(obs), noise, generator, denoiser=self.denoiser)

    def observe(self, frame: Batch) -> Tensor:
        """The members' frame features joined (B, sum F_i)."""
        return torch.cat([m.observe(frame) for m in self.policies], dim=-1)

    def chunk_from_history(
        self,
        history: Tensor,
        current: Batch,
        noise: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        parts = history.split([m.frame_dim for m in self.policies], dim=-1)  # per member (B, n_obs, F_i)
        tokens = torch.cat(
            [m.tokens_from_features(p, current.get(TASK)) for m, p in zip(self.policies, parts)], dim=-1
        )
        return self.lead.sample_from_tokens(tokens, noise, generator, denoiser=self.denoiser)


def joined_contract(contracts: Sequence[Contract], names: Sequence[str]) -> Contract:
    """The members' one contract. A member trained before cameras stated their placement differs from
    later ones only there: each is read with the placements the others state, and the joined contract
    states every one known, so evaluation checks each camera for all members. Placements that two
    members state differently, like any other difference, are refused. The ensemble's trained tasks
    are every task a member was trained on."""
    known = contracts[0].features
    for contract in contracts[1:]:
        known = known.with_placements_of(contract.features)
    trained = tuple(sorted({t for c in contracts for t in c.trained_tasks}))
    placed = [
        replace(c, features=c.features.with_placements_of(known), trained_tasks=trained) for c in contracts
    ]
    first = placed[0].to_dict()
    for contract, name in zip(placed[1:], names[1:]):
        body = contract.to_dict()
        if body["digest"] != first["digest"]:
            fields = sorted(k for k, v in body.items() if k != "digest" and first[k] != v)
            raise ValueError(
                f"{name}'s contract differs from {names[0]}'s in {fields}: "
                "join policies trained on the same features, statistics and chunking"
            )
    return placed[0]


def join_policies(policies: Sequence[Policy], names: Sequence[str]) -> DiffusionEnsemble:
    """An ensemble holding ``policies`` (diffusion policies with one contract); ``names`` name them in errors."""
    check_member_count(len(policies))
    members: list[DiffusionPolicy] = []
    for policy, name in zip(policies, names):
        if not isinstance(policy, DiffusionPolicy):
            raise ValueError(
                f"{name} holds a {policy.name} policy; an ensemble joins diffusion policies only"
            )
        members.append(policy)
    contract = joined_contract([m.contract for m in members], names)
    config = EnsembleConfig(members=[m.config for m in members])
    return DiffusionEnsemble(config, contract, members=members)
