"""LeRobot v3 interop through lerobot itself: export, load with LeRobotDataset, import, round trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from honed.data.cli import main as data_main
from honed.data.codec import psnr
from honed.data.lerobot_import import (
    LeRobotFormatError,
    LeRobotHubError,
    import_lerobot,
    validate_lerobot_dir,
)
from honed.data.store import EpisodeStore

ROUND_TRIP_PSNR_DB = 26.0
"""Frames after JPEG (store) -> AV1 crf 30 (lerobot) -> JPEG (store), 96x128 synthetic camera frames."""


def run_cli(*args: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        data_main(list(args))
    assert exit_info.value.code == 0


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from honed.data.layout import StoreInfo
    from honed.data.synthetic import SyntheticRobot, SyntheticTeleop

    root = tmp_path_factory.mktemp("lerobot")
    robot, teleop = SyntheticRobot(height=96, width=128), SyntheticTeleop()
    robot.connect()
    store = EpisodeStore.create(root / "store", StoreInfo(robot.features, 30, "so101"))
    raw: list[list[np.ndarray]] = []
    with store.writer() as writer:
        for e, (n, task) in enumerate([(24, "pick the cube"), (18, "push the T")]):
            writer.start_episode(task, {"operator": "ada"})
            raw.append([])
            for t in range(n):
                obs = robot.read()
                writer.add_frame({**{k: obs[k] for k in robot.features if k in obs},
                                  "action": robot.write(teleop.get_action(obs))}, t / 30)  # fmt: skip
                raw[e].append(obs["observation.images.front"])
            writer.save_episode({"success": e == 0})
    run_cli("export", f"store={root / 'store'}", f"out={root / 'lerobot'}", "repo_id=honed/test")
    return EpisodeStore.open(root / "store"), root / "lerobot", raw


def test_lerobot_loads_the_export(exported):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    store, out, _ = exported
    ds = LeRobotDataset("honed/test", root=out, video_backend="pyav",
                        delta_timestamps={"action": [t / 30 for t in range(4)]})  # fmt: skip
    assert ds.num_episodes == 2 and ds.num_frames == 42 and ds.fps == 30
    assert ds.meta.robot_type == "so101"
    assert set(ds.meta.video_keys) == {"observation.images.front", "observation.images.wrist"}
    item = ds[23]
    assert item["observation.images.front"].shape == (3, 96, 128)
    assert item["action"].shape == (4, 6) and item["action_is_pad"].tolist() == [False, True, True, True]
    assert item["task"] == "pick the cube"
    np.testing.assert_array_equal(
        item["observation.state"].numpy(), store.episode(0).array("observation.state")[23]
    )


def test_round_trip_preserves_everything_and_frames_within_psnr(exported, tmp_path):
    store, out, raw = exported
    run_cli("import", f"store={tmp_path / 'back'}", f"root={out}", "repo_id=honed/test")
    back = EpisodeStore.open(tmp_path / "back")
    assert (
        back.fps == store.fps
        and back.num_episodes == 2
        and back.features == store.features.select(list(back.features))
    )
    for e in range(2):
        a, b = store.episode(e), back.episode(e)
        assert b.task == a.task and b.meta["operator"] == "ada" and b.meta["success"] == (e == 0)
        np.testing.assert_array_equal(b.timestamps, a.timestamps)
        for key in ("observation.state", "action"):
            np.testing.assert_array_equal(b.array(key), a.array(key))
        worst = min(psnr(raw[e][t], b.frame("observation.images.front", t)) for t in range(len(a)))
        assert worst >= ROUND_TRIP_PSNR_DB


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)


BREAKERS = {
    "missing info": ("meta/info.json", lambda p: p.unlink()),
    "info not json": ("meta/info.json", lambda p: _rewrite(p, "{")),
    "old version": ("meta/info.json",
                    lambda p: _rewrite(p, json.dumps({**json.loads(p.read_text()), "codebase_version": "v2.1"}))),
    "no fps": ("meta/info.json", lambda p: _rewrite(p, json.dumps({k: v for k, v in json.loads(p.read_text()).items() if k != "fps"}))),
    "tasks corrupt": ("meta/tasks.parquet", lambda p: p.write_bytes(b"PAR1garbage")),
    "episodes corrupt": ("meta/episodes/chunk-000/file-000.parquet", lambda p: p.write_bytes(p.read_bytes()[:40])),
    "data missing": ("data/chunk-000/file-000.parquet", lambda p: p.unlink()),
    "data corrupt": ("data/chunk-000/file-000.parquet", lambda p: p.write_bytes(b"not parquet")),
    "video missing": ("videos/observation.images.wrist/chunk-000/file-000.mp4", lambda p: p.unlink()),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BREAKERS))
def test_malformed_lerobot_directory_is_rejected_naming_the_file(exported, tmp_path, case):
    _, out, _ = exported
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    relative, breaker = BREAKERS[case]
    breaker(broken / relative)
    with pytest.raises(LeRobotFormatError) as error:
        validate_lerobot_dir(broken)
    assert str(error.value).startswith(str(broken / relative))
    with pytest.raises(LeRobotFormatError):
        import_lerobot("honed/test", tmp_path / "never", root=broken, progress=False)
    assert not (tmp_path / "never").exists()


def test_hub_without_network_gives_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LeRobotHubError, match=r"Hugging Face Hub .*pass root=<directory>"):
        import_lerobot("nobody/no-such-dataset", tmp_path / "store", root=None, progress=False)
    assert not (tmp_path / "store").exists()
