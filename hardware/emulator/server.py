"""The servo-bus emulator: a pseudo-terminal answering Feetech / Dynamixel packets byte-exactly.

One loop (own thread or process) reads instruction packets from the pty master, answers them
from the emulated servos' memories, and steps the joints (the MuJoCo twin) in real time between
packets. With ``timing`` on, each status packet is released when it would have finished arriving
on a real bus: instruction bytes and reply bytes at the baud rate plus each servo's return delay.

The joints keep their own clock (``sim_time``): it follows the wall clock while the host keeps up
and falls behind when the physics is starved of CPU. ``wait_until`` waits on that clock, so a caller
asks "within so many seconds of the arm's motion", which holds on a busy machine as on an idle one.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from honed.arms import ARMS
from honed.hardware.emulator.config import EmulatorConfig
from honed.hardware.emulator.joints import JointBackend, KinematicJoints, TwinJoints
from honed.hardware.emulator.operator import Operator
from honed.hardware.emulator.registers import TABLES
from honed.hardware.emulator.servo import EmulatedServo
from honed.hardware.motors import MODEL_NUMBER, ROLES, arm_motors, bus_protocol
from honed.hardware.protocol import BROADCAST_ID, PROTOCOLS, Frame, Inst, Instruction, ProtocolError

log = logging.getLogger(__name__)
TCGETS2 = 0x802C542A
IDLE_WAKE_S = 0.01
SPIN_S = 0.0002
"""Final stretch before a reply's release time that is busy-waited instead of slept."""
POLL_S = 0.005
"""Pause between two checks of a condition in ``wait_until``."""
STALL_S = 120.0
"""Wall-clock seconds without simulated progress after which ``wait_until`` declares the emulator hung."""


@dataclass
class EmulatorStats:
    """What the emulator saw and did."""

    instructions: int = 0
    writes: int = 0
    """WRITE and SYNC_WRITE instructions among them (a test can tell that nothing was written)."""
    replies: int = 0
    dropped: int = 0
    corrupted: int = 0
    wrong_baud: int = 0
    bad_packets: int = 0
    handled: int = 0
    """Frames dealt with in full, whatever the outcome: their status packets, if any, are on the wire."""


class Reply(NamedTuple):
    """A status packet due: the servo answering, the ID it answers from, error byte, parameters."""

    servo: EmulatedServo
    id: int
    error: int
    params: bytes


def port_baudrate(fd: int) -> int:
    """The baud rate the driver set on the pty (Linux termios2), or -1 if unknown."""
    buf = array.array("i", [0] * 64)
    try:
        fcntl.ioctl(fd, TCGETS2, buf)
    except OSError:
        return -1
    return int(buf[10])


class BusEmulator:
    """Emulated servos of one arm on one pseudo-terminal."""

    def __init__(self, config: EmulatorConfig, joints: JointBackend | None = None):
        config.check()
        self.config = config
        self.arm = ARMS[config.robot]
        motors = arm_motors(config.robot, config.role)
        self.protocol = PROTOCOLS[bus_protocol(motors)]
        table = TABLES[self.protocol.name]
        # Arms differ: each (robot, role, seed) gets its own assembly offsets, so a driver connected to
        # the wrong arm's bus fails its calibration check, as it would on real hardware.
        rng = np.random.default_rng([config.seed, ROLES.index(config.role), sorted(ARMS).index(config.robot)])
        wanted = set(config.ids) or {m.id for m in motors}
        self.servos: list[EmulatedServo] = []
        self.joint_of: list[int] = []
        for index, m in enumerate(motors):
            zero_tick = int(rng.integers(1024, 3072))
            if m.id in wanted:
                servo = EmulatedServo(table, m.id, MODEL_NUMBER[m.model], zero_tick, config.baudrate)
                self.servos.append(servo)
                self.joint_of.append(index)
        self.joints = joints if joints is not None else self._make_joints()
        self.operator = Operator(self.arm, config.operator, sweep_s=config.sweep_s)
        self.stats = EmulatorStats()
        self._rng = np.random.default_rng(config.faults.seed)
        self._status_count = 0
        self._master = self._slave = -1
        self.path = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._started = 0.0
        self._first_packet: float | None = None
        self._refreshed_at = 0.0
        """When the joints were last copied into the registers (what a read returns is as of then)."""
        self._present = table.reg("Present_Position")
        self._last_view = 0.0
        self._wire_free = 0.0
        self.vanished = False

    def _make_joints(self) -> JointBackend:
        if self.config.joints == "kinematic":
            return KinematicJoints(self.arm)
        return TwinJoints(self.arm)

    # ----- lifecycle ------------------------------------------------------------------------
    def open(self) -> str:
        """Create the pseudo-terminal; returns the device path a driver should open."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.config.link:
            link = Path(self.config.link)
            link.unlink(missing_ok=True)
            link.symlink_to(self.path)
        self._started = time.monotonic()
        self._refresh(self._started)
        return self.path

    def start(self) -> str:
        """Open the pty and serve it from a background thread; returns the device path."""
        path = self.open() if not self.path else self.path
        self._thread = threading.Thread(target=self.serve, name=f"emulator {path}", daemon=True)
        self._thread.start()
        return path

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._close()

    def vanish(self) -> None:
        """Make the port disappear, as when the USB adapter is pulled out."""
        self.vanished = True
        self._stop.set()

    def _close(self) -> None:
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        if self.config.link:
            Path(self.config.link).unlink(missing_ok=True)

    def __enter__(self) -> BusEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- progress ---------------------------------------------------------------------------
    @property
    def sim_time(self) -> float:
        """Seconds of joint motion simulated so far (the emulator's own clock); the registers show the
        joints as of this time."""
        with self._lock:
            return self.joints.sim_time

    def wait_until(
        self, condition: Callable[[], bool], within_sim_s: float, what: str, stall_s: float = STALL_S
    ) -> None:
        """Poll ``condition`` until it holds, allowing ``within_sim_s`` seconds of simulated motion.

        Raises TimeoutError naming ``what`` when the joints have been simulated that long without the
        condition holding, when the serving loop has stopped, or when the emulator's clock has stood
        still for ``stall_s`` wall-clock seconds (a hung emulator). How long the host takes to simulate
        those seconds does not matter.
        """
        start = last = self.sim_time
        still_since = time.monotonic()
        while True:
            sim = self.sim_time  # read first: a false condition was still false at this simulated time
            if condition():
                return
            elapsed = sim - start
            if elapsed >= within_sim_s:
                raise TimeoutError(f"{what}: not reached within {within_sim_s:g} s of simulated motion")
            if self._thread is not None and not self._thread.is_alive():
                raise TimeoutError(f"{what}: the emulator stopped after {elapsed:.2f} s of simulated motion")
            if sim > last:
                last, still_since = sim, time.monotonic()
            elif time.monotonic() - still_since > stall_s:
                raise TimeoutError(
                    f"{what}: the emulator's clock stood still for {stall_s:g} s "
                    f"(hung after {elapsed:.2f} s of simulated motion)"
                )
            time.sleep(POLL_S)

    # ----- main loop ------------------------------------------------------------------------
    def serve(self) -> None:
        """Answer packets and step the joints until stopped, vanished or out of time."""
        buf = bytearray()
        cfg = self.config
        viewer = self._open_viewer() if cfg.view else None
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if cfg.duration_s and now - self._started >= cfg.duration_s:
                    break
                if cfg.faults.vanish_after_s and self._session_time(now) >= cfg.faults.vanish_after_s:
                    self.vanished = True
                    break
                ready, _, _ = select.select([self._master], [], [], IDLE_WAKE_S)
                arrived = time.monotonic()  # servos work while the bytes are still on the wire
                if ready:
                    buf += self._read_master()
                with self._lock:
                    self._refresh(arrived)
                if ready:
                    self._handle_buffer(buf, arrived)
                if viewer is not None and not self._sync_viewer(viewer, arrived):
                    break
        finally:
            if viewer is not None:
                viewer.close()
            self._close()

    def _open_viewer(self) -> Any:
        import mujoco.viewer

        assert isinstance(self.joints, TwinJoints)
        try:
            return mujoco.viewer.launch_passive(self.joints.model, self.joints.data)
        except Exception as e:  # GLFW reports a missing display in many ways
            raise RuntimeError(
                f"cannot open a viewer window ({e}); it needs a display and MUJOCO_GL=glfw"
            ) from e

    def _sync_viewer(self, viewer: Any, now: float) -> bool:
        """Redraw at about 30 Hz; False once the window is closed."""
        if now - self._last_view >= 1 / 30:
            self._last_view = now
            with self._lock:
                viewer.sync()
        return bool(viewer.is_running())

    def _read_master(self) -> bytes:
        try:
            return os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            time.sleep(IDLE_WAKE_S)  # no driver has the port open yet
            return b""

    def _handle_buffer(self, buf: bytearray, received: float) -> None:
        while True:
            frame, end = self.protocol.next_frame(buf)
            if frame is None:
                del buf[:end]
                return
            del buf[:end]
            self._handle_frame(frame, received)
            self.stats.handled += 1

    def _handle_frame(self, frame: Frame, received: float) -> None:
        if self.config.check_baud and port_baudrate(self._slave) != self.servos_baudrate():
            self.stats.wrong_baud += 1
            return
        try:
            inst = self.protocol.parse_instruction(frame)
        except ProtocolError:
            self.stats.bad_packets += 1
            return
        self.stats.instructions += 1
        if self._first_packet is None:
            self._first_packet = received
        with self._lock:
            replies = self._execute(inst)
        self._send(replies, len(self.protocol.frame(frame.id, frame.body)), received)

    def servos_baudrate(self) -> int:
        rates = {s.baudrate for s in self.servos}
        return rates.pop() if len(rates) == 1 else -1

    # ----- joints <-> registers ---------------------------------------------------------------
    def _refresh(self, now: float) -> None:
        self._refreshed_at = now
        self.joints.advance(now, self.operator.pose(now))
        q, qd, effort = self.joints.state()
        for servo, j in zip(self.servos, self.joint_of):
            servo.refresh(float(q[j]), float(qd[j]), float(effort[j]))

    def _update_drive(self) -> None:
        n = self.arm.num_joints
        on, goal, scale = np.zeros(n, dtype=bool), np.zeros(n), np.ones(n)
        for servo, j in zip(self.servos, self.joint_of):
            on[j] = servo.torque_on
            goal[j] = servo.goal_angle()
            scale[j] = servo.torque_fraction()
        self.joints.drive(on, goal, scale)

    # ----- instructions -----------------------------------------------------------------------
    def _session_time(self, now: float) -> float:
        """Seconds since a driver first spoke to the bus (fault times count from there); -1 before."""
        return -1.0 if self._first_packet is None else now - self._first_packet

    def _alive(self, servo: EmulatedServo) -> bool:
        f = self.config.faults
        dead = servo.id in f.dead_ids and self._session_time(time.monotonic()) >= f.dead_after_s
        return not dead

    def _addressed(self, servo_id: int) -> list[EmulatedServo]:
        return [s for s in self.servos if (servo_id in (s.id, BROADCAST_ID)) and self._alive(s)]

    def _execute(self, inst: Instruction) -> list[Reply]:
        """Apply an instruction; returns the status packets it calls for."""
        p, params = self.protocol, inst.params
        fs = p.field_size
        if inst.inst == Inst.PING:
            return [Reply(s, s.id, 0, self._ping_params(s)) for s in self._addressed(inst.id)]
        if inst.inst == Inst.READ and len(params) == 2 * fs and inst.id != BROADCAST_ID:
            self._note_read(p.field(params, 0), p.field(params, 1))
            return [self._read(s, p.field(params, 0), p.field(params, 1)) for s in self._addressed(inst.id)]
        if inst.inst == Inst.WRITE and len(params) > fs:
            self.stats.writes += 1
            return self._write(inst.id, p.field(params, 0), params[fs:])
        if inst.inst == Inst.SYNC_READ and len(params) >= 2 * fs:
            addr, length = p.field(params, 0), p.field(params, 1)
            self._note_read(addr, length)
            wanted = list(params[2 * fs :])
            servos = [s for i in wanted for s in self._addressed(i) if i != BROADCAST_ID]
            return [self._read(s, addr, length) for s in servos]
        if inst.inst == Inst.SYNC_WRITE and len(params) >= 2 * fs:
            self.stats.writes += 1
            self._sync_write(p.field(params, 0), p.field(params, 1), params[2 * fs :])
            return []
        self.stats.bad_packets += 1
        return []

    def _note_read(self, addr: int, length: int) -> None:
        """Tell the operator when a read returns the present positions (it holds a stop until one has)."""
        if addr <= self._present.addr < addr + length:
            self.operator.positions_read(self._refreshed_at)

    @staticmethod
    def _ping_params(servo: EmulatedServo) -> bytes:
        if servo.feetech:
            return b""
        model = servo.get("Model_Number").to_bytes(2, "little")
        return model + bytes([servo.get("Firmware_Version")])

    @staticmethod
    def _read(servo: EmulatedServo, addr: int, length: int) -> Reply:
        error, data = servo.read(addr, length)
        return Reply(servo, servo.id, error, data)

    def _write(self, servo_id: int, addr: int, data: bytes) -> list[Reply]:
        replies = []
        for s in self._addressed(servo_id):
            old_id = s.id  # the status comes from the ID the instruction was sent to
            error = s.write(addr, data)
            self._note_homing(s)
            if servo_id != BROADCAST_ID and s.answers(False):
                replies.append(Reply(s, old_id, error, b""))
        self._update_drive()
        return replies

    def _sync_write(self, addr: int, length: int, data: bytes) -> None:
        if length <= 0:
            return
        for k in range(0, len(data) - length, length + 1):
            servo_id, value = data[k], data[k + 1 : k + 1 + length]
            for s in self._addressed(servo_id):
                s.write(addr, value)
                self._note_homing(s)
        self._update_drive()

    def _note_homing(self, servo: EmulatedServo) -> None:
        if servo.homing_writes:
            servo.homing_writes = 0
            self.operator.homing_written(time.monotonic())

    # ----- status packets ---------------------------------------------------------------------
    def _send(self, replies: list[Reply], instruction_len: int, received: float) -> None:
        cfg, faults = self.config, self.config.faults
        byte_time = 10.0 / max(self.servos_baudrate(), 1)
        t = max(self._wire_free, received)
        if cfg.timing:
            t += instruction_len * byte_time
        out = bytearray()
        for reply in replies:
            error = reply.error | self._injected_error(reply.servo)
            packet = self.protocol.status(reply.id, error, reply.params)
            if cfg.timing:
                t += reply.servo.return_delay_s + len(packet) * byte_time
            t += faults.extra_delay_ms / 1000.0
            sent = self._faulty(packet)
            if sent is not None:
                out += sent
                self.stats.replies += 1
        self._wire_free = t
        if out:  # the whole answer lands when its last byte would have crossed the wire
            self._sleep_until(t)
            with contextlib.suppress(OSError):
                os.write(self._master, bytes(out))

    def _injected_error(self, servo: EmulatedServo) -> int:
        f = self.config.faults
        return f.error_byte if servo.id in f.error_ids else servo.error_byte

    def _faulty(self, packet: bytes) -> bytes | None:
        f = self.config.faults
        self._status_count += 1
        n = self._status_count
        if (f.drop_every and n % f.drop_every == 0) or (f.drop_rate and self._rng.random() < f.drop_rate):
            self.stats.dropped += 1
            return None
        if (f.corrupt_every and n % f.corrupt_every == 0) or (
            f.corrupt_rate and self._rng.random() < f.corrupt_rate
        ):
            self.stats.corrupted += 1
            return packet[:-1] + bytes([packet[-1] ^ 0x5A])
        return packet

    @staticmethod
    def _sleep_until(t: float) -> None:
        remaining = t - time.monotonic()
        if remaining > SPIN_S:
            time.sleep(remaining - SPIN_S)
        while time.monotonic() < t:
            pass
