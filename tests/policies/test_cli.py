"""The commands: help and refusals before work."""

from __future__ import annotations

import pytest

from honed.policies.cli import main as train_main
from honed.sim.evaluate import main as eval_main


def test_train_help_lists_run_and_policy_fields(capsys):
    train_main(["--help"])
    out = capsys.readouterr().out
    for field in ("dataset", "resume", "policy.objective", "policy.sampler", "policy.cameras"):
        assert field in out
    assert "defaults" not in out


def test_train_rejects_unknown_fields_and_missing_data(tmp_path):
    with pytest.raises(SystemExit, match="bad argument"):
        train_main(["policy.horizn=3"])
    with pytest.raises(SystemExit, match="honed-train: dataset=.* no such episode store"):
        train_main([f"dataset={tmp_path / 'none'}", "preset=debug", f"output={tmp_path / 'run'}"])
    with pytest.raises(SystemExit, match="sampler 'euler' does not fit"):
        train_main(["preset=debug", "policy.sampler=euler", f"output={tmp_path / 'run'}"])


def test_eval_refuses_without_checkpoint_or_results(tmp_path, capsys):
    eval_main(["--help"])
    assert "checkpoint" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="checkpoint is not set"):
        eval_main(["task=pick_cube"])
    with pytest.raises(SystemExit, match="holds no results.json"):
        eval_main(["compare", f"a={tmp_path}", f"b={tmp_path}"])
