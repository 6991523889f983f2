"""The configuration every policy family extends, and the registry of the families' configs.

Each family's config dataclass extends :class:`PolicyConfig` and registers itself in
``POLICY_CONFIGS`` under the family's name. :func:`store_policy_configs` hands them to Hydra as the
``policy=<name>`` group of ``honed-train``. Config modules import no network code, so listing the
families' configs builds no model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from honed.cli import bounded
from honed.errors import ConfigError
from honed.policies.contract import check_execution_steps
from honed.registry import Registry


@dataclass
class PolicyConfig:
    """What every policy is configured with: the cameras it reads and how it chunks actions."""

    n_obs_steps: int = bounded(2, ge=1)
    """Observation frames the policy reads: the current one and n_obs_steps - 1 earlier ones."""
    horizon: int = bounded(16, ge=1)
    """Actions predicted per chunk, from the current step."""
    n_action_steps: int = bounded(8, ge=1)
    """Actions executed from each chunk before the next is predicted."""
    cameras: list[str] | None = None
    """Cameras to read (None: every camera of the dataset; []: state only)."""

    def validate(self) -> None:
        """Raise ConfigError (a ValueError) naming the field and the fix."""
        if self.n_obs_steps < 1 or self.horizon < 1:
            raise ConfigError("n_obs_steps and horizon must be at least 1")
        check_execution_steps(self.n_action_steps, self.horizon, "n_action_steps", "horizon")


if TYPE_CHECKING:
    ChosenPolicyConfig = PolicyConfig
else:
    ChosenPolicyConfig = Any
"""Type of a config field holding the PolicyConfig that Hydra's ``policy=<name>`` chose: PolicyConfig to
type checkers, untyped to OmegaConf. A node typed PolicyConfig would be retyped as the base class when
the command's own fields merge after the chosen family's config (its settings kept, its class lost)."""


POLICY_CONFIGS: Registry[type[PolicyConfig]] = Registry("policy")
"""policy family name -> its config class (families are declared in ``honed.policies``)."""


def store_policy_configs() -> None:
    """Store every family's config in Hydra's ConfigStore as option ``policy=<name>``."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for name in POLICY_CONFIGS.names():
        store.store(group="policy", name=name, node=POLICY_CONFIGS.get(name))
