"""The episode store: a zarr v3 hierarchy of committed episodes behind an atomically replaced index.

Readers trust only ``index.json``; see :mod:`honed.data.layout` for the files and
:class:`honed.data.writer.EpisodeWriter` for the commit protocol.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from collections.abc import Coroutine, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr
from zarr.core.sync import sync

from honed.data.fsutil import (
    TargetExistsError,
    WriterLock,
    as_store_error,
    crash_point,
    fsync_tree,
    rename_into_place,
    staging_beside,
)
from honed.data.layout import (
    EPISODES,
    FRAME_SUFFIX,
    LOCK,
    OFFSETS_SUFFIX,
    TIMESTAMP,
    EpisodeEntry,
    EpisodeReadError,
    Index,
    StoreFormatError,
    StoreInfo,
    StoreNotFoundError,
    repair_command,
)
from honed.errors import UserError
from honed.features import Features

if TYPE_CHECKING:
    from honed.data.writer import EpisodeWriter


DECODE_ERRORS = (RuntimeError, ValueError)
"""What zarr raises for a chunk file that does not decode (a truncated or overwritten zstd frame)."""


class ChunkError(Exception):
    """A chunk of a zarr array that does not decode: the array's name, the chunk's key and its first row."""

    def __init__(self, name: str, key: str, row: int, cause: BaseException):
        super().__init__(f"array {name!r} chunk {key} does not decode ({type(cause).__name__}: {cause})")
        self.name, self.key, self.row = name, key, row


def first_bad_chunk(array: zarr.Array, name: str, cause: BaseException) -> ChunkError:
    """The first chunk of ``array`` (in row order) that does not decode, found by reading them one by one."""
    for coords in itertools.product(*(range(n) for n in array.cdata_shape)):
        try:
            array.get_block_selection(coords)
        except DECODE_ERRORS as e:
            return ChunkError(name, array.metadata.encode_chunk_key(coords), coords[0] * array.chunks[0], e)
    return ChunkError(name, "(unknown)", 0, cause)


def read_rows(array: zarr.Array, name: str, stop: int | None = None) -> np.ndarray:
    """Rows ``0..stop-1`` (all by default) of ``array``; a chunk that does not decode raises ChunkError."""
    try:
        return np.asarray(array[:stop])
    except DECODE_ERRORS as e:
        raise first_bad_chunk(array, name, e) from e


class _AsyncReadError(Exception):
    """Raised inside zarr's I/O loop; :func:`read_all` names the damaged chunk once back outside it."""

    def __init__(self, episode: Episode, name: str, cause: BaseException):
        super().__init__(name)
        self.episode, self.name, self.cause = episode, name, cause


def read_all[T](reads: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run zarr reads concurrently on zarr's I/O loop and wait for all of them."""

    async def gather() -> list[T]:
        return list(await asyncio.gather(*reads))

    try:
        return sync(gather())
    except _AsyncReadError as e:
        raise e.episode.read_error(e.name, e.cause) from e.cause


class NoSuchEpisodeError(UserError, IndexError):
    """An episode number the store does not hold; the message says which it holds."""


class FeatureMismatchError(UserError, ValueError):
    """Data whose features differ from the store's; the message lists each difference and the fix."""


def check_compatible(store: Features, source: Features, source_name: str) -> None:
    """Raise FeatureMismatchError unless ``source`` provides every feature of ``store`` with equal shape/dtype."""
    problems = store.mismatches(source, keys=list(store))
    if problems:
        raise FeatureMismatchError(
            f"{source_name} does not match the store's features: {'; '.join(problems)}. "
            "Record into a new store (store=<new path>) or use the robot and cameras the store was made with."
        )


class Episode:
    """Read access to one committed episode; numeric arrays load whole, camera frames decode on demand."""

    def __init__(self, group: zarr.Group, entry: EpisodeEntry, info: StoreInfo, root: Path):
        self.group = group
        self.entry = entry
        self.info = info
        self.root = root
        """The store's directory (named in errors)."""
        self._arrays: dict[str, zarr.Array] = {}

    def _array(self, name: str) -> zarr.Array:
        """The zarr array ``name`` (opened once; opening reads its metadata file)."""
        if name not in self._arrays:
            try:
                node = self.group[name]
            except (KeyError, FileNotFoundError, ValueError) as e:
                raise self._damaged(
                    f"array {name!r} is missing or unreadable ({type(e).__name__}: {e})"
                ) from e
            if not isinstance(node, zarr.Array):
                raise self._damaged(f"{name!r} is a group, expected an array")
            self._arrays[name] = node
        return self._arrays[name]

    def _damaged(self, what: str) -> EpisodeReadError:
        return EpisodeReadError(
            f"{self.root}: episode {self.entry.id} ({EPISODES}/{self.entry.dir_name}): {what}; "
            f"run {repair_command(self.root)} to move damaged episodes to .dropped/"
        )

    def read_error(self, name: str, cause: BaseException) -> EpisodeReadError:
        """The error for array ``name`` failing to read with ``cause``: names the damaged chunk."""
        return self._damaged(str(first_bad_chunk(self._array(name), name, cause)))

    def _read(self, name: str, selection: Any = slice(None)) -> np.ndarray:
        """``selection`` of array ``name``; a damaged chunk raises EpisodeReadError naming it."""
        array = self._array(name)
        try:
            return np.asarray(array[selection])
        except DECODE_ERRORS as e:
            raise self.read_error(name, e) from e

    def __len__(self) -> int:
        return self.entry.length

    @property
    def task(self) -> str:
        return self.entry.task

    @property
    def meta(self) -> dict[str, Any]:
        return self.entry.meta

    @cached_property
    def timestamps(self) -> np.ndarray:
        return self._read(TIMESTAMP)  # (T,)

    def array(self, key: str) -> np.ndarray:
        """All frames of a numeric feature, (T, *shape)."""
        return self._read(key)

    @cached_property
    def _offsets(self) -> dict[str, np.ndarray]:
        return {k: self._read(k + OFFSETS_SUFFIX) for k in self.info.image_keys}

    def offsets(self, key: str) -> np.ndarray:
        """Byte offsets of camera ``key``'s frames in its frame array, (T + 1,), starting at 0."""
        return self._offsets[key]

    def encoded_frame(self, key: str, t: int) -> np.ndarray:
        """The stored JPEG bytes of frame ``t`` of camera feature ``key`` (uint8 view)."""
        lo, hi = self._offsets[key][t], self._offsets[key][t + 1]
        return self._read(key + FRAME_SUFFIX, slice(lo, hi))

    def frame(self, key: str, t: int) -> np.ndarray:
        """Frame ``t`` of camera feature ``key``, RGB uint8 (H, W, 3)."""
        return self.info.codec.decode(self.encoded_frame(key, t), self.info.features[key].shape)

    def encoded_range(self, key: str, start: int, stop: int) -> Coroutine[Any, Any, list[np.ndarray]]:
        """A coroutine reading the JPEG bytes of frames ``start..stop-1`` of camera ``key`` in one request.

        Several of them run together with :func:`read_all` (one trip through zarr's I/O loop).
        """
        offsets = self._offsets[key][start : stop + 1]
        name = key + FRAME_SUFFIX
        array = self._array(name).async_array

        async def read() -> list[np.ndarray]:
            try:
                data = np.asarray(await array.getitem(slice(int(offsets[0]), int(offsets[-1]))))
            except DECODE_ERRORS as e:
                raise _AsyncReadError(self, name, e) from e
            local = offsets - offsets[0]
            return [data[local[i] : local[i + 1]] for i in range(stop - start)]

        return read()

    def decode(self, key: str, encoded: np.ndarray) -> np.ndarray:
        """Decode one stored frame of camera ``key`` to RGB uint8 (H, W, 3)."""
        return self.info.codec.decode(encoded, self.info.features[key].shape)

    def frames(self, key: str, indices: list[int] | np.ndarray | None = None) -> np.ndarray:
        """Several frames, (N, H, W, 3); all of them when ``indices`` is None."""
        idx = range(len(self)) if indices is None else indices
        return np.stack([self.frame(key, int(t)) for t in idx])


class EpisodeStore:
    """A directory of committed episodes. Open with :meth:`open`, :meth:`create` or :meth:`open_or_create`."""

    def __init__(self, root: Path, info: StoreInfo, index: Index):
        self.root = root
        self.info = info
        self.index = index

    @staticmethod
    def read_info(root: Path) -> StoreInfo:
        path = root / "zarr.json"
        try:
            attrs = json.loads(path.read_text()).get("attributes", {})
        except (FileNotFoundError, NotADirectoryError):
            if not root.is_dir():
                raise StoreNotFoundError(
                    f"{root}: no such episode store; check the path (honed-record creates a store)"
                ) from None
            raise StoreNotFoundError(
                f"{root} is not an episode store (it holds no zarr.json); check the path"
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise StoreFormatError(f"{path}: not a zarr group document ({e})") from e
        return StoreInfo.from_json(attrs.get("honed"), path)

    @classmethod
    def open(cls, root: str | Path) -> EpisodeStore:
        root = Path(root)
        return cls(root, cls.read_info(root), Index.load(root))

    @classmethod
    def create(cls, root: str | Path, info: StoreInfo) -> EpisodeStore:
        """A new empty store at ``root`` (absent or an empty directory), built beside it and renamed into
        place whole: no reader ever sees a store without its index."""
        root = Path(root)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise TargetExistsError(
                f"{root} exists and is not empty; pick a new store path or open it instead"
            )
        staging = staging_beside(root, "creating")
        index = Index()
        try:
            group = zarr.open_group(staging, mode="w-", zarr_format=3)
            group.attrs["honed"] = info.to_json()
            group.create_group(EPISODES)
            crash_point("created-group")
            with WriterLock(staging / LOCK):
                index.save(staging)
                fsync_tree(staging)
                rename_into_place(staging, root)
        except FileExistsError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except OSError as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise as_store_error(e, root) from e
        return cls(root, info, index)

    @classmethod
    def open_matching(
        cls, root: str | Path, info: StoreInfo, source_name: str = "the data"
    ) -> EpisodeStore | None:
        """The store at ``root`` if one is there (refused unless its features and fps match ``info``), else None."""
        root = Path(root)
        if not (root / "zarr.json").exists():
            return None
        store = cls.open(root)
        check_compatible(store.info.features, info.features, source_name)
        if store.info.fps != info.fps:
            raise FeatureMismatchError(
                f"{root} was recorded at {store.info.fps} fps, {source_name} runs at {info.fps} fps; "
                f"set fps={store.info.fps} or record into a new store"
            )
        return store

    @classmethod
    def open_or_create(cls, root: str | Path, info: StoreInfo, source_name: str = "the data") -> EpisodeStore:
        """Open an existing store whose features match ``info`` (and fps), or create a new one."""
        store = cls.open_matching(root, info, source_name)
        if store is not None:
            return store
        try:
            return cls.create(root, info)
        except FileExistsError:  # another process created it meanwhile
            store = cls.open_matching(root, info, source_name)
            if store is None:
                raise
            return store

    def reload(self) -> None:
        self.index = Index.load(self.root)

    @property
    def features(self) -> Features:
        return self.info.features

    @property
    def fps(self) -> int:
        return self.info.fps

    @property
    def num_episodes(self) -> int:
        return len(self.index.episodes)

    @property
    def num_frames(self) -> int:
        return self.index.total_frames

    def __len__(self) -> int:
        return self.num_episodes

    def episode_path(self, entry: EpisodeEntry) -> Path:
        return self.root / EPISODES / entry.dir_name

    def episode(self, i: int) -> Episode:
        if not -self.num_episodes <= i < self.num_episodes:
            raise NoSuchEpisodeError(
                f"episode {i} out of range; the store holds {self.num_episodes} episodes"
            )
        entry = self.index.episodes[i]
        path = self.episode_path(entry)
        try:
            group = zarr.open_group(path, mode="r", zarr_format=3)
        except (FileNotFoundError, ValueError) as e:
            raise EpisodeReadError(
                f"{path}: episode {entry.id} cannot be opened ({e}); run `honed-data verify store={self.root}` "
                f"to see what is wrong and {repair_command(self.root)} to move damaged episodes to .dropped/"
            ) from e
        return Episode(group, entry, self.info, self.root)

    def __iter__(self) -> Iterator[Episode]:
        return (self.episode(i) for i in range(self.num_episodes))

    def writer(self, **options: Any) -> EpisodeWriter:
        from honed.data.writer import EpisodeWriter

        return EpisodeWriter(self, **options)

    def summary(self) -> dict[str, Any]:
        """Counts, duration, tasks and per-episode metadata, for ``honed-data info``."""
        entries = self.index.episodes
        tasks: dict[str, int] = {}
        for e in entries:
            tasks[e.task] = tasks.get(e.task, 0) + 1
        successes = [e.meta.get("success") for e in entries if e.meta.get("success") is not None]
        return {
            "path": str(self.root),
            "episodes": len(entries),
            "frames": self.num_frames,
            "fps": self.fps,
            "duration_s": round(self.num_frames / self.fps, 2),
            "robot_type": self.info.robot_type,
            "features": {k: f"{f.dtype}{list(f.shape)}" for k, f in self.features.items()},
            "tasks": tasks,
            "success_rate": round(sum(map(bool, successes)) / len(successes), 3) if successes else None,
            "operators": sorted({str(e.meta.get("operator")) for e in entries if e.meta.get("operator")}),
        }
