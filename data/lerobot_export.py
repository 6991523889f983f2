"""Export an episode store as a LeRobotDataset v3 directory, written by lerobot's own writer.

States, actions, fps and task strings carry over exactly; LeRobot stores timestamps as
``frame_index / fps`` (float32), which is what honed's recorder writes too. Camera frames are
re-encoded by lerobot's video encoder (AV1 by default); the PSNR of the round trip is in docs/data.md.
honed's per-episode metadata (operator, success, ...) and feature units go to ``meta/honed.json`` so
that an import brings them back (LeRobot has no place for them; lerobot ignores the file).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.data.store import Episode, EpisodeStore
from honed.features import Features

HONED_META = "meta/honed.json"
VIDEO_BACKEND = "pyav"


def lerobot_features(features: Features) -> dict[str, dict[str, Any]]:
    """honed features as a LeRobot ``features`` dict (cameras become videos)."""
    out: dict[str, dict[str, Any]] = {}
    for key, feat in features.items():
        if feat.dtype == "string":
            continue
        if feat.is_image:
            out[key] = {"dtype": "video", "shape": feat.shape, "names": ["height", "width", "channels"]}
        else:
            out[key] = {
                "dtype": feat.dtype,
                "shape": feat.shape,
                "names": list(feat.names) if feat.names else None,
            }
    return out


def _retimed(episode: Episode, fps: int) -> bool:
    nominal = (np.arange(len(episode)) / fps).astype(np.float32)
    return not np.array_equal(nominal, episode.timestamps)


def _episode_frames(episode: Episode, keys: list[str]) -> Any:
    image_keys = set(episode.info.image_keys)
    numeric = {k: episode.array(k) for k in keys if k not in image_keys}
    for t in range(len(episode)):
        frame: dict[str, Any] = {k: v[t] for k, v in numeric.items()}
        frame.update({k: episode.frame(k, t) for k in keys if k in image_keys})
        frame["task"] = episode.task
        yield frame


def export_lerobot(
    store: EpisodeStore,
    out: str | Path,
    repo_id: str | None = None,
    vcodec: str = "libsvtav1",
    episodes: list[int] | None = None,
    progress: bool = True,
) -> Path:
    """Write ``store`` (or some ``episodes`` of it) to a new LeRobot v3 directory ``out``; returns ``out``."""
    import datasets
    from lerobot.configs.video import RGBEncoderConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; pick a new export directory")
    ids = list(range(store.num_episodes)) if episodes is None else episodes
    if not ids:
        raise ValueError(f"{store.root} has no episodes to export")
    features = lerobot_features(store.features)
    logging.getLogger("lerobot").setLevel(logging.WARNING)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration for every video otherwise
    datasets.disable_progress_bars()  # one "Map" bar per episode otherwise; honed's own bar counts episodes
    dataset = LeRobotDataset.create(
        repo_id=repo_id or f"local/{store.root.name}",
        fps=store.fps,
        features=features,
        root=out,
        robot_type=store.info.robot_type or None,
        use_videos=True,
        video_backend=VIDEO_BACKEND,
        rgb_encoder=RGBEncoderConfig(vcodec=vcodec),
        streaming_encoding=True,
    )
    extras, retimed = [], []
    for e in tqdm(ids, desc="export", unit="ep", disable=not progress):
        episode = store.episode(e)
        if _retimed(episode, store.fps):
            retimed.append(e)
        for frame in _episode_frames(episode, list(features)):
            dataset.add_frame(frame)
        dataset.save_episode()
        extras.append({"honed_id": e, "task": episode.task, "meta": episode.meta})
    dataset.finalize()
    honed_meta = {"features": store.features.to_dict(), "episodes": extras}
    (out / HONED_META).write_text(json.dumps(honed_meta, indent=1, sort_keys=True, default=str))
    if retimed:
        print(
            f"[honed-data] episodes {retimed} had timestamps other than frame_index/fps; LeRobot stores those"
        )
    return out
