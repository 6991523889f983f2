"""The Hugging Face Hub seam shared by datasets and checkpoints: repo ids, ``hf://`` references, and a
failed hub call turned into one line naming the repo, the cause and the fix.

Every transfer goes through huggingface_hub (or lerobot, which calls it); this module only checks
what the user typed before any transfer starts and words what went wrong afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from honed.errors import ConfigError, HubError

HUB_SCHEME = "hf://"
"""Prefix that marks a value as a Hub location rather than a local path: hf://namespace/name[@revision]."""


@dataclass(frozen=True)
class HubLocation:
    """A folder of a repository on the Hub, at a revision."""

    repo_id: str
    """namespace/name of the repository."""
    revision: str | None = None
    """Branch, tag or commit (None: the default branch)."""
    subfolder: str = ""
    """Folder inside the repository ('' for its root)."""

    def __str__(self) -> str:
        at = f"@{self.revision}" if self.revision else ""
        return f"{HUB_SCHEME}{self.repo_id}{at}" + (f"/{self.subfolder}" if self.subfolder else "")


def check_repo_id(repo_id: str, field: str = "repo_id") -> str:
    """``repo_id`` if it is a Hub repository id (namespace/name); else ConfigError naming ``field`` and the form."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    problem = "" if repo_id.count("/") == 1 else "it must be namespace/name, e.g. my-user/pick-cube"
    if not problem:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as e:
            problem = str(e).splitlines()[0]
    if problem or repo_id.startswith("/") or repo_id.endswith("/"):
        raise ConfigError(
            f"{field}={repo_id!r} is not a Hugging Face Hub repo id: {problem or 'namespace/name'}"
        )
    return repo_id


def parse_location(text: str, repo_type: str = "model") -> HubLocation | None:
    """The Hub location ``text`` names (hf://namespace/name[@revision][/folder] or a huggingface.co URL of
    a ``repo_type`` repository); None when ``text`` is a local path. A malformed one raises ConfigError."""
    from huggingface_hub.errors import HfUriError
    from huggingface_hub.utils import parse_hf_uri

    lowered = text.strip().lower()
    if not lowered.startswith((HUB_SCHEME, "https://huggingface.co/", "huggingface.co/")):
        return None
    try:
        uri = parse_hf_uri(text.strip())
    except HfUriError as e:
        raise ConfigError(f"{text!r} is not a Hub location: {' '.join(str(e).split())}") from None
    if uri.type != repo_type:
        raise ConfigError(f"{text!r} names a {uri.type} repository; expected a {repo_type} repository")
    return HubLocation(uri.id, uri.revision, uri.path_in_repo.strip("/"))


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _unreachable_reason(error: BaseException) -> str | None:
    """Why the Hub could not be reached, if that is what ``error`` (or a cause of it) says."""
    import httpx
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    chain = list(_causes(error))
    if any(isinstance(e, OfflineModeIsEnabled) for e in chain):
        return "offline mode: HF_HUB_OFFLINE is set"
    for e in chain:
        if isinstance(e, httpx.TransportError | ConnectionError | TimeoutError):
            return " ".join(str(e).split()) or type(e).__name__
    if isinstance(error, LocalEntryNotFoundError):
        return "not in the local cache and no connection"
    return None


def describe_failure(error: BaseException, repo_id: str, doing: str) -> str | None:
    """One line saying why ``doing`` ``repo_id`` failed, or None when ``error`` is not a Hub failure."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalTokenNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{doing} {repo_id}"
    reason = _unreachable_reason(error)
    if reason is not None:
        return f"{where}: the Hugging Face Hub ({constants.ENDPOINT}) is unreachable ({reason})"
    for e in _causes(error):
        if isinstance(e, LocalTokenNotFoundError):
            return f"{where}: no Hugging Face token; log in with `hf auth login` or set HF_TOKEN"
        if isinstance(e, GatedRepoError):
            return f"{where}: the repository is gated; accept its terms on the Hub and log in with `hf auth login`"
        if isinstance(e, RepositoryNotFoundError):
            return f"{where}: no such repository on the Hub, or it is private (log in with `hf auth login`)"
        if isinstance(e, RevisionNotFoundError):
            return f"{where}: the repository has no such revision (branch, tag or commit)"
        if isinstance(e, HfHubHTTPError):
            status = e.response.status_code if e.response is not None else "?"
            fix = (
                "; log in with `hf auth login` (a token with write access to push)"
                if status in (401, 403)
                else ""
            )
            return f"{where}: the Hub answered HTTP {status} ({str(e).splitlines()[0][:200]}){fix}"
    return None


def raise_hub_error(error: BaseException, repo_id: str, doing: str, fix: str = "") -> NoReturn:
    """Raise HubError describing ``error`` if it is a Hub failure; re-raise ``error`` otherwise."""
    message = describe_failure(error, repo_id, doing)
    if message is None:
        raise error
    raise HubError(f"{message}{'. ' + fix if fix else ''}") from error


@contextmanager
def hub_errors(repo_id: str, doing: str, fix: str = "") -> Iterator[None]:
    """Turn a Hub failure inside the block into one-line HubError (``doing repo_id: cause. fix``)."""
    try:
        yield
    except HubError:
        raise
    except Exception as e:  # classified by describe_failure; anything else is re-raised unchanged
        raise_hub_error(e, repo_id, doing, fix)


def check_can_push(repo_id: str) -> str:
    """Before any work: ``repo_id`` is valid, the Hub answers and a token is there; returns the account name."""
    from huggingface_hub import HfApi, constants

    check_repo_id(repo_id)
    doing = "push to"
    if constants.HF_HUB_OFFLINE:
        raise HubError(
            f"{doing} {repo_id}: the Hugging Face Hub ({constants.ENDPOINT}) is unreachable "
            "(offline mode: HF_HUB_OFFLINE is set); unset it to push"
        )
    with hub_errors(repo_id, doing):
        return str(HfApi().whoami().get("name", ""))
