"""``honed-record``: record demonstrations into an episode store.

    honed-record teleop=expert task=pick_cube episodes=100        # unattended expert demos in the twin
    honed-record teleop=keyboard task=pick_cube episodes=10       # jog the twin from this terminal
    honed-record robot=<real arm> teleop=<leader arm> ...         # the same loop on hardware

Robots and teleoperators are looked up by name in ``ROBOTS`` and ``TELEOPS``; every module of
``honed.hardware`` is imported first, so a newly added driver registers itself without changes here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from honed.cli import Verb, bounded, run
from honed.registry import Registry
from honed.robot import ROBOTS
from honed.teleop import TELEOPS, TeleopEvents

PLUGINS = (
    "honed.data.synthetic",
    "honed.sim.twin",
    "honed.sim.experts.teleop",
    "honed.hardware.teleop_keyboard",
    "honed.hardware.teleop_hid",
)


@dataclass
class RecordConfig:
    store: str = "outputs/record/store"
    """Episode store to record into (created if new, appended to if it exists)."""
    robot: str = "so101_twin"
    """Robot registry name (so101_twin, synthetic, or a real arm's driver)."""
    robot_options: dict[str, Any] = field(default_factory=dict)
    """Extra constructor arguments of the robot: robot_options.port=/dev/ttyACM0."""
    teleop: str = "keyboard"
    """Teleoperator registry name (keyboard, gamepad, spacemouse, expert, synthetic, ...)."""
    teleop_options: dict[str, Any] = field(default_factory=dict)
    """Extra constructor arguments of the teleop: teleop_options.device=/dev/hidraw3."""
    task: str = "pick_cube"
    """Twin task name (passed to robots and teleops that take one)."""
    instruction: str = ""
    """Language instruction stored with each episode (default: the robot's own, else the task name)."""
    episodes: int = bounded(10, ge=1)
    """Number of episodes to add to the store."""
    episode_s: float = bounded(30.0, gt=0)
    """Longest episode in seconds (the operator or the expert may end it sooner)."""
    reset_s: float = bounded(3.0, ge=0)
    """Reset period between episodes in seconds (the twin re-seeds its scene instead)."""
    fps: int = bounded(30, ge=1)
    """Control and recording rate."""
    realtime: bool = True
    """Pace the loop in real time; false runs a simulated robot as fast as it can."""
    operator: str = ""
    """Who records (stored with each episode)."""
    robot_id: str = ""
    """Which physical robot (stored with each episode; default: the robot's own id)."""
    seed: int = bounded(0, ge=0)
    """Seed of episode 0: episode n draws its scene and the teleop's own randomness from seed + n."""
    progress: bool = True
    """Show the live progress line."""


DEBUG = RecordConfig(
    store="outputs/debug/record",
    robot="synthetic",
    robot_options={"height": 96, "width": 128},
    teleop="synthetic",
    episodes=2,
    episode_s=1.0,
    reset_s=0.0,
    realtime=False,
)


def load_plugins(registry: Registry[Any], name: str) -> None:
    """Import modules that register robots and teleops until ``name`` is registered: the twin and the
    experts first, then every module of honed.hardware (so a new driver needs no change here)."""
    import honed.hardware as hardware

    modules = [*PLUGINS, *(m.name for m in pkgutil.walk_packages(hardware.__path__, "honed.hardware."))]
    for module in modules:
        if name in registry:
            return
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise


def lookup(registry: Registry[Any], name: str) -> Any:
    load_plugins(registry, name)
    return registry.get(name)


def takes(registry_entry: Callable[..., Any], name: str) -> bool:
    """Whether a registered factory declares the argument ``name`` (the twin robot takes ``task``)."""
    return name in inspect.signature(registry_entry).parameters


def build(
    registry_entry: Callable[..., Any],
    offered: dict[str, Any],
    options: dict[str, Any],
    what: str,
    program: str = "honed-record",
) -> Any:
    """Call a registered factory with the offered arguments it declares, plus the user's options."""
    params = inspect.signature(registry_entry).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [] if takes_any else sorted(set(options) - set(params))
    if unknown:
        raise SystemExit(f"{program}: {what} options {unknown} not accepted; it accepts {list(params)}")
    kwargs = {k: v for k, v in offered.items() if k in params}
    try:
        return registry_entry(**{**kwargs, **options})
    except ValueError as err:  # a bad option value: say which part refused it, without a traceback
        raise SystemExit(f"{program}: {what}: {err}") from err


def terminal_events(teleop: Any) -> tuple[Callable[[], TeleopEvents] | None, Any]:
    """Key events from this terminal, unless the teleop reads the terminal itself or there is none."""
    if getattr(teleop, "reads_terminal", False) or not sys.stdin.isatty():
        return None, None
    from honed.hardware.teleop_keyboard import TerminalKeys, events_from_keys

    keys = TerminalKeys()
    keys.open()
    return (lambda: events_from_keys(keys.read())), keys


def record(cfg: RecordConfig) -> int:
    from honed.data.record import Recorder, RecordError, check_store_for, open_store_for
    from honed.hardware.teleop_view import live_view

    offered = {"task": cfg.task, "seed": cfg.seed, "fps": cfg.fps, "control_hz": float(cfg.fps)}
    robot = build(lookup(ROBOTS, cfg.robot), offered, dict(cfg.robot_options), f"robot {cfg.robot!r}")
    teleop = build(lookup(TELEOPS, cfg.teleop), offered, dict(cfg.teleop_options), f"teleop {cfg.teleop!r}")
    robot_type = getattr(robot, "robot_type", robot.name)
    check_store_for(robot, cfg.store, cfg.fps, robot_type)  # refused before connecting if it differs
    meta = {"operator": cfg.operator or None, "teleop": cfg.teleop, "robot": robot.name,
            "robot_id": cfg.robot_id or getattr(robot, "id", None) or robot.name,
            "calibration_hash": getattr(robot, "calibration_hash", None),
            "twin_task": cfg.task if takes(lookup(ROBOTS, cfg.robot), "task") else None}  # fmt: skip
    keys, terminal = terminal_events(teleop)
    view = live_view(teleop) if cfg.progress else None  # a jogging teleop's live panel, in place of the bar
    store = None
    try:
        with robot, teleop, view or nullcontext():
            store = open_store_for(robot, cfg.store, cfg.fps, robot_type)  # made once both connect
            recorder = Recorder(robot, teleop, store, cfg.instruction, cfg.episode_s, cfg.reset_s, cfg.realtime,
                                meta, keys, cfg.progress, cfg.seed, bar=view is None)  # fmt: skip
            results = recorder.run(cfg.episodes)
    except RecordError as e:
        print(f"honed-record: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = (f"{store.num_episodes} committed episodes in {store.root} are intact" if store is not None
                else f"nothing was written to {cfg.store}")  # fmt: skip
        print(f"honed-record: interrupted; the episode in progress was discarded, {kept}", file=sys.stderr)
        return 130
    finally:
        if terminal is not None:
            terminal.close()
    saved = sum(r.outcome in ("saved", "stop") for r in results)
    dropped = sum(r.dropped for r in results)
    print(
        f"recorded {saved} episode(s) into {store.root} ({store.num_episodes} in total); dropped frames: {dropped}"
    )
    return 0


OPTION_PREFIXES = ("robot_options.", "teleop_options.")
VERBS = {
    "run": Verb(RecordConfig, record, "record episodes with a robot and a teleoperator", {"debug": DEBUG})
}


def main(argv: list[str] | None = None) -> None:
    """``honed-record key=value ...`` (the verb ``run`` is implied)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "run":
        args = ["run", *args] if args and args[0] not in ("help",) else ["run", "--help"]
    args = [f"++{a}" if a.startswith(OPTION_PREFIXES) else a for a in args]
    raise SystemExit(run("record", VERBS, args) or 0)
