"""``honed-teleop``: mirror a teleoperator (a leader arm) onto a follower robot at a fixed rate.

Each tick asks the teleoperator for an action, writes it and reads the follower. Progress shows
the achieved rate; at the end ``teleop.json`` (rates, loop periods, follower lag, bus counters),
``teleop.png`` (leader targets against follower positions per joint) and, when the robot has
cameras, ``teleop.mp4`` are written to ``output_dir``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from honed.cli import Verb, bounded, run
from honed.features import IMAGE_PREFIX, STATE
from honed.media import tile, write_mp4


@dataclass
class TeleopConfig:
    """Mirror a teleoperator onto a robot."""

    robot: str = "so101_follower"
    """Robot name (so101_follower, so100_follower, koch_follower, so101_twin, ...)."""
    robot_port: str = ""
    """Serial port of the follower's bus."""
    robot_id: str = "default"
    """Follower id (names its calibration file)."""
    teleop: str = "so101_leader"
    """Teleoperator name (so101_leader, koch_leader, ...)."""
    teleop_port: str = ""
    """Serial port of the leader's bus."""
    teleop_id: str = "default"
    """Leader id (names its calibration file)."""
    calibration_dir: str = ""
    """Root of calibration files (default: lerobot's)."""
    cameras: list[str] = field(default_factory=list)
    """Follower cameras, e.g. [front:twin,wrist:opencv:/dev/video0@640x480]."""
    fps: float = bounded(60.0, gt=0)
    """Control rate (Hz)."""
    duration_s: float = bounded(0.0, ge=0)
    """Stop after this long (0: until Ctrl-C)."""
    output_dir: str = "outputs/teleop"
    """Where teleop.json, teleop.png (and teleop.mp4 with cameras) go."""
    robot_options: dict[str, Any] = field(default_factory=dict)
    """Other constructor arguments of the robot: robot_options.max_step_rad=0.2."""
    teleop_options: dict[str, Any] = field(default_factory=dict)
    """Other constructor arguments of the teleoperator: teleop_options.task=pick_cube."""


@dataclass
class LoopLog:
    """What the loop did, tick by tick."""

    t: list[float] = field(default_factory=list)
    action: list[np.ndarray] = field(default_factory=list)
    position: list[np.ndarray] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    """Camera images (cameras side by side) every VIDEO_EVERY ticks, at most MAX_VIDEO_FRAMES."""
    overruns: int = 0


VIDEO_EVERY = 4
MAX_VIDEO_FRAMES = 900


class Mirror:
    """The teleoperation loop: teleop action -> robot.write -> robot.read, paced at ``fps``."""

    def __init__(self, robot: Any, teleop: Any, fps: float):
        self.robot, self.teleop, self.period = robot, teleop, 1.0 / fps
        self.log = LoopLog()
        self.cameras = [k for k in robot.features if k.startswith(IMAGE_PREFIX)]

    def run(self, duration_s: float) -> LoopLog:
        from rich.progress import Progress, TextColumn, TimeElapsedColumn

        from honed.hardware.teleop_view import live_view

        columns = (TextColumn("[bold]teleop[/]"), TimeElapsedColumn(), TextColumn("{task.description}"))
        bar = Progress(*columns)
        view = live_view(self.teleop, bar)  # a jogging teleop's live panel above the rate line
        with view or bar, contextlib.suppress(KeyboardInterrupt):
            task = bar.add_task("", total=None)
            obs = self.robot.read()
            self.teleop.reset(obs)
            start = next_tick = time.perf_counter()
            while not duration_s or time.perf_counter() - start < duration_s:
                obs = self.tick(obs, time.perf_counter() - start)
                if self.teleop.events().stop:  # Esc on the keyboard
                    break
                if len(self.log.t) % 30 == 0:
                    bar.update(task, description=f"{self.rate_hz():5.1f} Hz")
                next_tick = self.wait(next_tick + self.period)
        return self.log

    def tick(self, obs: dict[str, Any], t: float) -> dict[str, Any]:
        action = self.teleop.get_action(obs)
        self.robot.write(action)
        obs = self.robot.read()
        log = self.log
        log.t.append(t)
        log.action.append(np.asarray(action, dtype=np.float32))
        log.position.append(np.asarray(obs[STATE][: len(action)], dtype=np.float32))
        if self.cameras and len(log.t) % VIDEO_EVERY == 1 and len(log.frames) < MAX_VIDEO_FRAMES:
            log.frames.append(tile([obs[k] for k in self.cameras]))
        return obs

    def wait(self, next_tick: float) -> float:
        now = time.perf_counter()
        if now > next_tick + self.period:  # a whole period late: start a new schedule from now
            self.log.overruns += 1
            return now
        time.sleep(max(0.0, next_tick - now))
        return next_tick

    def rate_hz(self) -> float:
        t = self.log.t
        return 30 / max(t[-1] - t[-31], 1e-9) if len(t) > 30 else 0.0


def follow_lag(action: np.ndarray, position: np.ndarray, max_ticks: int = 15) -> tuple[int, float]:
    """Ticks by which the follower trails the targets, and the median error once that lag is removed."""
    if len(action) < 2 * max_ticks:
        return 0, float(np.median(np.abs(action - position))) if len(action) else 0.0
    skip = len(action) // 4  # leave out the approach from wherever the follower started
    errors = [
        np.median(np.abs(action[skip : len(action) - k] - position[skip + k :])) for k in range(max_ticks)
    ]
    best = int(np.argmin(errors))
    return best, float(errors[best])


def summarize(log: LoopLog, fps: float, robot: Any, teleop: Any) -> dict[str, Any]:
    periods = np.diff(np.asarray(log.t)) * 1000 if len(log.t) > 1 else np.zeros(1)
    lag, err = follow_lag(np.asarray(log.action), np.asarray(log.position))
    out: dict[str, Any] = {
        "ticks": len(log.t),
        "target_hz": fps,
        "achieved_hz": float(1000.0 / periods.mean()) if periods.mean() > 0 else 0.0,
        "period_ms_p50": float(np.percentile(periods, 50)),
        "period_ms_p99": float(np.percentile(periods, 99)),
        "overruns": log.overruns,
        "follower_lag_ms": float(lag * periods.mean()),
        "tracking_error_rad_median": float(err),
    }
    for who, device in (("robot", robot), ("teleop", teleop)):
        stats = getattr(getattr(device, "arm", None), "bus", None)
        if stats is not None:
            out[f"{who}_bus"] = {k: v for k, v in vars(stats.stats).items() if k != "failed_attempts"}
    return out


def plot(log: LoopLog, joints: tuple[str, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, action, pos = np.asarray(log.t), np.asarray(log.action), np.asarray(log.position)
    fig, axes = plt.subplots(len(joints), 1, figsize=(8, 1.6 * len(joints)), sharex=True)
    for i, (ax, joint) in enumerate(zip(np.atleast_1d(axes), joints)):
        ax.plot(t, action[:, i], label="leader (target)")
        ax.plot(t, pos[:, i], label="follower", linestyle="--")
        ax.set_ylabel(f"{joint}\n(rad)", fontsize=8)
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def teleoperate(cfg: TeleopConfig) -> dict[str, Any]:
    from honed.data.record_cli import build, load_plugins
    from honed.robot import ROBOTS
    from honed.teleop import TELEOPS

    if not cfg.fps > 0:
        raise SystemExit(f"{PROGRAM}: fps={cfg.fps} must be positive")
    load_plugins(ROBOTS, cfg.robot)
    load_plugins(TELEOPS, cfg.teleop)
    shared = {"calibration_dir": cfg.calibration_dir or None}
    robot_offer = {"port": cfg.robot_port, "id": cfg.robot_id, "cameras": list(cfg.cameras), **shared}
    teleop_offer = {"port": cfg.teleop_port, "id": cfg.teleop_id, **shared}
    robot = build(
        ROBOTS.get(cfg.robot), robot_offer, dict(cfg.robot_options), f"robot {cfg.robot!r}", PROGRAM
    )
    teleop = build(
        TELEOPS.get(cfg.teleop), teleop_offer, dict(cfg.teleop_options), f"teleop {cfg.teleop!r}", PROGRAM
    )
    with robot, teleop:
        log = Mirror(robot, teleop, cfg.fps).run(cfg.duration_s)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(log, cfg.fps, robot, teleop)
    if log.t:
        plot(log, robot.features["action"].names or (), out / "teleop.png")
    if log.frames:
        write_mp4(log.frames, out / "teleop.mp4", fps=cfg.fps / VIDEO_EVERY)
    (out / "teleop.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary), flush=True)
    return summary


PROGRAM = "honed-teleop"
DEBUG = TeleopConfig(robot="synthetic", teleop="synthetic", duration_s=2.0, output_dir="outputs/debug/teleop")
"""A synthetic teleoperator on a synthetic robot for two seconds: the loop and its outputs, no hardware."""
VERBS = {"run": Verb(TeleopConfig, teleoperate, "mirror a teleoperator onto a robot", {"debug": DEBUG})}


def main(argv: list[str] | None = None) -> None:
    """``honed-teleop key=value ...`` (the verb ``run`` is implied)."""
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    if args[0] not in VERBS:
        args = ["run", *args]
    run(
        "teleop",
        VERBS,
        [f"++{a}" if a.startswith(("robot_options.", "teleop_options.")) else a for a in args],
    )


if __name__ == "__main__":
    main()
