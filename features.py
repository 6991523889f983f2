"""The shared description of what flows between sim, hardware, data and policies.

Keys follow LeRobotDataset: ``observation.state``, ``observation.images.<camera>``, ``action``,
``task``; honed adds ``observation.privileged`` (object poses, for critics and teachers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

STATE = "observation.state"
PRIVILEGED = "observation.privileged"
IMAGE_PREFIX = "observation.images."
ACTION = "action"
TASK = "task"

_DTYPES = ("float32", "float64", "int64", "uint8", "bool", "string")
ACTION_SPACES = ("absolute_joint", "delta_joint", "absolute_ee", "delta_ee")
"""How an action's values command the robot: joint or end-effector targets, absolute or relative."""


def image_key(camera: str) -> str:
    """The feature key of a camera's images."""
    return IMAGE_PREFIX + camera


def _optional_text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be text or null, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Feature:
    """One entry: shape, dtype, per-dimension names and the physical unit."""

    shape: tuple[int, ...]
    """Shape of one frame's value (images are (H, W, 3), channel last, uint8)."""
    dtype: str
    """One of float32, float64, int64, uint8, bool, string."""
    names: tuple[str, ...] | None = None
    """Name of each element along the last axis (joint names, say), or None."""
    unit: str | None = None
    """Physical unit of the values (rad, rad/s, m, ...), or None."""
    placement: str | None = None
    """Where a camera sits and what it sees (mount, pose on it, field of view), where known (the
    twin's cameras), or None. Two known placements that differ make the features mismatch."""
    representation: str | None = None
    """On a robot's or task's ``action``: one of ACTION_SPACES, the action representation it takes
    (a checkpoint trained for another is refused); None elsewhere or where not declared."""

    def __post_init__(self) -> None:
        if self.dtype not in _DTYPES:
            raise ValueError(f"feature dtype {self.dtype!r} is not one of {', '.join(_DTYPES)}")
        if self.representation is not None and self.representation not in ACTION_SPACES:
            raise ValueError(
                f"feature representation {self.representation!r} is not one of {', '.join(ACTION_SPACES)}"
            )
        if any(int(s) <= 0 for s in self.shape):
            raise ValueError(f"feature shape {self.shape} must have positive sizes")
        if self.names is not None and self.shape and len(self.names) != self.shape[-1]:
            raise ValueError(f"feature names {self.names} do not match last axis of shape {self.shape}")

    @property
    def is_image(self) -> bool:
        return self.dtype == "uint8" and len(self.shape) == 3


class Features(Mapping[str, Feature]):
    """An ordered, immutable mapping of feature key to :class:`Feature`."""

    def __init__(self, items: Mapping[str, Feature]):
        self._items = dict(items)

    def __getitem__(self, key: str) -> Feature:
        try:
            return self._items[key]
        except KeyError:
            raise KeyError(f"no feature {key!r}; features are: {', '.join(self._items)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Features({self._items!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Features) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self.to_json())

    @property
    def cameras(self) -> list[str]:
        return [k[len(IMAGE_PREFIX) :] for k in self._items if k.startswith(IMAGE_PREFIX)]

    def select(self, keys: list[str]) -> Features:
        return Features({k: self[k] for k in keys})

    def with_placements_of(self, other: Features) -> Features:
        """These features, each camera that states no placement given the one ``other`` states."""
        return Features({
            key: replace(feat, placement=other._items[key].placement)
            if feat.placement is None and key in other._items else feat
            for key, feat in self._items.items()
        })  # fmt: skip

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready entries; ``placement`` and ``representation`` only where known, so entries written
        before they existed (and digests over them) read the same."""
        out = {}
        for key, feat in self._items.items():
            entry = {**asdict(feat), "shape": list(feat.shape)}
            for optional in ("placement", "representation"):
                if entry[optional] is None:
                    del entry[optional]
            out[key] = entry
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> Features:
        items = {}
        for key, spec in data.items():
            try:
                names = spec.get("names")
                items[key] = Feature(
                    shape=tuple(int(s) for s in spec["shape"]),
                    dtype=str(spec["dtype"]),
                    names=tuple(names) if names is not None else None,
                    unit=spec.get("unit"),
                    placement=_optional_text(spec.get("placement"), "placement"),
                    representation=_optional_text(spec.get("representation"), "representation"),
                )
            except (KeyError, TypeError, ValueError, OverflowError) as e:
                raise ValueError(
                    f"feature {key!r} is malformed ({e}); "
                    "expected shape, dtype[, names, unit, placement, representation]"
                ) from e
        return cls(items)

    def mismatches(self, other: Features, keys: list[str] | None = None) -> list[str]:
        """Human-readable differences between two feature sets, restricted to ``keys`` if given."""
        out = []
        for key in keys if keys is not None else sorted(set(self) | set(other)):
            a, b = self._items.get(key), other._items.get(key)
            if a is None or b is None:
                out.append(f"{key}: {'missing on the left' if a is None else 'missing on the right'}")
            elif (a.shape, a.dtype) != (b.shape, b.dtype):
                out.append(f"{key}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}")
            elif a.names and b.names and a.names != b.names:
                out.append(f"{key}: names {list(a.names)} vs {list(b.names)}")
            elif a.placement and b.placement and a.placement != b.placement:
                out.append(
                    f"{key}: camera placement {a.placement!r} vs {b.placement!r} (the camera was moved, "
                    "re-aimed or given another field of view)"
                )
        return out

    def check_frame(self, frame: Mapping[str, Any], where: str = "frame") -> None:
        """Raise ValueError naming the field if a frame's value has the wrong shape or non-finite numbers."""
        for key, feat in self._items.items():
            if key not in frame:
                raise ValueError(f"{where}: missing field {key!r}")
            if feat.dtype == "string":
                if not isinstance(frame[key], str):
                    raise ValueError(
                        f"{where}: field {key!r} must be a string, got {type(frame[key]).__name__}"
                    )
                continue
            value = np.asarray(frame[key])
            if value.shape != feat.shape:
                raise ValueError(f"{where}: field {key!r} has shape {value.shape}, expected {feat.shape}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise ValueError(f"{where}: field {key!r} holds non-finite values {value.tolist()}")
