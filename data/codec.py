"""Camera-frame codec of the episode store: baseline JPEG (libjpeg-turbo), encoded through OpenCV and
decoded through simplejpeg, which hands libjpeg's warnings on a damaged frame to honed's log instead of
printing them on the terminal.

Chosen by measurement (``honed-bench codecs``, figures in docs/data.md): against PNG, WebP, zstd on raw
pixels and AV1 video it gives the best balance of size, encode time on a busy 2-core machine and
random-access decode time, and every image tool on earth reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import simplejpeg

from honed.errors import UserError
from honed.log import third_party

cv2.setNumThreads(1)


class FrameDecodeError(UserError, ValueError):
    """Bytes that are not a decodable image of the expected shape."""


@dataclass(frozen=True)
class JpegCodec:
    """RGB uint8 (H, W, 3) <-> baseline JPEG bytes."""

    quality: int = 90
    """JPEG quality 1..100 (90: ~38 dB PSNR on camera-like frames)."""

    name = "jpeg"

    def __post_init__(self) -> None:
        if not 1 <= self.quality <= 100:
            raise ValueError(f"image quality {self.quality} is outside 1..100; pick e.g. quality=90")

    def encode(self, rgb: np.ndarray) -> bytes:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) RGB frame, got {rgb.dtype} {rgb.shape}")
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise ValueError(f"JPEG encoding failed for a frame of shape {rgb.shape}")
        return buf.tobytes()

    def decode(self, data: bytes | np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Decode to RGB uint8 (H, W, 3); with ``shape``, raise FrameDecodeError if it differs.

        A damaged frame that libjpeg still decodes (``Corrupt JPEG data: premature end of data
        segment``, say) is returned as libjpeg recovers it, and its warning goes to honed's log.
        """
        buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
        try:
            rgb = simplejpeg.decode_jpeg(buf, colorspace="RGB", strict=True)  # (H, W, 3)
        except ValueError as warning:
            try:
                rgb = simplejpeg.decode_jpeg(buf, colorspace="RGB", strict=False)
            except ValueError as e:
                raise FrameDecodeError(f"{buf.size} bytes do not decode as JPEG ({e})") from e
            third_party("libjpeg").warning("a %d-byte JPEG frame decoded with: %s", buf.size, warning)
        if shape is not None and rgb.shape != tuple(shape):
            raise FrameDecodeError(f"frame decodes to shape {rgb.shape}, expected {tuple(shape)}")
        return rgb

    def to_json(self) -> dict[str, int | str]:
        return {"name": self.name, "quality": self.quality}

    @classmethod
    def from_json(cls, spec: dict[str, object]) -> JpegCodec:
        if spec.get("name") != cls.name:
            raise ValueError(
                f"image codec {spec.get('name')!r} is not supported; this store reader knows 'jpeg'"
            )
        quality = spec.get("quality", 90)
        if not isinstance(quality, int):
            raise ValueError(f"image codec quality {quality!r} must be an integer")
        return cls(quality=quality)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of uint8 images (inf when identical)."""
    if reference.shape != test.shape:
        raise ValueError(f"PSNR needs equal shapes, got {reference.shape} and {test.shape}")
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))
