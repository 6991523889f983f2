"""Per-feature normalisation statistics, computed once per store content and saved as ``stats.json``.

Numeric features: mean/std/min/max over every frame, per element. Camera features: per channel
(shape (3,)), in [0, 1] units, over an even sample of frames. The file records a digest of the
committed episodes; statistics are recomputed when the store's content changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.data.fsutil import atomic_write_json
from honed.data.layout import STATS
from honed.data.store import EpisodeStore

Stats = dict[str, dict[str, np.ndarray]]
STAT_NAMES = ("mean", "std", "min", "max")


def content_digest(store: EpisodeStore) -> str:
    """Changes whenever a committed episode is added, removed or rewritten."""
    parts = [(e.serial, e.length, sorted(e.checksums.items())) for e in store.index.episodes]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _summarise(values: np.ndarray) -> dict[str, np.ndarray]:
    values = values.astype(np.float64)
    return {
        "mean": values.mean(axis=0),
        "std": values.std(axis=0),
        "min": values.min(axis=0),
        "max": values.max(axis=0),
    }


def _image_sample(store: EpisodeStore, max_frames: int) -> list[tuple[int, int]]:
    pairs = [(e, t) for e, entry in enumerate(store.index.episodes) for t in range(entry.length)]
    if len(pairs) <= max_frames:
        return pairs
    picks = np.linspace(0, len(pairs) - 1, max_frames).round().astype(int)
    return [pairs[i] for i in picks]


def compute_stats(store: EpisodeStore, max_image_frames: int = 200, progress: bool = True) -> Stats:
    """Statistics of every numeric and camera feature of the store's committed episodes."""
    if store.num_episodes == 0:
        raise ValueError(f"{store.root} holds no committed episodes; record some before computing statistics")
    info = store.info
    columns: dict[str, list[np.ndarray]] = {k: [] for k in info.numeric_keys}
    for episode in tqdm(store, total=store.num_episodes, desc="stats", unit="ep", disable=not progress):
        for key in info.numeric_keys:
            columns[key].append(episode.array(key))
    stats = {k: _summarise(np.concatenate(v)) for k, v in columns.items()}
    sample = _image_sample(store, max_image_frames)
    for key in info.image_keys:
        pixels = []
        episodes: dict[int, Any] = {}
        for e, t in sample:
            episode = episodes.setdefault(e, store.episode(e))
            pixels.append(episode.frame(key, t).reshape(-1, 3)[::7])  # (HW/7, 3)
        stats[key] = _summarise(np.concatenate(pixels) / 255.0)
    return stats


def stats_to_json(stats: Stats) -> dict[str, dict[str, list[Any]]]:
    return {k: {name: np.asarray(v).tolist() for name, v in s.items()} for k, s in stats.items()}


def stats_from_json(data: dict[str, Any], where: str) -> Stats:
    try:
        return {
            k: {name: np.asarray(s[name], dtype=np.float64) for name in STAT_NAMES} for k, s in data.items()
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: malformed statistics ({e})") from e


def load_or_compute_stats(store: EpisodeStore, progress: bool = True, save: bool = True) -> Stats:
    """Saved statistics when they match the store's content; otherwise compute (and save) them."""
    path = Path(store.root) / STATS
    digest = content_digest(store)
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError:
            saved = {}
        if saved.get("digest") == digest:
            return stats_from_json(saved["stats"], str(path))
    stats = compute_stats(store, progress=progress)
    if save:
        try:
            atomic_write_json(path, {"digest": digest, "stats": stats_to_json(stats)})
        except OSError as e:
            print(f"[honed-data] statistics not saved ({e}); they will be recomputed next time")
    return stats
