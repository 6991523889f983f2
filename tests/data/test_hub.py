"""Datasets on the Hugging Face Hub: export push=true goes through lerobot's push_to_hub (stubbed at
huggingface_hub's network calls), import repo_id=... goes through lerobot's LeRobotDataset (a dataset
laid out in lerobot's cache as a download leaves it), and an unreachable Hub is one line, before work."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from honed.data.cli import main as data_main
from honed.data.store import EpisodeStore


def data_cli(*args: str) -> SystemExit:
    with pytest.raises(SystemExit) as exit_info:
        data_main(list(args))
    return exit_info.value


@pytest.fixture
def small_store(make_store) -> EpisodeStore:
    store, _ = make_store([6, 5], tasks=["pick the cube", "push the T"], height=32, width=32)
    return store


def test_export_push_uploads_the_whole_lerobot_dataset_through_lerobot(small_store, tmp_path, fake_hub):
    out = tmp_path / "lerobot"
    assert data_cli("export", f"store={small_store.root}", f"out={out}", "repo_id=someone/demos", "push=true",
                    "vcodec=h264").code == 0  # fmt: skip
    names = [name for name, _ in fake_hub]
    assert names[0] == "whoami"  # the Hub was asked before the export started
    repo = dict(fake_hub)["create_repo"]
    assert repo["repo_id"] == "someone/demos" and repo["repo_type"] == "dataset"
    upload = dict(fake_hub)["upload_folder"]
    assert upload["folder_path"] == out and upload["repo_type"] == "dataset"
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert upload["uploaded"] == on_disk  # every file of the dataset, honed's metadata included
    assert {"meta/info.json", "meta/honed.json", "meta/tasks.parquet"} <= set(on_disk)
    assert any(f.startswith("videos/observation.images.front/") for f in on_disk)
    assert "card" in names and dict(fake_hub)["create_tag"]["tag"].startswith(
        "v3"
    )  # lerobot loads by the tag


def test_export_push_to_an_unreachable_hub_is_refused_before_exporting(
    small_store, tmp_path, unreachable_hub
):
    out = tmp_path / "lerobot"
    error = data_cli(
        "export", f"store={small_store.root}", f"out={out}", "repo_id=someone/demos", "push=true"
    )
    message = str(error.code)
    assert message.startswith("honed-data export: push to someone/demos: the Hugging Face Hub (")
    assert "is unreachable" in message and "\n" not in message
    assert not out.exists()  # nothing was exported


def test_export_push_needs_a_hub_repo_id(small_store, tmp_path):
    error = data_cli("export", f"store={small_store.root}", f"out={tmp_path / 'x'}", "push=true")
    assert str(error.code) == (
        "honed-data export: repo_id='' is not a Hugging Face Hub repo id: it must be namespace/name, "
        "e.g. my-user/pick-cube"
    )


def test_import_from_an_unreachable_hub_is_one_line_naming_the_repo(tmp_path, unreachable_hub):
    error = data_cli("import", "repo_id=someone/never-pushed", f"store={tmp_path / 'store'}")
    message = str(error.code)
    assert message.startswith("honed-data import: download someone/never-pushed: the Hugging Face Hub (")
    assert "is unreachable" in message and "pass root=<directory>" in message and "\n" not in message
    assert not (tmp_path / "store").exists()


def test_import_by_repo_id_reads_the_dataset_lerobot_downloaded(small_store, tmp_path, monkeypatch):
    """lerobot keeps a downloaded dataset in $HF_LEROBOT_HOME/<namespace>/<name> (resolved when lerobot
    is imported); with the Hub offline, import repo_id=... loads it from there through LeRobotDataset."""
    from huggingface_hub import constants
    from lerobot.datasets import dataset_metadata

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(dataset_metadata, "HF_LEROBOT_HOME", tmp_path / "lerobot_home")
    exported = tmp_path / "export"
    assert data_cli("export", f"store={small_store.root}", f"out={exported}", "vcodec=h264").code == 0
    shutil.copytree(exported, tmp_path / "lerobot_home" / "someone" / "demos")
    assert data_cli("import", "repo_id=someone/demos", f"store={tmp_path / 'back'}").code == 0
    back = EpisodeStore.open(tmp_path / "back")
    assert back.num_episodes == 2 and [e.task for e in back] == ["pick the cube", "push the T"]
    assert back.episode(1).meta["source"] == "lerobot:someone/demos#1"
    np.testing.assert_array_equal(back.episode(0).array("action"), small_store.episode(0).array("action"))
