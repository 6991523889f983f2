"""Training and evaluation commands end in one line naming the fix: a pickle in place of the weights,
a contract that does not fit the task, an unknown task, and a hub that cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from honed.policies import save_policy
from honed.sim.evaluate import main as eval_main


def refusal(*args: str) -> str:
    with pytest.raises(SystemExit) as ended:
        eval_main(list(args))
    message = ended.value.code
    assert isinstance(message, str) and "\n" not in message
    return message


def checkpoint(pk, root: Path, cameras: tuple[str, ...] = ()) -> Path:  # type: ignore[no-untyped-def]
    return save_policy(pk.make_policy(cameras), root / "ckpt")


QUICK = ("episodes=1", "num_envs=1", "videos=0", "progress=false")


def test_a_pickle_in_place_of_the_weights_is_named_and_never_loaded(pk, tmp_path):
    ckpt = checkpoint(pk, tmp_path)
    torch.save({"weights": torch.zeros(3)}, ckpt / "model.safetensors")  # a pickle under the safetensors name
    message = refusal(f"checkpoint={ckpt}", "task=pick_cube", *QUICK)
    assert message.startswith(f"honed-eval run: {ckpt / 'model.safetensors'} is not a safetensors file")
    assert "never loads pickles" in message


def test_a_contract_that_does_not_fit_the_task_is_one_line(pk, tmp_path):
    ckpt = checkpoint(pk, tmp_path, cameras=("periscope",))  # a camera the twin does not have
    message = refusal(f"checkpoint={ckpt}", "task=pick_cube", *QUICK)
    assert message.startswith("honed-eval run: ") and "observation.images.periscope" in message


def test_an_unknown_task_is_one_line_listing_the_tasks(pk, tmp_path):
    ckpt = checkpoint(pk, tmp_path)
    message = refusal(f"checkpoint={ckpt}", "task=no_such_task", "allow_other_task=true", *QUICK)
    assert message.startswith("honed-eval run: unknown task 'no_such_task'; valid task names: ")


def test_an_unreachable_hub_is_one_line_naming_the_text_model(state_store, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HONED_TRACEBACK": "0"}
    args = ["preset=debug", f"dataset={state_store}", f"output={tmp_path / 'run'}",
            "policy.language=text", "policy.text_model=honed-tests/no-such-text-model"]  # fmt: skip
    ended = subprocess.run(
        [str(Path(sys.executable).parent / "honed-train"), *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert ended.returncode != 0
    (line,) = [line for line in ended.stderr.splitlines() if line.startswith("honed-train")]
    assert "Traceback" not in ended.stderr
    assert line.startswith("honed-train run: text_model=honed-tests/no-such-text-model cannot be loaded: ")
    assert "the Hugging Face hub cannot be reached (HF_HUB_OFFLINE is set)" in line
