"""Policy families are declared by name and imported only when asked for; configs share PolicyConfig."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from honed.policies import POLICIES, POLICY_CONFIGS, PolicyConfig
from honed.registry import UnknownNameError

STAGES = """
import json, sys
def families():
    return sorted(m for m in sys.modules if m.startswith("honed.policies.diffusion."))
seen = {}
import honed.policies
from honed.policies import POLICIES, POLICY_CONFIGS
POLICIES.names()
seen["package"] = families()
POLICY_CONFIGS.get("diffusion")
seen["config"] = families()
POLICIES.get("diffusion")
seen["policy"] = families()
print(json.dumps(seen))
"""


def test_importing_the_package_imports_no_family_until_one_is_asked_for():
    """One fresh interpreter: the modules of the diffusion family it holds after each step."""
    out = subprocess.run([sys.executable, "-c", STAGES], capture_output=True, text=True, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["package"] == []
    assert seen["config"] == ["honed.policies.diffusion.config"]  # listing configs builds no model
    assert "honed.policies.diffusion.model" in seen["policy"]


def test_every_family_is_listed_and_unknown_ones_are_named():
    assert POLICIES.names() == POLICY_CONFIGS.names() == ["diffusion", "diffusion_ensemble"]
    for name in POLICIES.names():
        policy, config = POLICIES.get(name), POLICY_CONFIGS.get(name)
        assert policy.name == name and policy.config_class is config and issubclass(config, PolicyConfig)
    with pytest.raises(
        UnknownNameError, match="unknown policy 'act'; valid policy names: diffusion, diffusion_ensemble"
    ):
        POLICIES.get("act")


def test_an_ensemble_config_takes_its_chunking_from_its_members(pk):
    from honed.policies import EnsembleConfig

    members = [pk.tiny_config(cameras=["front"]), pk.tiny_config(cameras=["front", "wrist"])]
    config = EnsembleConfig(members=members)
    assert (config.n_obs_steps, config.horizon, config.n_action_steps) == (2, 8, 4)
    assert config.cameras == ["front", "wrist"]
    assert EnsembleConfig(members=[pk.tiny_config(), pk.tiny_config(cameras=None)]).cameras is None


def test_train_composes_the_chosen_family_config(monkeypatch, capsys):
    """TrainConfig.policy is typed PolicyConfig; Hydra's policy=<name> still yields the family's class."""
    import honed.policies.train as train_module
    from honed.policies.cli import main
    from honed.policies.diffusion.config import DiffusionConfig

    seen = []
    monkeypatch.setattr(train_module, "train", lambda cfg: seen.append(cfg) or {})
    main(["policy=diffusion", "policy.horizon=8", "policy.n_action_steps=4", "dataset=d"])
    main(["preset=debug", "dataset=d"])
    assert [type(cfg.policy) for cfg in seen] == [DiffusionConfig, DiffusionConfig]
    assert seen[0].policy.horizon == 8 and seen[1].policy.unet_widths == [32, 64]
