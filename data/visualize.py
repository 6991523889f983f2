"""Look at an episode: an MP4 with the camera views side by side, a PNG plot of joints and actions,
and a JSON summary next to them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import matplotlib
import numpy as np
from tqdm import tqdm

from honed.data.store import Episode, EpisodeStore
from honed.features import ACTION, STATE
from honed.media import write_mp4

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def side_by_side(frames: list[np.ndarray]) -> np.ndarray:
    """Camera frames resized to the tallest height and joined left to right, (H, sum W, 3)."""
    height = max(f.shape[0] for f in frames)
    return np.concatenate(
        [cv2.resize(f, (round(f.shape[1] * height / f.shape[0]), height)) for f in frames], axis=1
    )


def write_video(episode: Episode, path: Path, fps: int, progress: bool = True) -> None:
    keys = episode.info.image_keys
    if not keys:
        raise ValueError("the store has no camera features; nothing to put in a video")
    frames = (side_by_side([episode.frame(k, t) for k in keys]) for t in range(len(episode)))
    write_mp4(tqdm(frames, total=len(episode), desc="video", unit="frame", disable=not progress), path, fps)


def plot_joints(episode: Episode, path: Path) -> None:
    """One subplot per joint: measured position and commanded action over time."""
    feats = episode.info.features
    action = episode.array(ACTION)  # (T, A)
    state = episode.array(STATE) if STATE in feats else None  # (T, S)
    names = feats[ACTION].names or tuple(f"action[{i}]" for i in range(action.shape[1]))
    t = episode.timestamps
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.6 * len(names)), sharex=True, squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[:, 0], names)):
        if state is not None and i < state.shape[1]:
            ax.plot(t, state[:, i], label="state", color="tab:blue")
        ax.plot(t, action[:, i], label="action", color="tab:orange", linestyle="--")
        ax.set_ylabel(name.removesuffix(".pos"), fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"episode {episode.entry.id}: {episode.task}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def visualize_episode(
    store: EpisodeStore, episode_id: int, out_dir: str | Path, progress: bool = True
) -> dict[str, Any]:
    """Write ``episode_<id>.mp4``, ``episode_<id>.png`` and ``episode_<id>.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    episode = store.episode(episode_id)
    stem = out / f"episode_{episode_id:04d}"
    files = {"plot": str(stem.with_suffix(".png"))}
    plot_joints(episode, stem.with_suffix(".png"))
    if store.info.image_keys:
        write_video(episode, stem.with_suffix(".mp4"), store.fps, progress)
        files["video"] = str(stem.with_suffix(".mp4"))
    summary = {
        "store": str(store.root),
        "episode": episode_id,
        "task": episode.task,
        "frames": len(episode),
        "duration_s": round(len(episode) / store.fps, 3),
        "cameras": store.features.cameras,
        "meta": episode.meta,
        "files": files,
    }
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))
    return summary
