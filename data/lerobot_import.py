"""Import a LeRobotDataset v3 (local directory, or the Hugging Face Hub) into an episode store.

The directory is checked file by file before any work starts (a malformed dataset is rejected with
the offending file); lerobot's own ``LeRobotDataset`` then reads it and lerobot's video decoder
decodes the frames.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.data.layout import StoreInfo
from honed.data.lerobot_export import HONED_META, VIDEO_BACKEND
from honed.data.store import EpisodeStore
from honed.errors import UserError
from honed.features import Feature, Features

LEROBOT_BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")
DECODE_BATCH = 64


class LeRobotFormatError(UserError, ValueError):
    """A LeRobot directory that is not a readable v3 dataset; the message starts with the offending file."""


class LeRobotHubError(UserError, RuntimeError):
    """The Hugging Face Hub could not be reached or does not hold the dataset."""


def _check_file(path: Path, what: str, load: Any) -> Any:
    if not path.exists():
        raise LeRobotFormatError(f"{path}: missing ({what})")
    try:
        return load(path)
    except Exception as e:  # any parser failure means a malformed file
        raise LeRobotFormatError(f"{path}: unreadable {what} ({type(e).__name__}: {e})") from e


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def validate_lerobot_dir(root: str | Path) -> dict[str, Any]:
    """Check a LeRobot v3 directory before loading it; returns its ``info.json``. Raises LeRobotFormatError."""
    import pyarrow.parquet as pq
    from lerobot.datasets.io_utils import load_episodes, load_tasks

    root = Path(root)
    if not root.is_dir():
        raise LeRobotFormatError(f"{root}: not a directory")
    info_path = root / "meta" / "info.json"
    info = _check_file(info_path, "dataset info JSON", _load_json)
    version = str(info.get("codebase_version", "")) if isinstance(info, dict) else ""
    if not version.startswith("v3"):
        raise LeRobotFormatError(
            f"{info_path}: codebase_version {version!r} is not v3.x; convert it with lerobot"
        )
    for key in ("fps", "features", "data_path"):
        if key not in info:
            raise LeRobotFormatError(f"{info_path}: required key {key!r} is missing")
    if not isinstance(info["features"], dict) or not isinstance(info["fps"], int) or info["fps"] <= 0:
        raise LeRobotFormatError(f"{info_path}: 'features' must be an object and 'fps' a positive integer")
    _check_file(root / "meta" / "tasks.parquet", "task table", lambda p: load_tasks(p.parent.parent))
    for path in sorted((root / "meta" / "episodes").rglob("*.parquet")):
        _check_file(path, "episode table", pq.read_table)
    episodes = _check_file(
        root / "meta" / "episodes", "episode tables", lambda p: load_episodes(p.parent.parent)
    )
    videos = [k for k, f in info["features"].items() if isinstance(f, dict) and f.get("dtype") == "video"]
    for ep in episodes:
        data = root / info["data_path"].format(
            chunk_index=ep["data/chunk_index"], file_index=ep["data/file_index"]
        )
        _check_file(data, f"data file of episode {ep['episode_index']}", pq.ParquetFile)
        for key in videos:
            ci, fi = ep[f"videos/{key}/chunk_index"], ep[f"videos/{key}/file_index"]
            video = root / info["video_path"].format(video_key=key, chunk_index=ci, file_index=fi)
            if not video.exists():
                raise LeRobotFormatError(f"{video}: missing (video of {key}, episode {ep['episode_index']})")
    return dict(info)


def honed_features(lerobot: dict[str, Any]) -> Features:
    """LeRobot features as honed features (videos and images become uint8 (H, W, 3))."""
    items = {}
    for key, spec in lerobot.items():
        if key in LEROBOT_BOOKKEEPING:
            continue
        shape = tuple(int(s) for s in spec["shape"])
        if spec["dtype"] in ("video", "image"):
            names = list(spec.get("names") or [])
            if names[:1] == ["channels"]:
                shape = (shape[1], shape[2], shape[0])
            items[key] = Feature(shape=shape, dtype="uint8")
        else:
            given = spec.get("names")
            labels = tuple(given) if isinstance(given, list) and len(given) == shape[-1] else None
            items[key] = Feature(shape=shape, dtype=str(spec["dtype"]), names=labels)
    return Features(items)


def _honed_meta(root: Path) -> dict[str, Any]:
    """honed's own notes in an exported directory (units, per-episode metadata), if any."""
    path = root / HONED_META
    if not path.exists():
        return {}
    data = _check_file(path, "honed metadata JSON", _load_json)
    if not isinstance(data, dict):
        raise LeRobotFormatError(f"{path}: expected an object with 'features' and 'episodes'")
    return data


def with_units(features: Features, saved: dict[str, Any]) -> Features:
    """Take names and units from honed's saved features where shape and dtype agree."""
    try:
        known = Features.from_dict(saved)
    except ValueError:
        return features
    items = {}
    for key, feat in features.items():
        own = known.get(key)
        same = own is not None and (own.shape, own.dtype) == (feat.shape, feat.dtype)
        items[key] = own if same and own is not None else feat
    return Features(items)


def open_lerobot(repo_id: str, root: str | Path | None) -> Any:
    """A LeRobotDataset from a local directory (checked first) or, without ``root``, from the Hub (lerobot
    downloads it into its cache, $HF_LEROBOT_HOME/<repo_id>, or reads it from there; checked after)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from honed.hub import check_repo_id, describe_failure

    logging.getLogger("lerobot").setLevel(logging.WARNING)
    if root is not None:
        validate_lerobot_dir(root)
        return LeRobotDataset(repo_id, root=root, video_backend=VIDEO_BACKEND)
    check_repo_id(repo_id)
    try:
        dataset = LeRobotDataset(repo_id, video_backend=VIDEO_BACKEND)
    except Exception as e:  # network, auth and missing-repo errors all end here
        cause = describe_failure(e, repo_id, "download")
        first = " ".join(str(e).split())[:300]
        raise LeRobotHubError(
            f"{cause or f'download {repo_id}: lerobot could not load it from the Hugging Face Hub ({type(e).__name__}: {first})'}. "
            "Without network access, copy the dataset directory to this machine and pass root=<directory>."
        ) from e
    validate_lerobot_dir(dataset.root)
    return dataset


def _episode_rows(dataset: Any, ep: dict[str, Any]) -> Any:
    return dataset.hf_dataset.select(range(ep["dataset_from_index"], ep["dataset_to_index"])).with_format(
        "numpy"
    )


def _episode_frames(
    dataset: Any, ep: dict[str, Any], rows: Any, image_keys: list[str]
) -> Iterator[dict[str, Any]]:
    from lerobot.datasets.video_utils import decode_video_frames

    numeric = [k for k in rows.column_names if k not in LEROBOT_BOOKKEEPING and k not in image_keys]
    columns = {k: np.stack(rows[k]) for k in numeric}
    ts = np.asarray(rows["timestamp"], np.float32).reshape(-1)
    for start in range(0, len(ts), DECODE_BATCH):
        stop = min(start + DECODE_BATCH, len(ts))
        images = {}
        for key in image_keys:
            if key in dataset.meta.video_keys:
                path = dataset.root / dataset.meta.get_video_file_path(ep["episode_index"], key)
                query = [float(ep[f"videos/{key}/from_timestamp"] + t) for t in ts[start:stop]]
                chw = decode_video_frames(path, query, dataset.tolerance_s, VIDEO_BACKEND, return_uint8=True)
                images[key] = chw.permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
            else:
                images[key] = np.stack([np.asarray(rows[t][key]) for t in range(start, stop)])
        for t in range(start, stop):
            frame = {k: v[t] for k, v in columns.items()}
            frame.update({k: v[t - start] for k, v in images.items()})
            yield {"frame": frame, "timestamp": float(ts[t])}


def import_lerobot(
    repo_id: str, store_path: str | Path, root: str | Path | None = None, progress: bool = True
) -> EpisodeStore:
    """Copy every episode of a LeRobot v3 dataset into a new episode store at ``store_path``."""
    dataset = open_lerobot(repo_id, root)
    extras = _honed_meta(Path(dataset.root))
    features = with_units(honed_features(dataset.meta.features), extras.get("features", {}))
    info = StoreInfo(features=features, fps=int(dataset.meta.fps), robot_type=dataset.meta.robot_type or "")
    store = EpisodeStore.create(store_path, info)
    tasks = {int(row.task_index): str(task) for task, row in dataset.meta.tasks.iterrows()}
    episodes_meta = extras.get("episodes", [])
    with store.writer() as writer:
        for e in tqdm(range(dataset.meta.total_episodes), desc="import", unit="ep", disable=not progress):
            ep = dataset.meta.episodes[e]
            rows = _episode_rows(dataset, ep)
            episode_tasks = {tasks[int(i)] for i in np.asarray(rows["task_index"]).reshape(-1)}
            if len(episode_tasks) != 1:
                raise LeRobotFormatError(
                    f"episode {e} has {len(episode_tasks)} tasks; honed keeps one per episode"
                )
            meta = dict(episodes_meta[e].get("meta", {})) if e < len(episodes_meta) else {}
            writer.start_episode(episode_tasks.pop(), {**meta, "source": f"lerobot:{repo_id}#{e}"})
            for f in _episode_frames(dataset, ep, rows, info.image_keys):
                writer.add_frame(f["frame"], f["timestamp"])
            writer.save_episode()
    store.reload()
    return store
