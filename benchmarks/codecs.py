"""``honed-bench codecs``: how the store's camera codec was chosen.

For camera-like 480x640 frames: bytes per frame, encode time on one thread (the recorder encodes
beside the control loop on a 2-core machine) and random-access decode time (training reads frames
in random order), for JPEG, WebP, PNG, zstd on raw pixels and AV1 video (LeRobot's default).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import av
import cv2
import numcodecs
import numpy as np

from honed.cli import Verb, bounded
from honed.data.codec import JpegCodec, psnr
from honed.data.synthetic import SyntheticCamera


@dataclass
class CodecBenchConfig:
    frames: int = bounded(60, ge=1)
    """Frames per codec."""
    height: int = bounded(480, ge=1)
    """Frame height."""
    width: int = bounded(640, ge=1)
    """Frame width."""
    write_docs: bool = False
    """Write the figures into docs/benchmarks.md."""


def _cv2(ext: str, params: list[int]) -> tuple[Callable[[np.ndarray], bytes], Callable[[bytes], np.ndarray]]:
    def encode(rgb: np.ndarray) -> bytes:
        return cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)[1].tobytes()

    def decode(data: bytes) -> np.ndarray:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"{ext} frame does not decode")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return encode, decode


def image_codecs(
    shape: tuple[int, ...],
) -> dict[str, tuple[Callable[[np.ndarray], bytes], Callable[[bytes], np.ndarray]]]:
    zstd = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)
    return {
        "jpeg_q90 (chosen)": (JpegCodec(90).encode, JpegCodec(90).decode),
        "jpeg_q95": (JpegCodec(95).encode, JpegCodec(95).decode),
        "webp_q90": _cv2(".webp", [cv2.IMWRITE_WEBP_QUALITY, 90]),
        "png_fast": _cv2(".png", [cv2.IMWRITE_PNG_COMPRESSION, 1]),
        "zstd_raw": (
            lambda f: zstd.encode(f),
            lambda b: np.frombuffer(zstd.decode(b), np.uint8).reshape(shape),
        ),
    }


def _worst_psnr(values: list[float]) -> float | str:
    worst = min(values)
    return worst if np.isfinite(worst) else "lossless"


def measure_image_codec(frames: list[np.ndarray], encode: Callable, decode: Callable) -> dict[str, Any]:
    sizes, enc, dec, quality = [], [], [], []
    blobs = []
    for f in frames:
        t0 = time.perf_counter()
        blob = encode(f)
        enc.append(time.perf_counter() - t0)
        sizes.append(len(blob))
        blobs.append(blob)
    for i in np.random.default_rng(0).permutation(len(frames)):
        t0 = time.perf_counter()
        out = decode(blobs[i])
        dec.append(time.perf_counter() - t0)
        quality.append(psnr(frames[i], out))
    return {"kb_per_frame": float(np.mean(sizes)) / 1024, "encode_ms": 1e3 * float(np.median(enc)),
            "random_decode_ms": 1e3 * float(np.median(dec)), "psnr_db": _worst_psnr(quality)}  # fmt: skip


def measure_av1(frames: list[np.ndarray], fps: int = 30) -> dict[str, Any]:
    """AV1 with LeRobot's defaults (libsvtav1, crf 30, GOP 2, yuv420p); decode = seek + decode to a frame."""
    buffer = io.BytesIO()
    start = time.perf_counter()
    with cast(Any, av.open(buffer, mode="w", format="mp4")) as container:
        stream = container.add_stream("libsvtav1", rate=fps)
        stream.height, stream.width, stream.pix_fmt = frames[0].shape[0], frames[0].shape[1], "yuv420p"
        stream.options = {"crf": "30", "g": "2", "preset": "12"}
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())
    encode_ms = 1e3 * (time.perf_counter() - start) / len(frames)
    data = buffer.getvalue()
    dec, quality = [], []
    for i in np.random.default_rng(0).permutation(len(frames))[:20]:
        t0 = time.perf_counter()
        with cast(Any, av.open(io.BytesIO(data))) as container:
            stream = container.streams.video[0]
            container.seek(int(i / fps / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if round(float(frame.time) * fps) >= i:
                    out = frame.to_ndarray(format="rgb24")
                    break
        dec.append(time.perf_counter() - t0)
        quality.append(psnr(frames[i], out))
    return {"kb_per_frame": len(data) / len(frames) / 1024, "encode_ms": encode_ms,
            "random_decode_ms": 1e3 * float(np.median(dec)), "psnr_db": _worst_psnr(quality)}  # fmt: skip


def run_bench(c: CodecBenchConfig) -> dict[str, Any]:
    from honed.benchmarks.results import Figure, emit, record_in_docs

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration otherwise
    cv2.setNumThreads(1)
    numcodecs.blosc.set_nthreads(1)
    camera = SyntheticCamera(c.height, c.width)
    frames = [camera.frame(t) for t in range(c.frames)]
    rows = {
        name: measure_image_codec(frames, enc, dec)
        for name, (enc, dec) in image_codecs(frames[0].shape).items()
    }
    rows["av1_crf30_g2 (lerobot)"] = measure_av1(frames)
    if c.write_docs:
        from honed.benchmarks.record import MACHINE_NOTE

        cells = {n: [f"{r['kb_per_frame']:.1f}", f"{r['encode_ms']:.2f}", f"{r['random_decode_ms']:.2f}",
                     r["psnr_db"] if isinstance(r["psnr_db"], str) else str(round(r["psnr_db"], 1))]
                 for n, r in rows.items()}  # fmt: skip
        lines = [
            MACHINE_NOTE,
            "",
            "| codec | KiB/frame | encode ms | random-access decode ms | min PSNR dB |",
        ]
        lines.append("|---|---|---|---|---|")
        lines += [f"| {n} | {' | '.join(values)} |" for n, values in cells.items()]
        figures = [Figure(f"{n}: KiB/frame / encode ms / random-access decode ms / min PSNR dB", " / ".join(v))
                   for n, v in cells.items()]  # fmt: skip
        record_in_docs("codecs", "honed-bench codecs write_docs=true", "\n".join(lines), figures)
    return emit({"frame": f"{c.height}x{c.width}", "codecs": rows})


VERB = Verb(
    CodecBenchConfig,
    run_bench,
    "camera codecs: size, encode time, random-access decode time, PSNR (why the store uses JPEG)",
    presets={"debug": CodecBenchConfig(frames=6, height=96, width=128)},
)
