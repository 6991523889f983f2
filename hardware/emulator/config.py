"""Settings of a servo-bus emulator (also the config of ``honed-hw emulate``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from honed.cli import bounded
from honed.errors import ConfigError
from honed.hardware.emulator.operator import OPERATORS
from honed.hardware.motors import arm_motors


@dataclass
class FaultConfig:
    """Faults to inject; all off by default."""

    drop_rate: float = bounded(0.0, ge=0, le=1)
    """Probability that a status packet is not sent."""
    drop_every: int = bounded(0, ge=0)
    """Drop every N-th status packet (0: never)."""
    corrupt_rate: float = bounded(0.0, ge=0, le=1)
    """Probability that a status packet goes out with a wrong checksum."""
    corrupt_every: int = bounded(0, ge=0)
    """Corrupt the checksum of every N-th status packet (0: never)."""
    extra_delay_ms: float = bounded(0.0, ge=0)
    """Added before every status packet."""
    dead_ids: list[int] = bounded([], ge=0, le=253)
    """Servo IDs that stop answering (after dead_after_s)."""
    dead_after_s: float = bounded(0.0, ge=0)
    """Seconds after the first packet when the dead_ids stop answering."""
    error_ids: list[int] = bounded([], ge=0, le=253)
    """Servo IDs whose status packets carry error_byte."""
    error_byte: int = bounded(0x20, ge=0, le=255)
    """Error flags those servos report (Feetech 0x20 = overload)."""
    vanish_after_s: float = bounded(0.0, ge=0)
    """Seconds after the first packet when the port disappears (0: never)."""
    seed: int = bounded(0, ge=0)
    """Seed of the random faults."""

    def check(self) -> None:
        for name in ("drop_rate", "corrupt_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"faults.{name}={value} must be a probability in [0, 1]")
        for name in ("drop_every", "corrupt_every", "extra_delay_ms", "dead_after_s", "vanish_after_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"faults.{name} must be >= 0")
        if not 0 <= self.error_byte <= 0xFF:
            raise ConfigError(f"faults.error_byte={self.error_byte} must fit in one byte")


@dataclass
class EmulatorConfig:
    """One emulated servo bus: an arm (follower or leader) behind a pseudo-terminal."""

    robot: str = "so101"
    """Arm model: so101, so100 or koch."""
    role: str = "follower"
    """follower or leader (selects the servo models and the calibration folder)."""
    ids: list[int] = bounded([], ge=0, le=253)
    """Servo IDs to put on the bus (empty: the arm's IDs 1..6); a single ID emulates one loose servo."""
    baudrate: int = bounded(1_000_000, ge=1)
    """Baud rate the servos are set to."""
    timing: bool = True
    """Pace replies like the wire: bytes at the baud rate plus each servo's return delay."""
    check_baud: bool = True
    """Ignore packets sent at another baud rate than the servos' (read from the port settings)."""
    joints: str = "twin"
    """What the servos move: twin (MuJoCo, real time) or kinematic (no dynamics, for quick tests)."""
    operator: str = "limp"
    """Who holds the arm: limp, hold (still, mid-range), wave (leader motion) or calibrate."""
    sweep_s: float = bounded(4.0, gt=0)
    """Duration of the calibration sweep through the joint ranges."""
    calibrated_as: str = ""
    """If set, program a calibration into the servos and save it as this robot id's calibration file."""
    calibration_dir: str = ""
    """Root of calibration files (default: lerobot's, $HF_LEROBOT_CALIBRATION)."""
    view: bool = False
    """Show the twin in a MuJoCo viewer window (needs a display; run with MUJOCO_GL=glfw)."""
    link: str = ""
    """Also make a symlink at this path to the pseudo-terminal (a stable name, like /dev/ttyACM0)."""
    seed: int = bounded(0, ge=0)
    """Seed of the servos' assembly offsets (where each encoder reads zero)."""
    duration_s: float = bounded(0.0, ge=0)
    """Stop after this many seconds (0: run until interrupted)."""
    faults: FaultConfig = field(default_factory=FaultConfig)
    """Faults to inject."""

    def check(self) -> None:
        motors = arm_motors(self.robot, self.role)
        valid = {m.id for m in motors}
        unknown = sorted(set(self.ids) - valid)
        if unknown:
            raise ConfigError(
                f"ids {unknown} are not servos of {self.robot} {self.role}; valid ids: {sorted(valid)}"
            )
        if self.joints not in ("twin", "kinematic"):
            raise ConfigError(f"joints={self.joints!r} must be twin or kinematic")
        if self.view and self.joints != "twin":
            raise ConfigError("view=true shows the twin; it needs joints=twin")
        if self.operator not in OPERATORS:
            raise ConfigError(f"operator={self.operator!r} must be one of {', '.join(OPERATORS)}")
        if self.calibrated_as and self.ids and len(self.ids) != len(motors):
            raise ConfigError("calibrated_as needs the whole arm on the bus; leave ids empty")
        if self.sweep_s <= 0 or self.duration_s < 0:
            raise ConfigError("sweep_s must be > 0 and duration_s >= 0")
        self.faults.check()
