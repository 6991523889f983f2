"""Writing episodes: frames go to a staging group; ``save_episode`` is the commit.

Commit protocol (a crash at any instant loses at most the episode being recorded):
  1. frames are encoded and appended to ``.staging/ep_N`` by a background thread (the control loop
     only validates and queues);
  2. ``save_episode`` drains the queue, flushes, fsyncs every staged file and directory;
  3. renames the staged group to ``episodes/ep_N`` and fsyncs the parent;
  4. only then replaces ``index.json`` atomically with the episode appended.
A crash before 4 leaves a staged or orphaned directory that no reader looks at; the next writer (or
``honed-data repair``) moves it aside. One writer at a time: ``.lock`` is an flock the kernel drops when
its holder dies.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import zarr

from honed.data.fsutil import (
    CRASH_ENV,
    StoreWriteError,
    WriterLock,
    as_store_error,
    crash_point,
    durable_rename,
    fsync_tree,
)
from honed.data.layout import (
    DROPPED,
    EPISODES,
    FRAME_SUFFIX,
    IMAGE_CHUNK_BYTES,
    LOCK,
    NUMERIC_CHUNK_FRAMES,
    OFFSETS_SUFFIX,
    STAGING,
    TIMESTAMP,
    EpisodeEntry,
    StoreInfo,
    episode_dir_name,
)
from honed.data.store import EpisodeStore


class StagedEpisode:
    """Arrays of the episode being recorded, buffered in memory and appended to its staging group."""

    def __init__(self, path: Path, info: StoreInfo, task: str, meta: dict[str, Any]):
        self.path, self.info, self.task, self.meta = path, info, task, meta
        self.group = zarr.open_group(path, mode="w", zarr_format=3)
        self.length = 0
        self.checksums: dict[str, int] = {}
        self.pending: dict[str, list[np.ndarray]] = {}
        self.offset_end = {k: 0 for k in info.image_keys}
        self._create_arrays()

    def _create_arrays(self) -> None:
        feats = self.info.features
        self._create(TIMESTAMP, (0,), (NUMERIC_CHUNK_FRAMES,), "float32")
        for key in self.info.numeric_keys:
            shape = feats[key].shape
            self._create(key, (0, *shape), (NUMERIC_CHUNK_FRAMES, *shape), feats[key].dtype)
        for key in self.info.image_keys:
            self.group.create_array(
                key + FRAME_SUFFIX, shape=(0,), chunks=(IMAGE_CHUNK_BYTES,), dtype="uint8"
            )
            self._create(key + OFFSETS_SUFFIX, (0,), (NUMERIC_CHUNK_FRAMES,), "int64")
            self.append(key + OFFSETS_SUFFIX, np.zeros(1, np.int64))

    def _create(self, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: str) -> None:
        self.group.create_array(name, shape=shape, chunks=chunks, dtype=dtype)
        self.checksums[name] = 0
        self.pending[name] = []

    def append(self, name: str, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block)
        self.checksums[name] = zlib.crc32(block.tobytes(), self.checksums.get(name, 0))
        self.pending.setdefault(name, []).append(block)

    def add(self, frame: Mapping[str, Any], timestamp: float, encoded: dict[str, bytes]) -> None:
        self.append(TIMESTAMP, np.asarray([timestamp], np.float32))
        for key in self.info.numeric_keys:
            self.append(key, np.asarray(frame[key], dtype=self.info.features[key].dtype)[None])
        for key, data in encoded.items():
            self.append(key + FRAME_SUFFIX, np.frombuffer(data, np.uint8))
            self.offset_end[key] += len(data)
            self.append(key + OFFSETS_SUFFIX, np.asarray([self.offset_end[key]], np.int64))
        self.length += 1

    def flush(self) -> None:
        for name, blocks in self.pending.items():
            if blocks:
                self.group[name].append(np.concatenate(blocks))  # type: ignore[union-attr]
                blocks.clear()

    def entry(self, episode_id: int, serial: int, meta: dict[str, Any]) -> EpisodeEntry:
        return EpisodeEntry(
            episode_id, serial, self.length, self.task, {**self.meta, **meta}, dict(self.checksums)
        )


class EpisodeWriter:
    """The one writer of a store. ``start_episode`` -> ``add_frame``... -> ``save_episode`` or ``discard_episode``.

    ``add_frame`` validates the frame against the store's features (a clear error names the field),
    copies it and returns; encoding and disk writes happen on a background thread, whose errors (a full
    disk, say) surface as :class:`StoreWriteError` at the next call.
    """

    def __init__(self, store: EpisodeStore, flush_every: int = 30, queue_frames: int = 90):
        self.store = store
        self.flush_every = flush_every
        self._lock = WriterLock(store.root / LOCK)
        self._lock.acquire()
        store.reload()
        self.recovered = self._recover_uncommitted()
        self._episode: StagedEpisode | None = None
        self._last_timestamp = -np.inf
        self._queue: queue.Queue[tuple[dict[str, Any], float] | None] = queue.Queue(maxsize=queue_frames)
        self._error: BaseException | None = None
        self.encode_ms: list[float] = []
        self._thread = threading.Thread(target=self._work, name="honed-episode-writer", daemon=True)
        self._thread.start()

    # ---- recovery -------------------------------------------------------------------------------

    def _recover_uncommitted(self) -> list[str]:
        """Move staged and orphaned episode directories (left by a crash) into ``.dropped``."""
        root, messages = self.store.root, []
        committed = {e.dir_name for e in self.store.index.episodes}
        for kind, parent in (("uncommitted", root / STAGING), ("orphaned", root / EPISODES)):
            for path in sorted(parent.glob("ep_*")) if parent.exists() else []:
                if kind == "orphaned" and path.name in committed:
                    continue
                messages.append(
                    f"moved {kind} episode directory {path} to {DROPPED}/ (left by an interrupted writer)"
                )
                move_aside(path, root)
                if kind == "orphaned":
                    serial = int(path.name.split("_")[1])
                    self.store.index.next_serial = max(self.store.index.next_serial, serial + 1)
        return messages

    # ---- episode lifecycle ----------------------------------------------------------------------

    @property
    def frames_in_episode(self) -> int:
        return self._episode.length + self._queue.qsize() if self._episode else 0

    def start_episode(self, task: str, meta: Mapping[str, Any] | None = None) -> None:
        if self._episode is not None:
            raise RuntimeError("an episode is already being recorded; save or discard it first")
        self._raise_pending_error()
        serial = self.store.index.next_serial
        path = self.store.root / STAGING / episode_dir_name(serial)
        try:
            if path.exists():
                shutil.rmtree(path)
            self._episode = StagedEpisode(path, self.store.info, task, dict(meta or {}))
        except OSError as e:
            raise as_store_error(e, path) from e
        self._last_timestamp = -np.inf

    def add_frame(self, frame: Mapping[str, Any], timestamp: float) -> None:
        """Validate and queue one frame; ``timestamp`` (s from episode start) must increase."""
        if self._episode is None:
            raise RuntimeError("add_frame before start_episode")
        self._raise_pending_error()
        self.store.features.check_frame(frame, where=f"frame {self.frames_in_episode}")
        if not np.isfinite(timestamp) or timestamp <= self._last_timestamp:
            raise ValueError(
                f"timestamp {timestamp} must be finite and greater than the last ({self._last_timestamp})"
            )
        self._last_timestamp = timestamp
        copied = {
            k: np.array(frame[k], copy=True)
            for k in self.store.info.numeric_keys + self.store.info.image_keys
        }
        self._queue.put((copied, float(timestamp)))

    def save_episode(self, meta: Mapping[str, Any] | None = None) -> EpisodeEntry:
        """Commit the episode (flush, fsync, move into place, append to the index); returns its entry."""
        episode = self._take_episode()
        if episode.length == 0:
            shutil.rmtree(episode.path, ignore_errors=True)
            raise ValueError("cannot save an empty episode; record at least one frame")
        index = self.store.index
        serial = index.next_serial
        entry = episode.entry(len(index.episodes), serial, dict(meta or {}))
        target = self.store.root / EPISODES / entry.dir_name
        try:
            episode.group.attrs["episode"] = {
                "id": entry.id,
                "serial": serial,
                "task": entry.task,
                "meta": entry.meta,
            }
            fsync_tree(episode.path)
            crash_point("staged")
            durable_rename(episode.path, target)
            crash_point("renamed")
        except OSError as e:
            shutil.rmtree(episode.path, ignore_errors=True)
            raise as_store_error(e, episode.path) from e
        index.episodes.append(entry)
        index.next_serial = serial + 1
        try:
            index.save(self.store.root)
        except OSError:
            index.episodes.pop()
            raise
        crash_point("committed")
        return entry

    def discard_episode(self) -> None:
        """Drop the episode being recorded (re-record, or after an error); the store is unchanged."""
        if self._episode is None:
            return
        self._queue.join()
        path, self._episode = self._episode.path, None
        shutil.rmtree(path, ignore_errors=True)
        self._error = None

    def _take_episode(self) -> StagedEpisode:
        if self._episode is None:
            raise RuntimeError("save_episode without a started episode")
        self._queue.join()
        if self._error is None:
            try:
                self._episode.flush()
            except OSError as e:
                self._error = as_store_error(e, self._episode.path)
        if self._error is not None:
            error = self._error
            self.discard_episode()
            raise error
        episode, self._episode = self._episode, None
        return episode

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            raise self._error

    # ---- background encoding --------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None and self._episode is not None:
                    self._write_frame(self._episode, *item)
            except OSError as e:
                self._error = as_store_error(e, self._episode.path if self._episode else self.store.root)
            except Exception as e:  # surfaced to the caller at its next call
                self._error = e
            finally:
                self._queue.task_done()

    def _write_frame(self, episode: StagedEpisode, frame: dict[str, Any], timestamp: float) -> None:
        start = time.perf_counter()
        encoded = {k: self.store.info.codec.encode(frame[k]) for k in self.store.info.image_keys}
        self.encode_ms.append((time.perf_counter() - start) * 1e3)
        episode.add(frame, timestamp, encoded)
        if episode.length % self.flush_every == 0:
            episode.flush()

    # ---- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Discard an unsaved episode, stop the encoder thread and release the lock."""
        if not self._lock.held:
            return
        self.discard_episode()
        self._queue.put(None)
        self._thread.join()
        self._lock.release()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def move_aside(path: Path, root: Path) -> Path:
    """Move an episode directory into ``<root>/.dropped`` under a unique name; returns the new path."""
    dropped = root / DROPPED
    dropped.mkdir(exist_ok=True)
    target = dropped / f"{path.name}-{time.strftime('%Y%m%d-%H%M%S')}-{path.parent.name.strip('.')}"
    n = 0
    while target.exists():
        n += 1
        target = target.with_name(f"{target.name}-{n}")
    durable_rename(path, target)
    return target


__all__ = ["CRASH_ENV", "EpisodeWriter", "StoreWriteError", "move_aside"]
