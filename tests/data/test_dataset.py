"""The training dataset: windows, edge padding, the batch contract, statistics saved once."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from honed.data import stats as stats_module
from honed.data.dataset import EpisodeDataset, make_loader
from honed.data.stats import load_or_compute_stats


def test_windows_repeat_edge_frames_and_mark_padded_actions(make_store):
    store, written = make_store([6, 9])
    ds = EpisodeDataset(store, n_obs_steps=3, horizon=4)
    assert len(ds) == 15
    actions = [np.stack([f["action"] for f in ep]) for ep in written]
    states = [np.stack([f["observation.state"] for f in ep]) for ep in written]

    first = ds[6]  # frame 0 of episode 1: history repeats frame 0
    np.testing.assert_array_equal(first["observation.state"].numpy(), states[1][[0, 0, 0]])
    np.testing.assert_array_equal(first["action"].numpy(), actions[1][0:4])
    assert not first["action_is_pad"].any() and first["task"] == "task 1"

    last = ds[5]  # frame 5 (last) of episode 0: actions past the end repeat the last one
    np.testing.assert_array_equal(last["action"].numpy(), actions[0][[5, 5, 5, 5]])
    assert last["action_is_pad"].tolist() == [False, True, True, True]
    np.testing.assert_array_equal(last["observation.state"].numpy(), states[0][[3, 4, 5]])
    front = last["observation.images.front"]
    assert front.dtype == torch.uint8 and front.shape == (3, 48, 64, 3)
    np.testing.assert_array_equal(front[2].numpy(), store.episode(0).frame("observation.images.front", 5))


def test_loader_with_two_workers_meets_the_batch_contract(make_store):
    store, _ = make_store([10, 12])
    ds = EpisodeDataset(store.root, n_obs_steps=2, horizon=5, cameras=["front"])
    batches = list(make_loader(ds, batch_size=8, num_workers=2, shuffle=True))
    assert sum(len(b["task"]) for b in batches) == 22
    batch = batches[0]
    assert (
        batch["observation.state"].shape == (8, 2, 12) and batch["observation.state"].dtype == torch.float32
    )
    assert batch["observation.images.front"].shape == (8, 2, 48, 64, 3)
    assert batch["observation.images.front"].dtype == torch.uint8
    assert batch["action"].shape == (8, 5, 6) and batch["action_is_pad"].dtype == torch.bool
    assert "observation.images.wrist" not in batch and isinstance(batch["task"], list)
    assert set(ds.features) == {"observation.state", "observation.images.front", "action"}


def test_statistics_are_right_and_computed_once(make_store, monkeypatch):
    store, written = make_store([7, 8])
    ds = EpisodeDataset(store)
    states = np.concatenate([np.stack([f["observation.state"] for f in ep]) for ep in written])
    np.testing.assert_allclose(ds.stats["observation.state"]["mean"], states.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds.stats["observation.state"]["max"], states.max(0))
    image = ds.stats["observation.images.wrist"]
    assert image["mean"].shape == (3,) and image["min"].min() >= 0 and image["max"].max() <= 1
    saved = json.loads((store.root / "stats.json").read_text())
    assert set(saved["stats"]) == {
        "observation.state",
        "observation.images.front",
        "observation.images.wrist",
        "action",
    }

    def refuse(*args, **kwargs):
        raise AssertionError("statistics were recomputed although the store did not change")

    monkeypatch.setattr(stats_module, "compute_stats", refuse)
    again = EpisodeDataset(store, n_obs_steps=1, horizon=2)
    np.testing.assert_array_equal(again.stats["action"]["std"], ds.stats["action"]["std"])


def test_statistics_follow_new_episodes(make_store):
    store, _ = make_store([5])
    before = load_or_compute_stats(store, progress=False)["action"]["mean"]
    grown, _ = make_store([5, 20])  # a different store content
    after = load_or_compute_stats(grown, progress=False)["action"]["mean"]
    assert not np.allclose(before, after)


def test_bad_dataset_arguments_are_refused(make_store):
    store, _ = make_store([3])
    with pytest.raises(ValueError, match="n_obs_steps"):
        EpisodeDataset(store, n_obs_steps=0)
    with pytest.raises(ValueError, match=r"cameras \['top'\] are not in the store"):
        EpisodeDataset(store, cameras=["top"])
    with pytest.raises(IndexError, match="out of range"):
        EpisodeDataset(store)[3]


def test_frames_marked_not_imitated_start_no_sample_but_stay_in_windows(make_store):
    store, written = make_store([6, 5], metas=[{"not_imitated": [[1, 3], [5, 6]]}, {}])
    ds = EpisodeDataset(store, n_obs_steps=2, horizon=4)
    assert len(ds) == 3 + 5
    assert [ds.locate(i) for i in range(3)] == [(0, 0), (0, 3), (0, 4)]
    states = np.stack([f["observation.state"] for f in written[0]])
    actions = np.stack([f["action"] for f in written[0]])
    at3 = ds[1]
    np.testing.assert_array_equal(at3["observation.state"].numpy(), states[[2, 3]])  # frame 2 still seen
    np.testing.assert_array_equal(ds[0]["action"].numpy(), actions[0:4])  # and in earlier chunks


def test_not_imitated_samples_start_in_every_frame_and_carry_their_flag(make_store):
    store, _ = make_store([6, 5], metas=[{"not_imitated": [[1, 3], [5, 6]]}, {}])
    default = EpisodeDataset(store, n_obs_steps=2, horizon=4)
    assert all(bool(default[i]["imitated"]) for i in range(len(default)))
    ds = EpisodeDataset(store, n_obs_steps=2, horizon=4, not_imitated_samples=True)
    assert len(ds) == 6 + 5 and [ds.locate(i) for i in (1, 5, 6)] == [(0, 1), (0, 5), (1, 0)]
    flags = [bool(ds[i]["imitated"]) for i in range(len(ds))]
    assert flags == [True, False, False, True, True, False] + [True] * 5
    batch = next(iter(make_loader(ds, batch_size=11, num_workers=0, shuffle=False)))
    assert batch["imitated"].dtype == torch.bool and batch["imitated"].tolist() == flags
    store, _ = make_store([4], metas=[{"not_imitated": [[0, 4]]}])
    with pytest.raises(ValueError, match="every frame"):  # nothing left for the action loss
        EpisodeDataset(store, n_obs_steps=2, horizon=4, not_imitated_samples=True)


@pytest.mark.parametrize("ranges", [[[4, 2]], [[0, 7]], [[-1, 2]], [[1.5, 3]], [[1]], "0-3", [[True, 3]]])
def test_a_malformed_not_imitated_entry_is_refused_naming_the_episode(make_store, ranges):
    store, _ = make_store([6], metas=[{"not_imitated": ranges}])
    with pytest.raises(ValueError, match="episode 0: metadata 'not_imitated'"):
        EpisodeDataset(store, n_obs_steps=2, horizon=4)


def test_an_episode_wholly_not_imitated_leaves_nothing_to_train_on(make_store):
    store, _ = make_store([4], metas=[{"not_imitated": [[0, 4]]}])
    with pytest.raises(ValueError, match="every frame"):
        EpisodeDataset(store, n_obs_steps=2, horizon=4)


def test_cached_frames_equal_the_stored_ones_and_are_read_from_the_store_once(make_store, monkeypatch):
    from honed.data.store import Episode

    store, _ = make_store([6, 9])
    reads: list[tuple[str, int, int]] = []
    real = Episode.encoded_range
    monkeypatch.setattr(Episode, "encoded_range",
                        lambda self, key, a, b: reads.append((key, a, b)) or real(self, key, a, b))  # fmt: skip
    cached, uncached = (
        EpisodeDataset(store, n_obs_steps=2, horizon=3),
        EpisodeDataset(store, 2, 3, cache_mb=0),
    )
    samples = [cached[i] for i in range(len(cached))]
    assert sorted(reads) == sorted(
        (f"observation.images.{c}", 0, n) for c in ("front", "wrist") for n in (6, 9)
    )
    reads.clear()
    samples += [cached[i] for i in range(len(cached))]
    assert reads == []  # every episode and camera is in memory now
    reference = [uncached[i] for i in range(len(uncached))] * 2
    assert len(reads) == 2 * 15  # without the cache: one read per sample and camera, every time
    for a, b in zip(samples, reference):
        for key in ("observation.images.front", "observation.images.wrist"):
            assert torch.equal(a[key], b[key])


def test_frames_past_the_cache_budget_are_read_from_the_store(make_store):
    store, _ = make_store([6, 9])
    one_episode = store.episode(0).offsets("observation.images.front")[-1] / 2**20
    ds = EpisodeDataset(store, n_obs_steps=2, horizon=3, cache_mb=float(one_episode))
    whole = EpisodeDataset(store, n_obs_steps=2, horizon=3)
    for i in range(len(ds)):
        assert torch.equal(ds[i]["observation.images.wrist"], whole[i]["observation.images.wrist"])
    assert len(ds.cached) == 1 and ds._cached_bytes <= ds.cache_bytes
