"""Policies trained by imitation: the Policy seam, registry, checkpoints, encoders and families.

Importing this package registers every policy family in ``POLICIES`` (and as Hydra ``policy=<name>``).
"""

from honed.policies.base import POLICIES, Policy, UnsafeActionError
from honed.policies.checkpoint import CheckpointError, load_policy, save_policy
from honed.policies.contract import Contract, ContractError
from honed.policies.diffusion.config import DiffusionConfig
from honed.policies.diffusion.ensemble import DiffusionEnsemble, EnsembleConfig
from honed.policies.diffusion.model import DiffusionPolicy

__all__ = [
    "POLICIES",
    "CheckpointError",
    "Contract",
    "ContractError",
    "DiffusionConfig",
    "DiffusionEnsemble",
    "DiffusionPolicy",
    "EnsembleConfig",
    "Policy",
    "UnsafeActionError",
    "load_policy",
    "save_policy",
]
