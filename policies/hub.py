"""Checkpoints on the Hugging Face Hub: ``honed-train push`` uploads a checkpoint directory, and every
command that takes a checkpoint path also takes ``hf://namespace/name[@revision][/folder]``.

Only the files a checkpoint is rebuilt from travel, both ways: ``model.safetensors``, ``config.json``,
``contract.json`` and a text encoder's config and tokenizer files (JSON, text, sentencepiece) under
``text_encoder/``. The training state (``training/``) and anything else in the folder stay local, and
nothing that could hold a pickle is downloaded. A value is read as a Hub location only when it starts
with ``hf://`` (or is a huggingface.co URL): a mistyped local path never reaches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.hub import HubLocation, check_can_push, check_repo_id, hub_errors, parse_location
from honed.policies.checkpoint import CONFIG, CONTRACT, MODEL, CheckpointError

CHECKPOINT_FILES = (
    MODEL,
    CONFIG,
    CONTRACT,
    "*text_encoder/*.json",
    "*text_encoder/*.txt",
    "*text_encoder/*.model",
)
"""Patterns (fnmatch, ``*`` crossing folders) of the files pushed and downloaded; all else stays put."""
HUB_OUTPUTS = Path("outputs/hub")
"""Where outputs about a Hub checkpoint go by default (an evaluation, say): outputs/hub/<namespace>/<name>."""


def download_checkpoint(location: HubLocation) -> Path:
    """The checkpoint files at ``location`` in the local Hub cache (fetched if missing); returns their folder."""
    from huggingface_hub import snapshot_download

    prefix = f"{location.subfolder}/" if location.subfolder else ""
    with hub_errors(
        str(location), "download checkpoint", "Copy the checkpoint directory here and pass its path instead"
    ):
        root = snapshot_download(
            location.repo_id,
            repo_type="model",
            revision=location.revision,
            allow_patterns=[prefix + p for p in CHECKPOINT_FILES],
        )
    folder = Path(root) / location.subfolder
    if not (folder / MODEL).is_file():
        raise CheckpointError(
            f"{location} is not a honed checkpoint: it holds no {MODEL} (a checkpoint is {MODEL}, {CONFIG}, {CONTRACT})"
        )
    return folder


def checkpoint_dir(ref: str | Path) -> Path:
    """The local directory of checkpoint ``ref``: a path as given, or a Hub location's downloaded files."""
    location = parse_location(str(ref))
    return Path(ref) if location is None else download_checkpoint(location)


def output_home(ref: str | Path) -> Path:
    """Where a command's outputs about checkpoint ``ref`` go by default: beside a local checkpoint, inside
    it; for a Hub checkpoint, outputs/hub/<namespace>/<name>[/<folder>] (the Hub cache stays untouched)."""
    location = parse_location(str(ref))
    if location is None:
        return Path(ref)
    return HUB_OUTPUTS / location.repo_id / location.subfolder


@dataclass
class PushConfig:
    """Upload a checkpoint directory to a model repository on the Hugging Face Hub."""

    checkpoint: str = ""
    """Checkpoint directory to push (model.safetensors + config.json + contract.json)."""
    repo_id: str = ""
    """Model repository on the Hub, namespace/name (created if missing); load it back as hf://namespace/name."""
    private: bool = False
    """Create the repository as private (an existing repository keeps its visibility)."""
    message: str = ""
    """Commit message (default: names the checkpoint's contract digest)."""


def push_checkpoint(
    folder: str | Path, repo_id: str, private: bool = False, message: str = ""
) -> dict[str, Any]:
    """Check ``folder`` loads as a policy and the Hub takes a push, then upload its checkpoint files."""
    from huggingface_hub import HfApi

    from honed.policies.checkpoint import load_policy

    check_repo_id(repo_id)
    folder = Path(folder)
    if parse_location(str(folder)) is not None or not folder.is_dir():
        raise CheckpointError(
            f"checkpoint={folder}: not a local checkpoint directory; push one that training wrote"
        )
    digest = load_policy(folder).contract.digest  # refuses a checkpoint that would not load back
    check_can_push(repo_id)
    with hub_errors(repo_id, "push to"):
        api = HfApi()
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            repo_type="model",
            allow_patterns=list(CHECKPOINT_FILES),
            commit_message=message or f"honed checkpoint (contract {digest[:12]})",
        )
    return {"repo_id": repo_id, "checkpoint": str(folder), "contract": digest,
            "url": str(getattr(commit, "commit_url", "") or commit), "load_as": f"hf://{repo_id}"}  # fmt: skip


def push(cfg: PushConfig) -> dict[str, Any]:
    """``honed-train push``: prints the pushed repo, its contract digest and how to load it, as JSON."""
    import json

    if not cfg.checkpoint or not cfg.repo_id:
        raise ConfigError("pass checkpoint=<checkpoint directory> and repo_id=<namespace/name>")
    summary = push_checkpoint(cfg.checkpoint, cfg.repo_id, cfg.private, cfg.message)
    print(json.dumps(summary))
    return summary
