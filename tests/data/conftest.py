"""Shared fixtures of the data tests: small real stores written by the real writer."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from honed.data.layout import StoreInfo
from honed.data.store import EpisodeStore
from honed.data.synthetic import SyntheticRobot, SyntheticTeleop
from honed.features import ACTION

HEIGHT, WIDTH = 48, 64


def record_synthetic(
    root: Path,
    lengths: list[int],
    tasks: list[str] | None = None,
    height: int = HEIGHT,
    width: int = WIDTH,
    metas: list[dict] | None = None,
) -> tuple[EpisodeStore, list[list[dict]]]:
    """A store with one episode per entry of ``lengths`` (``metas``: extra metadata of each);
    returns it and the raw frames written."""
    robot = SyntheticRobot(height=height, width=width)
    robot.connect()
    teleop = SyntheticTeleop()
    store = EpisodeStore.open_or_create(root, StoreInfo(robot.features, 30, "so101"))
    written: list[list[dict]] = []
    with store.writer() as writer:
        for e, n in enumerate(lengths):
            writer.start_episode(tasks[e] if tasks else f"task {e % 2}", {"operator": "tester"})
            frames = []
            for t in range(n):
                obs = robot.read()
                frame = {
                    **{k: obs[k] for k in robot.features if k in obs},
                    ACTION: robot.write(teleop.get_action(obs)),
                }
                writer.add_frame(frame, t / 30)
                frames.append(frame)
            writer.save_episode({"success": e % 2 == 0, **(metas[e] if metas else {})})
            written.append(frames)
    store.reload()
    return store, written


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[..., tuple[EpisodeStore, list[list[dict]]]]:
    counter = iter(range(1000))

    def make(lengths: list[int], **kwargs) -> tuple[EpisodeStore, list[list[dict]]]:
        return record_synthetic(tmp_path / f"store{next(counter)}", lengths, **kwargs)

    return make


def stack(frames: list[dict], key: str) -> np.ndarray:
    return np.stack([np.asarray(f[key]) for f in frames])


@pytest.fixture
def tmpfs_prefix() -> list[str]:
    """A command prefix giving a private mount namespace where a small tmpfs (a disk that fills) can be
    mounted; skips the test where there is none."""
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        probe = subprocess.run(
            [*prefix, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True
        )
        if probe.returncode == 0:
            return prefix
    pytest.skip("cannot mount a small tmpfs here (needs root or unprivileged user namespaces)")
