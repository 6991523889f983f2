"""Store-level tools: drop episodes, merge stores, split train/val by episode.

Committed episode files are never modified in place (stores only append, and repair writes new
directories), so merge and split hard-link the files of each episode when source and target share a
file system, and copy them otherwise.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from honed.data.fsutil import WriterLock, durable_rename, fsync_tree
from honed.data.layout import EPISODES, LOCK, STAGING, EpisodeEntry, StoreInfo, episode_dir_name
from honed.data.store import EpisodeStore, FeatureMismatchError, check_compatible
from honed.data.writer import move_aside


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copy2(src, dst)


def copy_episodes(source: EpisodeStore, ids: list[int], target: EpisodeStore, progress: bool = True) -> None:
    """Append episodes ``ids`` of ``source`` to ``target`` (which the caller holds the lock of), committing each."""
    index = target.index
    for e in tqdm(ids, desc=f"copy -> {target.root.name}", unit="ep", disable=not progress):
        entry = source.index.episodes[e]
        serial = index.next_serial
        staged = target.root / STAGING / episode_dir_name(serial)
        staged.parent.mkdir(exist_ok=True)
        shutil.copytree(source.episode_path(entry), staged, copy_function=_link_or_copy)
        fsync_tree(staged)
        durable_rename(staged, target.root / EPISODES / episode_dir_name(serial))
        meta = {**entry.meta, "source": entry.meta.get("source", f"{source.root}#{entry.id}")}
        index.episodes.append(
            EpisodeEntry(len(index.episodes), serial, entry.length, entry.task, meta, entry.checksums)
        )
        index.next_serial = serial + 1
        index.save(target.root)


def _check_same_kind(info: StoreInfo, other: EpisodeStore) -> None:
    check_compatible(info.features, other.features, f"store {other.root}")
    if other.fps != info.fps or other.info.codec != info.codec:
        raise FeatureMismatchError(
            f"store {other.root} runs at {other.fps} fps with {other.info.codec}; "
            f"the first store at {info.fps} fps with {info.codec}: merge only stores recorded alike"
        )


def merge_stores(sources: Sequence[str | Path], out: str | Path, progress: bool = True) -> EpisodeStore:
    """A new store at ``out`` holding every episode of ``sources``, in order."""
    if len(sources) < 2:
        raise ValueError(f"merge needs at least two source stores, got {len(sources)}")
    stores = [EpisodeStore.open(s) for s in sources]
    info = stores[0].info
    for other in stores[1:]:
        _check_same_kind(info, other)
    target = EpisodeStore.create(out, info)
    with WriterLock(target.root / LOCK):
        for source in stores:
            copy_episodes(source, list(range(source.num_episodes)), target, progress)
    return target


def split_store(
    source: str | Path, train_out: str | Path, val_out: str | Path, val_fraction: float = 0.1, seed: int = 0
) -> tuple[EpisodeStore, EpisodeStore]:
    """Two new stores with disjoint episodes (at least one in each), picked at random with ``seed``."""
    store = EpisodeStore.open(source)
    n = store.num_episodes
    if n < 2:
        raise ValueError(f"{store.root} holds {n} episode(s); a split needs at least two")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    val = sorted(np.random.default_rng(seed).choice(n, size=n_val, replace=False).tolist())
    train = [e for e in range(n) if e not in set(val)]
    out = []
    for path, ids in ((train_out, train), (val_out, val)):
        target = EpisodeStore.create(path, store.info)
        with WriterLock(target.root / LOCK):
            copy_episodes(store, ids, target, progress=False)
        out.append(target)
    return out[0], out[1]


def drop_episodes(root: str | Path, ids: list[int]) -> list[str]:
    """Remove episodes from a store (index first, then their directories go to ``.dropped``); renumbers."""
    root = Path(root)
    with WriterLock(root / LOCK):
        store = EpisodeStore.open(root)
        bad = [i for i in ids if not 0 <= i < store.num_episodes]
        if bad:
            raise IndexError(f"episodes {bad} do not exist; the store holds 0..{store.num_episodes - 1}")
        drop = set(ids)
        removed = [e for e in store.index.episodes if e.id in drop]
        store.index.episodes = [e for e in store.index.episodes if e.id not in drop]
        for pos, entry in enumerate(store.index.episodes):
            entry.id = pos
        store.index.save(root)
        return [
            f"dropped episode {e.id} ({e.length} frames, task {e.task!r}); files moved to "
            f"{move_aside(root / EPISODES / e.dir_name, root)}"
            for e in removed
        ]
