"""The episode store: commit, read back, one writer, bad frames, resume."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honed.data.codec import JpegCodec, psnr
from honed.data.fsutil import StoreLockedError
from honed.data.layout import STAGING, Index, StoreFormatError, StoreInfo
from honed.data.store import EpisodeStore, FeatureMismatchError
from honed.data.synthetic import SyntheticRobot
from honed.features import ACTION, STATE, Feature, Features


def test_committed_episodes_read_back_exactly(make_store):
    store, written = make_store([12, 7])
    reopened = EpisodeStore.open(store.root)
    assert reopened.num_episodes == 2 and reopened.num_frames == 19
    for e, frames in enumerate(written):
        episode = reopened.episode(e)
        assert len(episode) == len(frames)
        np.testing.assert_array_equal(episode.array(STATE), np.stack([f[STATE] for f in frames]))
        np.testing.assert_array_equal(episode.array(ACTION), np.stack([f[ACTION] for f in frames]))
        np.testing.assert_array_equal(episode.timestamps, (np.arange(len(frames)) / 30).astype(np.float32))
        for t in (0, len(frames) - 1):
            original = frames[t]["observation.images.front"]
            assert psnr(original, episode.frame("observation.images.front", t)) > 28  # JPEG q90 on 48x64
    assert reopened.episode(1).meta == {"operator": "tester", "success": False}
    assert [e.id for e in reopened.index.episodes] == [0, 1]


def test_store_layout_is_plain_zarr_v3(make_store):
    import zarr

    store, _ = make_store([5])
    root = zarr.open_group(store.root, mode="r")
    assert root.attrs["honed"]["fps"] == 30
    group = zarr.open_group(store.root / "episodes" / "ep_000000", mode="r")
    assert group["observation.state"].shape == (5, 12)
    offsets = group["observation.images.front.offsets"][:]
    jpeg = bytes(group["observation.images.front.jpeg"][offsets[2] : offsets[3]])
    assert jpeg[:2] == b"\xff\xd8"  # any JPEG decoder reads a frame
    assert JpegCodec().decode(jpeg).shape == (48, 64, 3)


def test_second_writer_is_refused_while_first_holds_the_lock(make_store):
    store, _ = make_store([3])
    with store.writer(), pytest.raises(StoreLockedError, match="one writer at a time"):
        store.writer()


def test_lock_of_a_killed_writer_is_released(make_store):
    store, _ = make_store([3])
    code = (
        "import sys, time; from honed.data.store import EpisodeStore;"
        "w = EpisodeStore.open(sys.argv[1]).writer(); print('locked', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(store.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLockedError, match=f"pid {proc.pid}"):
            store.writer()
    finally:
        proc.kill()
        proc.wait(timeout=30)
    with store.writer() as writer:  # the kernel dropped the dead holder's flock
        assert writer.store.num_episodes == 1


def test_bad_frames_are_refused_naming_the_field(make_store):
    store, written = make_store([2])
    good = dict(written[0][0])
    with store.writer() as writer:
        writer.start_episode("t")
        with pytest.raises(ValueError, match="missing field 'observation.images.wrist'"):
            writer.add_frame({k: v for k, v in good.items() if k != "observation.images.wrist"}, 0.0)
        with pytest.raises(ValueError, match="'action' holds non-finite"):
            writer.add_frame({**good, ACTION: np.full(6, np.nan, np.float32)}, 0.0)
        with pytest.raises(ValueError, match="'observation.state' has shape"):
            writer.add_frame({**good, STATE: np.zeros(3, np.float32)}, 0.0)
        writer.add_frame(good, 0.0)
        with pytest.raises(ValueError, match="greater than the last"):
            writer.add_frame(good, 0.0)
        writer.discard_episode()
        writer.start_episode("empty")
        with pytest.raises(ValueError, match="empty episode"):
            writer.save_episode()
    assert EpisodeStore.open(store.root).num_episodes == 1
    assert not any((store.root / STAGING).iterdir())


def test_discard_leaves_the_store_unchanged(make_store):
    store, written = make_store([4])
    before = (store.root / "index.json").read_text()
    with store.writer() as writer:
        writer.start_episode("to be discarded")
        for t, frame in enumerate(written[0]):
            writer.add_frame(frame, t / 30)
        writer.discard_episode()
    assert (store.root / "index.json").read_text() == before


def test_recording_resumes_onto_an_existing_store(make_store, tmp_path):
    store, _ = make_store([3, 4])
    robot = SyntheticRobot(height=48, width=64)
    resumed = EpisodeStore.open_or_create(store.root, StoreInfo(robot.features, 30))
    assert resumed.num_episodes == 2
    with resumed.writer() as writer:
        writer.start_episode("more")
        robot.connect()
        obs = robot.read()
        writer.add_frame(
            {**{k: obs[k] for k in robot.features if k in obs}, ACTION: np.zeros(6, np.float32)}, 0.0
        )
        entry = writer.save_episode()
    assert entry.id == 2 and EpisodeStore.open(store.root).num_episodes == 3


def test_store_with_other_features_is_refused_before_work_starts(make_store):
    store, _ = make_store([2])
    other = SyntheticRobot(height=32, width=64, cameras=("front",))
    with pytest.raises(
        FeatureMismatchError, match=r"observation.images.front: uint8\[48, 64, 3\] vs uint8\[32, 64, 3\]"
    ):
        EpisodeStore.open_or_create(store.root, StoreInfo(other.features, 30), "robot 'other'")
    with pytest.raises(FeatureMismatchError, match="recorded at 30 fps"):
        EpisodeStore.open_or_create(store.root, StoreInfo(SyntheticRobot(height=48, width=64).features, 15))


def test_a_store_keeps_its_cameras_placement_and_refuses_frames_from_a_moved_camera(tmp_path):
    def features(placement: str | None) -> Features:
        return Features({"observation.images.front": Feature((8, 8, 3), "uint8", placement=placement),
                         ACTION: Feature((2,), "float32")})  # fmt: skip

    EpisodeStore.create(tmp_path / "s", StoreInfo(features("on world at 0.450 0.000 0.280 m"), 30))
    assert EpisodeStore.open(tmp_path / "s").features == features("on world at 0.450 0.000 0.280 m")
    with pytest.raises(
        FeatureMismatchError, match="camera placement 'on world at 0.450.*' vs 'on world at 0.460"
    ):
        EpisodeStore.open_or_create(
            tmp_path / "s", StoreInfo(features("on world at 0.460 0.000 0.280 m"), 30)
        )
    EpisodeStore.open_or_create(
        tmp_path / "s", StoreInfo(features(None), 30)
    )  # a camera of unknown placement


def test_malformed_store_files_are_named(tmp_path):
    with pytest.raises(StoreFormatError, match="is not an episode store \\(it holds no zarr.json\\)"):
        EpisodeStore.open(tmp_path)
    info = StoreInfo(Features({ACTION: Feature((2,), "float32")}), 10)
    EpisodeStore.create(tmp_path / "s", info)
    (tmp_path / "s" / "index.json").write_text("{not json")
    with pytest.raises(StoreFormatError, match="index.json: not valid JSON"):
        EpisodeStore.open(tmp_path / "s")
    with pytest.raises(FileExistsError, match="not empty"):
        EpisodeStore.create(tmp_path / "s", info)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.fixed_dictionaries({"id": st.integers(0, 5), "serial": st.integers(0, 9), "length": st.integers(1, 99),
                                       "task": st.text(max_size=8)}), max_size=6))  # fmt: skip
def test_index_round_trips_through_its_json(tmp_path_factory, entries):
    root = tmp_path_factory.mktemp("index")
    (root / "index.json").write_text(json.dumps({"format": 1, "episodes": entries}))
    index = Index.load(root)
    assert [(e.id, e.serial, e.length, e.task) for e in index.episodes] == [
        (e["id"], e["serial"], e["length"], e["task"]) for e in entries
    ]
    index.save(root)
    assert Index.load(root).to_json() == index.to_json()


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=300))
def test_index_loader_rejects_garbage_with_a_named_file(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("garbage")
    (root / "index.json").write_bytes(data)
    try:
        Index.load(root)
    except StoreFormatError as e:
        assert "index.json" in str(e)
