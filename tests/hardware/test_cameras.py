"""Cameras: spec parsing, OpenCV capture in its own thread (from a real video file), the twin's view."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from honed.hardware.cameras import CameraSpec, OpenCVCamera, TwinCamera, parse_camera_spec


def test_camera_specs_parse() -> None:
    assert parse_camera_spec("front:twin") == CameraSpec("front", "twin")
    assert parse_camera_spec("wrist:opencv:/dev/video2@640x480") == CameraSpec(
        "wrist", "opencv", "/dev/video2", 640, 480
    )
    assert parse_camera_spec("top:opencv:0").source == "0"


@pytest.mark.parametrize(
    ("text", "message"),
    [("front", "malformed"), ("front:webcam", "unknown kind 'webcam'"), ("a:twin@4x4", "between 8 and 4096")],
)
def test_bad_camera_specs_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_camera_spec(text)


@given(st.text(max_size=40))
def test_spec_parser_only_accepts_or_explains(text: str) -> None:
    try:
        spec = parse_camera_spec(text)
    except ValueError as e:
        assert "camera spec" in str(e)
    else:
        assert spec.kind in ("opencv", "twin") and spec.name.isidentifier()


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30, size)
    for i in range(frames):
        image = np.full((size[1], size[0], 3), 20 * i % 255, np.uint8)
        image[:, :, 2] = 200  # red channel in BGR
        writer.write(image)
    writer.release()
    return path


def test_opencv_camera_plays_a_video_file_in_its_own_thread(tmp_path: Path, hw) -> None:
    camera = OpenCVCamera(CameraSpec("front", "opencv", str(write_video(tmp_path / "v.avi")), 32, 24, fps=60))
    camera.connect()
    try:
        first = camera.read()
        assert first.image.shape == (24, 32, 3) and first.image.dtype == np.uint8
        assert first.image[..., 0].mean() > 150  # delivered as RGB
        stamps = {first.timestamp}

        def twenty_frames() -> bool:
            stamps.add(camera.read().timestamp)
            return len(stamps) >= 20

        hw.wait_for(twenty_frames, "20 frames")
        assert sorted(stamps)[-1] > first.timestamp  # new frames keep arriving (the 12-frame file loops)
    finally:
        camera.disconnect()
    assert not camera.is_connected


def test_opencv_camera_that_cannot_open_says_so() -> None:
    camera = OpenCVCamera(CameraSpec("front", "opencv", "/nonexistent/video9", 32, 24))
    with pytest.raises(RuntimeError, match="cannot open"):
        camera.connect()
    camera.disconnect()


def test_twin_camera_renders_the_pose_it_is_given(hw) -> None:
    pose: dict[str, np.ndarray] = {"q": np.zeros(6)}
    camera = TwinCamera(CameraSpec("front", "twin", width=80, height=60, fps=60), lambda: pose["q"])
    camera.connect()
    try:
        rest = camera.read()
        assert rest.image.shape == (60, 80, 3)
        pose["q"] = np.array([1.2, 0.8, -0.5, 0.3, 0.0, 1.0])
        changed = time.perf_counter()
        stamps: set[float] = set()

        def two_frames_since() -> bool:  # the first may have read the pose before it changed; the next cannot
            stamps.add(camera.read().timestamp)
            return sum(s > changed for s in stamps) >= 2

        hw.wait_for(two_frames_since, "two frames captured after the pose changed")
        moved = camera.read()
        assert np.abs(moved.image.astype(int) - rest.image.astype(int)).mean() > 1.0
    finally:
        camera.disconnect()


def test_twin_camera_rejects_unknown_view() -> None:
    camera = TwinCamera(CameraSpec("top", "twin", width=32, height=24))
    with pytest.raises(RuntimeError, match="not in the scene"):
        camera.connect()
    camera.disconnect()
