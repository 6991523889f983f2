"""Writing what people would rather see than read: MP4 videos (PyAV, H.264) and image grids.

FFmpeg's own messages (``moov atom not found`` on a truncated file, say) go to honed's log file, not the
terminal (:mod:`honed.log`); a video that cannot be read raises :class:`VideoReadError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import numpy as np

from honed.log import route_ffmpeg


class VideoReadError(ValueError):
    """A file that does not decode as a video; the message names the file and FFmpeg's reason."""


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float = 30.0, crf: int = 23) -> Path:
    """Encode (H, W, 3) uint8 frames to an H.264 MP4 (even sizes are padded); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"no frames to write to {path}")
    h, w = first.shape[:2]
    route_ffmpeg()
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
    route_ffmpeg()
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise VideoReadError(f"{path} is not a readable video ({_reason(e)}); write it again") from e
    try:
        if not container.streams.video:
            raise VideoReadError(f"{path} holds no video stream; write it again")
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except av.error.FFmpegError as e:
        raise VideoReadError(f"{path} stops decoding ({_reason(e)}); write it again") from e
    finally:
        container.close()
    if not frames:
        raise VideoReadError(f"{path} holds no frames; write it again")
    return np.stack(frames)


def _reason(error: Exception) -> str:
    """FFmpeg's own words for a failure: its last logged error when there is one."""
    strerror = getattr(error, "strerror", None) or str(error)
    log = getattr(error, "log", None)  # (level, component, message) of FFmpeg's last error
    return f"{strerror}: {log[2].strip()}" if log else strerror


def tile(images: list[np.ndarray]) -> np.ndarray:
    """Side by side (equal heights)."""
    return np.concatenate(images, axis=1)
