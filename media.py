"""Writing what people would rather see than read: MP4 videos (PyAV, H.264) and image grids."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import numpy as np


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float = 30.0, crf: int = 23) -> Path:
    """Encode (H, W, 3) uint8 frames to an H.264 MP4 (even sizes are padded); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"no frames to write to {path}")
    h, w = first.shape[:2]
    container = av.open(str(path), mode="w")
    try:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in _chain(first, it):
            padded = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            container.mux(
                stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(padded), format="rgb24"))
            )
        container.mux(stream.encode())
    finally:
        container.close()
    return path


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def read_mp4(path: str | Path) -> np.ndarray:
    """Decode every frame of a video to (T, H, W, 3) uint8."""
    container = av.open(str(path))
    try:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    finally:
        container.close()


def tile(images: list[np.ndarray]) -> np.ndarray:
    """Side by side (equal heights)."""
    return np.concatenate(images, axis=1)
