"""Pictures of twin evaluations: the evaluation and comparison PNGs, the checkpoints' labels, the
HTML index, and videos re-rendered from the recorded worlds (the numbers are ``honed.evaluation.stats``)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from honed.evaluation.stats import wilson_interval  # noqa: E402


def plot_evaluation(result: Mapping[str, Any], path: Path) -> Path:
    """Success rate with its interval, outcome per seed, and episode lengths of successes and failures."""
    episodes = result["per_episode"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1, 3, 2]})
    rate, (low, high) = result["success_rate"], result["success_ci95"]
    axes[0].bar([0], [rate], yerr=[[max(rate - low, 0)], [max(high - rate, 0)]], capsize=8, color="C2")
    axes[0].set(xticks=[], ylim=(0, 1), ylabel="success rate", title=f"{rate:.1%} [{low:.1%}, {high:.1%}]")
    seeds = [e["seed"] for e in episodes]
    colors = ["C2" if e["success"] else "C3" for e in episodes]
    axes[1].scatter(seeds, [e["return"] for e in episodes], c=colors, s=12)
    axes[1].set(xlabel="episode seed", ylabel="return", title="episodes (green: success, red: failure)")
    lengths = {k: [e["length"] for e in episodes if e["success"] == k] for k in (True, False)}
    axes[2].hist([lengths[True], lengths[False]], bins=20, color=["C2", "C3"], label=["success", "failure"])
    axes[2].set(xlabel="episode length (steps)", title="episode lengths")
    axes[2].legend()
    fig.suptitle(f"{result.get('task', '')}: {result['episodes']} episodes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def checkpoint_labels(a: str, b: str) -> tuple[str, str]:
    """Names of two checkpoints for a plot: the shortest ends of their paths that tell them apart,
    without the ``checkpoints`` folder and with the run folder where there is one (``runs/seed0/
    checkpoints/best`` is ``seed0/best``); equal paths are told apart by `` (a)`` and `` (b)``."""

    def parts(path: str) -> tuple[list[str], int]:
        p = Path(path)
        names = [n for n in p.parts if n not in (p.anchor, "checkpoints")] or [path]
        return names, 2 if p.parent.name == "checkpoints" and len(names) > 1 else 1

    (pa, na), (pb, nb) = parts(a), parts(b)
    for more in range(max(len(pa), len(pb))):
        labels = "/".join(pa[-(na + more) :]), "/".join(pb[-(nb + more) :])
        if labels[0] != labels[1]:
            return labels
    return f"{'/'.join(pa[-na:])} (a)", f"{'/'.join(pb[-nb:])} (b)"


def plot_comparison(comparison: Mapping[str, Any], names: tuple[str, str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.6))
    n = comparison["paired_episodes"]
    rates = [comparison["success_rate_a"], comparison["success_rate_b"]]
    intervals = [wilson_interval(round(r * n), n) for r in rates]
    err = [[max(r - lo, 0) for r, (lo, _) in zip(rates, intervals)],
           [max(hi - r, 0) for r, (_, hi) in zip(rates, intervals)]]  # fmt: skip
    ax.bar([0, 1], rates, yerr=err, capsize=8, color=["C0", "C1"])
    ax.set(xticks=[0, 1], xticklabels=names, ylim=(0, 1), ylabel="success rate")
    ax.set_title(f"{n} paired episodes, p = {comparison['p_value']:.3g}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_index(result: Mapping[str, Any], videos: Mapping[str, list[str]], path: Path) -> Path:
    """An HTML page: the summary, the PNG, and failure videos beside success videos."""
    columns = []
    for kind in ("success", "failure"):
        clips = "".join(
            f'<figure><video src="{html.escape(v)}" controls loop muted width="320"></video>'
            f"<figcaption>{html.escape(Path(v).stem)}</figcaption></figure>"
            for v in videos.get(kind, [])
        )
        columns.append(f'<div class="col"><h2>{kind}</h2>{clips or "<p>none recorded</p>"}</div>')
    rate, (low, high) = result["success_rate"], result["success_ci95"]
    counts = result.get("failure_endings") or {}
    endings = (
        "<p>failed episodes ended with: "
        + ", ".join(f"{html.escape(k)} ({n})" for k, n in counts.items())
        + "</p>"
        if counts
        else ""
    )
    page = (
        "<!doctype html><meta charset='utf-8'><title>evaluation</title>"
        "<style>body{font-family:sans-serif}.row{display:flex;gap:2em}</style>"
        f"<h1>{html.escape(str(result.get('task', '')))}: {rate:.1%} success (95% CI {low:.1%}-{high:.1%})</h1>"
        f"<p>{result['episodes']} episodes, mean return {result['mean_return']:.2f}, "
        f"mean length {result['mean_length']:.1f} steps</p>{endings}"
        f"<img src='eval.png'><div class='row'>{''.join(columns)}</div>"
    )
    path.write_text(page)
    return path


class EpisodeRecorder:
    """Keeps every world's physics state while episodes run, then renders chosen episodes to MP4.

    States (qpos and goal markers) are cheap to keep for all worlds, so videos show the episodes that
    actually succeeded or failed, rendered afterwards from exactly the states the evaluation visited.
    Worlds run episodes one after another: :meth:`finish` renders the episode a world just ended
    (while a kind still lacks videos), and :meth:`capture`, called after the worlds' resets, keeps the
    states the next step starts from.
    """

    def __init__(
        self,
        folder: Path,
        per_kind: int,
        fps: float,
        camera: str = "front",
        size: tuple[int, int] = (240, 320),
    ):
        self.folder, self.per_kind, self.fps, self.camera, self.size = folder, per_kind, fps, camera, size
        self.written: dict[str, list[str]] = {"success": [], "failure": []}
        self.states: list[dict[str, np.ndarray]] = []
        self.starts: np.ndarray = np.zeros(0, dtype=np.int64)
        """Index in ``states`` of each world's episode's first state."""

    @property
    def full(self) -> bool:
        return all(len(v) >= self.per_kind for v in self.written.values())

    def begin(self, env: Any) -> None:
        self.states = []
        self.starts = np.zeros(env.num_envs, dtype=np.int64)
        self.capture(env)

    def capture(self, env: Any) -> None:
        """Keep every world's current state (none once every kind has its videos)."""
        if self.full:
            return
        arrays = env.core.backend.arrays()
        self.states.append({k: np.array(arrays[k]) for k in ("qpos", "mocap_pos", "mocap_quat")})

    def finish(self, env: Any, world: int, episode: Mapping[str, Any]) -> None:
        """Render the episode ``world`` just ended if its kind still lacks videos; the world's next
        episode starts at the next captured state."""
        kind = "success" if episode["success"] else "failure"
        start, length = int(self.starts[world]), int(episode["length"])
        if len(self.written[kind]) < self.per_kind:
            from honed.media import write_mp4

            name = f"{kind}_seed{episode['seed']}.mp4"
            write_mp4(self._render(env, world, self.states[start : start + max(length, 1)]),
                      self.folder / name, fps=self.fps)  # fmt: skip
            self.written[kind].append(f"videos/{name}")
        self.starts[world] = len(self.states)
        drop = int(self.starts.min())  # states no running episode reaches back to
        if drop:
            del self.states[:drop]
            self.starts -= drop

    def _render(self, env: Any, world: int, states: Sequence[dict[str, np.ndarray]]) -> list[np.ndarray]:
        import mujoco

        from honed.sim.render import BatchRenderer

        model = env.core.model
        data = mujoco.MjData(model)
        renderer = BatchRenderer(model, (self.camera,), *self.size)
        frames = []
        try:
            for state in states:
                data.qpos[:] = state["qpos"][world]
                data.mocap_pos[:], data.mocap_quat[:] = state["mocap_pos"][world], state["mocap_quat"][world]
                mujoco.mj_forward(model, data)
                frames.append(renderer.render(data, self.camera))
        finally:
            renderer.close()
        return frames
