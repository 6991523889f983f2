"""``honed-bench pose``: where an image policy's pose head places the object, against the twin's truth.

    honed-bench pose checkpoint=outputs/run/checkpoints/best task=pick_cube episodes=200 dataset=<demo store>

A policy trained with ``policy.privileged_aux_weight`` > 0 carries a linear head from its image
features to the twin's object poses. This reads that head on the first frame of evaluation episodes
(reset seeds from ``seed``, the same initial states ``honed-eval`` uses, so the two join by seed)
and, with ``dataset``, on frames of the demos it trained on: the gap between the two is how much
the image encoders learned the demos' object positions by heart. The error is the object's xy
position in millimetres: every task's object-pose vector opens with the TCP position (3 values)
and then its (first) object's position. Writes ``pose.json`` (per episode: seed, true and predicted
xy, error) and ``pose.png`` (error over the workspace, and the two error histograms); the last line
is the JSON summary. An ensemble's reading is the mean of its members' heads (each must have one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from honed.cli import Verb, bounded
from honed.sim.seeds import HELD_OUT_SEED

OBJECT_XY = slice(3, 5)
"""The (first) object's xy position in every task's object-pose vector (after the TCP's xyz)."""


@dataclass
class PoseBenchConfig:
    """Checkpoint, evaluation states and demo frames to read the pose head on."""

    checkpoint: str = ""
    """Policy checkpoint trained with policy.privileged_aux_weight > 0."""
    task: str = "pick_cube"
    """Twin task whose evaluation episodes' first frames are read."""
    episodes: int = bounded(200, ge=1)
    """Evaluation episodes (first frames) to read."""
    seed: int = bounded(HELD_OUT_SEED, ge=0)
    """Reset seed of the first episode (honed-eval's default, so results join by seed)."""
    num_envs: int = bounded(25, ge=1)
    """Twin worlds reset at once."""
    dataset: str = ""
    """Demo store the policy trained on (empty: evaluation frames only)."""
    demo_episodes: str = "all"
    """Demo episodes to sample frames from: all, success or first:N (as honed-train's episodes)."""
    demo_frames: int = bounded(512, ge=1)
    """Demo frames to read (drawn at random, fixed seed)."""
    threads: int = bounded(2, ge=1)
    """Torch intra-op threads."""
    output: str = ""
    """Folder for pose.json and pose.png (default: <checkpoint>/../../pose)."""


def check(c: PoseBenchConfig) -> None:
    if not c.checkpoint or not Path(c.checkpoint).is_dir():
        raise SystemExit(f"honed-bench pose: checkpoint={c.checkpoint!r} is not a checkpoint directory")
    if c.episodes < 1 or c.num_envs < 1 or c.demo_frames < 1:
        raise SystemExit("honed-bench pose: episodes, num_envs and demo_frames must be at least 1")
    if c.dataset and not Path(c.dataset).is_dir():
        raise SystemExit(f"honed-bench pose: dataset={c.dataset!r} is not an episode store directory")


def pose_readers(policy: Any, checkpoint: str) -> list[Any]:
    """The policies whose pose heads are read: the policy itself, or each member of an ensemble."""
    members = getattr(policy, "policies", None)  # an ensemble's members
    readers = [policy] if members is None else list(members)
    missing = [i for i, r in enumerate(readers) if getattr(r, "pose_head", None) is None]
    if missing:
        which = checkpoint if members is None else f"members {missing} of {checkpoint}"
        raise SystemExit(
            f"honed-bench pose: {which} has no pose head; train with policy.privileged_aux_weight > 0"
        )
    return readers


def reader_keys(readers: list[Any]) -> list[str]:
    """The observation keys any reader encodes (state first, then cameras), each once."""
    return list(dict.fromkeys(k for r in readers for k in [*r.vector_keys, *r.image_keys]))


def predict_xy(readers: list[Any], frames: dict[str, Any]) -> np.ndarray:
    """The object xy (N, 2) in metres from one frame per row (state, cameras): the pose head's, or
    the mean of an ensemble's members' heads (as the ensemble averages their denoisers)."""
    import torch

    xy = []
    with torch.no_grad():
        for policy in readers:
            features = policy.encode_frames({k: frames[k] for k in policy.vector_keys + policy.image_keys})
            poses = policy.pose_head.read(features[:, policy.image_span])
            xy.append(poses[:, OBJECT_XY].numpy())
    return np.mean(xy, axis=0)


def first_frames(policy: Any, readers: list[Any], c: PoseBenchConfig) -> dict[str, np.ndarray]:
    """Seeds, true and predicted object xy on the first frame of each evaluation episode."""
    from honed.evaluation.evaluate import env_options
    from honed.features import PRIVILEGED
    from honed.sim import make_batched_env

    env = make_batched_env(c.task, min(c.num_envs, c.episodes), **env_options(policy.contract))
    seeds: list[int] = []
    truth: list[np.ndarray] = []
    pred: list[np.ndarray] = []
    try:
        policy.contract.check(env.features, float(env.cfg.control_hz), where=f"twin task {c.task!r}")
        for first in range(c.seed, c.seed + c.episodes, env.num_envs):
            count = min(env.num_envs, c.seed + c.episodes - first)
            obs = env.reset(seed=first)
            seeds += range(first, first + count)
            truth.append(obs[PRIVILEGED][:count, OBJECT_XY].numpy())
            pred.append(predict_xy(readers, obs)[:count])
    finally:
        env.close()
    return {"seed": np.array(seeds), "true": np.concatenate(truth), "pred": np.concatenate(pred)}


def demo_errors(readers: list[Any], c: PoseBenchConfig) -> np.ndarray:
    """Errors (mm) on ``demo_frames`` random frames of the demos."""
    import torch

    from honed.data.dataset import EpisodeDataset
    from honed.data.store import EpisodeStore
    from honed.features import IMAGE_PREFIX, PRIVILEGED
    from honed.policies.train import select_episodes

    store = EpisodeStore.open(c.dataset)
    try:
        episodes = select_episodes([e.meta for e in store.index.episodes], c.demo_episodes)
    except ValueError as err:
        raise SystemExit(f"honed-bench pose: demo_{err}") from err
    observed = reader_keys(readers)
    cameras = [k[len(IMAGE_PREFIX) :] for k in observed if k.startswith(IMAGE_PREFIX)]
    data = EpisodeDataset(store, 1, 1, episodes=episodes, cameras=cameras, not_imitated_samples=True)
    if PRIVILEGED not in data.features:
        raise SystemExit(f"honed-bench pose: dataset={c.dataset} holds no object poses ({PRIVILEGED})")
    picks = np.random.default_rng(0).choice(len(data), min(c.demo_frames, len(data)), replace=False)
    items = data.__getitems__(picks.tolist())
    keys = [*observed, PRIVILEGED]
    frames = {k: torch.stack([item[k][0] for item in items]) for k in keys}
    truth = frames[PRIVILEGED][:, OBJECT_XY].numpy()
    return np.linalg.norm(predict_xy(readers, frames) - truth, axis=-1) * 1000


def summary(errors: np.ndarray, prefix: str) -> dict[str, float]:
    return {f"{prefix}_mean_mm": round(float(errors.mean()), 2),
            f"{prefix}_median_mm": round(float(np.median(errors)), 2),
            f"{prefix}_p90_mm": round(float(np.percentile(errors, 90)), 2)}  # fmt: skip


def plot(path: Path, first: dict[str, np.ndarray], errors: np.ndarray, demo: np.ndarray | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (where, hist) = plt.subplots(1, 2, figsize=(11, 4.5))
    dots = where.scatter(first["true"][:, 1] * 100, first["true"][:, 0] * 100, c=errors, cmap="viridis", s=18)
    fig.colorbar(dots, ax=where, label="error (mm)")
    where.set(xlabel="object y (cm, negative: the arm's right)", ylabel="object x (cm, from the base)",
              title="pose-head error on evaluation first frames")  # fmt: skip
    where.invert_xaxis()
    bins = np.linspace(0, max(float(errors.max()), 1.0), 30)
    hist.hist(errors, bins=bins, alpha=0.7, label=f"evaluation first frames (mean {errors.mean():.1f} mm)")
    if demo is not None:
        hist.hist(demo, bins=bins, alpha=0.7, label=f"demo frames (mean {demo.mean():.1f} mm)")
    hist.set(xlabel="object xy error (mm)", ylabel="frames")
    hist.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_bench(c: PoseBenchConfig) -> dict[str, Any]:
    import torch

    from honed.benchmarks.results import emit
    from honed.policies import load_policy

    check(c)
    torch.set_num_threads(c.threads)
    policy = load_policy(c.checkpoint).eval()
    readers = pose_readers(policy, c.checkpoint)
    first = first_frames(policy, readers, c)
    errors = np.linalg.norm(first["pred"] - first["true"], axis=-1) * 1000
    demo = demo_errors(readers, c) if c.dataset else None
    out = Path(c.output) if c.output else Path(c.checkpoint).resolve().parent.parent / "pose"
    out.mkdir(parents=True, exist_ok=True)
    result = {"checkpoint": c.checkpoint, "task": c.task, "episodes": c.episodes, "seed": c.seed,
              **summary(errors, "eval"), **(summary(demo, "demo") if demo is not None else {}),
              "demo_frames": 0 if demo is None else len(demo)}  # fmt: skip
    per_episode = [{"seed": int(s), "true_xy": t.round(5).tolist(), "pred_xy": p.round(5).tolist(),
                    "error_mm": round(float(e), 2)}
                   for s, t, p, e in zip(first["seed"], first["true"], first["pred"], errors)]  # fmt: skip
    (out / "pose.json").write_text(json.dumps({**result, "per_episode": per_episode}, indent=1))
    plot(out / "pose.png", first, errors, demo)
    return emit({**result, "output": str(out)})


VERB = Verb(PoseBenchConfig, run_bench, "an image policy's pose head against the twin's object positions")
