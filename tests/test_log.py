"""Third-party noise reaches honed's log file, not the terminal (file-descriptor level, C libraries too)."""

from __future__ import annotations

import logging

import av
import av.logging
import numpy as np
import pytest

from honed import log
from honed.data.codec import JpegCodec
from honed.media import VideoReadError, read_mp4, write_mp4


@pytest.fixture
def log_file(tmp_path):
    path = log.setup(tmp_path / "state" / "honed.log")
    yield path
    log.setup(log.log_path())


def camera_like_frame(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)  # (H, W, 3)


def test_a_truncated_mp4_says_so_in_one_error_and_ffmpeg_speaks_only_to_the_log(tmp_path, capfd, log_file):
    video = write_mp4([camera_like_frame()] * 8, tmp_path / "full.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video.read_bytes()[:200])
    assert b"moov" not in truncated.read_bytes()  # the index FFmpeg looks for is at the end of the file
    av.logging.restore_default_callback()  # as lerobot's video helpers call it when they finish
    with pytest.raises(av.error.InvalidDataError):
        av.open(str(truncated))  # FFmpeg reached directly, as lerobot's reader does
    assert "moov atom not found" in log_file.read_text()
    with pytest.raises(VideoReadError, match=r"truncated\.mp4 is not a readable video .*moov atom not found"):
        read_mp4(truncated)
    out, err = capfd.readouterr()
    assert "moov" not in out + err
    assert read_mp4(video).shape == (8, 48, 64, 3)


def test_ffmpeg_stays_in_the_log_after_lerobot_hands_it_back(tmp_path, capfd, log_file):
    av.logging.restore_default_callback()  # lerobot's encoder does this when it finishes a video
    with av.open(str(tmp_path / "faststart.mp4"), mode="w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)  # as LeRobot's export writes its videos
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(4):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(camera_like_frame(), format="rgb24")))
        container.mux(stream.encode())
    out, err = capfd.readouterr()
    assert "moov" not in out + err
    assert "moving the moov atom to the beginning of the file" in log_file.read_text()


def test_a_damaged_jpeg_frame_decodes_and_libjpeg_warns_only_in_the_log(capfd, log_file):
    codec = JpegCodec()
    frame = camera_like_frame()
    data = codec.encode(frame)
    damaged = data[: len(data) * 2 // 3] + b"\xff\xd9"  # the scan cut short, then the end marker
    assert codec.decode(damaged, frame.shape).shape == frame.shape
    out, err = capfd.readouterr()
    assert "JPEG" not in out + err
    assert "Corrupt JPEG data: premature end of data segment" in log_file.read_text()
    np.testing.assert_allclose(codec.decode(data, frame.shape), frame, atol=12)


def test_honed_warnings_still_reach_the_terminal_and_the_file(capfd, log_file, monkeypatch):
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # as in a command: nothing else configured
    logging.getLogger("honed.sim.mujoco").warning("MuJoCo: the world went unstable")
    log.third_party("warp").debug("Module x load on device 'cpu' took 0.1 ms")
    _, err = capfd.readouterr()
    assert err == "MuJoCo: the world went unstable\n"
    text = log_file.read_text()
    assert "honed.sim.mujoco WARNING MuJoCo: the world went unstable" in text and "load on device" in text


def test_setup_moves_the_file_and_keeps_one_handler(tmp_path, log_file):
    moved = log.setup(tmp_path / "elsewhere.log")
    log.LOG.info("after the move")
    files = [h for h in log.LOG.handlers if isinstance(h, logging.FileHandler)]
    assert len(files) == 1 and files[0].baseFilename == str(moved.absolute())
    assert "after the move" in moved.read_text() and not log_file.exists()
