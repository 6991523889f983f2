"""Policies trained by imitation: the Policy seam, the ChunkExecutor, registry, checkpoints, families.

Each policy family is declared here by name and imported only when it is asked for (``POLICIES.get``,
``POLICY_CONFIGS.get``, or an attribute of this package such as ``DiffusionPolicy``), so importing
``honed.policies`` builds no network code. ``store_policy_configs`` hands the families' configs to
Hydra as ``policy=<name>``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from honed.policies.base import POLICIES, Policy, UnsafeActionError
from honed.policies.checkpoint import CheckpointError, load_policy, save_policy
from honed.policies.config import POLICY_CONFIGS, PolicyConfig, store_policy_configs
from honed.policies.contract import Contract, ContractError
from honed.policies.executor import ChunkExecutor

if TYPE_CHECKING:
    from honed.policies.diffusion.config import DiffusionConfig, EnsembleConfig
    from honed.policies.diffusion.ensemble import DiffusionEnsemble
    from honed.policies.diffusion.model import DiffusionPolicy

FAMILIES = {
    "diffusion": ("honed.policies.diffusion.config", "honed.policies.diffusion.model"),
    "diffusion_ensemble": ("honed.policies.diffusion.config", "honed.policies.diffusion.ensemble"),
}
"""policy name -> (module registering its config, module registering its Policy class)."""
for _name, (_config, _model) in FAMILIES.items():
    POLICY_CONFIGS.declare(_name, _config)
    POLICIES.declare(_name, _model)

_LAZY = {
    "DiffusionConfig": "honed.policies.diffusion.config",
    "EnsembleConfig": "honed.policies.diffusion.config",
    "DiffusionPolicy": "honed.policies.diffusion.model",
    "DiffusionEnsemble": "honed.policies.diffusion.ensemble",
}


def __getattr__(name: str) -> Any:
    """A family's class, imported when first asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'honed.policies' has no attribute {name!r}")


__all__ = [
    "POLICIES",
    "POLICY_CONFIGS",
    "CheckpointError",
    "ChunkExecutor",
    "Contract",
    "ContractError",
    "DiffusionConfig",
    "DiffusionEnsemble",
    "DiffusionPolicy",
    "EnsembleConfig",
    "Policy",
    "PolicyConfig",
    "UnsafeActionError",
    "load_policy",
    "save_policy",
    "store_policy_configs",
]
