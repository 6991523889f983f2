"""Export an episode store as a LeRobotDataset v3 directory, written by lerobot's own writer.

States, actions, fps and task strings carry over exactly; LeRobot stores timestamps as
``frame_index / fps`` (float32), which is what honed's recorder writes too. Camera frames are
re-encoded by lerobot's video encoder (AV1 by default); the PSNR of the round trip is in docs/data.md.
honed's per-episode metadata (operator, success, ...) and feature units go to ``meta/honed.json`` so
that an import brings them back (LeRobot has no place for them; lerobot ignores the file).

Every selected episode is read and checked (as ``honed-data verify decode=false`` does) before lerobot
sees any of it, and the dataset is written into a hidden directory beside ``out`` that one rename puts
in place when it is complete: a damaged store is refused with nothing written, and a failure part way
(a full disk, Ctrl-C) leaves no partial export behind.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import shutil
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.data.fsutil import as_store_error, rename_into_place, staging_beside
from honed.data.layout import EPISODES, repair_command
from honed.data.store import Episode, EpisodeStore
from honed.errors import UserError
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


class ExportError(UserError, ValueError):
    """An export refused before anything is written: a target that holds files, a damaged store, a bad codec."""


def check_exportable(store: EpisodeStore, ids: list[int], progress: bool = True) -> None:
    """Read and check every array of episodes ``ids``; raise ExportError naming the damaged ones."""
    from honed.data.verify import check_episode

    damaged = []
    for e in tqdm(ids, desc="check", unit="ep", disable=not progress):
        entry = store.index.episodes[e]
        faults = check_episode(store.episode_path(entry), store.info, entry, decode=False).faults
        if faults:
            damaged.append(f"episode {e} ({EPISODES}/{entry.dir_name}): {faults[0]}")
    if damaged:
        raise ExportError(
            f"{store.root}: {len(damaged)} damaged episode(s), nothing was exported: {damaged[0]}"
            f"{' (and more)' if len(damaged) > 1 else ''}; `honed-data verify store={store.root}` lists them, "
            f"{repair_command(store.root)} moves them to .dropped/, then export again"
        )


def _target(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} exists and is not empty; choose a new out= directory or remove that one")
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
    """Write ``store`` (or some ``episodes`` of it) to a new LeRobot v3 directory ``out``; returns ``out``.

    ``out`` appears whole or not at all: it is built beside itself and renamed into place at the end.
    """
    from lerobot.configs.video import RGBEncoderConfig

    out = _target(Path(out))
    ids = list(range(store.num_episodes)) if episodes is None else episodes
    if not ids:
        raise ExportError(f"{store.root} has no episodes to export")
    bad = [e for e in ids if not 0 <= e < store.num_episodes]
    if bad:
        raise ExportError(f"episodes {bad} do not exist; {store.root} holds 0..{store.num_episodes - 1}")
    try:
        encoder = RGBEncoderConfig(vcodec=vcodec)
    except ValueError as e:
        raise ExportError(f"vcodec={vcodec}: {e}") from e
    check_exportable(store, ids, progress)
    staging = staging_beside(out, "exporting")
    try:
        retimed = _write(store, ids, staging, repo_id or f"local/{store.root.name}", encoder, progress)
        rename_into_place(staging, out)
    except BaseException as e:
        # lerobot's writers flush themselves when collected, and the failed calls' frames hold them: left to
        # the interpreter's shutdown, pyarrow aborts the process (SIGABRT), or they write into a removed
        # directory. Collect them now (the traceback keeps its lines), then remove the half-written copy.
        traceback.clear_frames(e.__traceback__)
        gc.collect()
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, OSError) and not isinstance(e, UserError):
            raise ExportError(f"{as_store_error(e, out)}; nothing was exported") from e
        raise
    if retimed:
        print(
            f"[honed-data] episodes {retimed} had timestamps other than frame_index/fps; LeRobot stores those"
        )
    return out


def _write(
    store: EpisodeStore, ids: list[int], root: Path, repo_id: str, encoder: Any, progress: bool
) -> list[int]:
    """Write the episodes as a LeRobot dataset at ``root`` (which must not exist); returns the ids of
    episodes whose timestamps LeRobot replaces by frame_index / fps."""
    import datasets
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = lerobot_features(store.features)
    logging.getLogger("lerobot").setLevel(logging.WARNING)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration for every video otherwise
    datasets.disable_progress_bars()  # one "Map" bar per episode otherwise; honed's own bar counts episodes
    dataset: Any = LeRobotDataset.create(
        repo_id=repo_id,
        fps=store.fps,
        features=features,
        root=root,
        robot_type=store.info.robot_type or None,
        use_videos=True,
        video_backend=VIDEO_BACKEND,
        rgb_encoder=encoder,
        streaming_encoding=True,
    )
    extras, retimed = [], []
    try:
        for e in tqdm(ids, desc="export", unit="ep", disable=not progress):
            episode = store.episode(e)
            if _retimed(episode, store.fps):
                retimed.append(e)
            for frame in _episode_frames(episode, list(features)):
                dataset.add_frame(frame)
            dataset.save_episode()
            extras.append({"honed_id": e, "task": episode.task, "meta": episode.meta})
    except BaseException:
        with contextlib.suppress(
            Exception
        ):  # close lerobot's writers now; the caller removes what they wrote
            dataset.writer.cancel_pending_videos()  # the unfinished episode's video is not encoded on close
            dataset.finalize()
        raise
    dataset.finalize()
    honed_meta = {"features": store.features.to_dict(), "episodes": extras}
    (root / HONED_META).write_text(json.dumps(honed_meta, indent=1, sort_keys=True, default=str))
    return retimed
