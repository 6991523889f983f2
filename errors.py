"""Errors honed raises on purpose, and how a command turns them into one line.

Every error a user can cause or fix (bad input, a missing or malformed file, a device that does not
answer, the hub out of reach) derives from :class:`UserError`; the CLI frame prints its message as
one line (``honed-<prog> <verb>: <message>``) and exits non-zero. A few exceptions of well-known
libraries mean the same kind of thing and are translated by :data:`THIRD_PARTY`. Anything else is a
bug and keeps its traceback. ``HONED_TRACEBACK=1`` shows the traceback of user errors too.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TRACEBACK_VARIABLE = "HONED_TRACEBACK"
"""Environment variable that, set to 1, prints the traceback before the one-line message."""

FIND_PORT = "list ports with `honed-hw ports`, or find the arm's with `honed-hw ports find=true`"
"""The fix for a serial port that does not open or does not answer."""


class UserError(Exception):
    """An error raised on purpose: its message names what is wrong and the fix."""


class ConfigError(UserError, ValueError):
    """A setting (a config field, a command argument) that cannot work as given."""


class HubError(UserError, ConnectionError):
    """The Hugging Face hub cannot be reached, or does not hold what was asked for."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def hub_offline() -> bool:
    """Whether huggingface_hub is told not to use the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _unreachable(err: BaseException) -> str:
    why = "HF_HUB_OFFLINE is set" if hub_offline() else "no network connection"
    return (
        f"the Hugging Face hub cannot be reached ({why}) and the files are not in the local cache: "
        f"connect{' and unset HF_HUB_OFFLINE' if hub_offline() else ''} to download them once, "
        f"or give a local path ({_first_line(err)})"
    )


def _not_on_hub(err: BaseException) -> str:
    return (
        f"not found on the Hugging Face hub (check the repository id, revision and file, and "
        f"`hf auth login` for a private or gated one): {_first_line(err)}"
    )


def _serial(err: BaseException) -> str:
    return f"serial port error ({_first_line(err)}): {FIND_PORT}"


def _safetensors(err: BaseException) -> str:
    return (
        f"a weights file is not a safetensors file ({_first_line(err)}); honed reads weights only "
        "from safetensors files and never loads pickles (torch.save files)"
    )


def _as_is(err: BaseException) -> str:
    return _first_line(err)


THIRD_PARTY: tuple[tuple[str, str, Callable[[BaseException], str]], ...] = (
    ("serial", "SerialException", _serial),
    ("safetensors", "SafetensorError", _safetensors),
    ("huggingface_hub.errors", "OfflineModeIsEnabled", _unreachable),
    ("huggingface_hub.errors", "LocalEntryNotFoundError", _unreachable),
    ("huggingface_hub.errors", "RepositoryNotFoundError", _not_on_hub),
    ("huggingface_hub.errors", "RevisionNotFoundError", _not_on_hub),
    ("huggingface_hub.errors", "RemoteEntryNotFoundError", _not_on_hub),
    ("huggingface_hub.errors", "HfHubHTTPError", lambda e: f"the Hugging Face hub refused: {_first_line(e)}"),
    ("httpx", "TransportError", _unreachable),
    ("requests.exceptions", "ConnectionError", _unreachable),
    ("requests.exceptions", "Timeout", _unreachable),
    ("lerobot.utils.errors", "DeviceNotConnectedError", _as_is),
    ("lerobot.utils.errors", "DeviceAlreadyConnectedError", _as_is),
)
"""(module, exception class, message) of third-party errors that a user causes or fixes. A module is
looked up only when it is already imported (an exception of it cannot exist otherwise); the first
matching row wins, so a subclass comes before its base."""


def _translate(err: BaseException) -> str | None:
    for module_name, class_name, message in THIRD_PARTY:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(err, cls):
            return message(err)
    return None


def user_message(err: BaseException) -> str | None:
    """The one-line message of an error a user can fix; None for a bug (it keeps its traceback).

    A :class:`UserError` speaks for itself. A third-party error in :data:`THIRD_PARTY` is translated,
    also when it is the explicit cause (``raise ... from``) of what was raised, as libraries wrap
    network errors in their own."""
    if isinstance(err, UserError):
        return _one_line(err)
    cause: BaseException | None = err
    while cause is not None:
        message = _translate(cause)
        if message is not None:
            return _one_line(message)
        cause = cause.__cause__
    return None


@contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Turn a user error raised inside into ``SystemExit("<command>: <message>")`` (exit status 1).

    ``HONED_TRACEBACK=1`` prints the traceback first; bugs propagate untouched."""
    try:
        yield
    except Exception as err:
        message = user_message(err)
        if message is None:
            raise
        if os.environ.get(TRACEBACK_VARIABLE, "") == "1":
            traceback.print_exc(file=sys.stderr)
        raise SystemExit(f"{command}: {message}") from err
