"""The recording loop: read the robot, read the teleoperator, write the action, append the frame.

It runs at a fixed rate (ticks it could not keep are counted as dropped frames), keeps a live
progress line, and reacts to operator events (save, re-record, stop). Between episodes a reset period
lets the operator (or the twin) put the scene back. Any fault during an episode (a camera that stops
delivering, a full disk, a robot error) discards that episode, keeps every committed one, and ends
recording with an error that names the cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.data.fsutil import StoreWriteError
from honed.data.layout import NOT_IMITATED, StoreInfo
from honed.data.store import EpisodeStore
from honed.data.writer import EpisodeWriter
from honed.errors import UserError
from honed.features import ACTION, TASK, Features
from honed.pacer import Pacer
from honed.robot import Robot, RobotError
from honed.teleop import Teleoperator, TeleopEvents


class RecordError(UserError, RuntimeError):
    """Recording ended on a fault; the message names the cause and what was kept."""


FAULTS = (ValueError, StoreWriteError, RobotError, OSError)
"""Faults that end recording cleanly: bad frames or actions, a full disk, a robot or port error."""


def store_features(robot_features: Features) -> Features:
    """What a store of this robot holds per frame: its observations and its action (strings excluded)."""
    return Features({k: f for k, f in robot_features.items() if f.dtype != "string"})


@dataclass
class EpisodeResult:
    outcome: str
    """saved, rerecord or stop (saved and then stop)."""
    frames: int
    dropped: int


def frame_ranges(frames: list[int]) -> list[list[int]]:
    """Sorted frame numbers as half-open [start, stop) runs: [3, 4, 5, 9] -> [[3, 6], [9, 10]]."""
    runs: list[list[int]] = []
    for f in frames:
        if runs and runs[-1][1] == f:
            runs[-1][1] = f + 1
        else:
            runs.append([f, f + 1])
    return runs


def merge_events(*events: TeleopEvents) -> TeleopEvents:
    return TeleopEvents(
        end_episode=any(e.end_episode for e in events),
        rerecord=any(e.rerecord for e in events),
        stop=any(e.stop for e in events),
        imitate=all(e.imitate for e in events),
    )


class Recorder:
    """Records episodes from ``robot`` driven by ``teleop`` into ``store``."""

    def __init__(
        self,
        robot: Robot,
        teleop: Teleoperator,
        store: EpisodeStore,
        task: str,
        episode_s: float = 30.0,
        reset_s: float = 3.0,
        realtime: bool = True,
        meta: dict[str, Any] | None = None,
        keys: Callable[[], TeleopEvents] | None = None,
        progress: bool = True,
        seed: int = 0,
        bar: bool = True,
    ):
        self.robot, self.teleop, self.store, self.task = robot, teleop, store, task
        self.max_frames = max(1, round(episode_s * store.fps))
        self.reset_frames = round(reset_s * store.fps)
        self.pacer = Pacer(store.fps, realtime)
        self.meta = dict(meta or {})
        self.keys = keys or TeleopEvents
        self.progress, self.seed = progress, seed
        self.bar = progress and bar
        """Draw the tqdm progress line (off while a teleop's live panel shows the loop instead)."""
        self.keys_to_record = [k for k in store.features if k != ACTION]
        self.encode_ms: list[float] = []
        """Encoding time of each frame's camera images (ms), filled while recording."""

    def events(self) -> TeleopEvents:
        return merge_events(self.teleop.events(), self.keys())

    def tick(self) -> tuple[dict[str, Any], np.ndarray]:
        """One control step: observation, action (refused if not finite), action actually sent."""
        obs = self.robot.read()
        action = np.asarray(self.teleop.get_action(obs), dtype=np.float32)
        expected = self.store.features[ACTION].shape
        if action.shape != expected or not np.all(np.isfinite(action)):
            raise RecordError(
                f"teleop {self.teleop.name!r} produced action {action.tolist()} (shape {action.shape}); "
                f"expected {expected} finite joint targets. Nothing was sent to the robot."
            )
        return obs, np.asarray(self.robot.write(action), dtype=np.float32)

    def record_episode(self, number: int, writer: EpisodeWriter) -> EpisodeResult:
        obs = self.robot.read()
        self.teleop.reseed(self.seed + number)
        self.teleop.reset(obs)
        task = self.task or str(obs.get(TASK, ""))
        started = datetime.now(UTC).isoformat(timespec="seconds")
        writer.start_episode(task, {**self.meta, "started_at": started, "seed": self.seed + number})
        bar = tqdm(
            total=self.max_frames, desc=f"episode {number}", unit="fr", disable=not self.bar, leave=False
        )
        self.pacer.start()
        frames, outcome, staged = 0, "time", []
        while frames < self.max_frames:
            obs, sent = self.tick()
            frame = {k: obs[k] for k in self.keys_to_record if k in obs}
            writer.add_frame({**frame, ACTION: sent}, frames / self.store.fps)
            frames += 1
            bar.update(1)
            bar.set_postfix(dropped=self.pacer.dropped, hz=f"{self.pacer.rate_hz:.1f}", refresh=False)
            events = self.events()
            if not events.imitate:
                staged.append(frames - 1)
            if events.rerecord or events.stop or events.end_episode:
                outcome = "rerecord" if events.rerecord else "stop" if events.stop else "teleop"
                break
            self.pacer.wait()
        bar.close()
        if outcome == "rerecord":
            writer.discard_episode()
            return EpisodeResult("rerecord", frames, self.pacer.dropped)
        success = getattr(self.robot, "success", None)
        meta = {"dropped_frames": self.pacer.dropped, "ended_by": outcome,
                "success": bool(success) if success is not None else None}  # fmt: skip
        entry = writer.save_episode(meta | ({NOT_IMITATED: frame_ranges(staged)} if staged else {}))
        print(f"[honed-record] committed episode {entry.id} ({entry.length} frames, "
              f"{self.store.episode_path(entry)})", flush=True)  # fmt: skip
        return EpisodeResult("stop" if outcome == "stop" else "saved", frames, self.pacer.dropped)

    def reset_period(self, number: int) -> bool:
        """Between episodes: re-seed the twin's scene if it can, else let the operator reset; False = stop."""
        if self.reset_scene(number):
            return not self.events().stop
        if self.progress and self.reset_frames:
            print(f"[honed-record] reset the scene for episode {number} ({self.reset_frames / self.store.fps:.0f} s; "
                  "-> to start now, Esc to stop)", flush=True)  # fmt: skip
        self.pacer.start()
        for _ in range(self.reset_frames):
            self.tick()
            events = self.events()
            if events.stop:
                return False
            if events.end_episode:
                break
            self.pacer.wait()
        return True

    def reset_scene(self, number: int) -> bool:
        """Draw episode ``number``'s scene (seed + number) on a robot that can (the twin); False otherwise."""
        reset_scene = getattr(self.robot, "reset_scene", None)
        if callable(reset_scene):
            reset_scene(seed=self.seed + number)
            return True
        return False

    def run(self, episodes: int) -> list[EpisodeResult]:
        """Record ``episodes`` episodes (fewer if the operator stops); returns what happened to each."""
        results: list[EpisodeResult] = []
        with self.store.writer() as writer:
            self.encode_ms = writer.encode_ms
            for message in writer.recovered:
                print(f"[honed-record] {message}")
            number = self.store.num_episodes
            target = number + episodes
            self.reset_scene(number)
            while number < target:
                result = self._guarded_episode(number, writer)
                results.append(result)
                if result.outcome == "stop":
                    break
                if result.outcome == "saved":
                    number += 1
                if number < target and not self._guarded_reset(number, writer):
                    break
        return results

    def _guarded_reset(self, number: int, writer: EpisodeWriter) -> bool:
        try:
            return self.reset_period(number)
        except FAULTS as e:
            raise RecordError(
                f"the reset period before episode {number} ended: {e}. No episode was in progress; the "
                f"{writer.store.num_episodes} committed episodes in {writer.store.root} are intact."
            ) from e

    def _guarded_episode(self, number: int, writer: EpisodeWriter) -> EpisodeResult:
        try:
            return self.record_episode(number, writer)
        except FAULTS as e:
            writer.discard_episode()
            raise RecordError(
                f"episode {number} ended: {e}. The episode was discarded; the {writer.store.num_episodes} "
                f"committed episodes in {writer.store.root} are intact."
            ) from e
        except KeyboardInterrupt:
            writer.discard_episode()
            raise


def check_store_for(robot: Robot, path: str, fps: int, robot_type: str) -> None:
    """Refuse an existing store at ``path`` whose features or rate differ from the robot's; creates nothing."""
    info = StoreInfo(store_features(robot.features), fps, robot_type)
    EpisodeStore.open_matching(path, info, source_name=f"robot {robot.name!r}")


def open_store_for(robot: Robot, path: str, fps: int, robot_type: str) -> EpisodeStore:
    """The store at ``path`` (created if new); refused before recording if its features differ from the robot's."""
    info = StoreInfo(store_features(robot.features), fps, robot_type)
    return EpisodeStore.open_or_create(path, info, source_name=f"robot {robot.name!r}")
