"""Checkpoints: an exact round trip, clear refusals, and no way to run code by loading one."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from honed.policies import CheckpointError, load_policy, save_policy
from honed.policies.checkpoint import CONFIG, MODEL


@pytest.mark.parametrize("language", ["none", "embedding", "text"])
def test_round_trip_gives_the_same_actions(pk, tmp_path, language):
    policy = pk.make_policy(("front",), language=language).eval()
    batch = pk.make_batch(policy, batch=2)
    save_policy(policy, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir() if p.is_file()) == [
        "config.json", "contract.json", "model.safetensors"]  # fmt: skip
    loaded = load_policy(tmp_path / "ckpt")
    assert not loaded.training
    noise = policy.sample_noise(2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        loaded.predict_chunk(batch, noise=noise), policy.predict_chunk(batch, noise=noise)
    )


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/honed_pickle_ran",))


def test_a_pickle_in_place_of_the_weights_is_refused_and_never_run(pk, tmp_path):
    marker = "/tmp/honed_pickle_ran"
    if os.path.exists(marker):
        os.remove(marker)
    save_policy(pk.make_policy(), tmp_path / "ckpt")
    (tmp_path / "ckpt" / MODEL).write_bytes(pickle.dumps({"weights": _Exploit()}))
    with pytest.raises(CheckpointError, match="not a safetensors file.*never loads pickles"):
        load_policy(tmp_path / "ckpt")
    assert not os.path.exists(marker)


def test_missing_files_and_bad_configs_are_named(pk, tmp_path):
    folder = save_policy(pk.make_policy(), tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "nowhere")
    config = json.loads((folder / CONFIG).read_text())
    config["config"]["horizn"] = 3
    (folder / CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="horizn"):
        load_policy(folder)
    (folder / CONFIG).unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_policy(folder)


def test_weights_that_do_not_fit_the_config_are_refused(pk, tmp_path):
    save_policy(pk.make_policy(unet_widths=[16, 32]), tmp_path / "a")
    save_policy(pk.make_policy(unet_widths=[32, 64]), tmp_path / "b")
    (tmp_path / "a" / MODEL).write_bytes((tmp_path / "b" / MODEL).read_bytes())
    with pytest.raises(CheckpointError, match="size mismatch"):
        load_policy(tmp_path / "a")
