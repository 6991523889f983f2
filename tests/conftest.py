"""Settings shared by every test: property tests are judged on their examples, never on wall-clock;
a MuJoCo warning (a world going unstable) is reported in pytest's warnings summary under the test
that caused it. Every test starts on one torch thread. ``pk`` hands tests the builders of small
policies, contracts and real episode stores that the policy and evaluation tests share.

A loaded machine (CI beside other jobs, a training run) slows example generation and each example;
Hypothesis's deadline and too-slow health check would then fail tests whose behaviour is right.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings
from torch import nn

from honed.arms import SO101
from honed.cli import bounded
from honed.data.layout import StoreInfo
from honed.data.store import EpisodeStore
from honed.data.synthetic import SyntheticRobot, SyntheticTeleop
from honed.features import ACTION, STATE, TASK, Feature, Features, image_key
from honed.policies import Contract, DiffusionConfig, DiffusionPolicy, Policy, PolicyConfig

settings.register_profile("honed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("honed")


class MujocoWarning(UserWarning):
    """MuJoCo warned during a test (honed.sim.mujoco's log)."""


@pytest.fixture(autouse=True)
def report_mujoco_warnings(caplog):
    yield
    for record in caplog.get_records("call"):
        if record.name == "honed.sim.mujoco":
            warnings.warn(MujocoWarning(record.getMessage()), stacklevel=1)


@pytest.fixture(params=["offline", "closed_port"])
def unreachable_hub(request, monkeypatch, tmp_path):
    """The Hugging Face Hub out of reach, one way per parameter: offline mode (HF_HUB_OFFLINE=1), or an
    endpoint on a loopback port nothing listens on. The caches are empty and a token is set, so every
    Hub call has to go out, and fails. Returns the environment a subprocess needs for the same."""
    import socket

    from huggingface_hub import constants

    env = {"HF_HOME": str(tmp_path / "hf_home"), "HF_LEROBOT_HOME": str(tmp_path / "lerobot_home"),
           "HF_TOKEN": "hf_unused_test_token"}  # fmt: skip
    if request.param == "offline":
        env["HF_HUB_OFFLINE"] = "1"
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            env["HF_ENDPOINT"] = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed once the probe is
        monkeypatch.setattr(constants, "ENDPOINT", env["HF_ENDPOINT"])
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def fake_hub(monkeypatch):
    """huggingface_hub's own API with its network calls stubbed: ``whoami``, repo creation, tags, card
    pushes, and ``upload_folder``, which records the files it would upload (chosen by huggingface_hub's
    own pattern filter, default ignores included). Returns the list of calls, ``(name, kwargs)``."""
    from pathlib import Path

    from huggingface_hub import HfApi, RepoCard
    from huggingface_hub.utils import filter_repo_objects
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS

    calls: list[tuple[str, dict]] = []

    def record(name, result=None):
        def call(self, *args, **kwargs):
            calls.append((name, {"args": args, **kwargs}))
            return result

        return call

    def upload_folder(self, *, folder_path, allow_patterns=None, ignore_patterns=None, **kwargs):
        root = Path(folder_path)
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        ignore = [*([ignore_patterns] if isinstance(ignore_patterns, str) else ignore_patterns or []),
                  *DEFAULT_IGNORE_PATTERNS]  # fmt: skip
        uploaded = list(filter_repo_objects(files, allow_patterns=allow_patterns, ignore_patterns=ignore))
        calls.append(("upload_folder", {"folder_path": root, "uploaded": uploaded, **kwargs}))
        return f"https://hub.test/{kwargs.get('repo_id')}/commit/0"

    monkeypatch.setenv("HF_TOKEN", "hf_unused_test_token")
    monkeypatch.setattr(HfApi, "whoami", record("whoami", {"name": "tester"}))
    for name in ("create_repo", "create_tag", "delete_tag", "create_branch"):
        monkeypatch.setattr(HfApi, name, record(name))
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(RepoCard, "push_to_hub", record("card"))
    return calls


def record_store(
    root: Path, lengths: list[int], cameras: tuple[str, ...] = (), size: tuple[int, int] = (32, 32),
    tasks: tuple[str, ...] = ("move the arm",), meta: dict | None = None,
) -> EpisodeStore:  # fmt: skip
    """A store of synthetic-robot episodes (one per entry of ``lengths``), recorded with the real writer;
    ``meta`` joins each episode's metadata (episode e also notes ``seed`` e, as honed-record does)."""
    robot = SyntheticRobot(cameras=cameras, height=size[0], width=size[1])
    robot.connect()
    teleop = SyntheticTeleop()
    store = EpisodeStore.open_or_create(root, StoreInfo(robot.features, 30, "so101"))
    with store.writer() as writer:
        for e, n in enumerate(lengths):
            writer.start_episode(tasks[e % len(tasks)])
            for t in range(n):
                obs = robot.read()
                frame = {k: v for k, v in obs.items() if k != TASK}
                frame[ACTION] = robot.write(teleop.get_action(obs))
                writer.add_frame(frame, t / 30)
            writer.save_episode({"success": True, "seed": e, **(meta or {})})
    store.reload()
    return store


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """Every test starts on one intra-op thread, whatever an earlier test in its worker set: tests run
    beside each other on small machines, and a float result must not depend on the test order."""
    torch.set_num_threads(1)


def unit_stats(dim: int) -> dict[str, np.ndarray]:
    return {"mean": np.zeros(dim), "std": np.ones(dim), "min": -np.ones(dim), "max": np.ones(dim)}


def make_contract(
    cameras: tuple[str, ...] = (), size: int = 32, language: bool = False, cfg: DiffusionConfig | None = None,
    tasks: tuple[str, ...] = ("pick the cube",),
) -> Contract:  # fmt: skip
    cfg = cfg or DiffusionConfig()
    items = {STATE: SO101.state_feature()}
    items.update({image_key(c): Feature((size, size, 3), "uint8") for c in cameras})
    if language:
        items[TASK] = Feature((1,), "string")
    items[ACTION] = SO101.action_feature()
    stats = {STATE: unit_stats(12), ACTION: unit_stats(6)}
    stats.update(
        {image_key(c): {**unit_stats(3), "mean": np.full(3, 0.5), "std": np.full(3, 0.25)} for c in cameras}
    )
    return Contract(
        Features(items), stats, 30.0, cfg.n_obs_steps, cfg.horizon, cfg.n_action_steps, tasks=tasks
    )


def tiny_config(**overrides: object) -> DiffusionConfig:
    base = dict(unet_widths=[16, 32], horizon=8, n_action_steps=4, time_dim=16, state_dim=16, image_dim=16, image_width=16,
                keypoints=4, language_dim=8, transformer_width=32, transformer_depth=1, transformer_heads=2)  # fmt: skip
    base.update(overrides)
    return DiffusionConfig(**base)  # type: ignore[arg-type]


def make_policy(cameras: tuple[str, ...] = (), **overrides: object) -> DiffusionPolicy:
    cfg = tiny_config(**overrides)
    language = cfg.language != "none"
    return DiffusionPolicy(cfg, make_contract(cameras, language=language, cfg=cfg))


def make_batch(policy: DiffusionPolicy, batch: int = 3, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    cfg = policy.config
    out: dict = {
        STATE: torch.randn(batch, cfg.n_obs_steps, 12, generator=g),
        ACTION: torch.rand(batch, cfg.horizon, 6, generator=g) * 2 - 1,
        "action_is_pad": torch.zeros(batch, cfg.horizon, dtype=torch.bool),
        TASK: ["pick the cube"] * batch,
    }
    for key in policy.image_keys:
        h, w, _ = policy.contract.features[key].shape
        out[key] = torch.randint(0, 256, (batch, cfg.n_obs_steps, h, w, 3), generator=g, dtype=torch.uint8)
    return out


def frame_of(batch: dict, step: int = -1) -> dict:
    """One observation frame (B, ...) out of a history batch (B, n_obs, ...)."""
    return {k: (v[:, step] if torch.is_tensor(v) and k != ACTION and v.dim() > 2 else v) for k, v in batch.items()
            if k not in (ACTION, "action_is_pad")}  # fmt: skip


@dataclass
class HoldConfig(PolicyConfig):
    """A policy without a sampler (a test double): it holds the arm near where it is."""

    backbone_seed: int = bounded(0, ge=0)
    """Seed the frozen backbone is rebuilt from (its stand-in for a pretrained source)."""


class HoldPolicy(Policy):
    """Predicts the current joint positions times a trained gain, plus a frozen backbone's small
    correction, for every step of the chunk: no sampler, no noise, no per-frame encoding. Every chunk
    it computes is logged as (the history's states (B, n_obs, S), the chunk)."""

    name = "hold"
    config_class = HoldConfig

    def __init__(self, config: HoldConfig, contract: Contract, checkpoint_dir: Path | None = None):
        super().__init__(config, contract, checkpoint_dir)
        self.backbone = nn.Linear(12, 6)
        with torch.no_grad():
            g = torch.Generator().manual_seed(config.backbone_seed)
            self.backbone.weight.copy_(torch.randn(6, 12, generator=g) * 1e-3)
            self.backbone.bias.zero_()
        self.backbone.requires_grad_(False)
        self.gain = nn.Parameter(torch.ones(6))
        self.log: list[tuple[torch.Tensor, torch.Tensor]] = []

    @classmethod
    def input_keys(cls, config: HoldConfig, features: Features) -> list[str]:
        return [STATE]

    def frozen_prefixes(self) -> list[str]:
        return ["backbone."]

    def predict_chunk(
        self, obs: dict, noise: torch.Tensor | None = None, generator: object = None
    ) -> torch.Tensor:
        if noise is not None:
            raise ValueError("a hold policy samples no noise")
        state = obs[STATE].float()  # (B, n_obs, 12)
        action = state[:, -1, :6] * self.gain + self.backbone(state[:, -1])  # (B, 6)
        chunk = action[:, None].expand(-1, self.contract.horizon, -1)  # (B, H, 6)
        self.log.append((state.clone(), chunk.clone()))
        return chunk

    def compute_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        loss = (self.predict_chunk(batch) - batch[ACTION]).square().mean()
        return loss, {"loss": float(loss.detach())}


def make_hold_policy(
    n_obs_steps: int = 2, horizon: int = 4, n_action_steps: int = 2, seed: int = 0
) -> HoldPolicy:
    cfg = HoldConfig(
        n_obs_steps=n_obs_steps, horizon=horizon, n_action_steps=n_action_steps, backbone_seed=seed
    )
    items = {STATE: SO101.state_feature(), ACTION: SO101.action_feature()}
    contract = Contract(Features(items), {STATE: unit_stats(12), ACTION: unit_stats(6)}, 30.0, n_obs_steps,
                        horizon, n_action_steps)  # fmt: skip
    return HoldPolicy(cfg, contract).eval()


@pytest.fixture(scope="session")
def pk() -> SimpleNamespace:
    """The builders above, for tests (importlib mode does not put conftest on sys.path)."""
    return SimpleNamespace(
        unit_stats=unit_stats,
        make_contract=make_contract,
        tiny_config=tiny_config,
        make_policy=make_policy,
        make_batch=make_batch,
        frame_of=frame_of,
        record_store=record_store,
        HoldPolicy=HoldPolicy,
        make_hold_policy=make_hold_policy,
    )
