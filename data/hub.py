"""LeRobot datasets on the Hugging Face Hub, moved by lerobot and huggingface_hub themselves.

``honed-data export ... push=true repo_id=<namespace/name>`` checks that the Hub answers and takes
the push before exporting, then uploads the finished LeRobotDataset v3 directory with lerobot's
``LeRobotDataset.push_to_hub`` (data, videos, meta including honed's ``meta/honed.json``, a dataset
card and the codebase-version tag lerobot loads by). ``honed-data import repo_id=<namespace/name>``
loads one with lerobot's ``LeRobotDataset`` (:func:`honed.data.lerobot_import.open_lerobot`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from honed.data.lerobot_export import VIDEO_BACKEND
from honed.hub import hub_errors


def push_dataset(root: str | Path, repo_id: str, private: bool = False) -> dict[str, Any]:
    """Upload the LeRobot v3 directory ``root`` to the Hub dataset repository ``repo_id`` (created if
    missing) with lerobot's own ``push_to_hub``; returns where it went."""
    from huggingface_hub import constants
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset(repo_id, root=root, video_backend=VIDEO_BACKEND)  # reads root; no network
    fix = (
        f"The export in {root} is complete: push it again with `hf upload {repo_id} {root} "
        "--repo-type dataset` once the Hub answers"
    )
    with hub_errors(repo_id, "push to", fix):
        dataset.push_to_hub(private=private)
    return {"pushed": repo_id, "url": f"{constants.ENDPOINT}/datasets/{repo_id}", "root": str(root),
            "episodes": int(dataset.meta.total_episodes), "frames": int(dataset.meta.total_frames)}  # fmt: skip
