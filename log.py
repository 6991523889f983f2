"""honed's log file: what honed and the libraries under it say, kept off the user's screen.

One file, ``$HONED_LOG_FILE`` when set, else ``$XDG_STATE_HOME/honed/honed.log``
(``~/.local/state/honed/honed.log``), rotated at 5 MB with two old copies. It receives honed's own
loggers (``honed.*``, INFO and up) and third-party noise that would otherwise land on the terminal:
FFmpeg's messages through PyAV (``moov atom not found`` on a truncated MP4), libjpeg's warnings on a
damaged JPEG frame (``Corrupt JPEG data``) and Warp's start-up and module-loading lines, the last at
debug level. honed's own warnings still reach the terminal too, as Python prints them when nothing
else is configured.

:func:`setup` runs once per process (every command calls it first; the routing helpers call it
themselves), so library use routes the noise the same way.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import logging.handlers
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOG = logging.getLogger("honed")
THIRD_PARTY = logging.getLogger("honed.third_party")
"""Parent of the loggers that carry other libraries' output; it writes to the log file only."""
FFMPEG = logging.getLogger("libav")
"""PyAV's logger of FFmpeg's messages."""
FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
MAX_BYTES = 5_000_000
"""Size at which the log file is rotated (two old copies are kept)."""

_file: logging.Handler | None = None


def log_path() -> Path:
    """Where the log file goes: ``$HONED_LOG_FILE``, else the XDG state folder."""
    if os.environ.get("HONED_LOG_FILE"):
        return Path(os.environ["HONED_LOG_FILE"]).expanduser()
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "honed" / "honed.log"


class _Terminal(logging.StreamHandler):  # type: ignore[type-arg]
    """Python's last-resort printer kept beside the file: warnings to whatever ``sys.stderr`` is now,
    only while the root logger has no handler of its own (so nothing prints twice)."""

    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass

    def filter(self, record: logging.LogRecord) -> bool:
        return not logging.getLogger().handlers and bool(super().filter(record))


def setup(path: str | Path | None = None) -> Path:
    """Send honed's loggers and third-party noise to the log file (at ``path``, default
    :func:`log_path`); idempotent, and a new ``path`` moves the file. Returns the file's path."""
    global _file
    target = Path(path) if path is not None else log_path()
    if _file is not None and (path is None or getattr(_file, "baseFilename", None) == str(target.absolute())):
        return Path(getattr(_file, "baseFilename", target))
    handler = _file_handler(target)
    for logger in (LOG, THIRD_PARTY, FFMPEG):
        if _file is not None:
            logger.removeHandler(_file)
        logger.addHandler(handler)
    if _file is not None:
        _file.close()
    else:
        LOG.addHandler(_Terminal())  # honed's warnings stay visible, as without the file
    _file = handler
    LOG.setLevel(logging.INFO)
    THIRD_PARTY.setLevel(logging.DEBUG)
    THIRD_PARTY.propagate = False
    FFMPEG.propagate = False
    route_ffmpeg()
    return target


def _file_handler(target: Path) -> logging.Handler:
    handler: logging.Handler
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=MAX_BYTES, backupCount=2, encoding="utf-8", delay=True
        )
    except OSError:  # an unwritable home: the noise is still kept off the terminal
        handler = logging.NullHandler()
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def third_party(name: str) -> logging.Logger:
    """The logger that carries library ``name``'s output into the log file (set up on first use)."""
    setup()
    return THIRD_PARTY.getChild(name)


def route_ffmpeg() -> None:
    """FFmpeg's messages (what it would print: INFO and up) to PyAV's ``libav`` logger, hence to the
    log file, and kept there.

    lerobot's video helpers hand FFmpeg's logging back to its terminal printer when they finish
    (``av.logging.restore_default_callback``: the MP4 muxer's ``moving the moov atom`` during an
    export, say); that call is pointed at :func:`keep_ffmpeg_routed` instead.
    """
    import av.logging

    if _file is None:
        setup()
        return
    keep_ffmpeg_routed()
    av.logging.restore_default_callback = keep_ffmpeg_routed


def keep_ffmpeg_routed() -> None:
    """PyAV's ``restore_default_callback`` as honed runs it: FFmpeg keeps speaking to the log file (at
    INFO and up, which lerobot's helpers also narrow on PyAV's logger while they run)."""
    import av.logging

    av.logging.set_level(av.logging.INFO)
    FFMPEG.setLevel(logging.INFO)


class WarpToLog:
    """A Warp logger (``warp.set_logger``) writing Warp's lines to honed's log: info as debug."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def debug(self, message: str) -> None:
        self.logger.debug(message)

    def info(self, message: str) -> None:
        self.logger.debug(message)

    def warning(self, message: str, category: Any = None, stacklevel: int = 1) -> None:
        self.logger.warning(message)

    def error(self, message: str) -> None:
        self.logger.error(message)


def route_warp() -> Any:
    """Warp's output to the log: its logger, and what its native library prints while it starts
    (the CUDA driver probe). Returns the ``warp`` module, started."""
    import warp as wp

    logger = third_party("warp")
    if not isinstance(wp.get_logger(), WarpToLog):
        wp.set_logger(WarpToLog(logger))
    if getattr(wp._src.context, "runtime", None) is None:
        with native_output_to(logger):
            wp.init()
    return wp


@contextmanager
def native_output_to(logger: logging.Logger) -> Iterator[None]:
    """Everything written to file descriptors 1 and 2 inside the block (C libraries included) goes to
    ``logger`` at debug level instead of the terminal. For short one-off calls only: it holds the
    process's descriptors, so other threads' output in that window is logged too."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            _flush_c_stdio()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if line.strip():
                    logger.debug(line.rstrip())


def _flush_c_stdio() -> None:
    """Write out what C code buffered in stdio (no C library to reach: nothing is buffered there)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)
