"""Training commands end in one line naming the fix: a text model the hub cannot provide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
