"""Demonstrations: the crash-safe episode store, recording, training data, LeRobot v3 interop, tools.

Public API (imported lazily, so ``import honed.data`` stays cheap for the recorder):

- ``EpisodeStore``, ``Episode`` (``honed.data.store``): open/create stores, read episodes.
- ``EpisodeWriter`` (``honed.data.writer``): ``start_episode`` / ``add_frame`` / ``save_episode``.
- ``EpisodeDataset``, ``make_loader`` (``honed.data.dataset``): training windows and action chunks.
- ``Recorder`` (``honed.data.record``): the fixed-rate recording loop on the Robot/Teleoperator seams.
- ``verify_store``, ``repair_store`` (``honed.data.verify``); ``export_lerobot``, ``import_lerobot``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "EpisodeStore": "honed.data.store",
    "Episode": "honed.data.store",
    "FeatureMismatchError": "honed.data.store",
    "StoreInfo": "honed.data.layout",
    "EpisodeWriter": "honed.data.writer",
    "EpisodeDataset": "honed.data.dataset",
    "make_loader": "honed.data.dataset",
    "Recorder": "honed.data.record",
    "RecordError": "honed.data.record",
    "verify_store": "honed.data.verify",
    "repair_store": "honed.data.verify",
    "export_lerobot": "honed.data.lerobot_export",
    "import_lerobot": "honed.data.lerobot_import",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'honed.data' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
