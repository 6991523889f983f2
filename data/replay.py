"""``honed-data replay``: send a recorded episode's actions to a robot again, at the recorded rate.

The robot is any registered one: a follower arm on its port (``so101_follower``, ``koch_follower``,
... or the servo-bus emulator's pseudo-terminal), or the twin (``so101_twin``), which starts from the
episode's scene (its ``twin_task`` and ``seed``). Every target goes through the robot's own
``write``: a follower's :class:`honed.hardware.safety.ActionGuard` refuses non-finite targets and
targets far outside a joint's range, clips near ones into it and limits each joint's step from its
present position; the twin clips into its joint range. Replay never talks to a bus itself.

Before anything moves, the episode must fit the robot: the same action feature (shape, dtype, joint
names, unit), the same arm model where both are known, finite actions, and (once connected) every
action within the guard's ranges. The summary counts the frames sent, the frames the robot changed
(clipped or step-limited, and by how much), the largest tracking error (target sent at frame t
against the joints read one period later) and the largest deviation from the recorded joints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from honed.arms import ARMS
from honed.cli import bounded
from honed.data.store import Episode, EpisodeStore
from honed.errors import UserError
from honed.features import ACTION, STATE, Feature
from honed.hardware.safety import SafetyError
from honed.pacer import Pacer
from honed.robot import ROBOTS, Robot, RobotError

CHANGED_RAD = 1e-6
"""A sent target farther than this from the recorded action counts as changed by the robot."""


class ReplayError(UserError, ValueError):
    """The episode cannot be replayed on this robot, or the robot stopped the replay."""


@dataclass
class ReplayConfig:
    store: str = "outputs/record/store"
    """Path of the episode store."""
    episode: int = bounded(0, ge=0)
    """Episode to replay (its position in the store, as `honed-data info episodes=true` lists them)."""
    robot: str = "so101_twin"
    """Robot registry name: so101_twin, or a real arm's driver (so101_follower, koch_follower, ...)."""
    robot_options: dict[str, Any] = field(default_factory=dict)
    """Extra constructor arguments of the robot: robot_options.port=/dev/ttyACM0 robot_options.id=arm."""
    task: str = ""
    """Twin task of the scene (empty: the episode's twin_task, else the twin's default)."""
    seed: int = bounded(-1, ge=-1)
    """Twin scene seed (-1: the episode's recorded seed)."""
    realtime: bool = True
    """Pace at the recorded fps; false sends as fast as the robot takes them (simulated robots only: the twin)."""
    progress: bool = True
    """Show the live progress bar."""


def arm_of(robot_name: str) -> str | None:
    """The arm model a robot or store name starts with (so101_follower -> so101), if it names one."""
    head = robot_name.split("_", 1)[0]
    return head if head in ARMS else None


def action_mismatch(recorded: Feature, robot: Feature) -> str | None:
    """Why actions recorded as ``recorded`` do not fit a robot taking ``robot`` actions, or None."""
    if (recorded.shape, recorded.dtype) != (robot.shape, robot.dtype):
        return f"{recorded.dtype}{list(recorded.shape)} recorded, the robot takes {robot.dtype}{list(robot.shape)}"
    if recorded.names and robot.names and recorded.names != robot.names:
        return f"joints {list(recorded.names)} recorded, the robot has {list(robot.names)}"
    if recorded.unit != robot.unit:
        return f"unit {recorded.unit or 'unknown'} recorded, the robot takes {robot.unit}"
    return None


def check_fits(store: EpisodeStore, number: int, robot: Robot) -> None:
    """Refuse, in one line, an episode whose actions do not fit ``robot`` (before it connects)."""
    where = f"episode {number} of {store.root}"
    mismatch = action_mismatch(store.features[ACTION], robot.features[ACTION])
    problem = f"action {mismatch}" if mismatch else None
    recorded_arm, robot_arm = arm_of(store.info.robot_type), arm_of(robot.name)
    if problem is None and recorded_arm and robot_arm and recorded_arm != robot_arm:
        problem = f"it was recorded on a {recorded_arm} arm and {robot.name} is a {robot_arm} arm"
    if problem is not None:
        raise ReplayError(
            f"{where} cannot be replayed on {robot.name}: {problem}. Replay it on the kind of robot "
            f"that recorded it ({store.info.robot_type or 'unknown'})"
        )


def check_finite(actions: np.ndarray, number: int) -> None:
    bad = ~np.isfinite(actions)
    if bad.any():
        t, j = (int(i) for i in np.argwhere(bad)[0])
        raise ReplayError(
            f"episode {number} has non-finite actions ({int(bad.any(axis=1).sum())} frames, first at frame {t}, "
            f"joint {j}); nothing was sent. Drop it with `honed-data drop episodes=[{number}]`"
        )


def check_guard(robot: Robot, actions: np.ndarray) -> None:
    """Every action within the ranges of the robot's safety guard, where it has one (a follower arm)."""
    guard = getattr(robot, "guard", None)
    if guard is None:
        return
    for t, action in enumerate(actions):
        try:
            guard.check(action, present=np.asarray(action, dtype=np.float64))
        except SafetyError as e:
            raise ReplayError(f"frame {t}: {e}; the replay was refused before any motion") from None


def joint_columns(episode: Episode, action: Feature) -> list[int] | None:
    """Where each action joint's position sits in ``observation.state`` (by name, else the first columns)."""
    state = episode.info.features.get(STATE)
    if state is None or len(state.shape) != 1 or state.shape[0] < action.shape[0]:
        return None
    if state.names and action.names and set(action.names) <= set(state.names):
        return [state.names.index(n) for n in action.names]
    return list(range(action.shape[0]))


@dataclass
class ReplayRun:
    """What was sent and measured, frame by frame."""

    joints: list[int] | None
    """Columns of observation.state holding the joint positions (None: the robot reports none)."""
    sent: list[np.ndarray] = field(default_factory=list)
    """Targets the robot reports it sent, one per frame."""
    measured: list[np.ndarray] = field(default_factory=list)
    """Joint positions read before each frame's write, and once after the last."""

    def read(self, robot: Robot) -> None:
        if self.joints is not None:
            state = np.asarray(robot.read()[STATE], dtype=np.float64)
            self.measured.append(state[self.joints])

    def summary(self, actions: np.ndarray, recorded: np.ndarray | None, names: list[str]) -> dict[str, Any]:
        n = len(self.sent)
        out: dict[str, Any] = {"frames_sent": n, "frames_changed_by_robot": 0, "max_change_rad": 0.0}
        if n == 0:
            return out
        sent = np.stack(self.sent).astype(np.float64)  # (n, J)
        change = np.abs(sent - actions[:n]).max(axis=1)  # (n,)
        out["frames_changed_by_robot"] = int((change > CHANGED_RAD).sum())
        out["max_change_rad"] = round(float(change.max()), 6)
        if len(self.measured) > n:
            measured = np.stack(self.measured)  # (n + 1, J)
            error = np.abs(measured[1:] - sent).max(axis=0)  # (J,)
            out["max_tracking_error_rad"] = round(float(error.max()), 6)
            out["tracking_error_rad"] = {name: round(float(e), 6) for name, e in zip(names, error)}
            if recorded is not None:
                deviation = np.abs(measured[:n] - recorded[:n]).max()
                out["max_deviation_from_recording_rad"] = round(float(deviation), 6)
        return out


def replay_actions(
    robot: Robot, actions: np.ndarray, run: ReplayRun, fps: int, realtime: bool, progress: bool
) -> None:
    """Send ``actions`` through ``robot.write`` at ``fps``, recording into ``run``; a fault ends it in one line."""
    pacer = Pacer(fps, realtime)
    bar = tqdm(total=len(actions), desc="replay", unit="fr", disable=not progress, leave=False)
    pacer.start()
    try:
        for action in actions:
            run.read(robot)
            run.sent.append(np.asarray(robot.write(action), dtype=np.float64))
            bar.update(1)
            pacer.wait()
        run.read(robot)
    except (SafetyError, RobotError, ValueError, OSError) as e:
        sent = len(run.sent)
        raise ReplayError(f"frame {sent}: {e}; the replay stopped after {sent} frames were sent") from e
    finally:
        bar.close()


def scene_options(cfg: ReplayConfig, episode: Episode) -> dict[str, Any]:
    """The twin's scene for this episode: its task and seed (unless the config names others)."""
    options: dict[str, Any] = {"seed": cfg.seed if cfg.seed >= 0 else int(episode.meta.get("seed") or 0)}
    task = cfg.task or episode.meta.get("twin_task")
    if task:
        options["task"] = task
    return options


def replay_episode(cfg: ReplayConfig) -> dict[str, Any]:
    """Check the episode against the robot, connect, replay, and return the summary."""
    from honed.data.record_cli import build, lookup, takes

    store = EpisodeStore.open(cfg.store)
    if not 0 <= cfg.episode < store.num_episodes:
        raise ReplayError(f"episode={cfg.episode}: {store.root} holds episodes 0..{store.num_episodes - 1}")
    episode = store.episode(cfg.episode)
    actions = episode.array(ACTION).astype(np.float64)  # (T, J)
    check_finite(actions, cfg.episode)
    entry = lookup(ROBOTS, cfg.robot)
    scene = {k: v for k, v in scene_options(cfg, episode).items() if takes(entry, k)}
    offered = {**scene, "control_hz": float(store.fps), "fps": store.fps, "cameras": ()}  # joints only
    robot = build(entry, offered, dict(cfg.robot_options), f"robot {cfg.robot!r}", "honed-data replay")
    check_fits(store, cfg.episode, robot)
    if not cfg.realtime and hasattr(robot, "guard"):  # a driver of real servos (or their emulator)
        raise ReplayError(
            f"realtime=false sends targets as fast as the robot takes them, which is for simulated robots; "
            f"{robot.name} drives servos: leave realtime=true"
        )
    joints = joint_columns(episode, store.features[ACTION])
    recorded = episode.array(STATE).astype(np.float64)[:, joints] if joints is not None else None
    run = ReplayRun(joints)
    summary: dict[str, Any] = {"store": str(store.root), "episode": cfg.episode, "robot": robot.name,
                               "fps": store.fps, "frames": len(actions), **({"scene": scene} if scene else {})}  # fmt: skip
    names = list(store.features[ACTION].names or range(actions.shape[1]))
    try:
        with robot:
            check_guard(robot, actions)
            replay_actions(robot, actions, run, store.fps, cfg.realtime, cfg.progress)
    except KeyboardInterrupt:
        summary["interrupted"] = True
    summary.update(run.summary(actions, recorded, [str(n) for n in names]))
    success = getattr(robot, "success", None)
    if success is not None:
        summary["success"] = bool(success)
        summary["recorded_success"] = episode.meta.get("success")
    return summary


def replay(cfg: ReplayConfig) -> int:
    """``honed-data replay``: prints the summary as JSON; exit 130 when interrupted."""
    summary = replay_episode(cfg)
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 130 if summary.get("interrupted") else 0
