"""verify names every fault; repair keeps each episode's longest consistent prefix and reports the rest."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import zarr

from honed.data.cli import main as data_main
from honed.data.store import EpisodeStore
from honed.data.verify import repair_store, verify_store


def group(store: EpisodeStore, e: int) -> zarr.Group:
    return zarr.open_group(store.episode_path(store.index.episodes[e]), mode="r+")


def assert_repaired(store: EpisodeStore, expected_lengths: list[int]) -> list[str]:
    report = repair_store(store.root, progress=False)
    assert verify_store(store.root, progress=False) == []
    repaired = EpisodeStore.open(store.root)
    assert [e.length for e in repaired.index.episodes] == expected_lengths
    assert [e.id for e in repaired.index.episodes] == list(range(len(expected_lengths)))
    for episode in repaired:  # every kept frame reads back
        episode.frames("observation.images.front")
    return report.lines()


def test_clean_store_verifies_and_cli_exits_zero(make_store, capsys):
    store, _ = make_store([5, 6])
    assert verify_store(store.root, progress=False) == []
    with pytest.raises(SystemExit) as exit_info:
        data_main(["verify", f"store={store.root}"])
    assert exit_info.value.code == 0
    assert "store is consistent" in capsys.readouterr().out


def test_truncated_array_keeps_the_consistent_prefix(make_store, capsys):
    store, written = make_store([8, 9])
    group(store, 1)["action"].resize((5, 6))
    faults = verify_store(store.root, progress=False)
    assert (
        len(faults) == 1
        and "episode 1" in faults[0].where
        and "disagree with the index length 9" in faults[0].message
    )
    with pytest.raises(SystemExit) as exit_info:
        data_main(["verify", f"store={store.root}", "decode=false"])
    assert exit_info.value.code == 1 and "FAULT episode 1" in capsys.readouterr().out
    lines = assert_repaired(store, [8, 5])
    assert any("kept frames 0..4 of 9" in line for line in lines)
    kept = EpisodeStore.open(store.root).episode(1)
    np.testing.assert_array_equal(kept.array("action"), np.stack([f["action"] for f in written[1][:5]]))


def test_undecodable_frame_cuts_the_episode_before_it(make_store):
    store, _ = make_store([10])
    g = group(store, 0)
    offsets = g["observation.images.wrist.offsets"][:]
    g["observation.images.wrist.jpeg"][offsets[6] : offsets[6] + 4] = np.zeros(4, np.uint8)
    faults = verify_store(store.root, progress=False)
    assert any("observation.images.wrist frame 6 does not decode" in f.message for f in faults)
    assert verify_store(store.root, decode=False, progress=False) != []  # the checksum still catches it
    assert_repaired(store, [6])


def test_non_finite_state_and_backwards_timestamps_are_faults(make_store):
    store, _ = make_store([10, 10])
    state = group(store, 0)["observation.state"]
    row = state[4]
    row[2] = np.nan
    state[4] = row
    group(store, 1)["timestamp"][7] = 0.0
    messages = [f.message for f in verify_store(store.root, progress=False)]
    assert any("non-finite values from frame 4" in m for m in messages)
    assert any("strictly increasing at frame 7" in m for m in messages)
    assert_repaired(store, [4, 7])


def test_silent_change_is_caught_by_checksum_and_the_episode_dropped(make_store):
    store, _ = make_store([5, 6, 7])
    action = group(store, 1)["action"]
    action[3] = action[3] + 0.25  # finite, plausible, wrong
    faults = verify_store(store.root, progress=False)
    assert [f.message for f in faults] == ["array 'action' changed after commit (checksum mismatch)"]
    lines = assert_repaired(store, [5, 7])
    assert any("dropped episode 1" in line for line in lines)
    assert len(list((store.root / ".dropped").iterdir())) == 1


def test_missing_episode_directory_is_dropped(make_store):
    store, _ = make_store([5, 6])
    shutil.rmtree(store.episode_path(store.index.episodes[0]))
    assert any(
        "cannot be opened" in f.message or "missing" in f.message
        for f in verify_store(store.root, progress=False)
    )
    assert_repaired(store, [6])


def test_unreadable_index_is_rebuilt_from_episode_directories(make_store):
    store, _ = make_store([5, 6])
    (store.root / "index.json").write_text('{"episodes": [')
    assert "index.json: not valid JSON" in verify_store(store.root, progress=False)[0].message
    lines = assert_repaired(store, [5, 6])
    assert any("rebuilt from 2 episode directories" in line for line in lines)
    assert EpisodeStore.open(store.root).episode(1).task == "task 1"


def test_a_rebuilt_index_carries_checksums_so_verify_still_checks_every_episode(make_store):
    store, _ = make_store([5, 6])
    recorded = [e.checksums for e in store.index.episodes]
    (store.root / "index.json").unlink()
    repair_store(store.root, progress=False)
    assert [e.checksums for e in EpisodeStore.open(store.root).index.episodes] == recorded
    action = group(store, 1)["action"]
    action[3] = action[3] + 0.25  # finite, plausible, wrong: only a checksum tells
    assert [f.message for f in verify_store(store.root, progress=False)] == [
        "array 'action' changed after commit (checksum mismatch)"
    ]


def test_leftover_staging_and_orphans_are_reported_and_moved_aside(make_store):
    store, _ = make_store([5, 6])
    staged = store.root / ".staging" / "ep_000009"
    shutil.copytree(store.episode_path(store.index.episodes[0]), staged)
    orphan = store.root / "episodes" / "ep_000010"
    shutil.copytree(store.episode_path(store.index.episodes[1]), orphan)
    wheres = {f.where for f in verify_store(store.root, progress=False)}
    assert wheres == {".staging/ep_000009", "episodes/ep_000010"}
    lines = assert_repaired(store, [5, 6])
    assert sum("moved to" in line for line in lines) == 2
    assert not staged.exists() and not orphan.exists()
