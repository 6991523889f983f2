"""Damaged, missing and half-made stores: every store tool names the problem in one line and loses nothing.

The stores are written by the real writer and damaged on disk the way a crash or a bad disk does it:
a chunk file cut short, a store directory holding ``zarr.json`` and nothing else.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from honed.data.cli import main as data_main
from honed.data.dataset import EpisodeDataset
from honed.data.layout import EpisodeReadError, StoreInfo
from honed.data.record_cli import main as record_main
from honed.data.store import EpisodeStore
from honed.data.verify import repair_store, verify_store
from honed.data.writer import CRASH_ENV

DATA = [sys.executable, "-c", "from honed.data.cli import main; main()"]
RECORD = [sys.executable, "-c", "from honed.data.record_cli import main; main()"]
SYNTHETIC = ["robot=synthetic", "teleop=synthetic", "robot_options.height=48", "robot_options.width=64",
             "episodes=2", "episode_s=0.2", "reset_s=0", "realtime=false", "progress=false"]  # fmt: skip


def truncate(path: Path, keep: int = 10) -> None:
    """Cut a file short, as a crash or a failing disk leaves it."""
    path.write_bytes(path.read_bytes()[:keep])


def refusal(main, *args: str) -> str:
    """The one line a command exits with when it refuses (the CLI frame's SystemExit message)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    message = exit_info.value.code
    assert isinstance(message, str) and "\n" not in message, message
    return message


def siblings(path: Path) -> list[str]:
    """Everything next to ``path`` whose name starts with it or its hidden staging copies."""
    return sorted(p.name for p in path.parent.iterdir() if p.name.lstrip(".").startswith(path.name))


@pytest.fixture
def damaged(make_store) -> EpisodeStore:
    """Five episodes; the first (only) chunk of episode 3's actions cut to 10 bytes."""
    store, _ = make_store([5, 6, 7, 8, 5])
    truncate(store.root / "episodes" / "ep_000003" / "action" / "c" / "0" / "0")
    return store


def test_verify_reports_a_cut_chunk_as_a_fault_naming_episode_array_and_chunk(damaged, capsys):
    with pytest.raises(SystemExit) as exit_info:
        data_main(["verify", f"store={damaged.root}", "decode=false"])
    assert exit_info.value.code == 1
    faults = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAULT")]
    assert len(faults) == 1
    assert faults[0].startswith(
        "FAULT episode 3 (episodes/ep_000003): array 'action' chunk c/0/0 does not decode"
    )


def test_repair_moves_the_episode_aside_and_keeps_the_others(damaged):
    lines = repair_store(damaged.root, progress=False).lines()
    assert any(line.startswith("dropped episode 3 (ep_000003): array 'action' chunk c/0/0") for line in lines)
    assert verify_store(damaged.root, progress=False) == []
    assert [e.length for e in EpisodeStore.open(damaged.root).index.episodes] == [5, 6, 7, 5]
    assert [p.name.split("-")[0] for p in (damaged.root / ".dropped").iterdir()] == ["ep_000003"]


def test_a_cut_later_chunk_keeps_the_frames_stored_before_it(make_store):
    store, written = make_store([120], height=96, width=128)  # two chunks of camera bytes
    episode = store.episode(0)
    chunk = zarr.open_array(store.episode_path(episode.entry) / "observation.images.front.jpeg").chunks[0]
    offsets = episode.offsets("observation.images.front")
    before = int(np.searchsorted(offsets[1:], chunk, side="right"))  # frames whose bytes end before chunk 1
    assert 0 < before < 120
    truncate(store.episode_path(episode.entry) / "observation.images.front.jpeg" / "c" / "1")
    faults = verify_store(store.root, progress=False)
    assert [f.message.split(" (")[0] for f in faults] == [
        "array 'observation.images.front.jpeg' chunk c/1 does not decode"
    ]
    assert any(f"kept frames 0..{before - 1} of 120" in line for line in repair_store(store.root).lines())
    kept = EpisodeStore.open(store.root).episode(0)
    np.testing.assert_array_equal(kept.array("action"), np.stack([f["action"] for f in written[0][:before]]))
    assert verify_store(store.root, progress=False) == []


def test_training_refuses_naming_the_episode_and_the_repair(damaged):
    with pytest.raises(EpisodeReadError) as err:
        EpisodeDataset(damaged.root)
    assert "episode 3 (episodes/ep_000003): array 'action' chunk c/0/0 does not decode" in str(err.value)
    assert f"`honed-data repair store={damaged.root}`" in str(err.value)


def test_a_cut_camera_chunk_met_while_training_names_its_chunk(make_store):
    store, _ = make_store([5, 6])
    dataset = EpisodeDataset(store.root, cache_mb=0)  # statistics and numbers are read; frames are not
    truncate(store.episode_path(store.index.episodes[1]) / "observation.images.wrist.jpeg" / "c" / "0")
    with pytest.raises(EpisodeReadError, match=r"episode 1 .*'observation.images.wrist.jpeg' chunk c/0 "):
        dataset.__getitems__([len(dataset) - 1])


def export(store: Path, out: Path, prefix: list[str] | None = None, disk: Path | None = None):
    """Run ``honed-data export`` in a process of its own (on a small tmpfs at ``disk``, listed afterwards)."""
    command = shlex.join([*DATA, "export", f"store={store}", f"out={out}", "vcodec=h264"])
    if disk is not None:
        command = f"mount -t tmpfs -o size=160k tmpfs {disk} && {command}; echo EXIT=$?; ls -A {disk}"
    return subprocess.run([*(prefix or []), "sh", "-c", command], capture_output=True, text=True,
                          timeout=600, env=os.environ)  # fmt: skip


@pytest.mark.slow
def test_export_refuses_a_damaged_store_before_writing_and_succeeds_after_repair(damaged, tmp_path):
    out = tmp_path / "lerobot"
    result = export(damaged.root, out)
    assert result.returncode == 1, result.stderr[-3000:]  # not SIGABRT
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("honed-data export: ") and "nothing was exported" in last
    assert "episode 3 (episodes/ep_000003): array 'action' chunk c/0/0" in last
    assert siblings(out) == []
    repair_store(damaged.root, progress=False)
    result = export(damaged.root, out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "meta" / "info.json").exists() and siblings(out) == ["lerobot"]


@pytest.mark.slow
def test_an_export_that_fails_part_way_leaves_nothing(make_store, tmp_path, tmpfs_prefix):
    store, _ = make_store([30, 30, 30, 30], height=96, width=128)
    disk = tmp_path / "disk"
    disk.mkdir()
    result = export(store.root, disk / "lerobot", tmpfs_prefix, disk)
    assert result.stdout.splitlines()[-1] == "EXIT=1", result.stderr[-3000:]  # the full disk's listing: empty
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("honed-data export: disk full (") and "No space left on device" in last
    assert last.endswith(f") while writing {disk / 'lerobot'}; nothing was exported")
    assert "export:  25%" in result.stderr  # it failed part way through the episodes


def test_export_into_a_directory_that_holds_files_is_refused(make_store, tmp_path):
    store, _ = make_store([5])
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    message = refusal(data_main, "export", f"store={store.root}", f"out={out}")
    assert message == f"honed-data export: {out} exists and is not empty; choose a new out= directory or " \
                      "remove that one"  # fmt: skip
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("verb", ["info", "verify", "repair", "export", "visualize"])
def test_store_tools_on_a_missing_store_say_so_in_one_line(verb, tmp_path):
    missing = tmp_path / "no_store"
    out = [f"out={tmp_path / 'out'}"] if verb in ("export", "visualize") else []
    message = refusal(data_main, verb, f"store={missing}", *out)
    assert message == f"honed-data {verb}: {missing}: no such episode store; check the path " \
                      "(honed-record creates a store)"  # fmt: skip
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_a_half_made_store_is_named_with_its_fix_and_repair_finishes_it(tmp_path, robot_info):
    root = tmp_path / "store"  # what a creation killed after zarr.json used to leave
    zarr.open_group(root, mode="w", zarr_format=3).attrs["honed"] = robot_info.to_json()
    message = refusal(record_main, f"store={root}", *SYNTHETIC)
    assert "the store's creation was interrupted (zarr.json without index.json, no episodes)" in message
    assert f"rm -r {root}" in message and f"`honed-data repair store={root}`" in message
    repair_store(root, progress=False)
    with pytest.raises(SystemExit) as exit_info:
        record_main([f"store={root}", *SYNTHETIC])
    assert exit_info.value.code == 0 and EpisodeStore.open(root).num_episodes == 2


@pytest.mark.slow
def test_store_creation_killed_part_way_leaves_no_store(tmp_path):
    root = tmp_path / "store"
    killed = subprocess.run([*RECORD, f"store={root}", *SYNTHETIC], env={**os.environ, CRASH_ENV: "created-group"},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not root.exists()
    with pytest.raises(SystemExit) as exit_info:
        record_main([f"store={root}", *SYNTHETIC])
    assert exit_info.value.code == 0 and EpisodeStore.open(root).num_episodes == 2
    assert siblings(root) == ["store"]  # the killed attempt's half-built copy is gone too


def test_recording_with_a_port_that_does_not_open_creates_nothing(tmp_path):
    root = tmp_path / "store"
    message = refusal(record_main, f"store={root}", "robot=so101_follower", "teleop=synthetic",
                      f"robot_options.port={tmp_path / 'no_such_port'}", "progress=false")  # fmt: skip
    assert "cannot open serial port" in message
    assert not root.exists()


@pytest.fixture
def robot_info() -> StoreInfo:
    from honed.data.record import store_features
    from honed.data.synthetic import SyntheticRobot

    return StoreInfo(store_features(SyntheticRobot(height=48, width=64).features), 30, "synthetic")
