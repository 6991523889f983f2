"""The data benchmarks run end to end on tiny settings and report every figure they promise."""

from __future__ import annotations

import json

from honed.benchmarks.codecs import CodecBenchConfig
from honed.benchmarks.codecs import run_bench as run_codecs
from honed.benchmarks.load import LoadBenchConfig
from honed.benchmarks.load import run_bench as run_load
from honed.benchmarks.record import RecordBenchConfig
from honed.benchmarks.record import run_bench as run_record


def last_json_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_record_bench_reports_its_figures(tmp_path, capsys):
    run_record(RecordBenchConfig(seconds=1.0, height=48, width=64, workdir=str(tmp_path)))
    out = last_json_line(capsys)
    assert out["frames"] + out["frames_dropped"] >= 29
    for key in ("write_mb_per_s", "bytes_per_frame", "lerobot_bytes_per_frame", "encode_ms_p99"):
        assert out[key] > 0
    assert out["bytes_per_frame"] < out["raw_bytes_per_frame"]


def test_load_bench_reports_both_datasets(tmp_path, capsys):
    cfg = LoadBenchConfig(episodes=2, frames=20, height=32, width=32, batch_size=4, batches=2, num_workers=0,
                          workdir=str(tmp_path))  # fmt: skip
    run_load(cfg)
    out = last_json_line(capsys)
    assert out["samples"] == 40 and out["samples_per_s"] > 0 and out["lerobot_samples_per_s"] > 0
    assert out["samples_per_s_uncached"] > 0


def test_codec_bench_compares_every_codec(capsys):
    run_codecs(CodecBenchConfig(frames=4, height=48, width=64))
    codecs = last_json_line(capsys)["codecs"]
    assert set(codecs) == {
        "jpeg_q90 (chosen)",
        "jpeg_q95",
        "webp_q90",
        "png_fast",
        "zstd_raw",
        "av1_crf30_g2 (lerobot)",
    }
    assert codecs["png_fast"]["psnr_db"] == "lossless" and codecs["jpeg_q90 (chosen)"]["psnr_db"] > 25
