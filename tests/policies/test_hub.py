"""Checkpoints on the Hugging Face Hub: honed-train push uploads only the files a checkpoint is rebuilt
from (huggingface_hub stubbed at its network calls), hf://namespace/name loads one from the Hub cache
as a download leaves it (never a pickle beside it), and an unreachable Hub is one line."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from honed.evaluation.evaluate import main as eval_main
from honed.policies import load_policy, save_policy
from honed.policies.checkpoint import read_contract
from honed.policies.cli import main as train_main
from honed.policies.hub import output_home

CHECKPOINT_FILES = ["config.json", "contract.json", "model.safetensors", "text_encoder/added_tokens.json",
                    "text_encoder/config.json", "text_encoder/tokenizer_config.json"]  # fmt: skip
"""What save_policy writes for a policy with a text encoder (its weights are in model.safetensors)."""


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/honed_hub_pickle_ran",))


@pytest.fixture
def checkpoint(pk, tmp_path) -> Path:
    """A text-conditioned checkpoint with what training leaves beside it: resume state and a stray pickle."""
    folder = save_policy(pk.make_policy(("front",), language="text"), tmp_path / "run" / "best")
    (folder / "training").mkdir()
    (folder / "training" / "state.json").write_text("{}")
    (folder / "optimizer.pt").write_bytes(pickle.dumps(_Exploit()))
    return folder


def test_push_uploads_only_the_checkpoint_files(checkpoint, fake_hub, capsys):
    train_main(["push", f"checkpoint={checkpoint}", "repo_id=someone/policy"])
    calls = dict(fake_hub)
    assert [name for name, _ in fake_hub][0] == "whoami"  # asked before uploading
    assert (
        calls["create_repo"]["args"] == ("someone/policy",) and calls["create_repo"]["repo_type"] == "model"
    )
    assert (
        calls["upload_folder"]["folder_path"] == checkpoint and calls["upload_folder"]["repo_type"] == "model"
    )
    assert calls["upload_folder"]["uploaded"] == CHECKPOINT_FILES  # no training state, no pickle
    assert '"load_as": "hf://someone/policy"' in capsys.readouterr().out


def test_push_of_a_folder_that_is_no_checkpoint_is_refused_before_the_hub(tmp_path, fake_hub):
    (tmp_path / "notes").mkdir()
    with pytest.raises(SystemExit) as error:
        train_main(["push", f"checkpoint={tmp_path / 'notes'}", "repo_id=someone/policy"])
    assert str(error.value.code).startswith("honed-train push: ") and "config.json is missing" in str(
        error.value.code
    )
    assert fake_hub == []


def test_push_to_an_unreachable_hub_is_one_line(checkpoint, unreachable_hub):
    with pytest.raises(SystemExit) as error:
        train_main(["push", f"checkpoint={checkpoint}", "repo_id=someone/policy"])
    message = str(error.value.code)
    assert message.startswith("honed-train push: push to someone/policy: the Hugging Face Hub (")
    assert "is unreachable" in message and "\n" not in message


def lay_out_hub_cache(cache: Path, repo_id: str, files: Path) -> Path:
    """A model repository in the Hub cache as snapshot_download leaves it: refs/main names the commit
    whose snapshot folder holds the files."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(files, repo / "snapshots" / commit)
    return repo / "snapshots" / commit


def test_a_checkpoint_loads_by_hub_location_from_the_cache_and_never_unpickles(
    pk, checkpoint, tmp_path, monkeypatch
):
    from huggingface_hub import constants

    marker = Path("/tmp/honed_hub_pickle_ran")
    marker.unlink(missing_ok=True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    snapshot = lay_out_hub_cache(tmp_path / "hub", "someone/policy", checkpoint)
    (snapshot / "pytorch_model.bin").write_bytes(pickle.dumps(_Exploit()))  # a pickle in the repo
    original, loaded = load_policy(checkpoint), load_policy("hf://someone/policy")
    assert read_contract("hf://someone/policy").digest == original.contract.digest
    batch = pk.make_batch(original, batch=2)
    noise = original.sample_noise(2, torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        loaded.predict_chunk(batch, noise=noise), original.predict_chunk(batch, noise=noise)
    )
    assert not marker.exists()


def test_hub_checkpoint_outputs_default_under_outputs_hub():
    assert output_home("hf://someone/policy@v2") == Path("outputs/hub/someone/policy")
    assert output_home("runs/a/checkpoints/best") == Path("runs/a/checkpoints/best")


def test_eval_of_a_hub_checkpoint_with_the_hub_unreachable_is_one_line(unreachable_hub, tmp_path):
    with pytest.raises(SystemExit) as error:
        eval_main(["checkpoint=hf://someone/policy", "episodes=1", f"output={tmp_path / 'eval'}"])
    message = str(error.value.code)
    assert message.startswith(
        "honed-eval run: download checkpoint hf://someone/policy: the Hugging Face Hub ("
    )
    assert "is unreachable" in message and "\n" not in message and not (tmp_path / "eval").exists()
