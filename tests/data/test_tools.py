"""honed-data tools: info, stats, merge, split, drop, visualize (through the command line entry point)."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from honed.data.cli import main as data_main
from honed.data.store import EpisodeStore, FeatureMismatchError
from honed.data.tools import merge_stores
from honed.data.verify import verify_store


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        data_main(list(args))
    return int(exit_info.value.code or 0)


def test_info_summarises_the_store(make_store, capsys):
    store, _ = make_store([4, 5, 6])
    assert run_cli("info", f"store={store.root}", "episodes=true") == 0
    summary = json.loads(capsys.readouterr().out)
    assert (
        summary["episodes"] == 3
        and summary["frames"] == 15
        and summary["tasks"] == {"task 0": 2, "task 1": 1}
    )
    assert summary["success_rate"] == 0.667
    assert [e["frames"] for e in summary["episode_list"]] == [4, 5, 6]


def test_stats_verb_prints_and_saves(make_store, capsys):
    store, _ = make_store([4])
    assert run_cli("stats", f"store={store.root}") == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed["observation.state"]["mean"]) == 12
    assert (store.root / "stats.json").exists()


def test_merge_keeps_every_episode_in_order(make_store, tmp_path, capsys):
    a, _ = make_store([3, 4])
    b, _ = make_store([5], tasks=["other"])
    out = tmp_path / "merged"
    assert run_cli("merge", f"sources=[{a.root},{b.root}]", f"out={out}") == 0
    merged = EpisodeStore.open(out)
    assert [e.length for e in merged.index.episodes] == [3, 4, 5]
    assert merged.episode(2).task == "other" and merged.episode(2).meta["source"].endswith("#0")
    np.testing.assert_array_equal(merged.episode(1).array("action"), a.episode(1).array("action"))
    assert verify_store(out, progress=False) == []


def test_merge_refuses_stores_recorded_differently(make_store, tmp_path):
    a, _ = make_store([3])
    b, _ = make_store([3], height=32)
    with pytest.raises(FeatureMismatchError, match="observation.images.front"):
        merge_stores([a.root, b.root], tmp_path / "merged", progress=False)
    assert not (tmp_path / "merged").exists()


def test_split_is_disjoint_and_complete(make_store, tmp_path):
    store, _ = make_store([2, 3, 4, 5, 6])
    assert run_cli("split", f"store={store.root}", f"train={tmp_path / 'tr'}", f"val={tmp_path / 'va'}",
                   "val_fraction=0.4", "seed=3") == 0  # fmt: skip
    train, val = EpisodeStore.open(tmp_path / "tr"), EpisodeStore.open(tmp_path / "va")
    assert train.num_episodes == 3 and val.num_episodes == 2
    sources = [e.meta["source"] for s in (train, val) for e in s.index.episodes]
    assert sorted(int(s.rsplit("#", 1)[1]) for s in sources) == [0, 1, 2, 3, 4]
    assert train.num_frames + val.num_frames == store.num_frames
    assert verify_store(train.root, progress=False) == [] and verify_store(val.root, progress=False) == []


def test_drop_renumbers_and_moves_files_aside(make_store, capsys):
    store, _ = make_store([2, 3, 4, 5])
    assert run_cli("drop", f"store={store.root}", "episodes=[1,2]") == 0
    assert capsys.readouterr().out.count("dropped episode") == 2
    kept = EpisodeStore.open(store.root)
    assert [(e.id, e.length) for e in kept.index.episodes] == [(0, 2), (1, 5)]
    assert len(list((store.root / ".dropped").iterdir())) == 2
    assert verify_store(store.root, progress=False) == []
    with pytest.raises(IndexError, match=r"episodes \[7\] do not exist"):
        run_cli("drop", f"store={store.root}", "episodes=[7]")


def test_visualize_writes_video_plot_and_summary(make_store, tmp_path, capsys):
    store, _ = make_store([7])
    assert run_cli("visualize", f"store={store.root}", "episode=0", f"out={tmp_path / 'vis'}") == 0
    summary = json.loads(capsys.readouterr().out)
    with av.open(summary["files"]["video"]) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 7 and frames[0].shape == (48, 128, 3)  # two 64-wide views side by side
    png = (tmp_path / "vis" / "episode_0000.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "vis" / "episode_0000.json").read_text())["frames"] == 7


def test_unknown_verb_and_bad_field_are_explained(make_store, capsys):
    with pytest.raises(SystemExit, match="unknown verb 'frobnicate'"):
        data_main(["frobnicate"])
    with pytest.raises(SystemExit, match="bad argument"):
        data_main(["info", "no_such_field=1"])
