"""``verify``: check every committed episode; ``repair``: keep each episode's longest consistent prefix.

An episode's consistent prefix is the frames ``0..P-1`` for which every array exists, every chunk file
holding them decodes, timestamps are finite and strictly increasing, numbers are finite and every camera
frame decodes to the store's shape. A checksum mismatch cannot be localised, so such an episode is
dropped whole. Nothing is deleted: dropped and replaced directories go to ``<store>/.dropped``.
"""

from __future__ import annotations

import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from tqdm import tqdm

from honed.data.codec import FrameDecodeError
from honed.data.fsutil import WriterLock, durable_rename, fsync_tree
from honed.data.layout import (
    EPISODES,
    FRAME_SUFFIX,
    LOCK,
    OFFSETS_SUFFIX,
    STAGING,
    TIMESTAMP,
    EpisodeEntry,
    Index,
    StoreFormatError,
    StoreInfo,
    episode_dir_name,
)
from honed.data.store import ChunkError, EpisodeStore, read_rows
from honed.data.writer import StagedEpisode, move_aside


@dataclass
class Fault:
    """One problem found by verify: where it is and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class EpisodeCheck:
    """Result of checking one episode directory."""

    prefix: int
    """Length of the longest consistent prefix."""
    faults: list[str] = field(default_factory=list)
    """What is wrong, in words."""
    length: int = 0
    """Frames found on disk (the shortest array)."""


def open_array(group: zarr.Group, name: str) -> zarr.Array:
    """Array ``name`` of an episode group (ValueError if it is a group)."""
    node = group[name]
    if not isinstance(node, zarr.Array):
        raise ValueError(f"{name} is a group, expected an array")
    return node


def read_array(group: zarr.Group, name: str, stop: int | None = None) -> np.ndarray:
    """Frames ``0..stop-1`` (all by default) of array ``name`` of an episode group; ChunkError names a
    chunk that does not decode."""
    return read_rows(open_array(group, name), name, stop)


def _first_bad(ok: np.ndarray) -> int:
    """Index of the first False in a boolean vector, or its length."""
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else len(ok)


class _Checker:
    """Checks one episode group against the store's features; accumulates faults and the prefix."""

    def __init__(self, group: zarr.Group, info: StoreInfo, expected: int | None, decode: bool):
        self.group, self.info, self.decode = group, info, decode
        self.result = EpisodeCheck(prefix=expected if expected is not None else 1 << 62)
        self.damaged: set[str] = set()
        """Arrays with a chunk that does not decode (read up to it; already reported)."""

    def cut(self, at: int, reason: str) -> None:
        if at < self.result.prefix:
            self.result.prefix = at
        self.result.faults.append(reason)

    def array(self, name: str) -> np.ndarray | None:
        """The whole array, or the rows before its first damaged chunk (reported, and the prefix cut there)."""
        try:
            array = open_array(self.group, name)
        except (KeyError, FileNotFoundError, ValueError) as e:
            self.cut(0, f"array {name!r} is missing or unreadable ({type(e).__name__})")
            return None
        try:
            return read_rows(array, name)
        except ChunkError as e:
            self.damaged.add(name)
            # frame t needs offsets[t + 1]; how many frames the readable bytes hold is found in _frames
            frames = e.row - 1 if name.endswith(OFFSETS_SUFFIX) else e.row
            self.cut(max(frames, 0) if not name.endswith(FRAME_SUFFIX) else self.result.prefix, str(e))
            return read_rows(array, name, e.row)

    def run(self, expected: int | None, checksums: dict[str, int]) -> EpisodeCheck:
        arrays = {TIMESTAMP: self.array(TIMESTAMP)}
        arrays.update({k: self.array(k) for k in self.info.numeric_keys})
        for k in self.info.image_keys:
            arrays[k + OFFSETS_SUFFIX] = self.array(k + OFFSETS_SUFFIX)
            arrays[k + FRAME_SUFFIX] = self.array(k + FRAME_SUFFIX)
        if any(a is None for a in arrays.values()):
            return self.result
        present = {k: a for k, a in arrays.items() if a is not None}
        self._lengths(present, expected)
        self._timestamps(present[TIMESTAMP])
        for k in self.info.numeric_keys:
            self._numeric(k, present[k])
        for k in self.info.image_keys:
            self._frames(k, present[k + OFFSETS_SUFFIX], present[k + FRAME_SUFFIX])
        if not self.result.faults:
            self._checksums(present, checksums)
        return self.result

    def _lengths(self, arrays: dict[str, np.ndarray], expected: int | None) -> None:
        lengths = {k: len(a) - (1 if k.endswith(OFFSETS_SUFFIX) else 0) for k, a in arrays.items()}
        lengths = {k: n for k, n in lengths.items() if not k.endswith(FRAME_SUFFIX)}
        self.result.length = min(lengths.values())
        lengths = {k: n for k, n in lengths.items() if k not in self.damaged}
        if not lengths:
            return
        if expected is not None and any(n != expected for n in lengths.values()):
            self.cut(self.result.length, f"array lengths {lengths} disagree with the index length {expected}")
        elif len(set(lengths.values())) > 1:
            self.cut(self.result.length, f"array lengths disagree: {lengths}")

    def _timestamps(self, ts: np.ndarray) -> None:
        ok = np.isfinite(ts) & np.concatenate([[True], np.diff(ts) > 0])
        if not ok.all():
            at = _first_bad(ok)
            self.cut(
                at,
                f"timestamps not finite and strictly increasing at frame {at} ({ts[max(at - 1, 0) : at + 1]})",
            )

    def _numeric(self, key: str, values: np.ndarray) -> None:
        feat = self.info.features[key]
        if values.shape[1:] != feat.shape or values.dtype != np.dtype(feat.dtype):
            self.cut(
                0, f"{key} is {values.dtype}{list(values.shape[1:])}, expected {feat.dtype}{list(feat.shape)}"
            )
        elif values.dtype.kind == "f" and len(values):
            ok = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
            if not ok.all():
                self.cut(_first_bad(ok), f"{key} holds non-finite values from frame {_first_bad(ok)}")

    def _frames(self, key: str, offsets: np.ndarray, data: np.ndarray) -> None:
        if len(offsets) == 0 and key + OFFSETS_SUFFIX in self.damaged:
            self.result.prefix = 0
            return
        if len(offsets) == 0 or offsets[0] != 0:
            self.cut(0, f"{key} frame offsets must start at 0")
            return
        ok = (np.diff(offsets) > 0) & (offsets[1:] <= len(data))
        n = _first_bad(ok)
        if n < len(ok) and key + FRAME_SUFFIX in self.damaged:  # frames past the damaged chunk
            self.result.prefix = min(self.result.prefix, n)
        elif n < len(ok):
            self.cut(n, f"{key} frame offsets are broken at frame {n}")
        if self.decode:
            shape = self.info.features[key].shape
            codec = self.info.codec

            def decodes(t: int) -> bool:
                try:
                    codec.decode(data[offsets[t] : offsets[t + 1]], shape)
                    return True
                except FrameDecodeError:
                    return False

            with ThreadPoolExecutor(2) as pool:
                good = np.fromiter(pool.map(decodes, range(n)), bool, count=n)
            if not good.all():
                self.cut(_first_bad(good), f"{key} frame {_first_bad(good)} does not decode")

    def _checksums(self, arrays: dict[str, np.ndarray], checksums: dict[str, int]) -> None:
        for name, expected in checksums.items():
            if name in arrays and zlib.crc32(np.ascontiguousarray(arrays[name]).tobytes()) != expected:
                self.cut(0, f"array {name!r} changed after commit (checksum mismatch)")


def check_episode(
    path: Path, info: StoreInfo, entry: EpisodeEntry | None, decode: bool = True
) -> EpisodeCheck:
    """Check one episode directory (against its index entry when given)."""
    expected = entry.length if entry is not None else None
    try:
        group = zarr.open_group(path, mode="r", zarr_format=3)
    except (FileNotFoundError, ValueError, json.JSONDecodeError) as e:
        return EpisodeCheck(prefix=0, faults=[f"{path} cannot be opened ({type(e).__name__}: {e})"])
    return _Checker(group, info, expected, decode).run(expected, entry.checksums if entry else {})


def _stray_dirs(root: Path, index: Index) -> list[tuple[Path, str]]:
    committed = {e.dir_name for e in index.episodes}
    staged = sorted((root / STAGING).glob("ep_*")) if (root / STAGING).exists() else []
    orphans = [p for p in sorted((root / EPISODES).glob("ep_*")) if p.name not in committed]
    return [(p, "uncommitted episode left by an interrupted writer") for p in staged] + [
        (p, "episode directory not in the index (interrupted commit)") for p in orphans
    ]


def verify_store(root: str | Path, decode: bool = True, progress: bool = True) -> list[Fault]:
    """Every fault of a store; an empty list means the store is consistent.

    Raises StoreNotFoundError when there is no store at ``root`` (nothing there to verify or repair).
    """
    root = Path(root)
    info = EpisodeStore.read_info(root)
    try:
        index = Index.load(root)
    except StoreFormatError as e:
        return [Fault(str(root), str(e))]
    faults = [Fault(str(p.relative_to(root)), why) for p, why in _stray_dirs(root, index)]
    seen: set[int] = set()
    for pos, entry in enumerate(tqdm(index.episodes, desc="verify", unit="ep", disable=not progress)):
        where = f"episode {pos} ({EPISODES}/{entry.dir_name})"
        if entry.id != pos:
            faults.append(Fault(where, f"index is not contiguous: entry {pos} has id {entry.id}"))
        if entry.serial in seen or entry.serial >= index.next_serial:
            faults.append(Fault(where, f"serial {entry.serial} is duplicated or beyond next_serial"))
        seen.add(entry.serial)
        check = check_episode(root / EPISODES / entry.dir_name, info, entry, decode)
        faults += [Fault(where, f) for f in check.faults]
    return faults


@dataclass
class RepairReport:
    """What repair kept, shortened and dropped."""

    kept: int = 0
    shortened: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"kept {self.kept} episodes"] + self.shortened + self.dropped


def array_names(info: StoreInfo) -> list[str]:
    """Every array of an episode group of a store described by ``info``."""
    cameras = [k + suffix for k in info.image_keys for suffix in (OFFSETS_SUFFIX, FRAME_SUFFIX)]
    return [TIMESTAMP, *info.numeric_keys, *cameras]


def checksums_of(group: zarr.Group, info: StoreInfo) -> dict[str, int]:
    """CRC32 of each array's bytes, as the writer records them at commit; empty if any array does not read
    (the episode's check then finds what is wrong, and a rewritten prefix gets its own checksums)."""
    try:
        return {
            name: zlib.crc32(np.ascontiguousarray(read_array(group, name)).tobytes())
            for name in array_names(info)
        }
    except (ChunkError, KeyError, FileNotFoundError, ValueError):
        return {}


def _entries_from_dirs(root: Path, info: StoreInfo) -> list[EpisodeEntry]:
    """Rebuild index entries from the episode groups' own attributes (when index.json is lost), with
    checksums of the data as it is now, so that a later verify still checks every episode."""
    entries = []
    for path in sorted((root / EPISODES).glob("ep_*")):
        try:
            group = zarr.open_group(path, mode="r", zarr_format=3)
            attrs: dict[str, Any] = dict(group.attrs["episode"])  # type: ignore[arg-type]
            length = open_array(group, TIMESTAMP).shape[0]
            entry = EpisodeEntry(
                0, int(attrs["serial"]), length, str(attrs["task"]), dict(attrs.get("meta", {}))
            )
        except (KeyError, ValueError, TypeError, FileNotFoundError):
            continue
        entry.checksums = checksums_of(group, info)
        entries.append(entry)
    return entries


def _rewrite_prefix(store: EpisodeStore, entry: EpisodeEntry, prefix: int, serial: int) -> EpisodeEntry:
    """Copy the first ``prefix`` frames of an episode into a new committed directory."""
    old = zarr.open_group(store.root / EPISODES / entry.dir_name, mode="r", zarr_format=3)
    info = store.info
    staged = StagedEpisode(store.root / STAGING / episode_dir_name(serial), info, entry.task, entry.meta)
    ts = read_array(old, TIMESTAMP, prefix)
    numeric = {k: read_array(old, k, prefix) for k in info.numeric_keys}
    offsets = {k: read_array(old, k + OFFSETS_SUFFIX, prefix + 1) for k in info.image_keys}
    data = {k: read_array(old, k + FRAME_SUFFIX, int(offsets[k][-1])) for k in info.image_keys}
    for t in range(prefix):
        frame = {k: v[t] for k, v in numeric.items()}
        encoded = {k: data[k][offsets[k][t] : offsets[k][t + 1]].tobytes() for k in info.image_keys}
        staged.add(frame, float(ts[t]), encoded)
    staged.flush()
    new = staged.entry(entry.id, serial, {})
    staged.group.attrs["episode"] = {"id": new.id, "serial": serial, "task": new.task, "meta": new.meta}
    fsync_tree(staged.path)
    durable_rename(staged.path, store.root / EPISODES / new.dir_name)
    return new


def repair_store(root: str | Path, decode: bool = True, progress: bool = True) -> RepairReport:
    """Restore a consistent store: keep each episode's longest consistent prefix, drop the rest, renumber."""
    root = Path(root)
    report = RepairReport()
    EpisodeStore.read_info(root)  # no store there: refused before a lock file is made
    with WriterLock(root / LOCK):
        info = EpisodeStore.read_info(root)
        if not (root / EPISODES).is_dir():  # a store whose creation was interrupted
            zarr.open_group(root, mode="r+", zarr_format=3).create_group(EPISODES)
        try:
            index = Index.load(root)
        except StoreFormatError as e:
            entries = _entries_from_dirs(root, info)
            index = Index(entries, 1 + max((x.serial for x in entries), default=-1))
            report.dropped.append(f"index unreadable ({e}); rebuilt from {len(entries)} episode directories")
        store = EpisodeStore(root, info, index)
        for path, why in _stray_dirs(root, index):
            report.dropped.append(
                f"dropped {path.relative_to(root)} ({why}); moved to {move_aside(path, root)}"
            )
        kept: list[EpisodeEntry] = []
        for entry in tqdm(index.episodes, desc="repair", unit="ep", disable=not progress):
            check = check_episode(root / EPISODES / entry.dir_name, info, entry, decode)
            name = f"episode {entry.id} ({entry.dir_name})"
            if not check.faults:
                kept.append(entry)
            elif check.prefix > 0:
                new = _rewrite_prefix(store, entry, check.prefix, index.next_serial)
                index.next_serial += 1
                move_aside(root / EPISODES / entry.dir_name, root)
                kept.append(new)
                report.shortened.append(
                    f"{name}: kept frames 0..{check.prefix - 1} of {entry.length} ({check.faults[0]})"
                )
            else:
                if (root / EPISODES / entry.dir_name).exists():
                    move_aside(root / EPISODES / entry.dir_name, root)
                report.dropped.append(f"dropped {name}: {'; '.join(check.faults)}")
        for pos, entry in enumerate(kept):
            entry.id = pos
        index.episodes = kept
        index.next_serial = max([index.next_serial] + [e.serial + 1 for e in kept])
        index.save(root)
        report.kept = len(kept)
    return report
