"""``honed-train``: help, and refusals before work."""

from __future__ import annotations

import pytest

from honed.policies.cli import main as train_main


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
