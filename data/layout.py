"""On-disk layout of the episode store and its trusted index.

    <store>/zarr.json            zarr v3 root group; attribute "honed": features, fps, robot type, codec
    <store>/index.json           the committed episodes, replaced atomically (the commit point)
    <store>/stats.json           normalisation statistics for training (written on first use)
    <store>/.lock                the one-writer lock (flock; released by the kernel when the writer dies)
    <store>/episodes/ep_NNNNNN/  one zarr group per committed episode
    <store>/.staging/ep_NNNNNN/  the episode being recorded (never read; discarded after a crash)
    <store>/.dropped/            episodes removed by repair, drop or recovery (kept for inspection)

Inside an episode group: ``timestamp`` (T,) float32 seconds, one array per numeric feature (T, ...), and
per camera ``<key>.jpeg`` (all JPEG frames back to back, uint8) with ``<key>.offsets`` (T+1,) int64.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from honed.data.codec import JpegCodec
from honed.data.fsutil import atomic_write_json
from honed.errors import UserError
from honed.features import Features

FORMAT = 1
INDEX = "index.json"
STATS = "stats.json"
LOCK = ".lock"
EPISODES = "episodes"
STAGING = ".staging"
DROPPED = ".dropped"
TIMESTAMP = "timestamp"
FRAME_SUFFIX = ".jpeg"
OFFSETS_SUFFIX = ".offsets"
IMAGE_CHUNK_BYTES = 1 << 18
"""Chunk size of the concatenated JPEG bytes; zstd (the zarr default) squeezes the padding of the last chunk."""
NUMERIC_CHUNK_FRAMES = 1024


class StoreFormatError(UserError, ValueError):
    """A store (or one of its files) that is not a readable honed episode store; names the file."""


class StoreNotFoundError(StoreFormatError):
    """No episode store at the path given: nothing there, or a directory without ``zarr.json``."""


class IncompleteStoreError(StoreFormatError):
    """A store without ``index.json`` (its creation was interrupted, or the index was removed); names the fix."""


class EpisodeReadError(StoreFormatError):
    """A committed episode whose data does not read back (a damaged chunk file); names it and the repair."""


def repair_command(root: Path) -> str:
    return f"`honed-data repair store={root}`"


def episode_dir_name(serial: int) -> str:
    return f"ep_{serial:06d}"


@dataclass(frozen=True)
class StoreInfo:
    """What every episode of a store shares."""

    features: Features
    """Per-frame features (task is per episode, stored as a string)."""
    fps: int
    """Recording rate in frames per second."""
    robot_type: str = ""
    """Arm model or robot registry name the data came from."""
    codec: JpegCodec = field(default_factory=JpegCodec)
    """Camera-frame codec."""

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "features": self.features.to_dict(),
            "fps": self.fps,
            "robot_type": self.robot_type,
            "image_codec": self.codec.to_json(),
        }

    @classmethod
    def from_json(cls, data: Any, where: Path) -> StoreInfo:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StoreFormatError(
                f"{where}: missing or unknown 'honed' attributes (format {FORMAT} expected)"
            )
        try:
            return cls(
                features=Features.from_dict(data["features"]),
                fps=int(data["fps"]),
                robot_type=str(data.get("robot_type", "")),
                codec=JpegCodec.from_json(data.get("image_codec", {"name": "jpeg"})),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise StoreFormatError(f"{where}: malformed store attributes ({e})") from e

    @property
    def numeric_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f.dtype != "string" and not f.is_image]

    @property
    def image_keys(self) -> list[str]:
        return [k for k, f in self.features.items() if f.is_image]


NOT_IMITATED = "not_imitated"
"""Episode metadata key: [[start, stop], ...] frame ranges whose actions are not to be learnt from."""


@dataclass
class EpisodeEntry:
    """One committed episode as the index records it."""

    id: int
    """Position in the store (0..N-1, contiguous)."""
    serial: int
    """Never-reused number naming the episode's directory."""
    length: int
    """Number of frames."""
    task: str
    """Language instruction of the episode."""
    meta: dict[str, Any] = field(default_factory=dict)
    """operator, success, robot_id, calibration_hash, started_at, dropped_frames, ..."""
    checksums: dict[str, int] = field(default_factory=dict)
    """CRC32 of each array's bytes at commit time."""

    @property
    def dir_name(self) -> str:
        return episode_dir_name(self.serial)

    @classmethod
    def from_json(cls, data: Any, where: str) -> EpisodeEntry:
        try:
            return cls(
                id=int(data["id"]),
                serial=int(data["serial"]),
                length=int(data["length"]),
                task=str(data["task"]),
                meta=dict(data.get("meta", {})),
                checksums={str(k): int(v) for k, v in data.get("checksums", {}).items()},
            )
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            raise StoreFormatError(f"{where}: malformed episode entry ({e}): {str(data)[:200]}") from e


def missing_index(root: Path) -> IncompleteStoreError:
    """The error for a store whose ``index.json`` is missing, with the fix that suits what is there."""
    episodes = sorted((root / EPISODES).glob("ep_*"))
    if not episodes:
        return IncompleteStoreError(
            f"{root}: the store's creation was interrupted (zarr.json without index.json, no episodes); "
            f"remove the directory (rm -r {root}) or run {repair_command(root)} to finish it"
        )
    return IncompleteStoreError(
        f"{root / INDEX}: missing; run {repair_command(root)} to rebuild it from the "
        f"{len(episodes)} episode directories"
    )


@dataclass
class Index:
    """The committed episodes, in order, and the next unused directory serial."""

    episodes: list[EpisodeEntry] = field(default_factory=list)
    next_serial: int = 0

    @property
    def total_frames(self) -> int:
        return sum(e.length for e in self.episodes)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "next_serial": self.next_serial,
            "episodes": [asdict(e) for e in self.episodes],
        }

    def save(self, root: Path) -> None:
        atomic_write_json(root / INDEX, self.to_json())

    @classmethod
    def load(cls, root: Path) -> Index:
        path = root / INDEX
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise missing_index(root) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise StoreFormatError(f"{path}: not valid JSON ({e}); run `honed-data repair`") from e
        if not isinstance(data, dict) or not isinstance(data.get("episodes"), list):
            raise StoreFormatError(f"{path}: expected an object with an 'episodes' list")
        entries = [EpisodeEntry.from_json(e, f"{path} episode {i}") for i, e in enumerate(data["episodes"])]
        next_serial = int(data.get("next_serial", 1 + max((e.serial for e in entries), default=-1)))
        return cls(entries, next_serial)
