"""``honed-bench policy``: chunk inference latency of honed's diffusion policy and of lerobot's.

Both are built alike: one 96x96 camera + state, 2 observation frames, horizon 16, 8 executed steps,
U-Net widths (64, 128, 256), kernel 5, FiLM scale and shift, a ResNet-18 trunk (GroupNorm, trained
from scratch) with a 32-keypoint spatial softmax and an 84x84 crop, DDIM/DDPM over 100 training steps.
Each is driven the way a control loop drives it, one action per frame (honed's through its
``ChunkExecutor``, lerobot's ``select_action``), and the calls that compute a chunk are timed (p50 and
p99). honed encodes a frame when it arrives if the next chunk will read it, so the planning call
encodes one frame; lerobot encodes the whole history at planning time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from honed.cli import Verb, bounded
from honed.policies.executor import ChunkExecutor

SAMPLERS = {"ddim10": ("ddpm", "ddim", 10), "ddpm100": ("ddpm", "ddpm", 100), "flow10": ("flow", "euler", 10)}


@dataclass
class PolicyBenchConfig:
    """What to time."""

    chunks: int = bounded(100, ge=1)
    """Timed chunk computations per policy and sampler (p50/p99 over these)."""
    warmup: int = bounded(3, ge=0)
    """Untimed chunks first (and, when compiling, the compilation)."""
    threads: int = bounded(2, ge=1)
    """torch CPU threads."""
    samplers: list[str] = field(default_factory=lambda: ["ddim10", "ddpm100", "flow10"])
    """Samplers to time: ddim10, ddpm100, flow10 (lerobot has no flow matching)."""
    lerobot: bool = True
    """Also time lerobot's DiffusionPolicy at the same configuration."""
    compile: bool = True
    """Also time both with torch.compile (honed: denoiser step + image encoder; lerobot: compile_model)."""
    write_docs: bool = False
    """Record the result in docs/benchmarks.md."""


def honed_policy(objective: str, sampler: str, steps: int, compiled: bool) -> Any:
    from honed.arms import SO101
    from honed.features import ACTION, STATE, Feature, Features, image_key
    from honed.policies import Contract, DiffusionConfig, DiffusionPolicy

    features = Features({STATE: SO101.state_feature(), image_key("front"): Feature((96, 96, 3), "uint8"),
                         ACTION: SO101.action_feature()})  # fmt: skip

    def unit(dim: int, mean: float = 0.0, std: float = 1.0) -> dict[str, np.ndarray]:
        return {
            "mean": np.full(dim, mean),
            "std": np.full(dim, std),
            "min": -np.ones(dim),
            "max": np.ones(dim),
        }

    stats = {STATE: unit(12), ACTION: unit(6), image_key("front"): unit(3, 0.5, 0.25)}
    cfg = DiffusionConfig(objective=objective, sampler=sampler, num_inference_steps=steps)
    policy = DiffusionPolicy(cfg, Contract(features, stats, 30.0, 2, 16, 8)).eval()
    return policy.compile_for_inference() if compiled else policy


def lerobot_policy(sampler: str, steps: int, compiled: bool) -> Any:
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig as LerobotConfig
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy as LerobotPolicy

    cfg = LerobotConfig(
        input_features={"observation.state": PolicyFeature(FeatureType.STATE, (12,)),
                        "observation.images.front": PolicyFeature(FeatureType.VISUAL, (3, 96, 96))},
        output_features={"action": PolicyFeature(FeatureType.ACTION, (6,))},
        down_dims=(64, 128, 256), horizon=16, n_obs_steps=2, n_action_steps=8, crop_shape=(84, 84),
        pretrained_backbone_weights=None, use_group_norm=True, noise_scheduler_type=sampler.upper(),
        num_inference_steps=steps, compile_model=compiled, compile_mode="default", device="cpu",
    )  # fmt: skip
    return LerobotPolicy(cfg).eval()


class Driver:
    """Steps one policy frame by frame; ``cycle`` runs until (and including) its next chunk computation."""

    def __init__(self, act: Callable[[int], Any], plans_next: Callable[[], bool]):
        self.act, self.plans_next, self.step = act, plans_next, 0
        self.times: list[float] = []

    def cycle(self) -> None:
        while True:
            planning = self.plans_next()
            tic = time.perf_counter()
            self.act(self.step)
            elapsed = (time.perf_counter() - tic) * 1e3
            self.step += 1
            if planning:
                self.times.append(elapsed)
                return


def honed_driver(name: str, compiled: bool, rng: np.random.Generator) -> Driver:
    policy = honed_policy(*SAMPLERS[name], compiled)
    frames = [{"observation.state": torch.from_numpy(rng.normal(size=(1, 12)).astype(np.float32)),
               "observation.images.front": torch.from_numpy(rng.integers(0, 256, (1, 96, 96, 3), dtype=np.uint8))}
              for _ in range(8)]  # fmt: skip
    executor = ChunkExecutor(policy, num_envs=1)
    return Driver(lambda t: executor.act(frames[t % 8]), lambda: bool(executor.plans[0]))


def lerobot_driver(name: str, compiled: bool, rng: np.random.Generator) -> Driver:
    _, sampler, steps = SAMPLERS[name]
    policy = lerobot_policy(sampler, steps, compiled)
    frames = [{"observation.state": torch.from_numpy(rng.normal(size=(1, 12)).astype(np.float32)),
               "observation.images.front": torch.from_numpy(rng.random((1, 3, 96, 96), dtype=np.float32))}
              for _ in range(8)]  # fmt: skip
    return Driver(
        lambda t: policy.select_action(dict(frames[t % 8])), lambda: len(policy._queues["action"]) == 0
    )


def time_interleaved(drivers: dict[str, Driver], chunks: int, warmup: int) -> dict[str, list[float]]:
    """Chunk latencies (ms) of each driver, alternating chunk by chunk so that both see the same load."""
    with torch.inference_mode():
        for _ in range(chunks + warmup):
            for driver in drivers.values():
                driver.cycle()
    return {name: d.times[warmup:] for name, d in drivers.items()}


def percentiles(prefix: str, times: list[float]) -> dict[str, float]:
    return {f"{prefix}_ms_p50": round(float(np.percentile(times, 50)), 2),
            f"{prefix}_ms_p99": round(float(np.percentile(times, 99)), 2)}  # fmt: skip


def run_bench(c: PolicyBenchConfig) -> dict[str, Any]:
    from honed.benchmarks.results import emit, record_in_docs

    torch.set_num_threads(c.threads)
    unknown = set(c.samplers) - set(SAMPLERS)
    if unknown:
        raise SystemExit(
            f"honed-bench policy: unknown samplers {sorted(unknown)}; choose from {list(SAMPLERS)}"
        )
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"threads": c.threads, "chunks": c.chunks}
    modes = [False, True] if c.compile else [False]
    for name in c.samplers:
        for compiled in modes:
            tag = "compiled_" if compiled else "eager_"
            drivers = {f"honed_{tag}{name}": honed_driver(name, compiled, rng)}
            if c.lerobot and name != "flow10":
                drivers[f"lerobot_{tag}{name}"] = lerobot_driver(name, compiled, rng)
            for key, times in time_interleaved(drivers, c.chunks, c.warmup).items():
                result |= percentiles(key, times)
            print({k: v for k, v in result.items() if name in k}, flush=True)
    result |= headline(result, c)
    if c.write_docs:
        record_in_docs("policy", "honed-bench policy write_docs=true", table(result), figures(result))
    return emit(result)


def headline(result: dict[str, Any], c: PolicyBenchConfig) -> dict[str, Any]:
    """The named keys: honed's deployment path (compiled when timed) against lerobot as shipped (eager)."""
    mode = "compiled_" if c.compile else "eager_"
    out: dict[str, Any] = {}
    for name in c.samplers:
        for stat in ("p50", "p99"):
            if f"honed_{mode}{name}_ms_{stat}" in result:
                out[f"honed_{name}_ms_{stat}"] = result[f"honed_{mode}{name}_ms_{stat}"]
            if f"lerobot_eager_{name}_ms_{stat}" in result:
                out[f"lerobot_{name}_ms_{stat}"] = result[f"lerobot_eager_{name}_ms_{stat}"]
        if f"lerobot_{name}_ms_p50" in out:
            out[f"{name}_honed_over_lerobot"] = round(
                out[f"honed_{name}_ms_p50"] / out[f"lerobot_{name}_ms_p50"], 3
            )
    return out


TARGET = 0.5
"""honed's chunk p50 (its deployment path) must be at most this share of lerobot's (as shipped)."""


def figures(result: dict[str, Any]) -> list[Any]:
    """The current figures: each sampler's p50 against lerobot's, with the target on their ratio."""
    from honed.benchmarks.results import Figure, met

    rows = []
    for name in SAMPLERS:
        if f"honed_{name}_ms_p50" not in result:
            continue
        ratio = result.get(f"{name}_honed_over_lerobot")
        lerobot = f" vs lerobot {result[f'lerobot_{name}_ms_p50']}" if ratio is not None else ""
        rows.append(Figure(f"{name} chunk p50 (ms), honed{' vs lerobot' if lerobot else ''}",
                           f"{result[f'honed_{name}_ms_p50']}{lerobot}"))  # fmt: skip
        if ratio is not None:
            rows.append(
                Figure(f"`{name}_honed_over_lerobot`", f"{ratio}", f"<= {TARGET}", met(ratio <= TARGET))
            )
    return rows


def table(result: dict[str, Any]) -> str:
    rows = ["| sampler | mode | honed p50 (ms) | honed p99 (ms) | lerobot p50 (ms) | lerobot p99 (ms) |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for name in SAMPLERS:
        for mode in ("eager", "compiled"):
            key = f"honed_{mode}_{name}_ms_p50"
            if key not in result:
                continue
            lr50, lr99 = (result.get(f"lerobot_{mode}_{name}_ms_{s}", "-") for s in ("p50", "p99"))
            rows.append(
                f"| {name} | {mode} | {result[key]} | {result[f'honed_{mode}_{name}_ms_p99']} | {lr50} | {lr99} |"
            )
    ratios = ", ".join(f"`{k}` = {v}" for k, v in result.items() if k.endswith("_over_lerobot"))
    return "\n".join(rows) + f"\n\n{result['threads']} torch threads. {ratios}"


VERB = Verb(PolicyBenchConfig, run_bench, "chunk latency of honed's diffusion policy vs lerobot's (CPU)",
            {"debug": PolicyBenchConfig(chunks=3, warmup=1, samplers=["ddim10", "flow10"], compile=False)})  # fmt: skip
