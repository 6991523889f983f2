"""The checkpoint shipped for `make demo`: small, loadable, and contracted to the twin task it runs on."""

from pathlib import Path

import torch

from honed.evaluation.evaluate import twin_features
from honed.policies.checkpoint import load_policy

SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "pretrained" / "pick_cube_state"


def test_shipped_checkpoint_is_small_and_names_its_recipe() -> None:
    files = {p.name for p in SHIPPED.iterdir()}
    assert files == {"model.safetensors", "config.json", "contract.json", "README.md"}
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) <= 20 * 2**20
    recipe = (SHIPPED / "README.md").read_text()
    assert "honed-record" in recipe and "honed-train" in recipe


def test_shipped_checkpoint_matches_pick_cube_and_acts() -> None:
    policy = load_policy(SHIPPED)
    assert policy.contract.trained_tasks == ("pick_cube",)
    features, hz = twin_features("pick_cube", policy.contract)
    policy.contract.check(features, hz, where="twin task 'pick_cube'")
    obs = {
        k: torch.zeros((1, policy.contract.n_obs_steps, *features[k].shape))
        for k in policy.contract.observation_keys
    }
    chunk = policy.predict_chunk(obs, generator=torch.Generator().manual_seed(0))
    assert chunk.shape == (1, policy.contract.horizon, policy.contract.action_dim)
    assert bool(torch.isfinite(chunk).all())
