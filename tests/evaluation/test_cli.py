"""``honed-eval`` ends in one line naming the fix, before any episode: no checkpoint, no results to
compare, a pickle in place of the weights, a contract that does not fit the task, an unknown task."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from honed.evaluation.evaluate import main as eval_main
from honed.policies import save_policy


def test_eval_refuses_without_checkpoint_or_results(tmp_path, capsys):
    eval_main(["--help"])
    assert "checkpoint" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="checkpoint is not set"):
        eval_main(["task=pick_cube"])
    with pytest.raises(SystemExit, match="holds no results.json"):
        eval_main(["compare", f"a={tmp_path}", f"b={tmp_path}"])


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
