"""Policy checkpoints: a directory of ``model.safetensors`` + ``config.json`` + ``contract.json``.

Only safetensors and JSON are ever read back: nothing is unpickled, so a checkpoint cannot run code.
A text encoder's config and tokenizer files go to ``text_encoder/`` (its weights are in the
safetensors file). Frozen parameters a policy rebuilds from a pretrained source its config names
(``Policy.frozen_prefixes``) are left out of the weights file; loading rebuilds them from that source
and reads every other parameter strictly from the file. Directories are written beside their final name and renamed into place, so a
crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from safetensors import SafetensorError
from safetensors.torch import load_model, save_file

from honed.errors import UserError
from honed.policies.base import POLICIES, Policy
from honed.policies.contract import Contract, ContractError

MODEL, CONFIG, CONTRACT = "model.safetensors", "config.json", "contract.json"
FORMAT = 1


class CheckpointError(UserError, ValueError):
    """A checkpoint directory is missing files or holds malformed ones."""


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def save_policy(policy: Policy, folder: str | Path, extra: Callable[[Path], None] | None = None) -> Path:
    """Write the policy's current weights, config and contract to ``folder`` (replacing it).

    ``extra(staging_dir)`` may add files (training state) before the directory is renamed into place.
    """
    folder = Path(folder)
    weights, aliases = saved_weights(policy)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(weights, str(staging / MODEL), metadata={"policy": policy.name, **aliases})
    write_json(
        staging / CONFIG,
        {"format": FORMAT, "policy": policy.name, "config": dataclasses.asdict(policy.config)},
    )
    write_json(staging / CONTRACT, policy.contract.to_dict())
    policy.save_assets(staging)
    if extra is not None:
        extra(staging)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(staging, folder)
    return folder


def saved_weights(policy: Policy) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors a checkpoint keeps: the state dict without the frozen prefixes, one name per shared
    tensor; and the other names of shared tensors, mapped to the kept one (safetensors' metadata form,
    which its ``load_model`` reads back)."""
    frozen = tuple(policy.frozen_prefixes())
    kept: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    first_name: dict[tuple[Any, ...], str] = {}
    trained = [n for n, p in policy.named_parameters() if p.requires_grad and frozen and n.startswith(frozen)]
    if trained:
        raise ValueError(
            f"a {policy.name} policy names {trained[:3]} frozen (rebuilt from its pretrained source on loading), "
            "yet they are trained: a checkpoint would lose them"
        )
    for name, tensor in policy.state_dict().items():
        if frozen and name.startswith(frozen):
            continue
        view = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tensor.stride(),
        )
        if tensor.numel() and view in first_name:
            aliases[name] = first_name[view]
            continue
        first_name[view] = name
        kept[name] = tensor.contiguous()
    return kept, aliases


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path.parent} is not a policy checkpoint: {path.name} is missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None


def read_config(folder: str | Path) -> tuple[type[Policy], Any]:
    """The policy class and its typed config from ``config.json``; unknown or ill-typed fields are errors."""
    data = _read_json(Path(folder) / CONFIG)
    if not isinstance(data, dict) or data.get("format") != FORMAT or "policy" not in data:
        raise CheckpointError(
            f"{folder}/{CONFIG}: expected format {FORMAT} with 'policy' and 'config' fields"
        )
    cls = POLICIES.get(str(data["policy"]))
    try:
        config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.config_class), data["config"]))
    except OmegaConfBaseException as e:
        raise CheckpointError(f"{folder}/{CONFIG}: {str(e).splitlines()[0]}") from None
    return cls, config


def read_contract(folder: str | Path) -> Contract:
    from honed.policies.hub import checkpoint_dir  # a hf:// location reads the downloaded files

    path = checkpoint_dir(folder) / CONTRACT
    return Contract.from_dict(_read_json(path), where=str(path))


def load_policy(folder: str | Path, device: str | torch.device = "cpu") -> Policy:
    """Rebuild a policy from a checkpoint directory (or hf://namespace/name), in eval mode, on ``device``."""
    from honed.policies.hub import checkpoint_dir

    folder = checkpoint_dir(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint {folder} does not exist (expected a directory with {MODEL})")
    cls, config = read_config(folder)
    try:
        contract = read_contract(folder)
    except ContractError as e:
        raise CheckpointError(str(e)) from None
    policy = cls(config, contract, folder)
    weights = folder / MODEL
    if not weights.is_file():
        raise CheckpointError(f"{folder} is not a policy checkpoint: {MODEL} is missing")
    try:
        missing, unexpected = load_model(policy, str(weights), strict=False)
    except SafetensorError as e:
        raise CheckpointError(
            f"{weights} is not a safetensors file ({' '.join(str(e).split())[:200]}); honed reads weights "
            "only from safetensors files and never loads pickles (torch.save files): save the weights "
            "with safetensors, e.g. honed's own save_policy"
        ) from None
    except RuntimeError as e:
        raise CheckpointError(
            f"{weights} cannot be loaded into the {cls.name} policy its config describes: {' '.join(str(e).split())[:400]}"
        ) from None
    frozen = tuple(policy.frozen_prefixes())
    missing = [k for k in missing if not (frozen and k.startswith(frozen))]  # rebuilt from their source
    if missing or unexpected:
        raise CheckpointError(
            f"{weights} does not fit the {cls.name} policy its config describes: "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    return policy.to(device).eval()
