"""``honed-data``: look after episode stores (info, verify, repair, stats, merge, split, drop, visualize,
export, import, replay). Run ``honed-data <verb> --help`` for the fields of a verb."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.cli import Verb, bounded, run
from honed.data.replay import ReplayConfig, replay
from honed.data.store import EpisodeStore


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=1, sort_keys=True, default=str))


@dataclass
class StoreConfig:
    store: str = "outputs/record/store"
    """Path of the episode store."""


@dataclass
class InfoConfig(StoreConfig):
    episodes: bool = False
    """Also list every episode (length, task, metadata)."""


def info(cfg: InfoConfig) -> int:
    store = EpisodeStore.open(cfg.store)
    summary = store.summary()
    if cfg.episodes:
        summary["episode_list"] = [
            {"id": e.id, "frames": e.length, "task": e.task, **e.meta} for e in store.index.episodes
        ]
    _print_json(summary)
    return 0


@dataclass
class VerifyConfig(StoreConfig):
    decode: bool = True
    """Decode every camera frame (slower, catches corrupt images)."""


def verify(cfg: VerifyConfig) -> int:
    from honed.data.verify import verify_store

    faults = verify_store(cfg.store, decode=cfg.decode)
    for fault in faults:
        print(f"FAULT {fault}")
    print(
        f"{cfg.store}: {len(faults)} fault(s)"
        + (f"; run `honed-data repair store={cfg.store}`" if faults else ", store is consistent")
    )
    return 1 if faults else 0


def repair(cfg: VerifyConfig) -> int:
    from honed.data.verify import repair_store

    report = repair_store(cfg.store, decode=cfg.decode)
    print("\n".join(report.lines()))
    return 0


@dataclass
class StatsConfig(StoreConfig):
    recompute: bool = False
    """Recompute even when saved statistics match the store."""


def stats(cfg: StatsConfig) -> int:
    from honed.data.stats import compute_stats, load_or_compute_stats, stats_to_json

    store = EpisodeStore.open(cfg.store)
    if cfg.recompute:
        (store.root / "stats.json").unlink(missing_ok=True)
    values = load_or_compute_stats(store) if not cfg.recompute else compute_stats(store)
    _print_json(stats_to_json(values))
    if cfg.recompute:
        load_or_compute_stats(store)
    return 0


@dataclass
class MergeConfig:
    sources: list[str] = field(default_factory=list)
    """Stores to merge, in order: sources=[a,b]."""
    out: str = "outputs/merged"
    """Path of the new merged store."""


def merge(cfg: MergeConfig) -> int:
    from honed.data.tools import merge_stores

    store = merge_stores(cfg.sources, cfg.out)
    _print_json(store.summary())
    return 0


@dataclass
class SplitConfig(StoreConfig):
    train: str = "outputs/split/train"
    """Path of the new training store."""
    val: str = "outputs/split/val"
    """Path of the new validation store."""
    val_fraction: float = bounded(0.1, gt=0, lt=1)
    """Share of episodes that go to validation (at least one)."""
    seed: int = bounded(0, ge=0)
    """Seed of the random episode assignment."""


def split(cfg: SplitConfig) -> int:
    from honed.data.tools import split_store

    train, val = split_store(cfg.store, cfg.train, cfg.val, cfg.val_fraction, cfg.seed)
    print(
        f"train: {train.num_episodes} episodes at {train.root}; val: {val.num_episodes} episodes at {val.root}"
    )
    return 0


@dataclass
class DropConfig(StoreConfig):
    episodes: list[int] = bounded([], ge=0)
    """Episode ids to remove: episodes=[3,7]."""


def drop(cfg: DropConfig) -> int:
    from honed.data.tools import drop_episodes

    if not cfg.episodes:
        raise SystemExit("honed-data drop: name the episodes to remove, e.g. episodes=[3,7]")
    print("\n".join(drop_episodes(cfg.store, cfg.episodes)))
    return 0


@dataclass
class VisualizeConfig(StoreConfig):
    episode: int = bounded(0, ge=0)
    """Episode id to show."""
    out: str = "outputs/visualize"
    """Directory for the MP4, PNG and JSON."""


def visualize(cfg: VisualizeConfig) -> int:
    from honed.data.visualize import visualize_episode

    _print_json(visualize_episode(EpisodeStore.open(cfg.store), cfg.episode, cfg.out))
    return 0


@dataclass
class ExportConfig(StoreConfig):
    format: str = "lerobot"
    """Target format (lerobot: a LeRobotDataset v3 directory)."""
    out: str = "outputs/export/lerobot"
    """Directory to write (must not exist or be empty)."""
    repo_id: str = ""
    """LeRobot repo id recorded in the dataset (default local/<store name>); the Hub repo with push=true."""
    vcodec: str = "libsvtav1"
    """Video codec lerobot encodes the cameras with (libsvtav1, h264, hevc)."""
    push: bool = False
    """Also push the export to the Hugging Face Hub as dataset repo_id=<namespace/name> (checked first)."""
    private: bool = False
    """With push=true: create the Hub repository as private."""


def export(cfg: ExportConfig) -> int:
    from honed.data.lerobot_export import export_lerobot

    if cfg.format != "lerobot":
        raise SystemExit(f"honed-data export: unknown format {cfg.format!r}; formats: lerobot")
    if cfg.push:
        from honed.hub import check_can_push

        check_can_push(cfg.repo_id)  # before any work: a valid repo id, the Hub answers, a token
    out = export_lerobot(EpisodeStore.open(cfg.store), cfg.out, cfg.repo_id or None, cfg.vcodec)
    print(f"wrote LeRobotDataset v3 to {out}")
    if cfg.push:
        from honed.data.hub import push_dataset

        _print_json(push_dataset(out, cfg.repo_id, cfg.private))
    return 0


@dataclass
class ImportConfig(StoreConfig):
    repo_id: str = "local/dataset"
    """LeRobot repo id; fetched from the Hugging Face Hub when root is empty."""
    root: str = ""
    """Local LeRobot v3 directory to read (no network needed)."""


def import_(cfg: ImportConfig) -> int:
    from honed.data.lerobot_import import import_lerobot

    store = import_lerobot(cfg.repo_id, cfg.store, Path(cfg.root) if cfg.root else None)
    _print_json(store.summary())
    return 0


VERBS = {
    "info": Verb(InfoConfig, info, "summary of a store (episodes, frames, tasks, success rate)"),
    "verify": Verb(VerifyConfig, verify, "check every committed episode; non-zero exit on faults",
                   presets={"debug": VerifyConfig(decode=False)}),
    "repair": Verb(VerifyConfig, repair, "keep each episode's longest consistent prefix, report what was dropped"),
    "stats": Verb(StatsConfig, stats, "normalisation statistics (computed once, saved as stats.json)"),
    "merge": Verb(MergeConfig, merge, "merge stores recorded alike into a new store"),
    "split": Verb(SplitConfig, split, "split a store into train and val stores by episode"),
    "drop": Verb(DropConfig, drop, "remove episodes from a store"),
    "visualize": Verb(VisualizeConfig, visualize, "MP4 of the cameras and PNG plot of joints and actions"),
    "export": Verb(ExportConfig, export, "write a LeRobotDataset v3 directory (lerobot loads it)"),
    "import": Verb(ImportConfig, import_, "read a LeRobot v3 dataset (local directory or Hub) into a new store"),
    "replay": Verb(ReplayConfig, replay, "send an episode's actions to a robot (arm, emulator or twin) at its fps"),
}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    from honed.data.record_cli import OPTION_PREFIXES

    args = list(sys.argv[1:] if argv is None else argv)
    args = [f"++{a}" if a.startswith(OPTION_PREFIXES) else a for a in args]  # replay's robot_options.<key>
    raise SystemExit(run("data", VERBS, args) or 0)
