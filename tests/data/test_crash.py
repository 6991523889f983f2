"""kill -9 of a real recorder process at several moments never costs a committed episode."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from honed.data.record_cli import main as record_main
from honed.data.store import EpisodeStore
from honed.data.verify import check_episode, repair_store, verify_store
from honed.data.writer import CRASH_ENV

RECORDER = "from honed.data.record_cli import main; main()"


def recorder_args(store: Path, episodes: int) -> list[str]:
    return [
        "robot=synthetic", "teleop=synthetic", "robot_options.height=48", "robot_options.width=64",
        f"store={store}", f"episodes={episodes}", "episode_s=0.4", "reset_s=0", "progress=false",
    ]  # fmt: skip


def recorder(store: Path, episodes: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RECORDER, *recorder_args(store, episodes)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def committed(store: Path) -> int:
    try:
        return len(json.loads((store / "index.json").read_text())["episodes"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.02)


def assert_committed_episodes_intact(store: Path, at_least: int) -> int:
    """Every committed episode passes every check; after repair the whole store verifies; returns the count."""
    opened = EpisodeStore.open(store)
    assert opened.num_episodes >= at_least
    for entry in opened.index.episodes:
        assert check_episode(opened.episode_path(entry), opened.info, entry).faults == []
    repair_store(store, progress=False)
    assert verify_store(store, progress=False) == []
    return opened.num_episodes


def resume_and_check(store: Path, before: int) -> None:
    with pytest.raises(SystemExit) as exit_info:
        record_main(recorder_args(store, episodes=1))
    assert exit_info.value.code == 0
    assert EpisodeStore.open(store).num_episodes == before + 1
    assert verify_store(store, progress=False) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_kill_at_a_random_moment_of_recording(tmp_path, seed):
    store = tmp_path / "store"
    proc = recorder(store, episodes=100)
    try:
        wait_for(lambda: committed(store) >= 1 or proc.poll() is not None, 120, "a first committed episode")
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(random.Random(seed).uniform(0.0, 0.8))  # a random moment: mid-frame, mid-save, mid-reset
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    count = assert_committed_episodes_intact(store, at_least=1)
    resume_and_check(store, count)


@pytest.mark.slow
@pytest.mark.parametrize(("point", "kept"), [("staged", 0), ("renamed", 0), ("committed", 1)])
def test_kill_at_each_step_of_the_commit(tmp_path, point, kept):
    store = tmp_path / "store"
    proc = recorder(store, episodes=3, env={CRASH_ENV: point})
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == -signal.SIGKILL, out
    faults = verify_store(store, progress=False)
    assert len(faults) == (0 if point == "committed" else 1)
    assert assert_committed_episodes_intact(store, at_least=kept) == kept
    resume_and_check(store, kept)
