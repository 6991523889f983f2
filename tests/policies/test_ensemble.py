"""Diffusion ensembles: the mean of the members' predictions, a checkpoint like any other, refusals."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from honed.evaluation.evaluate import EvalConfig, evaluate
from honed.features import Features, image_key
from honed.policies import ChunkExecutor, DiffusionEnsemble, load_policy, save_policy
from honed.policies.cli import main as train_main
from honed.policies.diffusion.ensemble import join_policies


def members(pk, count: int = 2, cameras: tuple[str, ...] = ("front",), **overrides: object) -> list:
    """``count`` policies with one contract and different weights."""
    out = []
    for seed in range(count):
        torch.manual_seed(seed)
        out.append(pk.make_policy(cameras, **overrides).eval())
    return out


def test_an_ensemble_of_one_policy_twice_samples_what_the_policy_samples(pk):
    policy = pk.make_policy(("front",)).eval()
    ensemble = join_policies([policy, copy.deepcopy(policy)], ["a", "b"]).eval()
    batch = pk.make_batch(policy, batch=2)
    noise = policy.sample_noise(2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        ensemble.predict_chunk(batch, noise=noise), policy.predict_chunk(batch, noise=noise)
    )
    runs = ChunkExecutor(ensemble, 2), ChunkExecutor(policy, 2)
    for step in range(2):  # the control-loop path: encodings kept per member, one chunk planned
        frame = pk.frame_of(batch, step)
        torch.testing.assert_close(runs[0].act(frame, noise), runs[1].act(frame, noise))


def test_one_euler_step_lands_on_the_mean_of_the_members_chunks(pk):
    """With one Euler step and no clipping the sample is noise minus the velocity, affine in it, so
    the ensemble's chunk is the mean of its members' chunks from the same noise."""
    flow = dict(objective="flow", sampler="euler", num_inference_steps=1, clip_sample=False)
    parts = members(pk, 3, **flow)
    ensemble = join_policies(parts, ["a", "b", "c"]).eval()
    batch = pk.make_batch(parts[0], batch=2)
    noise = parts[0].sample_noise(2, torch.Generator().manual_seed(1))
    chunks = [p.predict_chunk(batch, noise=noise) for p in parts]
    assert not torch.allclose(chunks[0], chunks[1])  # the members differ
    torch.testing.assert_close(ensemble.predict_chunk(batch, noise=noise), torch.stack(chunks).mean(0))


def test_an_ensemble_checkpoint_loads_like_any_other_and_samples_the_same(pk, tmp_path):
    parts = members(pk, language="text")  # each member's text encoder files go to member_<i>/
    for i, part in enumerate(parts):
        save_policy(part, tmp_path / f"seed{i}")
    code = train_main(
        ["ensemble", f"members=[{tmp_path / 'seed0'},{tmp_path / 'seed1'}]", f"output={tmp_path / 'ens'}"]
    )
    assert code is None or code == 0
    config = json.loads((tmp_path / "ens" / "config.json").read_text())
    assert config["policy"] == "diffusion_ensemble" and len(config["config"]["members"]) == 2
    assert (tmp_path / "ens" / "member_1" / "text_encoder").is_dir()
    loaded = load_policy(tmp_path / "ens")
    assert isinstance(loaded, DiffusionEnsemble) and not loaded.training
    batch = pk.make_batch(parts[0], batch=2)
    noise = parts[0].sample_noise(2, torch.Generator().manual_seed(2))
    expected = join_policies(parts, ["a", "b"]).eval().predict_chunk(batch, noise=noise)
    torch.testing.assert_close(loaded.predict_chunk(batch, noise=noise), expected)
    loaded.sample_with("ddpm", 3)  # a deployment choice reaches every member
    assert loaded.sampling() == {"sampler": "ddpm", "num_inference_steps": 3}
    assert all(m.sampling() == loaded.sampling() for m in loaded.members)


def test_members_that_do_not_fit_together_are_refused_naming_the_difference(pk):
    policy = pk.make_policy(("front",))
    with pytest.raises(ValueError, match="at least two members, got 1"):
        join_policies([policy], ["a"])
    other_sampler = pk.make_policy(("front",), sampler="ddpm")
    with pytest.raises(ValueError, match=r"member 1 sampler='ddpm' \(member 0: 'ddim'\)"):
        join_policies([policy, other_sampler], ["a", "b"])
    other_camera = pk.make_policy(("wrist",))
    with pytest.raises(ValueError, match=r"b's contract differs from a's in \['features', 'stats'\]"):
        join_policies([policy, other_camera], ["a", "b"])


def placed(policy, where: str):
    """``policy`` with its camera stated to be ``where`` (as the twin's cameras state theirs)."""
    features = policy.contract.features
    stated = {k: dataclasses.replace(f, placement=where) if f.is_image else f for k, f in features.items()}
    policy.contract = dataclasses.replace(policy.contract, features=Features(stated))
    return policy


def test_members_trained_before_cameras_stated_placement_join_later_ones_under_the_stated_one(pk):
    older, later = members(pk)
    placed(later, "on world at 0.45 0 0.28 m")
    for order in ([older, later], [later, older]):
        ensemble = join_policies(order, ["a", "b"])
        assert ensemble.contract.features[image_key("front")].placement == "on world at 0.45 0 0.28 m"
        assert ensemble.contract.digest == later.contract.digest != older.contract.digest
    moved = placed(copy.deepcopy(later), "on world at 0.50 0 0.28 m")
    with pytest.raises(ValueError, match=r"c's contract differs from a's in \['features'\]"):
        join_policies([older, later, moved], ["a", "b", "c"])


def test_the_ensemble_command_refuses_before_writing_anything(pk, tmp_path):
    save_policy(pk.make_policy(), tmp_path / "a")
    with pytest.raises(SystemExit, match="output is not set"):
        train_main(["ensemble", f"members=[{tmp_path / 'a'},{tmp_path / 'a'}]"])
    with pytest.raises(SystemExit, match=r"output=.*a exists: choose another directory"):
        train_main(["ensemble", f"members=[{tmp_path / 'a'},{tmp_path / 'a'}]", f"output={tmp_path / 'a'}"])
    with pytest.raises(SystemExit, match=r"checkpoint .*missing does not exist"):
        train_main(
            ["ensemble", f"members=[{tmp_path / 'a'},{tmp_path / 'missing'}]", f"output={tmp_path / 'e'}"]
        )
    assert not (tmp_path / "e").exists()
    with pytest.raises(SystemExit, match="joined from trained checkpoints.*policy=diffusion"):
        train_main(["policy=diffusion_ensemble", f"output={tmp_path / 'run'}"])
    assert not (tmp_path / "run").exists()


def test_an_ensemble_checkpoint_evaluates_in_the_twin(pk, tmp_path):
    ensemble = join_policies(members(pk, cameras=("front", "wrist")), ["a", "b"])
    save_policy(ensemble, tmp_path / "ens")
    result = evaluate(EvalConfig(checkpoint=str(tmp_path / "ens"), task="place_cube", episodes=2, num_envs=2,
                                 videos=0, episode_seconds=0.5, output=str(tmp_path / "out"), progress=False))  # fmt: skip
    assert [e["length"] for e in result["per_episode"]] == [15, 15]
    assert result["contract_digest"] == ensemble.contract.digest


def test_an_ensemble_is_trained_on_every_task_its_members_were(pk):
    """Members whose contracts differed only in their trained tasks used to be refused (or fail on the
    field one of them lacks)."""
    older, picks, places = members(pk, 3)
    picks.contract = dataclasses.replace(picks.contract, trained_tasks=("pick_cube",))
    places.contract = dataclasses.replace(places.contract, trained_tasks=("place_cube",))
    for order in ([picks, places, older], [older, places, picks]):
        ensemble = join_policies(order, ["a", "b", "c"])
        assert ensemble.contract.trained_tasks == ("pick_cube", "place_cube")
